//! Link: which combinations of datasets are worth evaluating (DESIGN §4).
//!
//! Candidates are every dataset alone (evaluated by the scan directly), joins of
//! datasets that share a key tag with overlapping values, and unions of datasets
//! with the same tag set. The search here is plain data over tag sets and key
//! overlaps, so it is tested without files; `view` builds the polars frames of the
//! candidates that survive.

pub mod keys;
pub mod names;
pub mod near;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One dataset as the search sees it, for one pack.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// Tags bound in the dataset.
    pub tags: BTreeSet<String>,
    /// Its tags of kind `key`.
    pub keys: BTreeSet<String>,
    /// Its column names, lower-cased: releases of one table share them.
    pub columns: BTreeSet<String>,
}

/// A join to evaluate: members in join order, each after the first joined to those
/// before it on `keys`, and the items (indices into the pack's items) that only this
/// combination can reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    pub members: Vec<usize>,
    pub steps: Vec<Step>,
    pub items: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub member: usize,
    pub keys: Vec<String>,
}

impl Join {
    /// Key tags used anywhere in the join, sorted.
    pub fn keys(&self) -> Vec<String> {
        let keys: BTreeSet<&String> = self.steps.iter().flat_map(|s| &s.keys).collect();
        keys.into_iter().cloned().collect()
    }
}

/// Counts for `scan.stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Combinations considered: pairs sharing a key tag, larger connected sets, union groups.
    pub candidates: u64,
    /// Considered but not evaluated: no value overlap, or no item only they could reach.
    pub pruned: u64,
}

/// The join candidates of one pack.
///
/// `overlap(a, b, key)` says whether datasets `a` and `b` share a value of key tag
/// `key`. Sets grow one overlapping neighbour at a time up to `max_combo` members;
/// a set is evaluated for an item only if its tags cover the item's tags and no
/// connected proper subset does — so every member is needed, either for a tag or to
/// link the others, and no superset of a set that can reach the item is evaluated
/// for it. (An inner join never adds entities, so scale metrics cannot grow by
/// joining; only bringing tags together can reach a new item.)
pub fn joins(
    nodes: &[Node],
    items: &[BTreeSet<String>],
    max_combo: usize,
    mut overlap: impl FnMut(usize, usize, &str) -> bool,
) -> (Vec<Join>, Counts) {
    let mut counts = Counts::default();
    let mut edges: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    if max_combo < 2 {
        return (vec![], counts);
    }
    for a in 0..nodes.len() {
        for b in a + 1..nodes.len() {
            let shared: Vec<&String> = nodes[a].keys.intersection(&nodes[b].keys).collect();
            if shared.is_empty() {
                continue;
            }
            counts.candidates += 1;
            let linked: Vec<String> = shared.into_iter().filter(|k| overlap(a, b, k)).cloned().collect();
            if linked.is_empty() {
                counts.pruned += 1;
            } else {
                edges.insert((a, b), linked);
            }
        }
    }
    let mut neighbours: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for &(a, b) in edges.keys() {
        neighbours.entry(a).or_default().insert(b);
        neighbours.entry(b).or_default().insert(a);
    }

    // Connected sets by increasing size.
    let mut level: Vec<Vec<usize>> = edges.keys().map(|&(a, b)| vec![a, b]).collect();
    let mut found = Vec::new();
    let mut size = 2;
    while !level.is_empty() {
        for set in &level {
            if size > 2 {
                counts.candidates += 1;
            }
            let reach = new_items(set, nodes, items, &edges);
            if reach.is_empty() {
                counts.pruned += 1;
                continue;
            }
            found.push(Join { members: set.clone(), steps: join_order(set, &edges), items: reach });
        }
        if size == max_combo {
            break;
        }
        size += 1;
        let mut next: HashSet<Vec<usize>> = HashSet::new();
        for set in &level {
            for m in set {
                for n in &neighbours[m] {
                    if set.contains(n) {
                        continue;
                    }
                    let mut grown = set.clone();
                    grown.push(*n);
                    grown.sort_unstable();
                    next.insert(grown);
                }
            }
        }
        level = next.into_iter().collect();
        level.sort();
    }
    (found, counts)
}

fn covers(set: &[usize], nodes: &[Node], need: &BTreeSet<String>) -> bool {
    need.iter().all(|t| set.iter().any(|m| nodes[*m].tags.contains(t)))
}

