//! Combinations: evaluate the joins and unions `link` proposes, each on its own view,
//! in parallel and isolated like datasets are (one failing combination is reported
//! as an error; the others still count). Union findings are reduced to a minimal
//! contributing set by re-evaluation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};

use polars::prelude::*;

use super::fix::{self, Origin};
use super::{panic_error, profile_error, Prepared};
use crate::assess::{self, assess, Task};
use crate::decide::Action;
use crate::decide::{self, Combination, Contributor, Finding, Fix};
use crate::evaluate::Evaluation;
use crate::link::keys::KeySet;
use crate::link::view::{self, Part, View};
use crate::link::{self, Join, Node};
use crate::profile::Source;
use crate::rules::{Catalog, Pack, TagKind};
use crate::source::InputError;

/// What the combination search found and did.
#[derive(Default)]
pub struct Combined {
    pub candidates: u64,
    pub pruned: u64,
    pub joined: u64,
    pub evaluated: u64,
    pub findings: Vec<Finding>,
    pub errors: Vec<InputError>,
}

enum Job<'a> {
    Join {
        pack: &'a Pack,
        join: Join,
    },
    Union {
        pack: &'a Pack,
        members: Vec<usize>,
        items: Vec<usize>,
    },
    /// A join in which some members are all the releases of one table; `sets[i]`
    /// holds the datasets of join step `i` (one, or a union group's releases).
    GroupJoin {
        pack: &'a Pack,
        join: Join,
        sets: Vec<Vec<usize>>,
    },
    /// Two datasets linked by positions within `within_m` of each other (DESIGN §4a).
    Near {
        pack: &'a Pack,
        members: [usize; 2],
        tag: String,
        within_m: f64,
        items: Vec<usize>,
    },
}

