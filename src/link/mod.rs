//! Link: which combinations of datasets are worth evaluating (DESIGN §4).
//!
//! Candidates are every dataset alone (evaluated by the scan directly), joins of
//! datasets that share a key tag with overlapping values, and unions of datasets
//! with the same tag set. The search here is plain data over tag sets and key
//! overlaps, so it is tested without files; `view` builds the polars frames of the
//! candidates that survive.

pub use crate::profile::keys;
pub mod distinct;
pub mod names;
pub mod near;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use keys::KeySet;

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
/// `values(node, key)` gives a node's values of key tag `key` (`None`: they could not
/// be read, and the node is taken to share a value with every other holder — fail
/// closed). Sets grow one overlapping neighbour at a time up to `max_combo` members;
/// a set is evaluated for an item only if its tags cover the item's tags and no
/// connected proper subset does — so every member is needed, either for a tag or to
/// link the others, and no superset of a set that can reach the item is evaluated
/// for it. (An inner join never adds entities, so scale metrics cannot grow by
/// joining; only bringing tags together can reach a new item.)
///
/// Two datasets binding the same tags are never linked to each other: together they
/// cover no tag either lacks, and in a set of three one of them and the third member
/// are a connected proper subset covering as much, so no such set is ever new. (Only
/// a chain of four or more could need both, as a bridge; releases of one table are a
/// union's business.) Sets holding two of them are not grown either. That rule keeps releases of one table, sharing all their key
/// values, from making the search quadratic. The pairs that do share a value are
/// found by one merge of every holder's sorted values per key tag, so the search
/// costs the number of values and of linked pairs, not the number of pairs.
pub fn joins<'s>(
    nodes: &[Node],
    items: &[BTreeSet<String>],
    max_combo: usize,
    values: impl Fn(usize, &str) -> Option<&'s KeySet>,
) -> (Vec<Join>, Counts) {
    let mut counts = Counts::default();
    if max_combo < 2 {
        return (vec![], counts);
    }
    counts.candidates = pairs_sharing_a_key(nodes);
    let mut class: HashMap<&BTreeSet<String>, usize> = HashMap::new();
    let class: Vec<usize> = nodes
        .iter()
        .map(|n| {
            let next = class.len();
            *class.entry(&n.tags).or_insert(next)
        })
        .collect();
    let all_keys: BTreeSet<&String> = nodes.iter().flat_map(|n| &n.keys).collect();
    let mut edges: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    for key in all_keys {
        let holders: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].keys.contains(key)).collect();
        if holders.len() < 2 {
            continue;
        }
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for &i in &holders {
            match values(i, key) {
                Some(set) => known.push((i, set.hashes())),
                None => unknown.push(i),
            }
        }
        let mut linked: HashSet<(usize, usize)> = shared_values(&known, &class);
        for &u in &unknown {
            linked.extend(holders.iter().filter(|&&h| class[h] != class[u]).map(|&h| (u.min(h), u.max(h))));
        }
        for pair in linked {
            edges.entry(pair).or_default().push(key.clone());
        }
    }
    counts.pruned = counts.candidates - edges.len() as u64;
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
                    // A set holding two datasets of one tag set is never new (above).
                    if set.iter().any(|x| class[*x] == class[*n]) {
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

/// Pairs of nodes that share a key tag, counted by key-tag signature rather than
/// pair by pair (for `scan.stats`: every such pair is considered).
fn pairs_sharing_a_key(nodes: &[Node]) -> u64 {
    let mut by_keys: BTreeMap<&BTreeSet<String>, u64> = BTreeMap::new();
    for n in nodes.iter().filter(|n| !n.keys.is_empty()) {
        *by_keys.entry(&n.keys).or_default() += 1;
    }
    let sigs: Vec<(&BTreeSet<String>, u64)> = by_keys.into_iter().collect();
    let mut pairs = 0;
    for (x, (a, na)) in sigs.iter().enumerate() {
        pairs += na * (na - 1) / 2;
        for (b, nb) in &sigs[x + 1..] {
            if !a.is_disjoint(b) {
                pairs += na * nb;
            }
        }
    }
    pairs
}

/// Pairs of holders (of different tag classes) whose sorted value hashes share one:
/// a k-way merge of every list, so each value is visited once and a value shared by
/// many holders of one class costs nothing more.
fn shared_values(holders: &[(usize, &[u64])], class: &[usize]) -> HashSet<(usize, usize)> {
    use std::cmp::Reverse;
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
        holders.iter().enumerate().filter_map(|(x, (_, h))| h.first().map(|v| Reverse((*v, x)))).collect();
    let mut pos = vec![0usize; holders.len()];
    let mut run: Vec<usize> = Vec::new();
    let mut out = HashSet::new();
    while let Some(Reverse((value, x))) = heap.pop() {
        run.clear();
        run.push(x);
        while heap.peek().is_some_and(|Reverse((v, _))| *v == value) {
            run.push(heap.pop().expect("peeked").0 .1);
        }
        for &x in &run {
            pos[x] += 1;
            if let Some(v) = holders[x].1.get(pos[x]) {
                heap.push(Reverse((*v, x)));
            }
        }
        if run.len() < 2 {
            continue;
        }
        let mut nodes: Vec<usize> = run.iter().map(|&x| holders[x].0).collect();
        nodes.sort_unstable_by_key(|&n| class[n]);
        if class[nodes[0]] == class[nodes[nodes.len() - 1]] {
            continue;
        }
        for (i, &a) in nodes.iter().enumerate() {
            for &b in nodes[i + 1..].iter().filter(|&&b| class[b] != class[a]) {
                out.insert((a.min(b), a.max(b)));
            }
        }
    }
    out
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
        // Holders by tag set: what a pair can reach depends only on the two tag sets
        // (two binding the same tags reach nothing the other does not), so a lake's
        // releases of one table are passed over as a block, not pair by pair.
        let mut classes: BTreeMap<&BTreeSet<String>, Vec<usize>> = BTreeMap::new();
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.tags.contains(tag)) {
            classes.entry(&n.tags).or_default().push(i);
        }
        let mut pairs = Vec::new();
        let classes: Vec<(&BTreeSet<String>, Vec<usize>)> = classes.into_iter().collect();
        for (x, (ta, ma)) in classes.iter().enumerate() {
            for (tb, mb) in &classes[x + 1..] {
                if ids.iter().any(|k| ta.contains(k) && tb.contains(k)) {
                    continue;
                }
                let reach: Vec<usize> = (0..items.len())
                    .filter(|&i| {
                        let need = &items[i];
                        need.contains(tag)
                            && need.iter().all(|n| ta.contains(n) || tb.contains(n))
                            && (!need.is_subset(ta) || !need.is_subset(tb))
                    })
                    .collect();
                if reach.is_empty() {
                    continue;
                }
                for &a in ma {
                    for &b in mb {
                        let items: Vec<usize> = reach.iter().copied().filter(|&i| !met(a, i) && !met(b, i)).collect();
                        if !items.is_empty() {
                            pairs.push(NearPair {
                                tag: tag.clone(),
                                within_m: *within_m,
                                members: [a.min(b), a.max(b)],
                                items,
                            });
                        }
                    }
                }
            }
        }
        pairs.sort_by_key(|p| p.members);
        out.extend(pairs);
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
        let (found, counts) = joins(&nodes, &items, 3, |_, _| None);
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
        let none = KeySet::default();
        let (found, counts) = joins(&nodes, &items, 3, |_, _| Some(&none));
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
        let (found, _) = joins(&nodes, &items, 3, |_, _| None);
        let sets: Vec<&Vec<usize>> = found.iter().map(|j| &j.members).collect();
        // 3 alone covers the item: nothing containing 3 is evaluated.
        assert_eq!(sets, vec![&vec![0, 1, 2]]);
        let j = &found[0];
        assert_eq!(j.steps[1], Step { member: 1, keys: vec!["site".into()] });
        assert_eq!(j.steps[2], Step { member: 2, keys: vec!["code".into()] });
        let (none, _) = joins(&nodes, &items, 2, |_, _| None);
        assert!(none.is_empty(), "max_combo bounds the size");
    }

    #[test]
    fn the_merge_finds_exactly_the_pairs_a_pair_loop_finds() {
        // 120 datasets, each binding `site` and one of four attributes, with site
        // values drawn from a few overlapping ranges, some larger than the samples.
        let attrs = ["a", "b", "c", "d"];
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % m
        };
        let mut nodes = Vec::new();
        let mut sets = Vec::new();
        for _ in 0..120 {
            nodes.push(node(&[attrs[next(4) as usize]], &["site"]));
            let (start, len) = (next(20_000), if next(3) == 0 { 2_000 } else { 1 + next(40) });
            let values: Vec<String> = (start..start + len).map(|v| format!("S{v}")).collect();
            sets.push(KeySet::from_values(values.iter().map(String::as_str)));
        }
        let items: Vec<BTreeSet<String>> =
            [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")].iter().map(|(x, y)| need(&["site", x, y])).collect();
        let (found, counts) = joins(&nodes, &items, 2, |i, _| Some(&sets[i]));
        let mut expected = Vec::new();
        for a in 0..nodes.len() {
            for b in a + 1..nodes.len() {
                let reach = (0..items.len()).any(|i| {
                    covers(&[a, b], &nodes, &items[i])
                        && !covers(&[a], &nodes, &items[i])
                        && !covers(&[b], &nodes, &items[i])
                });
                if reach && sets[a].overlaps(&sets[b]).0 {
                    expected.push(vec![a, b]);
                }
            }
        }
        let got: Vec<Vec<usize>> = found.iter().map(|j| j.members.clone()).collect();
        assert!(expected.len() > 10, "the data must link some pairs");
        assert_eq!(got, expected);
        assert_eq!(counts.candidates, 120 * 119 / 2);
    }

    #[test]
    fn releases_of_one_table_are_not_linked_to_each_other() {
        // Three partitions sharing every site, and a register sharing one.
        let parts: Vec<Node> = (0..3).map(|_| node(&["position"], &["site"])).collect();
        let mut nodes = parts.clone();
        nodes.push(node(&["voltage"], &["site"]));
        let all = KeySet::from_values(["S1", "S2", "S3"]);
        let one = KeySet::from_values(["S2"]);
        let sets = [&all, &all, &all, &one];
        let items = vec![need(&["site", "position", "voltage"])];
        let (found, counts) = joins(&nodes, &items, 3, |i, _| Some(sets[i]));
        let got: Vec<Vec<usize>> = found.iter().map(|j| j.members.clone()).collect();
        assert_eq!(got, vec![vec![0, 3], vec![1, 3], vec![2, 3]]);
        // Six pairs share the key tag; the three between partitions are not joins.
        assert_eq!((counts.candidates, counts.pruned), (6, 3));
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