fn connected(set: &[usize], edges: &BTreeMap<(usize, usize), Vec<String>>) -> bool {
    let Some(&first) = set.first() else { return false };
    let mut seen = vec![first];
    let mut i = 0;
    while i < seen.len() {
        let m = seen[i];
        for &n in set {
            if !seen.contains(&n) && edges.contains_key(&(m.min(n), m.max(n))) {
                seen.push(n);
            }
        }
        i += 1;
    }
    seen.len() == set.len()
}

/// Items the set covers that none of its connected proper subsets covers.
fn new_items(
    set: &[usize],
    nodes: &[Node],
    items: &[BTreeSet<String>],
    edges: &BTreeMap<(usize, usize), Vec<String>>,
) -> Vec<usize> {
    let subsets: Vec<Vec<usize>> = (1..(1u32 << set.len()) - 1)
        .map(|mask| set.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, m)| *m).collect())
        .filter(|s: &Vec<usize>| s.len() == 1 || connected(s, edges))
        .collect();
    (0..items.len())
        .filter(|&i| covers(set, nodes, &items[i]) && !subsets.iter().any(|s| covers(s, nodes, &items[i])))
        .collect()
}

/// Breadth-first from the smallest member: each next member joins on the keys it
/// shares (with overlap) with members already joined.
fn join_order(set: &[usize], edges: &BTreeMap<(usize, usize), Vec<String>>) -> Vec<Step> {
    let mut order = vec![Step { member: set[0], keys: vec![] }];
    while order.len() < set.len() {
        let next = set.iter().filter(|m| !order.iter().any(|s| s.member == **m)).find_map(|&m| {
            let mut keys: BTreeSet<String> = BTreeSet::new();
            for s in &order {
                if let Some(k) = edges.get(&(m.min(s.member), m.max(s.member))) {
                    keys.extend(k.iter().cloned());
                }
            }
            (!keys.is_empty()).then(|| Step { member: m, keys: keys.into_iter().collect() })
        });
        match next {
            Some(step) => order.push(step),
            None => break,
        }
    }
    order
}

/// A proximity candidate: two datasets binding point tag `tag`, which links within
/// `within_m` metres, and the items only the link could reach.
#[derive(Clone, Debug, PartialEq)]
pub struct NearPair {
    pub tag: String,
    pub within_m: f64,
    pub members: [usize; 2],
    pub items: Vec<usize>,
}

/// Proximity candidates (DESIGN §4a): pairs binding a point tag with `link_within_m`
/// whose tags together cover an item that needs the tag, where at least one of the
/// two lacks a tag of the item and neither meets it alone (`met(dataset, item)`).
/// Releases of one table (same tags and columns) are a union's business, not a link's,
/// and two datasets that share an identifier tag (`ids`) link through it, not by
/// where their rows lie.
pub fn near_pairs(
    links: &[(String, f64)],
    ids: &BTreeSet<String>,
    nodes: &[Node],
    items: &[BTreeSet<String>],
    met: impl Fn(usize, usize) -> bool,
) -> Vec<NearPair> {
    let mut out = Vec::new();
    for (tag, within_m) in links {
        let holders: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].tags.contains(tag)).collect();
        for (x, &a) in holders.iter().enumerate() {
            for &b in &holders[x + 1..] {
                let (ta, tb) = (&nodes[a].tags, &nodes[b].tags);
                if ta == tb && nodes[a].columns == nodes[b].columns {
                    continue;
                }
                if ids.iter().any(|k| ta.contains(k) && tb.contains(k)) {
                    continue;
                }
                let reach: Vec<usize> = (0..items.len())
                    .filter(|&i| {
                        let need = &items[i];
                        need.contains(tag)
                            && need.iter().all(|n| ta.contains(n) || tb.contains(n))
                            && (!need.is_subset(ta) || !need.is_subset(tb))
                            && !met(a, i)
                            && !met(b, i)
                    })
                    .collect();
                if !reach.is_empty() {
                    out.push(NearPair { tag: tag.clone(), within_m: *within_m, members: [a, b], items: reach });
                }
            }
        }
    }
    out
}

/// Groups of releases of one table: datasets with the same tag set *and* the same
/// columns, at least two per group, and only tag sets that cover some item. Each
/// group is evaluated as one cumulative union, however many releases it has.
///
/// The columns must match too because an item's criteria are judged on the union as
/// a whole: two unrelated tables that happen to bind the same tags (a pipeline and a
/// set of contour lines) would otherwise combine one's precision with the other's
/// extent.
pub fn union_groups(nodes: &[Node], items: &[BTreeSet<String>]) -> Vec<Vec<usize>> {
    release_groups(nodes).into_iter().filter(|g| items.iter().any(|need| need.is_subset(&nodes[g[0]].tags))).collect()
}

