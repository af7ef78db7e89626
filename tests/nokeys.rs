//! Linkage without shared keys (DESIGN §4a) beyond the scenarios: a pack of its own
//! with other tag names and distances, fixes written and scanned again, and the bad
//! inputs — gazetteers, link settings, positions that cannot link, key columns that
//! mix forms of division codes — each a clear error with the documented exit code.

mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

fn scan(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["scan", "--format", "json"];
    all.extend_from_slice(args);
    common::json(&all)
}

fn holds(report: &Value) -> Vec<&Value> {
    report["findings"].as_array().unwrap().iter().filter(|f| f["outcome"] == "hold_and_report").collect()
}

const PACK: &str = r#"
[pack]
id = "water"
version = "1"
name = "Reservoirs"
authority = "Water authority"

[tags.dam]
kind = "key"
columns = ["dam_no"]

[tags.spot]
kind = "point"
lat = ["y_deg"]
lon = ["x_deg"]
link_within_m = 500

[tags.reservoir]
kind = "name"
columns = ["reservoir"]
strip_suffixes = ["水库", "库"]

[tags.district]
kind = "region"
columns = ["district", "区划"]

[tags.capacity]
kind = "measure"
columns = ["capacity_m3"]

[[item]]
id = "water.large-dams"
name = "Large dams located to the metre"
level = "秘密"
harm = "h"
remediation = "r"
where = ["capacity >= 1e8"]
when = ["has(dam, spot)", "spot.resolution_m < 10", "distinct(dam) >= 5"]
"#;

fn write(dir: &Path, name: &str, text: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), text).unwrap();
}

/// Six dams at (30 + i/10, 110 + i/10): a register with capacities and positions to
/// 0.001° (≈ 100 m off at most), and a precise point list.
fn dams(dir: &Path, precise_decimals: usize) {
    let mut register = String::from("dam_no,capacity_m3,y_deg,x_deg\n");
    let mut points = String::from("y_deg,x_deg\n");
    for i in 0..6 {
        let (y, x) = (30.0 + i as f64 / 10.0 + 0.000_412, 110.0 + i as f64 / 10.0 + 0.000_377);
        register += &format!("D{i},200000000,{y:.3},{x:.3}\n");
        points += &format!("{y:.precise_decimals$},{x:.precise_decimals$}\n");
    }
    write(dir, "register.csv", &register);
    write(dir, "points.csv", &points);
}