/// Search and evaluate every combination of the prepared datasets.
pub fn run(
    catalog: &Catalog,
    prepared: &[Prepared],
    max_combo: usize,
    ctx: &decide::Context,
    extras: super::Extras,
) -> Combined {
    let mut combined = Combined::default();
    let nodes: BTreeMap<&str, Vec<Node>> = catalog
        .packs
        .iter()
        .map(|pack| {
            let nodes = prepared
                .iter()
                .map(|p| {
                    let bindings = &p.tagging.packs[&pack.id];
                    Node {
                        tags: bindings.keys().cloned().collect(),
                        keys: bindings
                            .iter()
                            .filter(|(_, b)| b.kind.links_by_value())
                            .map(|(t, _)| t.clone())
                            .collect(),
                        columns: p.frame.columns.iter().map(|(n, _)| n.to_lowercase()).collect(),
                    }
                })
                .collect();
            (pack.id.as_str(), nodes)
        })
        .collect();

    match_names(catalog, prepared, &nodes, &mut combined.errors);
    let key_sets = key_sets(catalog, prepared, &nodes, &mut combined.errors);
    let mut jobs = Vec::new();
    let mut later = Vec::new();
    for pack in &catalog.packs {
        let nodes = &nodes[pack.id.as_str()];
        let items: Vec<BTreeSet<String>> =
            pack.items.iter().map(|i| i.required_tags().into_iter().map(String::from).collect()).collect();
        // Every union group (releases of one table) is also a node of the join
        // search, so a register joined with all coordinate releases together is found.
        let groups: Vec<Vec<usize>> =
            link::release_groups(nodes).into_iter().filter(|g| !nodes[g[0]].keys.is_empty()).collect();
        let n = nodes.len();
        let mut extended = nodes.clone();
        extended.extend(groups.iter().map(|g| nodes[g[0]].clone()));
        let members_of = |i: usize| if i < n { vec![i] } else { groups[i - n].clone() };
        let set_of = |i: usize, key: &str| key_sets.get(&(i, link_id(pack, i, key, prepared).unwrap_or_default()));
        // A group's values are its releases' together (unknown if any release's are).
        let group_sets: Vec<BTreeMap<&String, Option<KeySet>>> = groups
            .iter()
            .map(|g| {
                let keys = &nodes[g[0]].keys;
                keys.iter()
                    .map(|k| {
                        let sets: Option<Vec<&KeySet>> = g.iter().map(|&m| set_of(m, k)).collect();
                        (k, sets.map(KeySet::union))
                    })
                    .collect()
            })
            .collect();
        let (joins, counts) = link::joins(&extended, &items, max_combo, |i, key| {
            if i < n {
                set_of(i, key)
            } else {
                group_sets[i - n].get(&key.to_string()).and_then(Option::as_ref)
            }
        });
        combined.candidates += counts.candidates;
        combined.pruned += counts.pruned;
        let shares = |x: usize, y: usize, keys: &[String]| {
            keys.iter().any(|key| {
                let column = |i: usize| link_id(pack, i, key, prepared);
                match (column(x), column(y)) {
                    (Some(cx), Some(cy)) => match (key_sets.get(&(x, cx)), key_sets.get(&(y, cy))) {
                        (Some(p), Some(q)) => p.overlaps(q).0,
                        _ => true,
                    },
                    _ => false,
                }
            })
        };
        for join in joins {
            if join.members.iter().all(|m| *m < n) {
                jobs.push(Job::Join { pack, join });
                continue;
            }
            let mut sets: Vec<Vec<usize>> = join.steps.iter().map(|s| members_of(s.member)).collect();
            let flat: BTreeSet<usize> = sets.iter().flatten().copied().collect();
            if flat.len() != sets.iter().map(Vec::len).sum::<usize>() {
                combined.pruned += 1; // a group together with one of its own releases
                continue;
            }
            // A release whose keys meet no other member's adds no joined row: leave it out.
            let keys = join.keys();
            let others = |i: usize| -> Vec<usize> {
                sets.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, s)| s.clone()).collect()
            };
            let kept: Vec<Vec<usize>> = (0..sets.len())
                .map(|i| sets[i].iter().copied().filter(|&m| others(i).iter().any(|&y| shares(m, y, &keys))).collect())
                .collect();
            sets = kept;
            if sets.iter().any(Vec::is_empty) || sets.iter().all(|s| s.len() == 1) {
                combined.pruned += 1; // nothing a plain join does not already cover
                continue;
            }
            later.push(Job::GroupJoin { pack, join, sets });
        }

        let met = |m: usize, i: usize| prepared[m].met.contains(&(pack.id.clone(), pack.items[i].id.clone()));
        let pairs = link::near_pairs(&pack.proximity_links(), &pack.key_tags(), nodes, &items, met);
        let boxes = extents(pack, &pairs, prepared);
        for p in pairs {
            combined.candidates += 1;
            // Datasets whose positions lie farther apart than the distance cannot link.
            let near = |x: Option<&[f64; 4]>, y: Option<&[f64; 4]>| match (x, y) {
                (Some(x), Some(y)) => {
                    let max_lat = x[0].abs().max(x[1].abs()).max(y[0].abs()).max(y[1].abs());
                    let (dy, dx) = link::near::degrees(p.within_m, max_lat);
                    x[0] <= y[1] + dy && y[0] <= x[1] + dy && x[2] <= y[3] + dx && y[2] <= x[3] + dx
                }
                _ => true, // unknown: let the link decide (and report what it cannot read)
            };
            let [a, b] = p.members;
            if !near(boxes.get(&(a, p.tag.clone())), boxes.get(&(b, p.tag.clone()))) {
                combined.pruned += 1;
                continue;
            }
            let link::NearPair { tag, within_m, members, items } = p;
            jobs.push(Job::Near { pack, members, tag, within_m, items });
        }

        for group in link::union_groups(nodes, &items) {
            // Per item, the releases that do not meet it alone; items sharing the
            // same releases are evaluated on one union.
            let mut by_members: BTreeMap<Vec<usize>, Vec<usize>> = BTreeMap::new();
            for (i, item) in pack.items.iter().enumerate() {
                if !items[i].is_subset(&nodes[group[0]].tags) {
                    continue;
                }
                let members: Vec<usize> = group
                    .iter()
                    .copied()
                    .filter(|m| !prepared[*m].met.contains(&(pack.id.clone(), item.id.clone())))
                    .collect();
                if members.len() >= 2 {
                    by_members.entry(members).or_default().push(i);
                }
            }
            for (members, items) in by_members {
                combined.candidates += 1;
                jobs.push(Job::Union { pack, members, items });
            }
        }
    }

    let run_jobs = |jobs: &[Job], found: &Found| -> Vec<Result<Combined, InputError>> {
        crate::par::map(jobs, |job| {
            let label = label(job, prepared);
            let _counted = Counted;
            // The members' rows, decoded in the sandbox first where they are not yet.
            members(job).into_iter().try_for_each(|m| prepared[m].lf().map(drop))?;
            catch_unwind(AssertUnwindSafe(|| match job {
                Job::Join { pack, join } => run_join(pack, join, prepared, ctx, extras),
                Job::Union { pack, members, items } => run_union(pack, members, items, prepared, ctx, extras),
                Job::GroupJoin { pack, join, sets } => run_group_join(pack, join, sets, prepared, ctx, extras, found),
                Job::Near { pack, members, tag, within_m, items } => {
                    run_near(pack, *members, tag, *within_m, items, prepared, ctx, extras)
                }
            }))
            .map_err(|_| panic_error(&label))
            .and_then(|r| r.map_err(|e| profile_error(&label, &e)))
        })
    };
    // Joins with whole union groups run last: a finding they reach is reported only
    // if no finding on fewer datasets (a single, a plain join, a union) has it.
    let mut outcomes = run_jobs(&jobs, &Found::new());
    let mut found = Found::new();
    for p in prepared {
        for (pack, item) in &p.met {
            found.entry((pack.clone(), item.clone())).or_default().push([p.dataset.id.clone()].into());
        }
    }
    for f in outcomes.iter().flatten().flat_map(|c| &c.findings).filter(|f| f.outcome.holds()) {
        found.entry((f.pack.clone(), f.item.clone())).or_default().push(f.datasets.iter().cloned().collect());
    }
    outcomes.extend(run_jobs(&later, &found));
    for outcome in outcomes {
        match outcome {
            Ok(c) => {
                combined.joined += c.joined;
                combined.evaluated += c.evaluated;
                combined.findings.extend(c.findings);
            }
            Err(e) => combined.errors.push(e),
        }
    }
    combined
}

