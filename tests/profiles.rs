//! `mosaic profile` / `merge` / `check` (DESIGN §9): on every bundled scenario,
//! profile-then-check gives the findings `scan` gives; merging partition profiles is
//! associative and commutative and, over any partitioning, gives the metrics of the
//! whole; bad profiles are named errors.

mod common;

use std::path::{Path, PathBuf};

use mosaic::check::{self, doc, Profile};
use mosaic::rules::Catalog;
use mosaic::scan::{self, Options};
use proptest::prelude::*;
use serde_json::Value;

fn scenario_dirs() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for pack in std::fs::read_dir(common::root().join("datasets")).unwrap() {
        let pack = pack.unwrap().path();
        if pack.is_dir() {
            for s in std::fs::read_dir(&pack).unwrap() {
                let s = s.unwrap().path();
                if s.is_dir() {
                    found.push(s);
                }
            }
        }
    }
    found.sort();
    found
}

fn data_children(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            // A Shapefile's .dbf, .shx and .prj are read with its .shp.
            let sidecar = ["dbf", "shx", "prj", "cpg"].iter().any(|ext| name.ends_with(&format!(".{ext}")))
                && p.with_extension("shp").is_file();
            name != "expected.json" && !name.ends_with(".mosaic.toml") && !sidecar
        })
        .collect();
    out.sort();
    out
}

