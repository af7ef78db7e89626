//! Generates the sample datasets under `datasets/` deterministically (fixed seeds,
//! no clock): `cargo run --example gen-datasets -- datasets`. Each scenario is a
//! directory holding its data; `expected.json` beside it lists the findings the
//! scan must give (written by the tests' `UPDATE_EXPECTED=1` mode, then reviewed).
//!
//! Coordinates are plausible positions in China; ids, names and timestamps look
//! like real registers. Precision is what each scenario is about, so every file
//! writes coordinates with an explicit number of decimals.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

/// splitmix64: small, fast, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

fn write_text(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn write_parquet(path: &Path, df: &mut DataFrame) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::File::create(path).unwrap();
    ParquetWriter::new(file).finish(df).unwrap();
}

fn write_ipc(path: &Path, df: &mut DataFrame) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::File::create(path).unwrap();
    IpcWriter::new(file).finish(df).unwrap();
}

const PROVINCES: &[(&str, &str, f64, f64)] = &[
    ("BJ", "北京", 39.9, 116.4),
    ("HE", "河北", 38.0, 114.5),
    ("SD", "山东", 36.6, 117.0),
    ("JS", "江苏", 32.1, 118.8),
    ("HB", "湖北", 30.6, 114.3),
    ("SC", "四川", 30.7, 104.1),
    ("GD", "广东", 23.1, 113.3),
    ("SN", "陕西", 34.3, 108.9),
];
const PLACES: &[&str] = &[
    "昌平", "房山", "廊坊", "德州", "泰安", "宜兴", "孝感", "荆门", "德阳", "东莞", "咸阳", "渭南", "沧州", "潍坊",
    "南通", "黄冈",
];

/// A substation register: id, name, voltage, type, lat/lon at `decimals`.
fn substations(
    rng: &mut Rng,
    n_500: usize,
    n_220: usize,
    decimals: i32,
) -> Vec<(String, String, i64, String, f64, f64)> {
    let mut rows = Vec::new();
    for i in 0..n_500 + n_220 {
        let (code, _, lat0, lon0) = *rng.pick(PROVINCES);
        let voltage = if i < n_500 { *rng.pick(&[500, 500, 750, 1000]) } else { 220 };
        let place = rng.pick(PLACES);
        let lat = round(lat0 + rng.range(-1.5, 1.5), decimals);
        let lon = round(lon0 + rng.range(-1.5, 1.5), decimals);
        rows.push((
            format!("SGCC-{code}-{voltage}-{:04}", 17 + i * 7),
            format!("{voltage}kV{place}{}号变电站", 1 + i % 3),
            voltage,
            if i % 5 == 0 { "换流站".to_string() } else { "变电站".to_string() },
            lat,
            lon,
        ));
    }
    rows
}

fn substations_csv(rows: &[(String, String, i64, String, f64, f64)], decimals: usize) -> String {
    let mut s = String::from("site_id,name,voltage_kv,facility_type,lat,lon,commissioned\n");
    for (i, (id, name, v, t, lat, lon)) in rows.iter().enumerate() {
        s += &format!("{id},{name},{v},{t},{lat:.decimals$},{lon:.decimals$},{}-{:02}-15\n", 1998 + i % 25, 1 + i % 12);
    }
    s
}

fn substations_df(rows: &[(String, String, i64, String, f64, f64)]) -> DataFrame {
    df!(
        "site_id" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "name" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        "voltage_kv" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "facility_type" => rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>(),
        "lat" => rows.iter().map(|r| r.4).collect::<Vec<_>>(),
        "lon" => rows.iter().map(|r| r.5).collect::<Vec<_>>(),
    )
    .unwrap()
}

/// A pipeline traced point by point from (lat0, lon0) over `km` kilometres.
fn route_ndjson(rng: &mut Rng, points: usize, km: f64, decimals: usize) -> String {
    let (lat0, lon0) = (36.2, 114.1);
    let mut s = String::new();
    for i in 0..points {
        let t = i as f64 / (points - 1) as f64;
        let lat = lat0 + t * km / 111.32 * 0.6 + rng.range(-0.0004, 0.0004);
        let lon = lon0 + t * km / 90.0 * 0.8 + (t * 9.0).sin() * 0.05;
        s += &format!(
            "{{\"pipeline_id\":\"XQD-{:03}\",\"seq\":{i},\"lat\":{lat:.decimals$},\"lon\":{lon:.decimals$},\"surveyed_at\":\"2025-{:02}-{:02}T09:{:02}:00+08:00\"}}\n",
            1 + i / 400,
            3 + i % 9,
            1 + i % 27,
            i % 60
        );
    }
    s
}

