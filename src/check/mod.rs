//! Check: evaluate profiles instead of data (DESIGN §9). Singles and unions of
//! releases are judged on merged states, exactly as `scan` judges the rows (sketched
//! distinct counts excepted, which carry a band); joins are judged on bounds derived
//! from each member's states — a joined row is a row of every member, so a member's
//! metric bounds the join's — and every such value is reported with its band. A band
//! that straddles a threshold counts as met (fail closed).

pub mod cmd;
pub mod doc;

use std::collections::{BTreeMap, BTreeSet};

use crate::decide::{self, Combination, Contributor};
use crate::evaluate::{self, Bands};
use crate::link::keys::KeySet;
use crate::link::{self, Node};
use crate::profile::sketch::Distinct;
use crate::profile::state::State;
use crate::profile::{Need, Values};
use crate::rules::{Catalog, Criterion, Item, Metric, Pack, TagKind};
use crate::scan::{InputSummary, Options, PackRef, ScanResult};
use crate::source::InputError;
use crate::tag::{Binding, Inference};
pub use doc::{build, merge, Profile, ProfileError};

/// Evaluate profiles as `scan` evaluates datasets.
pub fn run(catalog: &Catalog, profiles: &[Profile], options: &Options) -> ScanResult {
    let (catalog, mut result) = ScanResult::empty(catalog, options);
    let ctx = decide::Context { today: options.today(), calendar: &options.calendar };
    // Profiles made with other packs (or other versions of them) cannot be judged.
    let mut usable: Vec<&Profile> = Vec::new();
    for p in profiles {
        match catalog.packs.iter().find(|pack| !p.packs.contains(&PackRef::of(pack))) {
            Some(pack) => result.errors.push(InputError::new(
                &p.dataset.id,
                "profile",
                format!(
                    "profiled without pack {} {} ({}); profile the data again with the packs in force",
                    pack.id,
                    pack.version,
                    &pack.sha256[..12.min(pack.sha256.len())]
                ),
            )),
            None => usable.push(p),
        }
    }
    usable.sort_by(|a, b| a.dataset.id.cmp(&b.dataset.id));
    let mut met: Vec<BTreeSet<(String, String)>> = vec![BTreeSet::new(); usable.len()];
    for (i, p) in usable.iter().enumerate() {
        result.stats.candidates += 1;
        result.inputs.push(InputSummary {
            id: p.dataset.id.clone(),
            path: p.dataset.path.clone(),
            sha256: p.dataset.sha256.clone(),
            rows: p.dataset.rows,
            tags: p.tagging.values().flat_map(|b| b.iter().map(|(t, b)| (t.clone(), b.columns.label()))).collect(),
        });
        let mut seen = BTreeSet::new();
        for bindings in p.tagging.values() {
            for (tag, b) in bindings {
                seen.insert(Inference {
                    input: p.dataset.id.clone(),
                    column: b.columns.label(),
                    tag: tag.clone(),
                    how: b.how,
                    note: None,
                });
            }
        }
        result.tagging.extend(seen);
        for pack in &catalog.packs {
            let bindings = p.bindings(&pack.id);
            for item in &pack.items {
                let Some(group) = evaluate::plan(pack, item, &bindings) else { continue };
                let Some(states) = p.states(&group.key()) else {
                    result.errors.push(missing(p, &pack.id, &item.id));
                    continue;
                };
                let (values, bands) = crate::profile::state::read(&group.needs, states);
                let evaluation = evaluate::judge_banded(pack, item, &bindings, &values, &bands);
                result.stats.evaluated += 1;
                if evaluation.met {
                    met[i].insert((pack.id.clone(), item.id.clone()));
                }
                result.findings.extend(decide::decide(
                    pack,
                    item,
                    &evaluation,
                    &[contributor(p)],
                    Combination::single(),
                    &ctx,
                ));
            }
        }
    }
    for pack in &catalog.packs {
        let nodes: Vec<Node> = usable.iter().map(|p| node(p, &pack.id)).collect();
        let items: Vec<BTreeSet<String>> =
            pack.items.iter().map(|i| i.required_tags().into_iter().map(String::from).collect()).collect();
        unions(pack, &usable, &nodes, &items, &met, &ctx, &mut result);
        joins(pack, &usable, &nodes, &items, options.max_combo, &ctx, &mut result);
        // Fuzzy name matching compares the names themselves, which profiles keep only
        // as hashes: a fuzzy name tag bound by two profiles is reported, never passed.
        for (tag, t) in pack.tags.iter().filter(|(_, t)| t.link.min_score.is_some()) {
            let holders: Vec<&str> = (0..usable.len())
                .filter(|&i| nodes[i].tags.contains(tag))
                .map(|i| usable[i].dataset.id.as_str())
                .collect();
            if holders.len() >= 2 {
                result.errors.push(InputError::new(
                    holders.join(" ⋈ "),
                    "fuzzy",
                    format!(
                        "`{tag}` matches names fuzzily (Jaro–Winkler >= {}); profiles keep names only as hashes, so \
                         these datasets were not linked by name — run `mosaic scan` on them",
                        t.link.min_score.unwrap_or(1.0)
                    ),
                ));
            }
        }
        // Proximity links need the positions row by row, which profiles do not carry:
        // the combination is reported as not evaluated (exit 3), never passed.
        let met_alone = |m: usize, i: usize| met[m].contains(&(pack.id.clone(), pack.items[i].id.clone()));
        for near in link::near_pairs(&pack.proximity_links(), &pack.key_tags(), &nodes, &items, met_alone) {
            let [a, b] = near.members.map(|m| usable[m].dataset.id.as_str());
            result.errors.push(InputError::new(
                format!("{a} ⋈ {b}"),
                "proximity",
                format!(
                    "`{}` links these datasets by positions within {} m; profiles do not carry positions row by \
                     row, so the link was not evaluated — run `mosaic scan` on them",
                    near.tag, near.within_m
                ),
            ));
        }
    }
    result.inputs.sort_by(|a, b| a.id.cmp(&b.id));
    result.tagging.sort();
    result.errors.sort();
    result.findings.sort_by(|a, b| (&a.pack, &a.item, &a.datasets).cmp(&(&b.pack, &b.item, &b.datasets)));
    result
}