/// Counts a combination as evaluated when its job ends, however it ends.
struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        crate::progress::combination();
    }
}

/// Dataset sets that met each (pack, item), for keeping supersets out.
type Found = BTreeMap<(String, String), Vec<BTreeSet<String>>>;

/// The datasets a job reads.
fn members(job: &Job) -> Vec<usize> {
    match job {
        Job::Join { join, .. } => join.members.clone(),
        Job::Union { members, .. } => members.clone(),
        Job::Near { members, .. } => members.to_vec(),
        Job::GroupJoin { sets, .. } => sets.iter().flatten().copied().collect(),
    }
}

fn label(job: &Job, prepared: &[Prepared]) -> String {
    let name = |m: &usize| prepared[*m].dataset.id.as_str();
    match job {
        Job::Join { join, .. } => join.members.iter().map(name).collect::<Vec<_>>().join(" ⋈ "),
        Job::Union { members, .. } => members.iter().map(name).collect::<Vec<_>>().join(" ∪ "),
        Job::Near { members, tag, within_m, .. } => {
            format!("{} ⋈ {} ({tag} within {within_m} m)", name(&members[0]), name(&members[1]))
        }
        Job::GroupJoin { sets, .. } => sets
            .iter()
            .map(|s| {
                let names: Vec<&str> = s.iter().map(name).collect();
                if names.len() > 1 {
                    format!("({})", names.join(" ∪ "))
                } else {
                    names.join("")
                }
            })
            .collect::<Vec<_>>()
            .join(" ⋈ "),
    }
}

/// The extent `[min lat, max lat, min lon, max lon]` of the valid positions of every
/// dataset in a proximity candidate, read once per dataset (not once per pair).
fn extents(pack: &Pack, pairs: &[link::NearPair], prepared: &[Prepared]) -> HashMap<(usize, String), [f64; 4]> {
    let wanted: BTreeSet<(usize, String)> =
        pairs.iter().flat_map(|p| p.members.iter().map(|m| (*m, p.tag.clone()))).collect();
    let wanted: Vec<(usize, String)> = wanted.into_iter().collect();
    let read = crate::par::map(&wanted, |(i, tag)| {
        let b = prepared[*i].tagging.packs[&pack.id].get(tag)?;
        let crate::tag::Columns::Pair { lat, lon, planar: false, .. } = &b.columns else { return None };
        let (y, x) = (crate::profile::coord(lat), crate::profile::coord(lon));
        let valid = col("y").abs().lt_eq(lit(90.0)).and(col("x").abs().lt_eq(lit(180.0)));
        let lf = prepared[*i].lf().ok()?;
        let df = catch_unwind(AssertUnwindSafe(|| {
            lf.clone()
                .select([y.alias("y"), x.alias("x")])
                .filter(valid)
                .select([
                    col("y").min().alias("a"),
                    col("y").max().alias("b"),
                    col("x").min().alias("c"),
                    col("x").max().alias("d"),
                ])
                .collect()
        }))
        .ok()?
        .ok()?;
        let get = |n: &str| crate::profile::scalar(&df, n);
        Some([get("a")?, get("b")?, get("c")?, get("d")?])
    });
    wanted.into_iter().zip(read).filter_map(|(k, v)| Some((k, v?))).collect()
}