/// Full-feature map points covering a `w_km` × `h_km` block at ~35 m spacing.
fn topo_points(rng: &mut Rng, lat0: f64, lon0: f64, w_km: f64, h_km: f64, decimals: i32) -> DataFrame {
    let classes = ["建筑物", "道路", "水系", "植被", "独立地物", "管线"];
    let dlat = 0.000_31;
    let dlon = 0.000_36;
    let rows = (h_km / 111.32 / dlat) as usize;
    let cols = (w_km / (111.32 * lat0.to_radians().cos()) / dlon) as usize;
    let (mut lat, mut lon, mut class, mut fid, mut elev) = (vec![], vec![], vec![], vec![], vec![]);
    for r in 0..rows {
        for c in 0..cols {
            lat.push(round(lat0 + r as f64 * dlat + rng.range(0.0, dlat * 0.5), decimals));
            lon.push(round(lon0 + c as f64 * dlon + rng.range(0.0, dlon * 0.5), decimals));
            class.push(rng.pick(&classes).to_string());
            fid.push(format!("F{:07}", r * cols + c));
            elev.push(round(42.0 + rng.range(0.0, 30.0), 2));
        }
    }
    df!("feature_id" => fid, "feature_class" => class, "lat" => lat, "lon" => lon, "surface_elev" => elev).unwrap()
}

/// One survey tile: map points on a ~35 m lattice filling `lat_deg` × `lon_deg`
/// degrees from its south-west corner, so adjacent tiles continue the lattice.
fn tile(rng: &mut Rng, sheet: &str, lat0: f64, lon0: f64, lat_deg: f64, lon_deg: f64) -> DataFrame {
    let classes = ["建筑物", "道路", "水系", "植被", "独立地物", "管线"];
    let (dlat, dlon) = (0.000_31, 0.000_36);
    let rows = (lat_deg / dlat).round() as usize;
    let cols = (lon_deg / dlon).round() as usize;
    let (mut lat, mut lon, mut class, mut fid) = (vec![], vec![], vec![], vec![]);
    for r in 0..rows {
        for c in 0..cols {
            lat.push(round(lat0 + r as f64 * dlat + rng.range(0.0, dlat * 0.4), 6));
            lon.push(round(lon0 + c as f64 * dlon + rng.range(0.0, dlon * 0.4), 6));
            class.push(rng.pick(&classes).to_string());
            fid.push(format!("{sheet}-{:05}", r * cols + c));
        }
    }
    df!("feature_id" => fid, "feature_class" => class, "lat" => lat, "lon" => lon).unwrap()
}

fn frame_csv(df: &DataFrame, decimals: usize) -> String {
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let mut s = names.join(",") + "\n";
    for i in 0..df.height() {
        let row: Vec<String> = df
            .columns()
            .iter()
            .map(|c| match c.get(i).unwrap() {
                AnyValue::Float64(x) => format!("{x:.decimals$}"),
                AnyValue::String(t) => t.to_string(),
                v => v.to_string(),
            })
            .collect();
        s += &(row.join(",") + "\n");
    }
    s
}

/// Survey tiles of ~7 km² (2.65 km a side near Wuhan) in a block of `rows` × `cols`,
/// as (sheet number, frame), row by row from the north-west.
fn tile_block(rng: &mut Rng, rows: usize, cols: usize) -> Vec<(String, DataFrame)> {
    let (lat_deg, lon_deg) = (0.0238, 0.0276);
    let (north, west) = (30.62, 114.21);
    let mut tiles = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let sheet = format!("H50G{:03}{:03}", 41 + r, 17 + c);
            let df = tile(rng, &sheet, north - (r + 1) as f64 * lat_deg, west + c as f64 * lon_deg, lat_deg, lon_deg);
            tiles.push((sheet, df));
        }
    }
    tiles
}