/// Where a profile keeps the values `tag` links on: a key's column, or the id of the
/// resolved region or normalised name values.
fn key_id(pack: &Pack, p: &Profile, tag: &str) -> Option<String> {
    let b = p.bindings(&pack.id).get(tag)?.clone();
    crate::link::names::link_of(pack.tags.get(tag)?, &b, p.dataset.columns.iter().map(String::as_str)).map(|(id, _)| id)
}

fn missing(p: &Profile, pack: &str, item: &str) -> InputError {
    InputError::new(
        &p.dataset.id,
        "profile",
        format!("the profile holds no metrics for {pack}/{item}; profile the data again"),
    )
}

fn contributor(p: &Profile) -> Contributor<'_> {
    Contributor {
        id: &p.dataset.id,
        sha256: &p.dataset.sha256,
        published: p.dataset.published,
        manifest: p.dataset.manifest.as_ref(),
    }
}

fn node(p: &Profile, pack: &str) -> Node {
    let bindings = p.bindings(pack);
    Node {
        tags: bindings.keys().cloned().collect(),
        keys: bindings.iter().filter(|(_, b)| b.kind.links_by_value()).map(|(t, _)| t.clone()).collect(),
        columns: p.dataset.columns.iter().map(|c| c.to_lowercase()).collect(),
    }
}

/// Unions of one table's releases, cumulatively and reduced to a minimal set by
/// re-evaluation, as `scan` does — on merged profiles instead of unioned rows.
fn unions(
    pack: &Pack,
    profiles: &[&Profile],
    nodes: &[Node],
    items: &[BTreeSet<String>],
    met: &[BTreeSet<(String, String)>],
    ctx: &decide::Context,
    result: &mut ScanResult,
) {
    let combination = Combination::new("union", vec![]);
    for group in link::union_groups(nodes, items) {
        for (i, item) in pack.items.iter().enumerate() {
            if !items[i].is_subset(&nodes[group[0]].tags) {
                continue;
            }
            let mut remaining: Vec<usize> =
                group.iter().copied().filter(|m| !met[*m].contains(&(pack.id.clone(), item.id.clone()))).collect();
            if remaining.len() < 2 {
                continue;
            }
            result.stats.candidates += 1;
            let mut first = true;
            while remaining.len() >= 2 {
                let Some(evaluation) = union_evaluation(pack, item, &remaining, profiles, result) else { break };
                if !evaluation.met {
                    if first && evaluation.near {
                        let c: Vec<Contributor> = remaining.iter().map(|m| contributor(profiles[*m])).collect();
                        result.findings.extend(decide::decide(pack, item, &evaluation, &c, combination.clone(), ctx));
                    }
                    break;
                }
                first = false;
                let Ok((set, last)) = link::minimal_set(
                    &remaining,
                    evaluation,
                    |s| Ok::<_, std::convert::Infallible>(union_evaluation(pack, item, s, profiles, result)),
                    |e| e.met,
                );
                let c: Vec<Contributor> = set.iter().map(|m| contributor(profiles[*m])).collect();
                result.findings.extend(decide::decide(pack, item, &last, &c, combination.clone(), ctx));
                remaining.retain(|m| !set.contains(m));
            }
        }
    }
}