/// Fuzzy name tags (`match = "jaro_winkler"`): match the distinct normalised names of
/// every dataset binding the tag, so that their link values agree where names match.
fn match_names(
    catalog: &Catalog,
    prepared: &[Prepared],
    nodes: &BTreeMap<&str, Vec<Node>>,
    errors: &mut Vec<InputError>,
) {
    for pack in &catalog.packs {
        for (tag, t) in pack.tags.iter().filter(|(_, t)| t.link.min_score.is_some()) {
            t.link.aliases.set(crate::link::names::Matched::default());
            let holders: Vec<usize> =
                (0..prepared.len()).filter(|&i| nodes[pack.id.as_str()][i].tags.contains(tag)).collect();
            if holders.len() < 2 {
                continue;
            }
            let read = crate::par::map(&holders, |&i| {
                let (_, expr) = link_value(pack, i, tag, prepared).expect("a name tag links by value");
                prepared[i].lf_of(&expr).and_then(|lf| {
                    crate::link::keys::distinct_text(&lf, expr).map_err(|e| profile_error(&prepared[i].dataset.id, &e))
                })
            });
            let mut names = vec![Vec::new(); prepared.len()];
            for (&i, r) in holders.iter().zip(read) {
                match r {
                    Ok(mut list) => {
                        list.sort();
                        names[i] = list;
                    }
                    Err(e) => errors.push(e),
                }
            }
            t.link.aliases.set(crate::link::names::fuzzy_matches(&names, t.link.min_score.unwrap_or(1.0)));
        }
    }
}

/// The evidence of a join through a fuzzy name tag: the lowest score of a name match
/// between its members.
fn fuzzy_evidence(pack: &Pack, keys: &[String], members: &[usize]) -> Option<crate::evaluate::Evidence> {
    keys.iter().find_map(|k| {
        let t = pack.tags.get(k)?;
        let min = t.link.min_score?;
        let lowest = t.link.aliases.get().lowest_among(members)?;
        Some(crate::evaluate::Evidence {
            condition: format!("{k} names matched by Jaro–Winkler >= {min} (lowest score)"),
            value: Some((lowest * 1000.0).round() / 1000.0),
            holds: true,
            band: None,
            words: format!(
                "{}名称经模糊匹配（Jaro–Winkler 相似度不低于 {min}），最低相似度 {lowest:.3}",
                pack.label(k)
            ),
        })
    })
}

/// Key sets of every key column some other dataset shares a key tag with, read in parallel.
fn key_sets(
    catalog: &Catalog,
    prepared: &[Prepared],
    nodes: &BTreeMap<&str, Vec<Node>>,
    errors: &mut Vec<InputError>,
) -> HashMap<(usize, String), KeySet> {
    // Per dataset and link id: the expression, and for key tags (tag, column) to name
    // in an error when the values mix forms of division codes.
    type Wanted = BTreeMap<(usize, String), (Expr, Option<(String, String)>)>;
    let mut wanted: Wanted = BTreeMap::new();
    for pack in &catalog.packs {
        let nodes = &nodes[pack.id.as_str()];
        let mut holders: BTreeMap<&String, Vec<usize>> = BTreeMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for k in &n.keys {
                holders.entry(k).or_default().push(i);
            }
        }
        for (key, held) in holders.into_iter().filter(|(_, h)| h.len() >= 2) {
            for i in held {
                if let Some((id, expr)) = link_value(pack, i, key, prepared) {
                    let b = &prepared[i].tagging.packs[&pack.id][key];
                    let label = (b.kind == TagKind::Key).then(|| (key.clone(), b.columns.names()[0].to_string()));
                    wanted.insert((i, id), (expr, label));
                }
            }
        }
    }
    let wanted: Vec<_> = wanted.into_iter().collect();
    let read: Vec<_> = crate::par::map(&wanted, |((i, column), (expr, key))| {
        let (i, column) = (*i, column.clone());
        let id = &prepared[i].dataset.id;
        // Gathered while the dataset's items were evaluated, or read now.
        let gathered = prepared[i].take_key_set(&column).map(Ok);
        let set = gathered
            .unwrap_or_else(|| {
                prepared[i]
                    .lf_of(expr)
                    .and_then(|lf| {
                        catch_unwind(AssertUnwindSafe(|| KeySet::from_expr_with_forms(&lf, expr.clone())))
                            .map_err(|_| panic_error(id))
                    })
                    .and_then(|r| r.map_err(|e| profile_error(id, &e)))
            })
            .and_then(|(set, forms)| match (key, forms.problem()) {
                (Some((tag, c)), Some(problem)) => Err(InputError::new(
                    id,
                    "key",
                    format!(
                        "column `{c}` (key tag `{tag}`) {problem}: equal divisions would link only in part; \
                         bind it to a region tag (kind = \"region\"), whose codes and names resolve alike"
                    ),
                )),
                _ => Ok(set),
            });
        ((i, column), set)
    });
    let mut sets = HashMap::new();
    for (key, set) in read {
        match set {
            Ok(s) => {
                sets.insert(key, s);
            }
            Err(e) => errors.push(e),
        }
    }
    sets
}