/// Write tiles, every `csv_every`-th as CSV (6 decimals written), the rest as Parquet.
fn write_tiles(dir: &Path, tiles: &mut [(String, DataFrame)], csv_every: usize) {
    for (i, (sheet, df)) in tiles.iter_mut().enumerate() {
        if csv_every > 0 && i % csv_every == csv_every - 1 {
            write_text(&dir.join(format!("{sheet}.csv")), &frame_csv(df, 6));
        } else {
            write_parquet(&dir.join(format!("{sheet}.parquet")), df);
        }
    }
}

fn contours_csv(rng: &mut Rng, interval: f64) -> String {
    let mut s = String::from("line_id,contour_m,vertex,lat,lon\n");
    let (lat0, lon0) = (40.35, 116.02);
    let mut line = 0;
    let mut level = 200.0;
    while level <= 800.0 {
        let radius = 0.06 - (level - 200.0) / 600.0 * 0.05;
        for v in 0..40 {
            let a = v as f64 / 40.0 * std::f64::consts::TAU;
            let lat = lat0 + radius * a.sin() + rng.range(-0.0005, 0.0005);
            let lon = lon0 + radius * 1.3 * a.cos() + rng.range(-0.0005, 0.0005);
            s += &format!("CL{line:05},{level},{v},{lat:.6},{lon:.6}\n");
        }
        line += 1;
        level += interval;
    }
    s
}

fn facilities(rng: &mut Rng, n: usize, decimals: usize, chinese: bool) -> String {
    let kinds = ["雷达站", "通信站", "油库", "仓储设施", "机场设施"];
    let mut s = if chinese {
        String::from("设施编号,设施名称,类别,纬度,经度\n")
    } else {
        String::from("facility_id,name,category,lat,lon\n")
    };
    for i in 0..n {
        let (code, prov, lat0, lon0) = *rng.pick(PROVINCES);
        let lat = lat0 + rng.range(-2.0, 2.0);
        let lon = lon0 + rng.range(-2.0, 2.0);
        let kind = rng.pick(&kinds);
        s += &format!("{code}{:05},{prov}{kind}{},{kind},{lat:.decimals$},{lon:.decimals$}\n", 3000 + i * 13, i + 1);
    }
    s
}

fn dem(rng: &mut Rng, step_deg: f64, km: f64) -> DataFrame {
    let (lat0, lon0) = (29.55_f64, 103.70);
    let n_lat = (km / 111.32 / step_deg) as usize;
    let n_lon = (km / (111.32 * lat0.to_radians().cos()) / step_deg) as usize;
    let decimals = (-step_deg.log10()).ceil() as i32 + 1;
    let (mut lat, mut lon, mut elev) = (vec![], vec![], vec![]);
    for r in 0..n_lat {
        for c in 0..n_lon {
            lat.push(round(lat0 + r as f64 * step_deg, decimals));
            lon.push(round(lon0 + c as f64 * step_deg, decimals));
            elev.push(round(
                500.0 + 800.0 * ((r as f64 / 37.0).sin() * (c as f64 / 53.0).cos()).abs() + rng.range(0.0, 5.0),
                1,
            ));
        }
    }
    df!("lat" => lat, "lon" => lon, "elevation_m" => elev).unwrap()
}

mod formats;
mod nokeys;