fn union_evaluation(
    pack: &Pack,
    item: &Item,
    members: &[usize],
    profiles: &[&Profile],
    result: &mut ScanResult,
) -> Option<evaluate::Evaluation> {
    let mut merged = profiles[members[0]].clone();
    for m in &members[1..] {
        match doc::merge(&merged, profiles[*m]) {
            Ok(p) => merged = p,
            Err(e) => {
                result.errors.push(InputError::new(&profiles[*m].dataset.id, "profile", e.to_string()));
                return None;
            }
        }
    }
    let bindings = merged.bindings(&pack.id);
    let group = evaluate::plan(pack, item, &bindings)?;
    let states = merged.states(&group.key())?;
    let (values, bands) = crate::profile::state::read(&group.needs, states);
    result.stats.evaluated += 1;
    Some(evaluate::judge_banded(pack, item, &bindings, &values, &bands))
}

/// A join member's bindings and the states of its part of an item's plan.
type Member = (BTreeMap<String, Binding>, BTreeMap<String, State>);

/// A join-search node: one dataset, or all releases of one table merged.
struct JoinNode {
    profile: Profile,
    members: Vec<usize>,
}

/// Joins on shared keys, judged on bounds from the members' states. Groups of
/// releases of one table (with a key tag) are nodes too, so a register joined with
/// all of a table's releases is found; such a join is reported only when no finding
/// on fewer datasets already has the item, after dropping every release it does not need.
fn joins(
    pack: &Pack,
    profiles: &[&Profile],
    nodes: &[Node],
    items: &[BTreeSet<String>],
    max_combo: usize,
    ctx: &decide::Context,
    result: &mut ScanResult,
) {
    let mut all: Vec<JoinNode> =
        profiles.iter().enumerate().map(|(i, p)| JoinNode { profile: (*p).clone(), members: vec![i] }).collect();
    let mut extended = nodes.to_vec();
    for group in link::release_groups(nodes).into_iter().filter(|g| !nodes[g[0]].keys.is_empty()) {
        let parts: Vec<Profile> = group.iter().map(|m| profiles[*m].clone()).collect();
        if let Ok(merged) = cmd::merge_all(parts) {
            extended.push(nodes[group[0]].clone());
            all.push(JoinNode { profile: merged, members: group });
        }
    }
    let key_set = |p: &Profile, tag: &str| -> Option<KeySet> {
        Some(KeySet::from_hashes(p.keys.get(&key_id(pack, p, tag)?)?.hashes.clone()))
    };
    let overlap = |x: &Profile, y: &Profile, key: &str| match (key_set(x, key), key_set(y, key)) {
        (Some(a), Some(b)) => a.overlaps(&b).0,
        _ => true,
    };
    let sets: Vec<BTreeMap<&String, Option<KeySet>>> = extended
        .iter()
        .zip(&all)
        .map(|(node, j)| node.keys.iter().map(|k| (k, key_set(&j.profile, k))).collect())
        .collect();
    let (found, counts) =
        link::joins(&extended, items, max_combo, |i, key| sets[i].get(&key.to_string()).and_then(Option::as_ref));
    result.stats.candidates += counts.candidates;
    result.stats.pruned += counts.pruned;
    let mut later = Vec::new();
    for join in found {
        let steps: Vec<usize> = join.steps.iter().map(|s| s.member).collect();
        if steps.iter().any(|s| all[*s].members.len() > 1) {
            later.push(join);
            continue;
        }
        result.stats.joined += 1;
        let members: Vec<&Profile> = steps.iter().map(|s| &all[*s].profile).collect();
        let c: Vec<Contributor> = members.iter().map(|p| contributor(p)).collect();
        for &i in &join.items {
            let evaluation = join_evaluation(pack, &pack.items[i], &members, &join.keys());
            result.stats.evaluated += 1;
            let combination = Combination::join(pack, join.keys());
            result.findings.extend(decide::decide(pack, &pack.items[i], &evaluation, &c, combination, ctx));
        }
    }
    for join in later {
        let keys = join.keys();
        // Per step, the datasets it stands for; a release whose keys meet no other
        // step adds no joined row and is left out.
        let mut sets: Vec<Vec<usize>> = join.steps.iter().map(|s| all[s.member].members.clone()).collect();
        for i in 0..sets.len() {
            let others: Vec<usize> = (0..sets.len()).filter(|j| *j != i).flat_map(|j| sets[j].clone()).collect();
            sets[i].retain(|m| others.iter().any(|o| keys.iter().any(|k| overlap(profiles[*m], profiles[*o], k))));
        }
        if sets.iter().any(Vec::is_empty) {
            result.stats.pruned += 1;
            continue;
        }
        result.stats.joined += 1;
        for &i in &join.items {
            let item = &pack.items[i];
            let Some(mut evaluation) = group_join_evaluation(pack, item, &sets, profiles, &keys) else { continue };
            result.stats.evaluated += 1;
            if evaluation.met {
                // Minimal contributing set: drop every release the rest still meets the item without.
                for step in 0..sets.len() {
                    for m in sets[step].clone().into_iter().rev() {
                        if sets[step].len() <= 1 {
                            break;
                        }
                        let mut trial = sets.clone();
                        trial[step].retain(|x| *x != m);
                        if let Some(e) = group_join_evaluation(pack, item, &trial, profiles, &keys) {
                            result.stats.evaluated += 1;
                            if e.met {
                                sets = trial;
                                evaluation = e;
                            }
                        }
                    }
                }
            }
            let ids: BTreeSet<&str> = sets.iter().flatten().map(|m| profiles[*m].dataset.id.as_str()).collect();
            let covered = result.findings.iter().any(|f| {
                f.pack == pack.id
                    && f.item == item.id
                    && f.holds()
                    && f.datasets.iter().all(|d| ids.contains(d.as_str()))
            });
            if covered {
                continue;
            }
            let c: Vec<Contributor> = sets.iter().flatten().map(|m| contributor(profiles[*m])).collect();
            let combination = Combination::join(pack, keys.clone());
            result.findings.extend(decide::decide(pack, item, &evaluation, &c, combination, ctx));
        }
    }
}