/// What a finding is, apart from content hashes: outcome, item, datasets, combination.
fn shape(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {} {} {}", f["outcome"], f["item"], f["datasets"], f["combination"]["kind"]))
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_checks_from_profiles_as_it_scans() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (n, dir) in scenario_dirs().iter().enumerate() {
        let rel = dir.strip_prefix(common::root()).unwrap().to_string_lossy().to_string();
        let out = tmp.path().join(n.to_string());
        std::fs::create_dir_all(&out).unwrap();
        let mut profiles = Vec::new();
        let inputs: Vec<(PathBuf, bool)> = if dir.join("published").is_dir() {
            let mut v: Vec<(PathBuf, bool)> =
                data_children(&dir.join("candidate")).into_iter().map(|p| (p, false)).collect();
            v.extend(data_children(&dir.join("published")).into_iter().map(|p| (p, true)));
            v
        } else {
            data_children(dir).into_iter().map(|p| (p, false)).collect()
        };
        for (i, (input, published)) in inputs.iter().enumerate() {
            let file = out.join(format!("{i}.json"));
            let mut args =
                vec!["profile".to_string(), input.display().to_string(), "-o".into(), file.display().to_string()];
            if *published {
                args.push("--published".into());
            }
            let o = common::mosaic().args(&args).output().unwrap();
            assert!(o.status.success(), "profile {}: {}", input.display(), common::stderr(&o));
            profiles.push(file.display().to_string());
        }
        let mut args = vec!["check", "--format", "json"];
        args.extend(profiles.iter().map(String::as_str));
        let (code, report) = common::json(&args);
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        // Proximity links need positions row by row, which profiles do not carry: check
        // must say so (exit 3, an error naming the pair), never pass.
        let proximity = expected["findings"].as_array().unwrap().iter().any(|f| f["combination"]["via"] == "proximity");
        let errors = report["errors"].as_array().unwrap();
        let unlinked = errors.iter().any(|e| e["kind"] == "proximity");
        if proximity && !unlinked {
            failures.push(format!("{rel}: check exit {code}, errors {errors:?}: a proximity hold must be incomplete"));
        }
        if unlinked {
            if code != 3 {
                failures.push(format!("{rel}: check names a proximity link it could not judge but exits {code}"));
            }
            continue;
        }
        let want_code = match expected["verdict"].as_str() {
            Some("hold") => 1,
            _ => 0,
        };
        if code != want_code || report["verdict"] != expected["verdict"] || shape(&report) != shape(&expected) {
            failures.push(format!("{rel}: check exit {code} {:?} vs scan {:?}", shape(&report), shape(&expected)));
            continue;
        }
        // Singles and unions are judged exactly: the same evidence values as scan, or
        // (a sketched distinct count; any join) a band that holds scan's value.
        for (f, e) in report["findings"].as_array().unwrap().iter().zip(expected["findings"].as_array().unwrap()) {
            let got = f["evidence"].as_array().unwrap();
            for (g, w) in got.iter().zip(e["evidence"].as_array().unwrap()) {
                let ok = match g.get("approximate") {
                    Some(band) => {
                        let (lo, hi) = (band[0].as_f64().unwrap(), band[1].as_f64().unwrap());
                        w["value"].as_f64().is_some_and(|v| lo <= v && v <= hi)
                    }
                    // An exact value on a join (a `has`) is not compared: joins are bounds.
                    None => f["combination"]["kind"] == "join" || g["value"] == w["value"],
                };
                if !ok {
                    failures.push(format!("{rel}: {} {} vs {}", f["item"], g, w));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn catalog() -> Catalog {
    Catalog::load(&[], false).unwrap()
}

fn profile_of(catalog: &Catalog, path: &Path) -> Profile {
    let found = mosaic::source::dataset_at(path).unwrap();
    doc::build(catalog, &found.datasets[0], Some("table")).unwrap()
}

/// Rows of a register that meets `energy.substation-locations` when whole:
/// ≥500 kV sites, some snapped to 0.0005° (so snapping differs between parts), plus
/// rows with 2 decimals, lower voltages and commissioning dates.
fn rows(n: usize, snapped: bool) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (lat, lon) = if snapped {
                (30.0 + 0.0005 * i as f64, 114.0 + 0.0005 * (i % 7) as f64)
            } else if i % 5 == 0 {
                (30.0 + 0.01 * i as f64, 114.0 + 0.01 * (i % 3) as f64)
            } else {
                (30.0 + 0.000_113 * i as f64, 114.0 + 0.000_071 * i as f64)
            };
            let kv = if i % 4 == 0 { 220 } else { 500 };
            format!("S{i:04},{kv},{lat:.6},{lon:.6},2024-0{}-1{} 0{}:00:00", 1 + i % 9, i % 10, i % 10)
        })
        .map(|r| r.replace(".000000", ".0").replace("00,", "00,"))
        .collect()
}

fn write_csv(path: &Path, rows: &[String]) {
    let mut text = String::from("site_id,voltage_kv,lat,lon,commissioned\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn evidence(result: &scan::ScanResult) -> Vec<(String, String, Vec<Option<f64>>)> {
    let mut v: Vec<_> = result
        .findings
        .iter()
        .map(|f| (f.item.clone(), f.outcome.name().to_string(), f.evidence.iter().map(|e| e.value).collect()))
        .collect();
    v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    v
}

fn json(p: &Profile) -> Value {
    serde_json::to_value(p).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any partitioning, merged in any order, gives the whole's findings and evidence;
    /// merge is associative and commutative.
    #[test]
    fn partitions_merge_to_the_whole(
        n in 30usize..120,
        snapped in any::<bool>(),
        cuts in proptest::collection::vec(0usize..120, 2),
        fine_part in 0usize..3,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut all = rows(n, snapped);
        if snapped && fine_part == 0 {
            // One part breaks the 0.0005° snapping of the whole.
            all[n / 2] = format!("S9999,500,30.123457,114.000001,2024-01-01 00:00:00");
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % n).collect();
        cuts.sort_unstable();
        let parts = [&all[..cuts[0]], &all[cuts[0]..cuts[1]], &all[cuts[1]..]];
        let whole = tmp.path().join("whole.csv");
        write_csv(&whole, &all);
        let catalog = catalog();
        let mut profiles = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            let path = tmp.path().join(format!("part{i}.csv"));
            write_csv(&path, part);
            profiles.push(profile_of(&catalog, &path));
        }
        prop_assume!(profiles.len() == 3);
        let (a, b, c) = (&profiles[0], &profiles[1], &profiles[2]);
        let left = doc::merge(&doc::merge(a, b).unwrap(), c).unwrap();
        let right = doc::merge(a, &doc::merge(b, c).unwrap()).unwrap();
        let swapped = doc::merge(c, &doc::merge(b, a).unwrap()).unwrap();
        prop_assert!(json(&left) == json(&right), "merge is not associative");
        prop_assert!(json(&left) == json(&swapped), "merge is not commutative");

        let started = chrono::DateTime::from_timestamp(1_795_392_000, 0).unwrap();
        let mut options = Options::new(vec![whole.clone()], started);
        options.fixes = false;
        let scanned = scan::run(&catalog, &options).unwrap();
        let checked = check::run(&catalog, &[left], &options);
        prop_assert_eq!(evidence(&checked), evidence(&scanned));
        prop_assert_eq!(checked.verdict(), scanned.verdict());
    }
}

#[test]
fn bad_profiles_are_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let not_profile = tmp.path().join("report.json");
    std::fs::write(&not_profile, r#"{"schema": "mosaic/findings/v1"}"#).unwrap();
    let out = common::run(&["check", not_profile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("report.json: not a profile"), "{}", common::stderr(&out));

    let truncated = tmp.path().join("cut.json");
    std::fs::write(&truncated, r#"{"format": "mosaic/profile", "version": 1, "dataset": {"#).unwrap();
    let out = common::run(&["check", truncated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("cut.json: not a profile (line 1"), "{}", common::stderr(&out));

    // A profile made with other packs cannot be judged with these: exit 3, named.
    let register = common::root().join("datasets/energy/substations-hold");
    let file = data_children(&register).into_iter().next().unwrap();
    let p = tmp.path().join("p.json");
    let out = common::run(&[
        "profile",
        file.to_str().unwrap(),
        "-o",
        p.to_str().unwrap(),
        "--no-builtin",
        "--rules",
        "rules/energy.toml",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = common::run(&["check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("profiled without pack"), "{}", common::stderr(&out));
    let out = common::run(&["check", p.to_str().unwrap(), "--no-builtin", "--rules", "rules/energy.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));

    // Newer versions are refused with the version named.
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["version"] = 3.into();
    std::fs::write(&p, v.to_string()).unwrap();
    let out = common::run(&["check", p.to_str().unwrap()]);
    assert!(common::stderr(&out).contains("profile version 3"), "{}", common::stderr(&out));

    // Parts of different tables do not merge.
    let a = tmp.path().join("a.json");
    let b = tmp.path().join("b.json");
    let other = data_children(&common::root().join("datasets/surveying/dem-hold")).into_iter().next().unwrap();
    assert!(common::run(&["profile", file.to_str().unwrap(), "--id", "t", "-o", a.to_str().unwrap()]).status.success());
    assert!(common::run(&["profile", other.to_str().unwrap(), "--id", "t", "-o", b.to_str().unwrap()])
        .status
        .success());
    let out = common::run(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        tmp.path().join("m.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("cannot merge"), "{}", common::stderr(&out));

    // A missing input is a usage error naming it.
    let out = common::run(&["profile", "no/such.csv", "-o", tmp.path().join("x.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("no/such.csv"), "{}", common::stderr(&out));
}

/// A scan of one Parquet file runs whole in a sandbox child (`scan::child`), which
/// decodes the file once; what it reports is what the scan's own process reports
/// reading the same file (the library scan here has no sandbox): the findings, their
/// verified fixes, the Chinese words of their evidence and the HTML report's cells.
/// A profile of it is made in such a child too, and is the profile made here.
#[test]
fn a_file_scanned_in_the_sandbox_child_reports_what_one_read_here_does() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let csv = common::root().join("datasets/energy/substations-hold/substations.csv");
    let mut df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(csv))
        .unwrap()
        .finish()
        .unwrap();
    let file = tmp.path().join("substations.parquet");
    ParquetWriter::new(std::fs::File::create(&file).unwrap()).finish(&mut df).unwrap();

    // The profile is the one made here too.
    let catalog = catalog();
    let written = tmp.path().join("profile.json");
    let out = common::run(&["profile", file.to_str().unwrap(), "-o", written.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    // Compared as written: serde_json reads long decimals back only approximately.
    let child = std::fs::read_to_string(&written).unwrap();
    let found = mosaic::source::dataset_at(&file).unwrap();
    let here = serde_json::to_string(&doc::build(&catalog, &found.datasets[0], None).unwrap()).unwrap();
    let sha256 = serde_json::from_str::<Value>(&child).unwrap()["dataset"]["sha256"].clone();
    assert!(sha256.as_str().is_some_and(|s| s.len() == 64), "{sha256}");
    assert_eq!(child, here);

    let epoch: i64 = common::EPOCH.parse().unwrap();
    let started = chrono::DateTime::from_timestamp(epoch, 0).unwrap();
    for (format, lang, library_format) in [
        ("json", "en", mosaic::report::Format::Json),
        ("text", "zh", mosaic::report::Format::Text),
        ("html", "zh", mosaic::report::Format::Html),
    ] {
        let out = common::run(&["scan", file.to_str().unwrap(), "--format", format, "--lang", lang]);
        assert_eq!(out.status.code(), Some(1), "the file holds: {}", common::stderr(&out));
        let mut options = Options::new(vec![file.clone()], started);
        options.coverage = library_format == mosaic::report::Format::Html;
        let here = scan::run(&catalog, &options).unwrap();
        assert!(here.findings.iter().any(|f| f.fix.is_some()), "a verified fix is searched");
        let lang = if lang == "zh" { mosaic::report::Lang::Zh } else { mosaic::report::Lang::En };
        let rendered = mosaic::report::render(&here, &catalog, library_format, false, lang);
        let child = String::from_utf8(out.stdout).unwrap();
        // The duration of each scan differs; nothing else may.
        let timeless = |s: &str| {
            s.lines()
                .filter(|l| !l.contains("duration") && !l.contains("finished") && !l.contains("耗时"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(timeless(&child), timeless(&rendered), "{format} ({lang:?})");
    }
}