fn main() {
    // `-- --bench-formats DIR N`: the same N points in every format, for benches/RESULTS.md.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--bench-formats") {
        let n = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
        formats::bench(&PathBuf::from(&args[2]), n, &mut Rng(20_261_131));
        return;
    }
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "datasets".into()));
    let mut rng = Rng(20_260_101);

    // energy.substation-locations: ≥ 20 distinct ≥500 kV sites finer than 50 m.
    let hold = substations(&mut rng, 24, 10, 6);
    write_text(&root.join("energy/substations-hold/substations.csv"), &substations_csv(&hold, 6));
    let mut near = substations_df(&substations(&mut rng, 17, 12, 6));
    write_parquet(&root.join("energy/substations-near/substations.parquet"), &mut near);
    let cleared: Vec<_> =
        hold.iter().map(|r| (r.0.clone(), r.1.clone(), r.2, r.3.clone(), round(r.4, 2), round(r.5, 2))).collect();
    write_text(&root.join("energy/substations-cleared/substations.csv"), &substations_csv(&cleared, 2));

    // energy.line-routes: ≥ 1000 points finer than 50 m over more than 100 km.
    write_text(&root.join("energy/route-hold/pipeline.ndjson"), &route_ndjson(&mut rng, 1200, 160.0, 5));
    write_text(&root.join("energy/route-near/pipeline.ndjson"), &route_ndjson(&mut rng, 850, 160.0, 5));
    write_text(&root.join("energy/route-cleared/pipeline.ndjson"), &route_ndjson(&mut rng, 1200, 160.0, 2));

    // surveying.large-scale-map: ≤ 1 m resolution over > 25 km² contiguous; a hive table.
    for (i, (sheet, lat0)) in [("J50G001001", 39.80), ("J50G001002", 39.8225)].iter().enumerate() {
        let mut df = topo_points(&mut rng, *lat0, 116.30, 6.0, 2.5, 6);
        write_parquet(&root.join(format!("surveying/large-map-hold/topo/sheet={sheet}/part-{i}.parquet")), &mut df);
    }
    let mut df = topo_points(&mut rng, 31.20, 121.40, 5.0, 4.4, 6);
    write_parquet(&root.join("surveying/large-map-near/topo.parquet"), &mut df);
    let mut df = topo_points(&mut rng, 31.20, 121.40, 6.0, 5.0, 4);
    write_parquet(&root.join("surveying/large-map-cleared/topo.parquet"), &mut df);

    // surveying.contours: interval ≤ 20 m.
    write_text(&root.join("surveying/contours-hold/contours.csv"), &contours_csv(&mut rng, 10.0));
    write_text(&root.join("surveying/contours-near/contours.csv"), &contours_csv(&mut rng, 25.0));
    write_text(&root.join("surveying/contours-cleared/contours.csv"), &contours_csv(&mut rng, 50.0));

    // surveying.facility-positions: ≥ 50 facilities finer than 50 m; the holding file is GBK.
    let text = facilities(&mut rng, 60, 5, true);
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let path = root.join("surveying/facilities-hold/设施坐标.csv");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(&path).unwrap().write_all(&gbk).unwrap();
    write_text(&root.join("surveying/facilities-near/facilities.csv"), &facilities(&mut rng, 45, 5, false));
    write_text(&root.join("surveying/facilities-cleared/facilities.csv"), &facilities(&mut rng, 60, 3, false));

    // surveying.dem-grid: spacing < 100 m over a diagonal > 14 km.
    write_ipc(&root.join("surveying/dem-hold/dem.arrow"), &mut dem(&mut rng, 0.0005, 12.0));
    write_ipc(&root.join("surveying/dem-near/dem.arrow"), &mut dem(&mut rng, 0.001, 12.0));
    write_ipc(&root.join("surveying/dem-cleared/dem.arrow"), &mut dem(&mut rng, 0.002, 12.0));

    linkage(&root.join("linkage"), &mut Rng(20_261_123));
    remote_sensing(&root.join("remote-sensing"), &mut Rng(20_261_124));
    vehicles(&root.join("vehicles"), &mut Rng(20_261_125));
    health_genetics(&root.join("health-genetics"), &mut Rng(20_261_126));
    meteorology_hydrology(&root.join("meteorology-hydrology"), &mut Rng(20_261_127));
    science_technology(&root.join("science-technology"), &mut Rng(20_261_128));
    formats::all(&root.join("formats"), &mut Rng(20_261_130));
    nokeys::all(&root.join("linkage"), &mut Rng(20_261_201));
}

/// An imagery catalog: one row per tile, centres on a lattice finer than the pack's
/// 1 km cells so that a block of tiles covers its cells without gaps.
fn scene_catalog(rng: &mut Rng, rows: usize, cols: usize, gsd: f64) -> DataFrame {
    let (lat0, lon0) = (39.62, 115.95);
    let (mut id, mut lat, mut lon, mut g, mut at, mut cloud) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in 0..rows {
        for c in 0..cols {
            let (la, lo) = (lat0 + r as f64 * 0.008, lon0 + c as f64 * 0.0095);
            let day = 1 + (r * cols + c) % 27;
            id.push(format!("GF2_PMS1_E{lo:.1}_N{la:.1}_202503{day:02}_L1A{:010}", 4_650_001 + r * cols + c));
            lat.push(round(la, 5));
            lon.push(round(lo, 5));
            g.push(gsd);
            at.push(format!("2025-03-{day:02}T{:02}:{:02}:00+08:00", 10 + r % 3, (c * 7) % 60));
            cloud.push(round(rng.range(0.0, 12.0), 1));
        }
    }
    df!("scene_id" => id, "center_lat" => lat, "center_lon" => lon, "gsd_m" => g, "acquired_at" => at, "cloud_pct" => cloud)
        .unwrap()
}