#[test]
fn a_pack_of_its_own_links_by_proximity_with_its_own_names_and_distance() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("water.toml");
    fs::write(&pack, PACK).unwrap();
    let hold = tmp.path().join("hold");
    dams(&hold, 6);
    let (code, report) = scan(&[hold.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 1, "{report}");
    let found = holds(&report);
    assert_eq!(found.len(), 1, "{report}");
    let f = found[0];
    assert_eq!(f["combination"]["via"], "proximity");
    assert_eq!(f["combination"]["within_m"], 500);
    assert_eq!(f["combination"]["keys"], serde_json::json!(["spot"]));
    // The joined rows are judged at the point list's resolution (6 decimals, ≈ 0.1 m).
    let resolution =
        f["evidence"].as_array().unwrap().iter().find(|e| e["condition"] == "spot.resolution_m < 10").unwrap();
    assert!(resolution["value"].as_f64().unwrap() < 1.0, "{resolution}");
    // The verified fix rounds the precise list; written with --fix and scanned again, it clears.
    let fix = &f["fix"];
    assert_eq!(fix["action"], "round", "{fix}");
    assert_eq!(fix["datasets"], serde_json::json!(["points.csv"]), "{fix}");
    let fixed = tmp.path().join("fixed");
    let (code, _) = scan(&[
        hold.to_str().unwrap(),
        "--rules",
        pack.to_str().unwrap(),
        "--no-builtin",
        "--fix",
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let (code, report) = scan(&[fixed.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 0, "the fixed release clears: {report}");

    // Two points in range of every record: no record is pinned.
    let ambiguous = tmp.path().join("ambiguous");
    dams(&ambiguous, 6);
    let mut points = fs::read_to_string(ambiguous.join("points.csv")).unwrap();
    for i in 0..6 {
        points += &format!("{:.6},{:.6}\n", 30.0 + i as f64 / 10.0 + 0.0020, 110.0 + i as f64 / 10.0);
    }
    fs::write(ambiguous.join("points.csv"), points).unwrap();
    let (code, report) = scan(&[ambiguous.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn names_and_regions_of_a_pack_of_its_own_link() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("water.toml");
    fs::write(&pack, PACK).unwrap();
    let dir = tmp.path().join("d");
    // Capacities by reservoir name and district name; positions by dam, differently
    // written names and 12-digit district codes.
    let districts = [("忠县", "500233"), ("云阳县", "500235"), ("奉节县", "500236")];
    let mut a = String::from("reservoir,district,capacity_m3\n");
    let mut b = String::from("dam_no,reservoir,区划,y_deg,x_deg\n");
    for i in 0..6 {
        let (name, code) = districts[i % 3];
        let place = ["青山", "石门", "白水", "龙潭", "黄石", "清江"][i];
        a += &format!("{place}水库,{name}人民政府,300000000\n");
        b += &format!("D{i},{place}庫,{code}000000,{:.6},{:.6}\n", 30.1 + i as f64 / 7.0, 108.2 + i as f64 / 9.0);
    }
    write(&dir, "capacities.csv", &a);
    write(&dir, "dams.csv", &b);
    let (code, report) = scan(&[dir.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 1, "{report}");
    let f = holds(&report)[0];
    assert_eq!(f["combination"]["via"], "name");
    assert_eq!(f["combination"]["keys"], serde_json::json!(["district", "reservoir"]));
    // The notice says how the datasets were linked, in Chinese.
    assert!(f["zh"]["combination"].as_str().unwrap().contains("名称归一后相同"), "{f}");
}

#[test]
fn fuzzy_names_link_only_when_asked_and_the_score_is_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    // Names written with the last character different (青山湾口水库 / 青山湾日库): equal only fuzzily.
    let mut a = String::from("reservoir,capacity_m3\n");
    let mut b = String::from("dam_no,reservoir,y_deg,x_deg\n");
    let places = [
        ("青山湾口", "青山湾日"),
        ("石门峡谷", "石门峡各"),
        ("白水河坝", "白水河埧"),
        ("龙潭沟口", "龙潭沟囗"),
        ("黄石岭下", "黄石岭上"),
        ("清江源头", "清江源斗"),
    ];
    for (i, (p, q)) in places.iter().enumerate() {
        a += &format!("{p}水库,300000000\n");
        b += &format!("D{i},{q}库,{:.6},{:.6}\n", 30.1 + i as f64 / 7.0, 108.2 + i as f64 / 9.0);
    }
    write(&dir, "capacities.csv", &a);
    write(&dir, "dams.csv", &b);
    let exact = tmp.path().join("exact.toml");
    fs::write(&exact, PACK).unwrap();
    let (code, report) = scan(&[dir.to_str().unwrap(), "--rules", exact.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 0, "exact matching links none of them: {report}");
    let fuzzy = tmp.path().join("fuzzy.toml");
    fs::write(
        &fuzzy,
        PACK.replace(
            "strip_suffixes = [\"水库\", \"库\"]",
            "strip_suffixes = [\"水库\", \"库\"]\nmatch = \"jaro_winkler\"\nmin_score = 0.85",
        ),
    )
    .unwrap();
    let (code, report) = scan(&[dir.to_str().unwrap(), "--rules", fuzzy.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 1, "{report}");
    let f = holds(&report)[0];
    assert_eq!(f["combination"]["via"], "name");
    let score = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["condition"].as_str().unwrap().contains("Jaro–Winkler"))
        .unwrap_or_else(|| panic!("{f}"));
    assert!(score["value"].as_f64().unwrap() >= 0.85, "{score}");
    // Profiles keep names as hashes: check says it could not match them (exit 3).
    let mut profiles = Vec::new();
    for (i, file) in ["capacities.csv", "dams.csv"].iter().enumerate() {
        let out = tmp.path().join(format!("{i}.json"));
        let o = common::run(&[
            "profile",
            dir.join(file).to_str().unwrap(),
            "--rules",
            fuzzy.to_str().unwrap(),
            "--no-builtin",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        profiles.push(out.display().to_string());
    }
    let mut args = vec!["check", "--format", "json", "--rules", fuzzy.to_str().unwrap(), "--no-builtin"];
    args.extend(profiles.iter().map(String::as_str));
    let (code, report) = common::json(&args);
    assert_eq!(code, 3, "{report}");
    assert!(report["errors"].as_array().unwrap().iter().any(|e| e["kind"] == "fuzzy"), "{report}");
}

#[test]
fn bad_gazetteers_are_refused_before_any_data_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let header = "code,name,level,parent,valid_from,valid_to,former_names,former_codes\n";
    let (gbk, _, _) = encoding_rs::GBK.encode("code,name,level,parent\n500000,重庆市,province,\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "duplicate",
            format!("{header}500000,重庆市,province,,,,,\n500000,重庆,province,,,,,\n").into_bytes(),
            "line 3: duplicate code",
        ),
        ("columns", b"code,name\n500000,x\n".to_vec(), "missing column(s) level, parent"),
        ("encoding", gbk.to_vec(), "not utf-8"),
        ("parent", format!("{header}500233,忠县,county,500000,,,,\n").into_bytes(), "line 2: parent `500000`"),
        ("code", format!("{header}5002,忠县,county,,,,,\n").into_bytes(), "not a 6- or 12-digit"),
        ("control", format!("{header}500000,重庆\u{1}市,province,,,,,\n").into_bytes(), "control character"),
    ];
    for (name, bytes, needle) in cases {
        let path = tmp.path().join(format!("{name}.csv"));
        fs::write(&path, bytes).unwrap();
        let out =
            common::run(&["scan", "datasets/linkage/gazetteer-names-hold", "--gazetteer", path.to_str().unwrap()]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}: nothing evaluated");
        assert!(err.contains(&format!("{name}.csv")), "{name}: names the file: {err}");
        assert!(err.to_lowercase().contains(&needle.to_lowercase()), "{name}: {err}");
    }
    let out = common::run(&["scan", "datasets/linkage/gazetteer-names-hold", "--gazetteer", "/nonexistent/g.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("/nonexistent/g.csv"));
}

#[test]
fn a_replacement_gazetteer_is_what_names_resolve_with() {
    // A gazetteer without the first listed county: that county's name resolves to
    // nothing and its site no longer links.
    let tmp = tempfile::tempdir().unwrap();
    let list = fs::read_to_string(common::root().join("datasets/linkage/gazetteer-names-hold/枢纽县名录.csv")).unwrap();
    let first = list.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let code = mosaic::link::names::get().unwrap().resolve(&first, None).expect("the first county resolves");
    let bundled = fs::read_to_string(common::root().join("data/gazetteer.csv")).unwrap();
    let without: String =
        bundled.lines().filter(|l| !l.starts_with(&format!("{code},"))).map(|l| format!("{l}\n")).collect();
    let path = tmp.path().join("g.csv");
    fs::write(&path, without).unwrap();
    let dir = tmp.path().join("d");
    common::copy_dir(&common::root().join("datasets/linkage/gazetteer-names-hold"), &dir);
    fs::remove_file(dir.join("expected.json")).unwrap();
    let (code, report) = scan(&[dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    let value = |r: &Value| holds(r)[0]["evidence"][2]["value"].as_f64().unwrap();
    let with_bundled = value(&report);
    let (_, report) = scan(&[dir.to_str().unwrap(), "--gazetteer", path.to_str().unwrap()]);
    let links = holds(&report).first().map_or(0.0, |_| value(&report));
    assert!(links < with_bundled, "one county fewer resolves: {links} vs {with_bundled}");
}

#[test]
fn bad_link_settings_in_a_pack_are_refused_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("zero", PACK.replace("link_within_m = 500", "link_within_m = 0"), "between 1 m and 100 000 m"),
        ("negative", PACK.replace("link_within_m = 500", "link_within_m = -20"), "between 1 m and 100 000 m"),
        ("far", PACK.replace("link_within_m = 500", "link_within_m = 250000"), "between 1 m and 100 000 m"),
        (
            "on-a-key",
            PACK.replace("columns = [\"dam_no\"]", "columns = [\"dam_no\"]\nlink_within_m = 10"),
            "for point tags",
        ),
        (
            "parent-on-a-name",
            PACK.replace("strip_suffixes = [\"水库\", \"库\"]", "parent = [\"province\"]"),
            "`parent` is for region tags",
        ),
        (
            "score",
            PACK.replace("strip_suffixes = [\"水库\", \"库\"]", "match = \"jaro_winkler\"\nmin_score = 0.5"),
            "outside 0.8 to 1",
        ),
        ("score-alone", PACK.replace("strip_suffixes = [\"水库\", \"库\"]", "min_score = 0.9"), "needs `match"),
        ("unknown-match", PACK.replace("strip_suffixes = [\"水库\", \"库\"]", "match = \"soundex\""), "unknown match"),
        (
            "control-suffix",
            PACK.replace("strip_suffixes = [\"水库\", \"库\"]", "strip_suffixes = [\"水\\u0007库\"]"),
            "control characters",
        ),
    ];
    for (name, text, needle) in cases {
        let path = tmp.path().join(format!("{name}.toml"));
        fs::write(&path, text).unwrap();
        let out = common::run(&["rules", "validate", path.to_str().unwrap()]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(&format!("{name}.toml:")), "{name}: names file and line: {err}");
        assert!(err.contains(needle), "{name}: {err}");
    }
}

#[test]
fn positions_that_cannot_link_and_mixed_code_forms_are_the_datasets_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("water.toml");
    fs::write(&pack, PACK).unwrap();
    // A point list whose positions are all outside the globe: the proximity link
    // cannot be judged, and the scan says so (exit 3), never passes.
    let dir = tmp.path().join("no-positions");
    dams(&dir, 6);
    write(&dir, "points.csv", "y_deg,x_deg\n95.5,200.1\n-91.0,181.0\n");
    let (code, report) = scan(&[dir.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 3, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["message"].as_str().unwrap().contains("points.csv has no valid position")),
        "{errors:?}"
    );

    // Two datasets joined on a key column that mixes 6- and 12-digit division codes.
    let dir = tmp.path().join("mixed");
    let mut a = String::from("dam_no,capacity_m3\n");
    let mut b = String::from("dam_no,y_deg,x_deg\n");
    for i in 0..6 {
        let code = if i % 2 == 0 { format!("50023{i}") } else { format!("50023{i}000000") };
        a += &format!("{code},300000000\n");
        b += &format!("{code},{:.6},{:.6}\n", 30.1 + i as f64 / 7.0, 108.2);
    }
    write(&dir, "a.csv", &a);
    write(&dir, "b.csv", &b);
    let (code, report) = scan(&[dir.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 3, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["message"].as_str().unwrap().contains("mixes 6-digit and 12-digit division codes")),
        "{errors:?}"
    );
}

#[test]
fn gcj02_positions_are_converted_before_distances_are_measured() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("water.toml");
    fs::write(&pack, PACK.replace("link_within_m = 500", "link_within_m = 200")).unwrap();
    let dir = tmp.path().join("d");
    // A register at 3 decimals (WGS-84) and the same dams from a Chinese map service
    // (GCJ-02, offset by hundreds of metres) at 6 decimals.
    let mut register = String::from("dam_no,capacity_m3,y_deg,x_deg\n");
    let mut points = String::from("y_deg,x_deg\n");
    for i in 0..6 {
        let (y, x) = (30.0 + i as f64 / 10.0 + 0.000_412, 110.0 + i as f64 / 10.0 + 0.000_377);
        register += &format!("D{i},200000000,{y:.3},{x:.3}\n");
        let (gy, gx) = mosaic::link::near::wgs_to_gcj(y, x);
        assert!(mosaic::link::near::distance_m((y, x), (gy, gx)) > 250.0);
        points += &format!("{gy:.6},{gx:.6}\n");
    }
    write(&dir, "register.csv", &register);
    write(&dir, "points.csv", &points);
    let args = [dir.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin"];
    let (code, report) = scan(&args);
    assert_eq!(code, 0, "as WGS-84 the points lie too far to link: {report}");
    write(&dir, "points.csv.mosaic.toml", "datum = \"gcj02\"\n");
    let (code, report) = scan(&args);
    assert_eq!(code, 1, "converted from GCJ-02 they link: {report}");
    assert_eq!(holds(&report)[0]["combination"]["via"], "proximity");
    write(&dir, "points.csv.mosaic.toml", "datum = \"mars\"\n");
    let (code, report) = scan(&args);
    assert_eq!(code, 3, "an unknown datum is the dataset's error: {report}");
}