fn join_evaluation(pack: &Pack, item: &Item, members: &[&Profile], keys: &[String]) -> evaluate::Evaluation {
    let mut bindings: BTreeMap<String, Binding> = BTreeMap::new();
    for p in members {
        for (t, b) in p.bindings(&pack.id) {
            bindings.entry(t).or_insert(b);
        }
    }
    let (values, bands) = join_values(pack, item, members, keys, &bindings);
    evaluate::judge_banded(pack, item, &bindings, &values, &bands)
}

fn group_join_evaluation(
    pack: &Pack,
    item: &Item,
    sets: &[Vec<usize>],
    profiles: &[&Profile],
    keys: &[String],
) -> Option<evaluate::Evaluation> {
    let merged: Vec<Profile> = sets
        .iter()
        .map(|s| cmd::merge_all(s.iter().map(|m| profiles[*m].clone()).collect()).ok())
        .collect::<Option<_>>()?;
    let members: Vec<&Profile> = merged.iter().collect();
    Some(join_evaluation(pack, item, &members, keys))
}

/// Bounds on a join's metrics. Rows: at most Σ over shared keys of the members' rows
/// per key (two members), or the product of their rows. A tag's metric: the bounds
/// every member binding the tag gives, intersected.
fn join_values(
    pack: &Pack,
    item: &Item,
    members: &[&Profile],
    keys: &[String],
    bindings: &BTreeMap<String, Binding>,
) -> (Values, Bands) {
    let mut values = Values::new();
    let mut bands = Bands::new();
    let member_states = |p: &Profile| -> Option<Member> {
        let b = p.bindings(&pack.id);
        let group = evaluate::plan_partial(pack, item, &b);
        Some((b, p.states(&group.key())?.clone()))
    };
    let parts: Vec<Option<Member>> = members.iter().map(|p| member_states(p)).collect();
    for criterion in &item.criteria {
        match criterion {
            Criterion::Has { tags } => {
                for t in tags {
                    let Some(b) = bindings.get(t) else { continue };
                    // Present in the join only if present in a member's filtered rows.
                    let present = parts.iter().flatten().any(|(mb, st)| {
                        mb.get(t).is_some_and(|x| {
                            let need = Need::Has(x.columns.clone());
                            st.get(&need.key()).is_some_and(|s| s.estimate(&need).value == Some(1.0))
                        })
                    });
                    values.insert(Need::Has(b.columns.clone()).key(), Some(if present { 1.0 } else { 0.0 }));
                }
            }
            Criterion::Compare { metric, .. } => {
                let key = evaluate::need(pack, metric, bindings).key();
                let (value, band) = match metric {
                    Metric::Rows => {
                        let bound = rows_bound(members, &parts, keys, pack, bindings);
                        (Some(bound), (0.0, bound))
                    }
                    _ => {
                        let mut band = (f64::NEG_INFINITY, f64::INFINITY);
                        let mut value = None;
                        for (mb, st) in parts.iter().flatten() {
                            if !metric.tags().iter().all(|t| mb.contains_key(*t)) {
                                continue;
                            }
                            let need = evaluate::need(pack, metric, mb);
                            let Some(s) = st.get(&need.key()) else { continue };
                            let (v, lo, hi) = member_bound(s, &need);
                            band = (band.0.max(lo), band.1.min(hi));
                            value = value.or(v);
                        }
                        // A join key's distinct values in the join are those every member
                        // binding it holds under its filters: intersect the exact sets.
                        if let Some(shared) = shared_keys(pack, metric, &parts) {
                            band.1 = band.1.min(shared);
                            value = Some(band.1);
                        }
                        if band.0 > band.1 {
                            band.0 = band.1;
                        }
                        (value, band)
                    }
                };
                values.insert(key.clone(), value);
                bands.insert(key, band);
            }
        }
    }
    (values, bands)
}