fn remote_sensing(root: &Path, rng: &mut Rng) {
    // remote-sensing.sub-metre-coverage: 0.5 m tiles over > 400 km² contiguous.
    write_parquet(&root.join("imagery-hold/scenes.parquet"), &mut scene_catalog(rng, 25, 25, 0.5));
    write_parquet(&root.join("imagery-near/scenes.parquet"), &mut scene_catalog(rng, 22, 22, 0.8));
    // The remediation: the same tiles resampled to 2 m.
    write_parquet(&root.join("imagery-cleared/scenes.parquet"), &mut scene_catalog(rng, 25, 25, 2.0));
}

/// One located fix per vehicle owner: `persons` distinct VINs around Beijing.
fn vehicle_fixes(rng: &mut Rng, persons: usize, decimals: i32) -> DataFrame {
    let (mut vin, mut lat, mut lon, mut ts, mut speed) = (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..persons {
        vin.push(format!("LSVAU2180N2{i:06}"));
        lat.push(round(39.9 + rng.range(-0.35, 0.35), decimals));
        lon.push(round(116.4 + rng.range(-0.45, 0.45), decimals));
        ts.push(format!("2025-06-{:02} {:02}:{:02}:{:02}", 1 + i % 28, 6 + i % 16, i % 60, (i * 7) % 60));
        speed.push((rng.next() % 90) as i64);
    }
    df!("vin" => vin, "gps_lat" => lat, "gps_lon" => lon, "gps_time" => ts, "speed_kmh" => speed).unwrap()
}

fn vehicles(root: &Path, rng: &mut Rng) {
    // vehicles.trajectories-at-scale: > 100 000 persons located finer than 100 m.
    write_parquet(&root.join("fleet-hold/fixes.parquet"), &mut vehicle_fixes(rng, 100_200, 5));
    write_parquet(&root.join("fleet-near/fixes.parquet"), &mut vehicle_fixes(rng, 85_000, 5));
    write_parquet(&root.join("fleet-cleared/fixes.parquet"), &mut vehicle_fixes(rng, 100_200, 2));
}

const VARIANTS: &[&str] = &[
    "NM_000546.6:c.215C>G",
    "NM_000059.4:c.7397T>C",
    "NM_007294.4:c.2612C>T",
    "NM_000492.4:c.1408G>A",
    "NM_001126112.3:c.639A>G",
];

/// Per-person variant calls (subject, variant, zygosity), three per subject.
fn genotypes_csv(rng: &mut Rng, subjects: usize) -> String {
    let mut s = String::from("subject_id,variant,zygosity,assay\n");
    for i in 0..subjects {
        for _ in 0..3 {
            let zyg = if rng.unit() < 0.7 { "het" } else { "hom" };
            s += &format!("HGR-2025-{:05},{},{zyg},WES\n", 10_001 + i, rng.pick(VARIANTS));
        }
    }
    s
}

fn health_genetics(root: &Path, rng: &mut Rng) {
    // genomes-at-scale on the calls alone; genomes-by-county only joined with the register.
    write_text(&root.join("cohort-hold/genotypes.csv"), &genotypes_csv(rng, 620));
    let mut register = String::from("受试者编号,性别,出生年份,区县代码\n");
    for i in 0..620 {
        let county = 420_102 + (i % 80) * 3;
        let sex = if rng.unit() < 0.5 { "男" } else { "女" };
        register += &format!("HGR-2025-{:05},{sex},{},{county}\n", 10_001 + i, 1950 + (rng.next() % 50));
    }
    write_text(&root.join("cohort-hold/subjects.csv"), &register);
    write_text(&root.join("cohort-near/genotypes.csv"), &genotypes_csv(rng, 450));
    // The remediation: allele frequencies per province, no per-person rows.
    let mut freq = String::from("variant,province,allele_freq,n_alleles\n");
    for v in VARIANTS {
        for (_, province, _, _) in PROVINCES {
            freq += &format!("{v},{province},{:.4},{}\n", rng.range(0.001, 0.2), 200 + rng.next() % 800);
        }
    }
    write_text(&root.join("cohort-cleared/allele_frequencies.csv"), &freq);
}

/// Water levels of `stations` key sites every `step_h` hours over `days` days.
fn levels(rng: &mut Rng, stations: usize, days: usize, step_h: usize, class: &str) -> DataFrame {
    let (mut stcd, mut tm, mut z, mut cls) = (vec![], vec![], vec![], vec![]);
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    for s in 0..stations {
        let base = 140.0 + 12.0 * s as f64;
        for h in (0..days * 24).step_by(step_h) {
            stcd.push(format!("6{:07}", 1_073_000 + s * 211));
            tm.push((start + chrono::Duration::hours(h as i64)).format("%Y-%m-%d %H:%M:%S").to_string());
            let season = (h as f64 / 24.0 / 365.0 * std::f64::consts::TAU).sin() * 6.0;
            z.push(round(base + season + rng.range(-0.05, 0.05), 2));
            cls.push(class.to_string());
        }
    }
    df!("stcd" => stcd, "tm" => tm, "z" => z, "站类" => cls).unwrap()
}

fn meteorology_hydrology(root: &Path, rng: &mut Rng) {
    // key-site-series: hourly levels at ≥ 5 key sites over a year.
    write_parquet(&root.join("key-sites-hold/levels.parquet"), &mut levels(rng, 6, 366, 1, "重要水利工程"));
    write_parquet(&root.join("key-sites-near/levels.parquet"), &mut levels(rng, 4, 366, 1, "重要水利工程"));
    write_parquet(&root.join("key-sites-cleared/levels.parquet"), &mut levels(rng, 6, 366, 24, "重要水利工程"));
    // The same kind of series published as a flood-warning public service: DM25 Art 29.
    write_parquet(&root.join("public-service/levels.parquet"), &mut levels(rng, 6, 366, 1, "重要水利工程"));
    write_text(
        &root.join("public-service/levels.parquet.mosaic.toml"),
        "# Published under the flood-control public information duty.\n\
         public_interest = \"防汛抗旱水情公共服务信息，依法向社会公开（水文条例 第23条）\"\n",
    );
}

const KEY_POINT_CLASSES: &[&str] = &[
    "不宜公开的发展战略、方针、政策、专项计划",
    "涉密项目研制目标、路线和过程",
    "敏感领域资源、物种、物品、数据和信息",
    "关键技术诀窍、参数和工艺",
    "科学技术成果涉密应用方向",
];

/// Project key points (保密要点): one row per project, `parameters` of them of class (四).
fn key_points_csv(rng: &mut Rng, projects: usize, parameters: usize, with_points: bool) -> String {
    let fields = ["高温合金单晶叶片", "量子精密测量", "深海探测装备", "第三代半导体外延", "高分辨率红外探测器"];
    let mut s = String::from(if with_points {
        "项目编号,项目名称,要点类别,保密要点,经费_万元\n"
    } else {
        "项目编号,项目名称,要点类别,经费_万元\n"
    });
    for i in 0..projects {
        let field = rng.pick(&fields);
        let class =
            if i < parameters { KEY_POINT_CLASSES[3] } else { KEY_POINT_CLASSES[1 + i % 3 - usize::from(i % 3 == 2)] };
        let id = format!("2025YFB{:07}", 3_600_100 + i * 37);
        let funding = 800 + rng.next() % 4200;
        if with_points {
            s += &format!(
                "{id},{field}关键技术研究,{class},第{}项工艺参数及验证路线（详见附件{}）,{funding}\n",
                1 + i % 4,
                i + 1
            );
        } else {
            s += &format!("{id},{field}关键技术研究,{class},{funding}\n");
        }
    }
    s
}

fn science_technology(root: &Path, rng: &mut Rng) {
    write_text(&root.join("key-points-hold/项目保密要点.csv"), &key_points_csv(rng, 24, 6, true));
    write_text(&root.join("key-points-near/项目保密要点.csv"), &key_points_csv(rng, 17, 4, true));
    // The remediation: the project list without the key-point text.
    write_text(&root.join("key-points-cleared/项目清单.csv"), &key_points_csv(rng, 24, 6, false));
}

/// Combinations: each file alone is below every threshold; joined or unioned they are not.
fn linkage(root: &Path, rng: &mut Rng) {
    // A facility register (GBK, Chinese columns, no coordinates) and a coordinate
    // table keyed by the same site ids: only the join reaches energy.substation-locations.
    let sites = substations(rng, 26, 14, 6);
    let mut register = String::from("厂站编号,名称,电压等级,类型,投运日期\n");
    for (i, (id, name, v, t, _, _)) in sites.iter().enumerate() {
        register += &format!("{id},{name},{v},{t},{}-{:02}-01\n", 2001 + i % 20, 1 + i % 12);
    }
    let (gbk, _, _) = encoding_rs::GBK.encode(&register);
    for (scenario, decimals) in [("registry-join-hold", 6), ("registry-join-cleared", 2)] {
        let path = root.join(format!("{scenario}/厂站台账.csv"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::File::create(&path).unwrap().write_all(&gbk).unwrap();
        // 24 of the 26 ≥500 kV sites, 6 of the 220 kV ones, and 12 sites of other registers.
        let mut ids = vec![];
        let (mut lat, mut lon, mut surveyed) = (vec![], vec![], vec![]);
        let picked = sites.iter().take(24).chain(sites.iter().skip(26).take(6));
        for (i, (id, _, _, _, la, lo)) in picked.enumerate() {
            ids.push(id.clone());
            lat.push(round(*la, decimals));
            lon.push(round(*lo, decimals));
            surveyed.push(format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28));
        }
        for i in 0..12 {
            let (code, _, lat0, lon0) = *rng.pick(PROVINCES);
            ids.push(format!("CSG-{code}-110-{:04}", 900 + i * 13));
            lat.push(round(lat0 + rng.range(-1.0, 1.0), decimals));
            lon.push(round(lon0 + rng.range(-1.0, 1.0), decimals));
            surveyed.push(format!("2025-{:02}-10", 1 + i % 12));
        }
        let mut df = df!("site_id" => ids, "lat" => lat, "lon" => lon, "surveyed_on" => surveyed).unwrap();
        write_parquet(&root.join(format!("{scenario}/coordinates.parquet")), &mut df);
    }

    // The same register against coordinates released month by month, 8 sites a
    // month (6 of them ≥500 kV): no month joined alone comes near 20 sites; the four
    // months together reach 24, and any three only 18.
    let path = root.join("registry-releases-hold/厂站台账.csv");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(&path).unwrap().write_all(&gbk).unwrap();
    for month in 0..4 {
        let (mut ids, mut lat, mut lon, mut surveyed) = (vec![], vec![], vec![], vec![]);
        let batch = sites.iter().skip(month * 6).take(6).chain(sites.iter().skip(26 + month * 2).take(2));
        for (i, (id, _, _, _, la, lo)) in batch.enumerate() {
            ids.push(id.clone());
            lat.push(round(*la, 6));
            lon.push(round(*lo, 6));
            surveyed.push(format!("2026-{:02}-{:02}", month + 1, 3 + i));
        }
        let mut df = df!("site_id" => ids, "lat" => lat, "lon" => lon, "surveyed_on" => surveyed).unwrap();
        write_parquet(&root.join(format!("registry-releases-hold/coordinates-2026-{:02}.parquet", month + 1)), &mut df);
    }

    // surveying.large-scale-map on releases of one table: four tiles in a 2×2 block
    // (28 km² together, 21 km² for any three), six in a 2×3 block, three alone.
    write_tiles(&root.join("tiles-union-hold"), &mut tile_block(rng, 2, 2), 0);
    write_tiles(&root.join("tiles-six-hold"), &mut tile_block(rng, 2, 3), 3);
    let mut three = tile_block(rng, 2, 2);
    three.truncate(3);
    write_tiles(&root.join("tiles-three-near"), &mut three, 2);

    // A pre-release check: the candidate's two tiles continue two already published.
    let mut block = tile_block(rng, 2, 2);
    let (mut north, mut south) = (block[0].1.vstack(&block[1].1).unwrap(), block[2].1.vstack(&block[3].1).unwrap());
    block.clear();
    write_parquet(&root.join("published-union-hold/published/tiles-2026q3.parquet"), &mut north);
    write_parquet(&root.join("published-union-hold/candidate/tiles-2026q4.parquet"), &mut south);
}
