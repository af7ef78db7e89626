//! `datasets/linkage/` scenarios without shared keys (DESIGN §4a): county names in
//! mixed forms against codes (through the gazetteer), facility names written
//! differently, and a coarse register pinned to a precise unlabelled point list
//! (proximity). Each holds, and each has a variant that must not: positions rounded,
//! names ambiguous without their province, two precise points in range of one record.

use std::path::Path;

use mosaic::link::names;
use polars::prelude::*;

use super::{round, write_parquet, write_text, Rng};

/// A county of the bundled gazetteer: code, name, province name.
struct County {
    code: String,
    name: String,
    province: String,
}

fn gazetteer() -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string("data/gazetteer.csv").expect("run from the repository root");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string(), f[5].to_string())
        })
        .collect()
}

/// Counties (current, county level) whose name and core name no other division has,
/// or (`ambiguous`) whose name another county of another province also has.
fn counties(ambiguous: bool, n: usize) -> Vec<County> {
    let g = gazetteer();
    let province = |code: &str| {
        let p = format!("{}0000", &code[..2]);
        g.iter().find(|r| r.0 == p).map(|r| r.1.clone()).unwrap_or_default()
    };
    let count = |name: &str| g.iter().filter(|r| r.1 == name || names::core(&r.1) == names::core(name)).count();
    let mut out: Vec<County> = Vec::new();
    for (code, name, level, valid_to) in &g {
        if level != "county" || !valid_to.is_empty() || name.chars().count() > 4 {
            continue;
        }
        let others = count(name);
        let fits = if ambiguous {
            // Shared with another province, unique within its own.
            let same: Vec<_> = g.iter().filter(|r| r.1 == *name).collect();
            same.len() >= 2
                && same.iter().filter(|r| r.0[..2] == code[..2]).count() == 1
                && !out.iter().any(|c| c.name == *name)
        } else {
            others == 1
        };
        if fits {
            out.push(County { code: code.clone(), name: name.clone(), province: province(code) });
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "the gazetteer has enough counties");
    out
}

/// Traditional forms of common characters in place and facility names.
fn traditional(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '县' => '縣',
            '区' => '區',
            '阳' => '陽',
            '东' => '東',
            '龙' => '龍',
            '宁' => '寧',
            '乐' => '樂',
            '兴' => '興',
            '长' => '長',
            '门' => '門',
            '马' => '馬',
            '汉' => '漢',
            '广' => '廣',
            '华' => '華',
            '变' => '變',
            '电' => '電',
            c => c,
        })
        .collect()
}

/// The forms a county appears in across releases.
fn county_form(c: &County, i: usize) -> String {
    match i % 5 {
        0 => c.name.clone(),
        1 => format!("{}人民政府", c.name),
        2 => format!("{}{}", c.province, c.name),
        3 => traditional(&c.name),
        _ => format!(" {} ", c.name),
    }
}

const SYLLABLES: &[char] =
    &['石', '宝', '青', '山', '河', '北', '南', '平', '安', '云', '峰', '湖', '泉', '林', '城', '桥'];

fn place(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(SYLLABLES), rng.pick(SYLLABLES))
}

fn positions_df(ids: Vec<String>, codes: Vec<String>, lat: Vec<f64>, lon: Vec<f64>) -> DataFrame {
    df!("site_id" => ids, "adcode" => codes, "lat" => lat, "lon" => lon).unwrap()
}

