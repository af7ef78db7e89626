//! Criterion benches of the candidate search: key sets (build and overlap, settled
//! by the samples or by the full lists) and the join search over many datasets of
//! which only a few share key values.

use std::collections::BTreeSet;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mosaic::link::keys::KeySet;
use mosaic::link::{self, Node};

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:07}")).collect()
}

fn key_sets(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_set");
    for n in [1_000usize, 100_000] {
        let a = ids("A", n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("build", n), &a, |b, a| {
            b.iter(|| KeySet::from_values(a.iter().map(String::as_str)))
        });
        let x = KeySet::from_values(a.iter().map(String::as_str));
        let disjoint = KeySet::from_values(ids("B", n).iter().map(String::as_str));
        let mut one = ids("C", n);
        one[n / 2] = a[n / 3].clone();
        let one = KeySet::from_values(one.iter().map(String::as_str));
        group.bench_function(BenchmarkId::new("overlap_disjoint", n), |b| b.iter(|| x.overlaps(&disjoint)));
        group.bench_function(BenchmarkId::new("overlap_one_shared", n), |b| b.iter(|| x.overlaps(&one)));
    }
    group.finish();
}

/// `n` registers (site, voltage) and `n` coordinate tables (site, position); only
/// every 50th pair shares site values.
fn search(c: &mut Criterion) {
    let mut group = c.benchmark_group("join_search");
    for n in [100usize, 500] {
        let mut nodes = Vec::new();
        let mut sets = Vec::new();
        for i in 0..n {
            for (tags, prefix) in [(["site", "voltage"], "R"), (["site", "position"], "C")] {
                let owner = if i % 50 == 0 || prefix == "R" { format!("R{i}") } else { format!("C{i}") };
                sets.push(KeySet::from_values(ids(&owner, 200).iter().map(String::as_str)));
                let tags: BTreeSet<String> = tags.iter().map(|s| s.to_string()).collect();
                nodes.push(Node { keys: ["site".to_string()].into(), columns: tags.clone(), tags });
            }
        }
        let items = vec![["site", "position", "voltage"].iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()];
        group.throughput(Throughput::Elements(nodes.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(nodes.len()), |b| {
            b.iter(|| link::joins(&nodes, &items, 3, |a, b, _| sets[a].overlaps(&sets[b]).0))
        });
    }
    group.finish();
}

criterion_group!(benches, key_sets, search);
criterion_main!(benches);
