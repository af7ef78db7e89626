//! Criterion benches of scale-out (DESIGN §9): merging 1 000 partition profiles of
//! one table and checking the merged profile. The partitions are real CSV files
//! (200 rows each: site ids from 100 000, positions at 6 decimals in a 1° square,
//! voltages, dates) profiled with the built-in packs before timing starts.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mosaic::check::{self, cmd, doc, Profile};
use mosaic::rules::Catalog;

const PARTS: usize = 1000;
const ROWS: usize = 200;

fn partitions(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..PARTS)
        .map(|p| {
            let mut text = String::from("site_id,voltage_kv,lat,lon,commissioned\n");
            for _ in 0..ROWS {
                let r = next();
                let lat = 30.0 + (r % 1_000_000) as f64 / 1e6;
                let lon = 114.0 + ((r >> 20) % 1_000_000) as f64 / 1e6;
                let kv = if r % 3 == 0 { 500 } else { 220 };
                text += &format!(
                    "S{:05},{kv},{lat:.6},{lon:.6},2024-{:02}-{:02}\n",
                    (r >> 40) % 100_000,
                    1 + p % 12,
                    1 + p % 28
                );
            }
            let path = dir.join(format!("part-{p:04}.csv"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

fn profiles(catalog: &Catalog) -> Vec<Profile> {
    let dir = tempfile::tempdir().unwrap();
    let paths = partitions(dir.path());
    mosaic::par::map(&paths, |path| {
        let found = mosaic::source::dataset_at(path).unwrap();
        doc::build(catalog, &found.datasets[0], Some("table")).unwrap()
    })
}

fn merge(c: &mut Criterion) {
    let catalog = Catalog::load(&[], false).unwrap();
    let parts = profiles(&catalog);
    let mut group = c.benchmark_group("scale-out");
    group.sample_size(10);
    group.bench_function("merge 1000 partition profiles", |b| {
        b.iter_batched(|| parts.clone(), |p| cmd::merge_all(p).unwrap(), BatchSize::LargeInput)
    });
    let merged = cmd::merge_all(parts.clone()).unwrap();
    let started = chrono::DateTime::from_timestamp(1_795_392_000, 0).unwrap();
    let options = mosaic::scan::Options::new(vec![], started);
    group.bench_function("check the merged profile", |b| {
        b.iter(|| check::run(&catalog, std::slice::from_ref(&merged), &options))
    });
    let text = serde_json::to_string(&merged).unwrap();
    group.bench_function("read the merged profile (JSON)", |b| {
        b.iter(|| serde_json::from_str::<Profile>(&text).unwrap())
    });
    group.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