pub fn all(root: &Path, rng: &mut Rng) {
    // 1. A designation list of counties hosting ≥500 kV hubs, by name in mixed forms,
    // and a table of substation positions by 12-digit county code: 24 designated
    // counties with one site each, 8 sites elsewhere.
    let plain = counties(false, 32);
    let mut list = String::from("县区,电压等级,设施类型\n");
    for (i, c) in plain.iter().take(24).enumerate() {
        list += &format!("{},500,枢纽变电站\n", county_form(c, i));
    }
    let sites: Vec<(String, String, f64, f64)> = plain
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("SGCC-{}-{:04}", &c.code[..2], 101 + i * 3),
                c.code.clone(),
                rng.range(24.0, 40.0),
                rng.range(100.0, 120.0),
            )
        })
        .collect();
    for (scenario, decimals) in [("gazetteer-names-hold", 6), ("gazetteer-names-cleared", 2)] {
        write_text(&root.join(format!("{scenario}/枢纽县名录.csv")), &list);
        let mut df = positions_df(
            sites.iter().map(|s| s.0.clone()).collect(),
            sites.iter().map(|s| format!("{}000000", s.1)).collect(),
            sites.iter().map(|s| round(s.2, decimals)).collect(),
            sites.iter().map(|s| round(s.3, decimals)).collect(),
        );
        write_parquet(&root.join(format!("{scenario}/positions.parquet")), &mut df);
    }

    // 2. The same with county names that several provinces have (朝阳区, 鼓楼区 …):
    // without the province they resolve to nothing and link nothing; with a province
    // column they resolve and hold.
    let shared = counties(true, 24);
    let sites: Vec<(String, String, f64, f64)> = shared
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("SGCC-{}-{:04}", &c.code[..2], 501 + i * 3),
                c.code.clone(),
                rng.range(24.0, 40.0),
                rng.range(100.0, 120.0),
            )
        })
        .collect();
    let mut df = positions_df(
        sites.iter().map(|s| s.0.clone()).collect(),
        sites.iter().map(|s| s.1.clone()).collect(),
        sites.iter().map(|s| round(s.2, 6)).collect(),
        sites.iter().map(|s| round(s.3, 6)).collect(),
    );
    let mut bare = String::from("县区,电压等级,设施类型\n");
    let mut with_province = String::from("省份,县区,电压等级,设施类型\n");
    for c in &shared {
        bare += &format!("{},500,枢纽变电站\n", c.name);
        with_province += &format!("{},{},500,枢纽变电站\n", c.province, c.name);
    }
    write_text(&root.join("gazetteer-ambiguous-cleared/枢纽县名录.csv"), &bare);
    write_parquet(&root.join("gazetteer-ambiguous-cleared/positions.parquet"), &mut df);
    write_text(&root.join("gazetteer-parent-hold/枢纽县名录.csv"), &with_province);
    write_parquet(&root.join("gazetteer-parent-hold/positions.parquet"), &mut df);

    // 3. A facility register with names and county names, no ids, no positions, and a
    // coordinate table whose names are written differently (石宝变 for 石宝变电站,
    // traditional forms) by county code: names link within one county.
    let mut register = String::from("名称,所在区县,电压等级,类型\n");
    let (mut ids, mut station, mut codes, mut lat, mut lon) = (vec![], vec![], vec![], vec![], vec![]);
    for (i, c) in plain.iter().take(28).enumerate() {
        let p = place(rng);
        let voltage = if i < 24 { 500 } else { 220 };
        register += &format!("{p}变电站,{},{voltage},变电站\n", county_form(c, i));
        ids.push(format!("SGCC-{}-{:04}", &c.code[..2], 301 + i * 7));
        station.push(match i % 3 {
            0 => format!("{p}变"),
            1 => traditional(&format!("{p}变电站")),
            _ => format!("{p}站"),
        });
        codes.push(c.code.clone());
        lat.push(rng.range(24.0, 40.0));
        lon.push(rng.range(100.0, 120.0));
    }
    for (scenario, decimals) in [("facility-names-hold", 6), ("facility-names-cleared", 2)] {
        write_text(&root.join(format!("{scenario}/厂站名录.csv")), &register);
        let mut df = df!(
            "site_id" => ids.clone(),
            "station_name" => station.clone(),
            "county_code" => codes.clone(),
            "lat" => lat.iter().map(|x| round(*x, decimals)).collect::<Vec<_>>(),
            "lon" => lon.iter().map(|x| round(*x, decimals)).collect::<Vec<_>>(),
        )
        .unwrap();
        write_parquet(&root.join(format!("{scenario}/coordinates.parquet")), &mut df);
    }

    // 4. A register of 24 ≥500 kV substations with approximate positions (0.1°) and a
    // list of unlabelled points at 6 decimals, one at each substation and 10 far from
    // any: pinned within 8 km they give precise positions of the register's sites.
    // Sites sit on a 0.5° lattice so that no two are within 16 km.
    let truth: Vec<(f64, f64)> = (0..24)
        .map(|i| {
            (28.0 + (i / 6) as f64 * 0.5 + rng.range(0.0, 0.2), 104.0 + (i % 6) as f64 * 0.5 + rng.range(0.0, 0.2))
        })
        .collect();
    let mut coarse = String::from("site_id,voltage_kv,facility_type,lat,lon\n");
    for (i, (la, lo)) in truth.iter().enumerate() {
        coarse += &format!("SGCC-SC-500-{:04},500,变电站,{:.1},{:.1}\n", 11 + i * 5, la, lo);
    }
    let far: Vec<(f64, f64)> = (0..10).map(|_| (rng.range(35.0, 38.0), rng.range(90.0, 95.0))).collect();
    let points = |decimals: i32, doubled: bool| -> DataFrame {
        let mut all: Vec<(f64, f64)> = truth.clone();
        if doubled {
            // A second point 1.5 km north of each substation: every record has two partners.
            all.extend(truth.iter().map(|(la, lo)| (la + 0.0135, *lo)));
        }
        all.extend(far.iter().copied());
        df!(
            "lat" => all.iter().map(|p| round(p.0, decimals)).collect::<Vec<_>>(),
            "lon" => all.iter().map(|p| round(p.1, decimals)).collect::<Vec<_>>(),
        )
        .unwrap()
    };
    for (scenario, decimals, doubled) in
        [("proximity-hold", 6, false), ("proximity-cleared", 3, false), ("proximity-ambiguous-cleared", 6, true)]
    {
        write_text(&root.join(format!("{scenario}/register.csv")), &coarse);
        write_parquet(&root.join(format!("{scenario}/survey-points.parquet")), &mut points(decimals, doubled));
    }
}
