//! Criterion benches of the per-row precision kernels and the cell components:
//! the pure functions every coordinate metric runs on each row.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mosaic::profile::geo;

fn coordinates(n: usize) -> Vec<(f64, f64)> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let a = (state % 1_000_000) as f64 / 1e6;
            let b = ((state >> 20) % 1_000_000) as f64 / 1e6;
            (((30.0 + a) * 1e6).round() / 1e6, ((114.0 + b) * 1e6).round() / 1e6)
        })
        .collect()
}

fn resolution(c: &mut Criterion) {
    let points = coordinates(100_000);
    let mut group = c.benchmark_group("resolution");
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("decimals_f64+resolution_m", |b| {
        b.iter(|| {
            points
                .iter()
                .map(|&(lat, lon)| {
                    let ys = geo::axis_step(geo::decimals_f64(lat).unwrap_or(0), None);
                    let xs = geo::axis_step(geo::decimals_f64(lon).unwrap_or(0), None);
                    geo::resolution_m(lat, ys, xs)
                })
                .fold(f64::INFINITY, f64::min)
        })
    });
    let texts: Vec<String> = points.iter().map(|(lat, _)| format!("{lat:.6}")).collect();
    group.bench_function("decimals_text", |b| {
        b.iter(|| texts.iter().filter_map(|t| geo::decimals_text(t)).map(u32::from).sum::<u32>())
    });
    group.finish();
}

fn cells(c: &mut Criterion) {
    let mut group = c.benchmark_group("cells");
    for side in [100usize, 300] {
        let cells: Vec<(i64, i64)> = (0..side as i64).flat_map(|r| (0..side as i64).map(move |c| (r, c))).collect();
        group.throughput(Throughput::Elements(cells.len() as u64));
        group.bench_with_input(BenchmarkId::new("largest_component", side * side), &cells, |b, cells| {
            b.iter(|| geo::largest_component(cells))
        });
    }
    let points = coordinates(100_000);
    group.bench_function("cell_index_100k", |b| {
        b.iter(|| points.iter().map(|&(lat, lon)| geo::cell(lat, lon, 50.0).0).max())
    });
    group.finish();
}

criterion_group!(benches, resolution, cells);
criterion_main!(benches);