fn parts<'a>(pack: &'a Pack, members: &[usize], prepared: &'a [Prepared]) -> Vec<Part<'a>> {
    members
        .iter()
        .map(|m| {
            let p = &prepared[*m];
            Part { lf: p.rows(), dtypes: &p.frame.columns, bindings: &p.tagging.packs[&pack.id], tags: &pack.tags }
        })
        .collect()
}

/// The id of the values dataset `i` links on through `tag` (see [`Part::link_value`]).
fn link_id(pack: &Pack, i: usize, tag: &str, prepared: &[Prepared]) -> Option<String> {
    link_value(pack, i, tag, prepared).map(|(id, _)| id)
}

/// The link values of a dataset that do not depend on the other datasets scanned,
/// each once, as `(link id, expression)`: those of its key, region and name tags
/// ([`crate::link::names::link_of`]) for which `wanted(pack, tag)` holds, not of a name
/// tag matched by fuzzy scores (its aliases come from every dataset's names).
/// [`key_sets`] reads their sets by id.
pub(crate) fn links(
    catalog: &Catalog,
    tagging: &crate::tag::Tagging,
    frame: &crate::source::Frame,
    wanted: impl Fn(&str, &str) -> bool,
) -> Vec<(String, Expr)> {
    let mut out: BTreeMap<String, Expr> = BTreeMap::new();
    for pack in &catalog.packs {
        let Some(bindings) = tagging.packs.get(&pack.id) else { continue };
        for (tag, binding) in bindings {
            let Some(t) = pack.tags.get(tag) else { continue };
            if !wanted(&pack.id, tag) || (binding.kind == TagKind::Name && t.link.min_score.is_some()) {
                continue;
            }
            let columns = frame.columns.iter().map(|(n, _)| n.as_str());
            if let Some((id, expr)) = crate::link::names::link_of(t, binding, columns) {
                out.entry(id).or_insert(expr);
            }
        }
    }
    out.into_iter().collect()
}

/// The `(pack, tag)`s of a dataset's tags that link by value.
pub(crate) fn link_tags(tagging: &crate::tag::Tagging) -> impl Iterator<Item = (String, String)> + '_ {
    tagging.packs.iter().flat_map(|(pack, bindings)| {
        bindings.iter().filter(|(_, b)| b.kind.links_by_value()).map(move |(tag, _)| (pack.clone(), tag.clone()))
    })
}

/// [`Part::link_value`] of dataset `i`, its rows left unread (a frame opened again
/// is decoded in the sandbox only when a combination reads it: `Prepared::lf`).
fn link_value(pack: &Pack, i: usize, tag: &str, prepared: &[Prepared]) -> Option<(String, Expr)> {
    let p = &prepared[i];
    let binding = p.tagging.packs[&pack.id].get(tag)?;
    crate::link::names::link_of(pack.tags.get(tag)?, binding, p.frame.columns.iter().map(|(n, _)| n.as_str()))
}

fn contributors<'a>(members: &[usize], prepared: &'a [Prepared]) -> Vec<Contributor<'a>> {
    members.iter().map(|m| prepared[*m].contributor()).collect()
}

/// Where a view's tag came from, in the member's own terms.
fn view_origin<'a>(
    pack: &'a Pack,
    view: &'a View,
    members: &'a [usize],
    prepared: &'a [Prepared],
) -> impl Fn(&str) -> Option<Origin> + 'a {
    move |tag| {
        let m = members[*view.origin.get(tag)?];
        let b = prepared[m].tagging.packs.get(&pack.id)?.get(tag)?;
        Some(Origin::of(&prepared[m].dataset.id, b))
    }
}