/// Distinct values of a key tag common to the exact sets of every member binding it.
fn shared_keys(pack: &Pack, metric: &Metric, parts: &[Option<Member>]) -> Option<f64> {
    let tag = match metric {
        Metric::Distinct { tag } | Metric::Prop { tag, prop: crate::rules::Prop::Distinct } => tag,
        _ => return None,
    };
    let mut common: Option<Vec<u64>> = None;
    for (mb, st) in parts.iter().flatten() {
        let Some(b) = mb.get(tag) else { continue };
        if b.kind != TagKind::Key {
            return None;
        }
        let need = evaluate::need(pack, metric, mb);
        let Some(State::Distinct { distinct: Distinct::Exact(h) }) = st.get(&need.key()) else { return None };
        common = Some(match common {
            None => h.clone(),
            Some(c) => c.into_iter().filter(|x| h.binary_search(x).is_ok()).collect(),
        });
    }
    common.map(|c| c.len() as f64)
}

fn rows_bound(
    members: &[&Profile],
    parts: &[Option<Member>],
    keys: &[String],
    pack: &Pack,
    _bindings: &BTreeMap<String, Binding>,
) -> f64 {
    let rows = |i: usize| -> f64 {
        parts[i]
            .as_ref()
            .and_then(|(_, st)| st.get(&Need::Rows.key()))
            .and_then(|s| s.estimate(&Need::Rows).value)
            .unwrap_or(members[i].dataset.rows as f64)
    };
    let product: f64 = (0..members.len()).map(rows).product();
    if members.len() != 2 || keys.len() != 1 {
        return product;
    }
    let counts = |p: &Profile| p.keys.get(&key_id(pack, p, &keys[0])?).cloned();
    let (Some(a), Some(b)) = (counts(members[0]), counts(members[1])) else { return product };
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.hashes.len() && j < b.hashes.len() {
        match a.hashes[i].cmp(&b.hashes[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a.rows[i] as f64 * b.rows[j] as f64;
                i += 1;
                j += 1;
            }
        }
    }
    sum.min(product)
}

/// What one member's state says of the join's metric: `(value shown, low, high)`.
/// A join keeps a subset of the member's filtered rows (each possibly repeated), so
/// counts, distincts, areas, extents and spans can only shrink, a range stays within
/// the member's, a percentile of per-row resolution stays within its per-row range,
/// and steps between distinct values can only widen.
fn member_bound(state: &State, need: &Need) -> (Option<f64>, f64, f64) {
    let e = state.estimate(need);
    let hi = e.band.map_or(e.value, |b| Some(b.1));
    match state {
        State::Hist { hist } => match hist.range() {
            Some((lo, hi)) => (e.value, lo, hi),
            None => (None, f64::INFINITY, f64::INFINITY),
        },
        State::Range { min, max }
            if matches!(need, Need::Prop { prop: crate::rules::Prop::Min | crate::rules::Prop::Max, .. }) =>
        {
            (e.value, min.unwrap_or(f64::NEG_INFINITY), max.unwrap_or(f64::INFINITY))
        }
        State::Values { .. } | State::Points { .. } => {
            (e.value, e.band.map_or(e.value.unwrap_or(0.0), |b| b.0), f64::INFINITY)
        }
        _ => (e.value, 0.0, hi.unwrap_or(0.0)),
    }
}
