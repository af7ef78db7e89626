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
/// every 50th pair shares site values. Then a lake: 10 tables × `n / 10` daily
/// partitions, each table's partitions sharing its own sites (releases of one table),
/// and a register sharing one site with the first table's.
fn search(c: &mut Criterion) {
    let mut group = c.benchmark_group("join_search");
    group.sample_size(10);
    let items = vec![["site", "position", "voltage"].iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()];
    let node = |tags: &[&str]| {
        let tags: BTreeSet<String> = tags.iter().map(|s| s.to_string()).collect();
        Node { keys: ["site".to_string()].into(), columns: tags.clone(), tags }
    };
    for n in [500usize, 5_000] {
        let mut nodes = Vec::new();
        let mut sets = Vec::new();
        for i in 0..n {
            for (tags, prefix) in [(["site", "voltage"], "R"), (["site", "position"], "C")] {
                let owner = if i % 50 == 0 || prefix == "R" { format!("R{i}") } else { format!("C{i}") };
                sets.push(KeySet::from_values(ids(&owner, 200).iter().map(String::as_str)));
                nodes.push(node(&tags));
            }
        }
        group.throughput(Throughput::Elements(nodes.len() as u64));
        group.bench_function(BenchmarkId::new("sparse", nodes.len()), |b| {
            b.iter(|| link::joins(&nodes, &items, 3, |i, _| Some(&sets[i])))
        });
    }
    let n = 10_000;
    let mut nodes = Vec::new();
    let mut sets = Vec::new();
    for table in 0..10 {
        let sites = KeySet::from_values(ids(&format!("T{table}"), 200).iter().map(String::as_str));
        for _ in 0..n / 10 {
            let tag = ["position", "height", "depth", "owner", "kind", "status", "grade", "zone", "route", "line"];
            nodes.push(node(&["site", tag[table]]));
            sets.push(sites.clone());
        }
    }
    nodes.push(node(&["site", "voltage"]));
    sets.push(KeySet::from_values(ids("T0", 1).iter().map(String::as_str)));
    group.throughput(Throughput::Elements(nodes.len() as u64));
    group.bench_function(BenchmarkId::new("daily_partitions", nodes.len()), |b| {
        b.iter(|| link::joins(&nodes, &items, 3, |i, _| Some(&sets[i])))
    });
    group.finish();
}

/// 100 000 region values (the labelled set's forms, cycled) resolved to division codes,
/// each resolved afresh (scans resolve each distinct value once).
fn names(c: &mut Criterion) {
    let g = mosaic::link::names::get().unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/names.csv")).unwrap();
    let set: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() == 3).then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect();
    let values: Vec<&(String, String)> = set.iter().cycle().take(100_000).collect();
    let mut group = c.benchmark_group("names");
    group.sample_size(10);
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("resolve_100k", |b| {
        b.iter(|| values.iter().filter(|(v, p)| g.resolve(v, (!p.is_empty()).then_some(p.as_str())).is_some()).count())
    });
    group.finish();
}

/// 1M × 1M points linked within 2 km: a register and the same places surveyed again
/// (each moved up to ≈ 300 m), spread over 25° × 25°.
fn proximity(c: &mut Criterion) {
    let mut state = 20_261_201u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let n = 1_000_000;
    let a: Vec<Option<(f64, f64)>> = (0..n).map(|_| Some((20.0 + 25.0 * next(), 100.0 + 25.0 * next()))).collect();
    let b: Vec<Option<(f64, f64)>> =
        a.iter().map(|p| p.map(|(la, lo)| (la + 0.003 * (next() - 0.5), lo + 0.003 * (next() - 0.5)))).collect();
    let mut group = c.benchmark_group("proximity");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("1M_x_1M_within_2km", |bench| {
        bench.iter(|| mosaic::link::near::pairs(&a, &b, 2000.0, u64::MAX).unwrap().len())
    });
    group.finish();
}

criterion_group!(benches, key_sets, search, names, proximity);
criterion_main!(benches);