/// Keep one member out of the combination: the first not yet published (the
/// candidate release), else the last. Verified by the caller.
fn split_release(members: &[usize], prepared: &[Prepared], evidence: Vec<crate::evaluate::Evidence>) -> Fix {
    let out =
        members.iter().copied().find(|m| !prepared[*m].contributor().published).unwrap_or(members[members.len() - 1]);
    let rest: Vec<&str> = members.iter().filter(|m| **m != out).map(|m| prepared[*m].dataset.id.as_str()).collect();
    let id = prepared[out].dataset.id.clone();
    Fix {
        action: Action::SplitRelease,
        change: format!(
            "do not release {id} together with {}: without it the rest no longer meets the item",
            rest.join(", ")
        ),
        datasets: vec![id],
        columns: vec![],
        tag: None,
        value: None,
        evidence,
    }
}

fn run_join(
    pack: &Pack,
    join: &Join,
    prepared: &[Prepared],
    ctx: &decide::Context,
    extras: super::Extras,
) -> PolarsResult<Combined> {
    let mut out = Combined::default();
    let members: Vec<usize> = join.steps.iter().map(|s| s.member).collect();
    let parts = parts(pack, &members, prepared);
    let steps: Vec<(usize, Vec<String>)> = join.steps.iter().enumerate().map(|(i, s)| (i, s.keys.clone())).collect();
    out.joined = 1;
    let combination = Combination::join(pack, join.keys());
    // Two members: judged from per-key counts, the join never built. The joined
    // frame is built only for a hold's fix and picture, and only when it is small.
    let (evaluations, view) = if steps.len() == 2 {
        let pair = super::pair::hold(view::pair(&parts, &steps[1].1))?;
        let tasks: Vec<Task> =
            join.items.iter().map(|i| Task { pack, item: &pack.items[*i], bindings: &pair.bindings }).collect();
        let evaluations = super::pair::assess(&pair, &tasks)?;
        let holds = evaluations.iter().flatten().any(|e| e.met);
        let wanted = holds && (extras.fixes || extras.coverage);
        let small = wanted && view::joined_rows(&pair.sides[0], &pair.sides[1], &pair.keys)? <= view::MAX_JOIN_ROWS;
        let view = if small { Some(view::join(&parts, &steps)?) } else { None };
        // Keys resolved through the gazetteer or names are computed once: the fix
        // search re-reads the joined rows many times.
        let view = match view {
            Some(v) if combination.via.is_some() => Some(View { lf: crate::profile::collect(v.lf)?.lazy(), ..v }),
            v => v,
        };
        (evaluations, view)
    } else {
        let view = view::join(&parts, &steps)?;
        let tasks: Vec<Task> =
            join.items.iter().map(|i| Task { pack, item: &pack.items[*i], bindings: &view.bindings }).collect();
        (assess(&Source { lf: &view.lf, text: true, memo: None }, &tasks)?, Some(view))
    };
    for (&i, evaluation) in join.items.iter().zip(evaluations) {
        let Some(evaluation) = evaluation else { continue };
        out.evaluated += 1;
        let contributors = contributors(&members, prepared);
        let item = &pack.items[i];
        let Some(mut finding) = decide::decide(pack, item, &evaluation, &contributors, combination.clone(), ctx) else {
            continue;
        };
        finding.evidence.extend(fuzzy_evidence(pack, &join.keys(), &members));
        let Some(view) = view.as_ref().filter(|_| finding.holds()) else {
            if finding.holds() && extras.fixes {
                finding.fix = Some(split_release(&members, prepared, vec![]));
            }
            out.findings.push(finding);
            continue;
        };
        // Every member is needed for a tag or a link (link::joins), so leaving
        // one out clears the finding by construction.
        fix_and_coverage(&mut finding, pack, item, view, &members, prepared, extras)?;
        out.findings.push(finding);
    }
    Ok(out)
}