/// Groups of releases of one table (same tags and columns, at least two) that carry
/// a key tag: each takes part in the join search as one node, so a register joined
/// with all of a table's releases together is a candidate.
pub fn release_groups(nodes: &[Node]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<(&BTreeSet<String>, &BTreeSet<String>), Vec<usize>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if !node.tags.is_empty() {
            groups.entry((&node.tags, &node.columns)).or_default().push(i);
        }
    }
    groups.into_values().filter(|g| g.len() >= 2).collect()
}

/// Reduce a union of releases that meets an item to a minimal contributing set:
/// drop members one at a time, last first, keeping a removal when the rest still
/// meets the item (at least two members stay). `eval` judges a member set (`None`:
/// it could not be judged, the member stays); `whole` is the judgement of `members`.
/// Returns the set and its own judgement.
pub fn minimal_set<E, X>(
    members: &[usize],
    whole: E,
    mut eval: impl FnMut(&[usize]) -> Result<Option<E>, X>,
    met: impl Fn(&E) -> bool,
) -> Result<(Vec<usize>, E), X> {
    let mut set = members.to_vec();
    let mut last = whole;
    for m in members.iter().rev() {
        if set.len() <= 2 {
            break;
        }
        let without: Vec<usize> = set.iter().copied().filter(|x| x != m).collect();
        if let Some(e) = eval(&without)? {
            if met(&e) {
                set = without;
                last = e;
            }
        }
    }
    Ok((set, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(tags: &[&str], keys: &[&str]) -> Node {
        Node {
            tags: tags.iter().chain(keys).map(|s| s.to_string()).collect(),
            keys: keys.iter().map(|s| s.to_string()).collect(),
            columns: tags.iter().chain(keys).map(|s| s.to_string()).collect(),
        }
    }

    fn need(tags: &[&str]) -> BTreeSet<String> {
        tags.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_join_is_evaluated_only_for_items_its_parts_cannot_reach() {
        let nodes = vec![node(&["voltage"], &["site"]), node(&["position"], &["site"])];
        let items = vec![need(&["site", "position", "voltage"]), need(&["site", "position"])];
        let (found, counts) = joins(&nodes, &items, 3, |_, _, _| true);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].members, vec![0, 1]);
        assert_eq!(found[0].items, vec![0]);
        assert_eq!(found[0].keys(), vec!["site".to_string()]);
        assert_eq!(counts, Counts { candidates: 1, pruned: 0 });
    }

    #[test]
    fn pairs_without_overlap_are_pruned() {
        let nodes = vec![node(&["voltage"], &["site"]), node(&["position"], &["site"])];
        let items = vec![need(&["site", "position", "voltage"])];
        let (found, counts) = joins(&nodes, &items, 3, |_, _, _| false);
        assert!(found.is_empty());
        assert_eq!((counts.candidates, counts.pruned), (1, 1));
    }

    #[test]
    fn a_bridge_dataset_links_a_triple_and_supersets_are_not_evaluated() {
        // 0 has type by site, 1 maps site to code, 2 has positions by code.
        let nodes = vec![
            node(&["kind"], &["site"]),
            node(&[], &["site", "code"]),
            node(&["position"], &["code"]),
            node(&["kind", "position"], &["site"]),
        ];
        let items = vec![need(&["kind", "position"])];
        let (found, _) = joins(&nodes, &items, 3, |_, _, _| true);
        let sets: Vec<&Vec<usize>> = found.iter().map(|j| &j.members).collect();
        // 3 alone covers the item: nothing containing 3 is evaluated.
        assert_eq!(sets, vec![&vec![0, 1, 2]]);
        let j = &found[0];
        assert_eq!(j.steps[1], Step { member: 1, keys: vec!["site".into()] });
        assert_eq!(j.steps[2], Step { member: 2, keys: vec!["code".into()] });
        let (none, _) = joins(&nodes, &items, 2, |_, _, _| true);
        assert!(none.is_empty(), "max_combo bounds the size");
    }

    #[test]
    fn unions_group_equal_tag_sets() {
        let nodes = vec![
            node(&["position"], &[]),
            node(&["position"], &[]),
            node(&["position", "height"], &[]),
            node(&["position"], &[]),
        ];
        let items = vec![need(&["position"])];
        assert_eq!(union_groups(&nodes, &items), vec![vec![0, 1, 3]]);
        let mut other_table = nodes.clone();
        other_table[1].columns.insert("pipeline_id".into());
        assert_eq!(union_groups(&other_table, &items), vec![vec![0, 3]]);
        assert!(union_groups(&nodes, &[need(&["depth"])]).is_empty());
    }
}