/// A joined hold's verified fix (a change to the view, else leaving one member out)
/// and its picture.
fn fix_and_coverage(
    finding: &mut Finding,
    pack: &Pack,
    item: &crate::rules::Item,
    view: &View,
    members: &[usize],
    prepared: &[Prepared],
    extras: super::Extras,
) -> PolarsResult<()> {
    let task = Task { pack, item, bindings: &view.bindings };
    let src = Source { lf: &view.lf, text: true, memo: None };
    let origin = view_origin(pack, view, members, prepared);
    if extras.fixes {
        let held = finding.evidence.clone();
        finding.fix = match fix::search(&src, task, false, &origin, Some(&held))? {
            Some(f) => Some(f),
            None => Some(split_release(members, prepared, vec![])),
        };
    }
    if extras.coverage {
        finding.coverage = assess::coverage(&src, task)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_near(
    pack: &Pack,
    members: [usize; 2],
    tag: &str,
    within_m: f64,
    items: &[usize],
    prepared: &[Prepared],
    ctx: &decide::Context,
    extras: super::Extras,
) -> PolarsResult<Combined> {
    let mut out = Combined::default();
    let parts = parts(pack, &members, prepared);
    let datum = |m: usize| {
        prepared[m].dataset.manifest.as_ref().and_then(|x| x.datum.clone()).or_else(|| pack.tags[tag].crs.clone())
    };
    let datums = [datum(members[0]), datum(members[1])];
    let names = members.map(|m| prepared[m].dataset.id.as_str());
    let linked =
        link::near::join(&[parts[0], parts[1]], names, tag, within_m, [datums[0].as_deref(), datums[1].as_deref()])?;
    out.joined = 1;
    if linked.rows == 0 {
        return Ok(out);
    }
    let view = linked.view;
    let combination = Combination {
        via: Some("proximity".into()),
        within_m: Some(within_m.round() as u32),
        ..Combination::new("join", vec![tag.to_string()])
    };
    let tasks: Vec<Task> =
        items.iter().map(|i| Task { pack, item: &pack.items[*i], bindings: &view.bindings }).collect();
    let src = Source { lf: &view.lf, text: true, memo: None };
    let evaluations = assess(&src, &tasks)?;
    for (&i, evaluation) in items.iter().zip(evaluations) {
        let Some(evaluation) = evaluation else { continue };
        out.evaluated += 1;
        let item = &pack.items[i];
        let contributors = contributors(&members, prepared);
        let Some(mut finding) = decide::decide(pack, item, &evaluation, &contributors, combination.clone(), ctx) else {
            continue;
        };
        if finding.holds() {
            fix_and_coverage(&mut finding, pack, item, &view, &members, prepared, extras)?;
        }
        out.findings.push(finding);
    }
    Ok(out)
}

/// Evaluate `item` on the join of `sets` (step `i` joins the union of `sets[i]`).
fn evaluate_group_join(
    pack: &Pack,
    item: usize,
    join: &Join,
    sets: &[Vec<usize>],
    prepared: &[Prepared],
) -> PolarsResult<Option<Evaluation>> {
    let unions: Vec<Option<View>> = sets
        .iter()
        .map(|s| if s.len() > 1 { view::union(&parts(pack, s, prepared)).map(Some) } else { Ok(None) })
        .collect::<PolarsResult<_>>()?;
    let mut schemas: Vec<Vec<(String, DataType)>> = Vec::new();
    for u in &unions {
        schemas.push(match u {
            Some(v) => v.lf.clone().collect_schema()?.iter().map(|(n, t)| (n.to_string(), t.clone())).collect(),
            None => vec![],
        });
    }
    let members: Vec<Part> = sets
        .iter()
        .enumerate()
        .map(|(i, s)| match &unions[i] {
            Some(v) => Part { lf: &v.lf, dtypes: &schemas[i], bindings: &v.bindings, tags: &pack.tags },
            None => parts(pack, &s[..1], prepared)[0],
        })
        .collect();
    let steps: Vec<(usize, Vec<String>)> = join.steps.iter().enumerate().map(|(i, s)| (i, s.keys.clone())).collect();
    let view = view::join(&members, &steps)?;
    let task = Task { pack, item: &pack.items[item], bindings: &view.bindings };
    Ok(assess(&Source { lf: &view.lf, text: true, memo: None }, &[task])?.pop().flatten())
}

fn run_group_join(
    pack: &Pack,
    join: &Join,
    sets: &[Vec<usize>],
    prepared: &[Prepared],
    ctx: &decide::Context,
    extras: super::Extras,
    found: &Found,
) -> PolarsResult<Combined> {
    let mut out = Combined { joined: 1, ..Combined::default() };
    let combination = Combination::join(pack, join.keys());
    for &i in &join.items {
        let item = &pack.items[i];
        let Some(first) = evaluate_group_join(pack, i, join, sets, prepared)? else { continue };
        out.evaluated += 1;
        if !first.met {
            continue; // near misses of whole groups would repeat the plain joins' warnings
        }
        // Minimal contributing set: drop every release the join still meets the item without.
        let mut sets = sets.to_vec();
        let mut last = first;
        for g in 0..sets.len() {
            for r in sets[g].clone().into_iter().rev() {
                if sets[g].len() <= 1 {
                    break;
                }
                let mut fewer = sets.clone();
                fewer[g].retain(|x| *x != r);
                let e = evaluate_group_join(pack, i, join, &fewer, prepared)?;
                out.evaluated += 1;
                if let Some(e) = e.filter(|e| e.met) {
                    sets = fewer;
                    last = e;
                }
            }
        }
        let members: Vec<usize> = sets.iter().flatten().copied().collect();
        let names: BTreeSet<String> = members.iter().map(|m| prepared[*m].dataset.id.clone()).collect();
        let known = found.get(&(pack.id.clone(), item.id.clone()));
        if known.is_some_and(|sets| sets.iter().any(|s| s.is_subset(&names))) {
            continue; // a finding on fewer datasets already names this
        }
        let contributors = contributors(&members, prepared);
        if let Some(mut finding) = decide::decide(pack, item, &last, &contributors, combination.clone(), ctx) {
            if finding.holds() && extras.fixes {
                // Every release and every joined dataset is needed (verified above).
                finding.fix = Some(split_release(&members, prepared, vec![]));
            }
            out.findings.push(finding);
        }
    }
    Ok(out)
}

/// The fix of a union's hold: a change to every release (they bind the tag alike),
/// or else leaving one release out, which minimality already verified.
fn union_fix(
    pack: &Pack,
    set: &[usize],
    prepared: &[Prepared],
    src: &Source,
    task: Task,
    origin: &dyn Fn(&str) -> Option<Origin>,
) -> PolarsResult<Fix> {
    let Some(mut f) = fix::search(src, task, false, origin, None)? else {
        return Ok(split_release(set, prepared, vec![]));
    };
    f.change = f.change.replace(&format!(" in {}", f.datasets[0]), " in every release");
    f.datasets = set.iter().map(|m| prepared[*m].dataset.id.clone()).collect();
    let tag = f.tag.clone().unwrap_or_default();
    let mut columns: BTreeSet<String> = BTreeSet::new();
    for m in set {
        if let Some(b) = prepared[*m].tagging.packs[&pack.id].get(&tag) {
            columns.extend(b.columns.names().iter().map(|c| c.to_string()));
        }
    }
    f.columns = columns.into_iter().collect();
    Ok(f)
}

fn evaluate_union(
    pack: &Pack,
    item: usize,
    members: &[usize],
    prepared: &[Prepared],
    out: &mut Combined,
) -> PolarsResult<(View, Evaluation)> {
    let view = view::union(&parts(pack, members, prepared))?;
    let task = Task { pack, item: &pack.items[item], bindings: &view.bindings };
    let evaluation = assess(&Source { lf: &view.lf, text: true, memo: None }, &[task])?
        .pop()
        .flatten()
        .ok_or_else(|| polars_err!(ComputeError: "union lost a tag of the item"))?;
    out.evaluated += 1;
    Ok((view, evaluation))
}

fn run_union(
    pack: &Pack,
    members: &[usize],
    items: &[usize],
    prepared: &[Prepared],
    ctx: &decide::Context,
    extras: super::Extras,
) -> PolarsResult<Combined> {
    let mut out = Combined::default();
    let combination = Combination::new("union", vec![]);
    for &i in items {
        let item = &pack.items[i];
        let mut remaining: Vec<usize> = members.to_vec();
        let mut first = true;
        while remaining.len() >= 2 {
            let (_, evaluation) = evaluate_union(pack, i, &remaining, prepared, &mut out)?;
            if !evaluation.met {
                if first && evaluation.near {
                    let contributors = contributors(&remaining, prepared);
                    out.findings.extend(decide::decide(
                        pack,
                        item,
                        &evaluation,
                        &contributors,
                        combination.clone(),
                        ctx,
                    ));
                }
                break;
            }
            first = false;
            // Minimal contributing set: drop every release the rest still meets the item without.
            let (set, last) = link::minimal_set(
                &remaining,
                evaluation,
                |s| evaluate_union(pack, i, s, prepared, &mut out).map(|(_, e)| Some(e)),
                |e| e.met,
            )?;
            // `last` is the evaluation of `set` itself (the last removal kept, or the whole).
            let view = view::union(&parts(pack, &set, prepared))?;
            let contributors = contributors(&set, prepared);
            if let Some(mut finding) = decide::decide(pack, item, &last, &contributors, combination.clone(), ctx) {
                if finding.holds() {
                    let task = Task { pack, item, bindings: &view.bindings };
                    let src = Source { lf: &view.lf, text: true, memo: None };
                    let origin = view_origin(pack, &view, &set, prepared);
                    if extras.fixes {
                        finding.fix = Some(union_fix(pack, &set, prepared, &src, task, &origin)?);
                    }
                    if extras.coverage {
                        finding.coverage = assess::coverage(&src, task)?;
                    }
                }
                out.findings.push(finding);
            }
            remaining.retain(|m| !set.contains(m));
        }
    }
    Ok(out)
}
