//! Linkage on real files: minimal contributing sets checked by scanning their
//! subsets, pre-release checks against published data, verified fixes written with
//! `--fix` and scanned again, and pruning on a directory of 200 datasets.

mod common;

use std::path::Path;

use serde_json::Value;

fn holds(report: &Value) -> Vec<&Value> {
    report["findings"].as_array().unwrap().iter().filter(|f| f["outcome"] != "near_threshold").collect()
}

fn names(finding: &Value) -> Vec<String> {
    finding["datasets"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect()
}

fn scan_json(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["scan", dir.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    common::json(&args)
}

/// Copy the named files of a scenario into a fresh directory.
fn subset(scenario: &Path, files: &[String], to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in files {
        std::fs::copy(scenario.join(f), to.join(f)).unwrap();
    }
}

#[test]
fn the_reported_set_of_six_tiles_is_minimal() {
    let scenario = common::root().join("datasets/linkage/tiles-six-hold");
    let (code, report) = scan_json(&scenario, &[]);
    assert_eq!(code, 1);
    let found = holds(&report);
    assert_eq!(found.len(), 1, "one finding, no superset reported again: {found:?}");
    let set = names(found[0]);
    assert_eq!(set.len(), 4, "a minimal set of four of the six tiles, not all six: {set:?}");
    assert_eq!(found[0]["combination"]["kind"], "union");

    let tmp = tempfile::tempdir().unwrap();
    // The set alone still holds ...
    let whole = tmp.path().join("set");
    subset(&scenario, &set, &whole);
    assert_eq!(scan_json(&whole, &[]).0, 1);
    // ... and without any one member it does not.
    for (i, left_out) in set.iter().enumerate() {
        let rest: Vec<String> = set.iter().filter(|f| *f != left_out).cloned().collect();
        let dir = tmp.path().join(format!("without-{i}"));
        subset(&scenario, &rest, &dir);
        let (code, report) = scan_json(&dir, &[]);
        assert_eq!(code, 0, "without {left_out}: {report}");
        assert!(holds(&report).is_empty());
    }
}

#[test]
fn a_candidate_release_holds_only_with_what_is_already_published() {
    let scenario = common::root().join("datasets/linkage/published-union-hold");
    let candidate = scenario.join("candidate");
    let published = scenario.join("published");
    let (alone, report) = scan_json(&candidate, &[]);
    assert_eq!(alone, 0, "the candidate alone is below the threshold: {report}");

    let (code, report) = scan_json(&candidate, &["--published", published.to_str().unwrap()]);
    assert_eq!(code, 1);
    let found = holds(&report);
    assert_eq!(found.len(), 1);
    assert_eq!(names(found[0]), vec!["published:tiles-2026q3.parquet", "tiles-2026q4.parquet"]);
    // Not everything is public yet: a hold for the authority, not an exposure report.
    assert_ne!(found[0]["outcome"], "exposure");

    // When every contributor is already public, it is a possible disclosure.
    let nothing_new = tempfile::tempdir().unwrap();
    let everything = ["--published", published.to_str().unwrap(), "--published", candidate.to_str().unwrap()];
    let (code, report) = scan_json(nothing_new.path(), &everything);
    assert_eq!(code, 1);
    assert_eq!(holds(&report)[0]["outcome"], "exposure", "{report}");
}

#[test]
fn the_join_holds_and_its_verified_fix_clears_it() {
    let scenario = common::root().join("datasets/linkage/registry-join-hold");
    let tmp = tempfile::tempdir().unwrap();
    let fixed = tmp.path().join("fixed");
    let (code, report) = scan_json(&scenario, &["--fix", fixed.to_str().unwrap()]);
    assert_eq!(code, 1);
    let found = holds(&report);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["combination"]["kind"], "join");
    assert_eq!(found[0]["combination"]["keys"], serde_json::json!(["site"]));
    let fix = &found[0]["fix"];
    assert_eq!(fix["action"], "round", "{fix}");
    assert_eq!(fix["datasets"], serde_json::json!(["coordinates.parquet"]));
    assert!(fix["evidence"].as_array().unwrap().iter().any(|e| e["holds"] == false));

    // The written copy replaces the original: the combination no longer holds.
    let release = tmp.path().join("release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(scenario.join("厂站台账.csv"), release.join("厂站台账.csv")).unwrap();
    std::fs::copy(fixed.join("coordinates.parquet"), release.join("coordinates.parquet")).unwrap();
    let (code, report) = scan_json(&release, &[]);
    assert!(holds(&report).is_empty(), "{report}");
    assert_eq!(code, 0);

    // Each file alone never held.
    for file in ["厂站台账.csv", "coordinates.parquet"] {
        let (code, _) = common::json(&["scan", scenario.join(file).to_str().unwrap(), "--format", "json"]);
        assert_eq!(code, 0, "{file} alone");
    }
    // Without the fix search the hold is the same, without a fix.
    let (code, quick) = scan_json(&scenario, &["--no-fix-search"]);
    assert_eq!(code, 1);
    assert!(holds(&quick)[0].get("fix").is_none(), "{quick}");
    assert_eq!(holds(&quick)[0]["evidence"], found[0]["evidence"]);

    // And with joins switched off the pair is not found.
    assert_eq!(scan_json(&scenario, &["--max-combo", "1"]).0, 0);
}

/// A Parquet file scanned with a register is evaluated whole in a sandbox child
/// and opened again for the combinations, its rows decoded only when one reads them:
/// the combination is found with the same evidence and fix as when the file is read
/// here (a scan writing fixed copies reads every file here), and the file's hash is
/// the sha256 of its bytes. The sets of its link values are gathered by the child's
/// metrics query and handed back (the register binds those tags): a key (left empty,
/// the join is not found), names resolved by the gazetteer, facility names.
#[test]
fn a_large_file_evaluated_in_a_child_still_joins() {
    for (scenario, file, register) in [
        ("registry-join-hold", "coordinates.parquet", "厂站台账.csv"),
        ("gazetteer-names-hold", "positions.parquet", "枢纽县名录.csv"),
        ("facility-names-hold", "coordinates.parquet", "厂站名录.csv"),
    ] {
        evaluated_in_a_child_still_joins(scenario, file, register);
    }
}

fn evaluated_in_a_child_still_joins(scenario: &str, file: &str, register: &str) {
    use polars::prelude::*;
    use sha2::Digest;
    let scenario = common::root().join("datasets/linkage").join(scenario);
    let mut df = ParquetReader::new(std::fs::File::open(scenario.join(file)).unwrap()).finish().unwrap();
    // An unbound column of distinct texts takes the file past the size a child is
    // spawned for (16 MiB).
    let per_row = (17 << 20) / df.height() + 1;
    let padding: Vec<String> = (0..df.height()).map(|i| format!("{i:08}{}", "x".repeat(per_row))).collect();
    df.with_column(Column::new("padding".into(), padding)).unwrap();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).with_compression(ParquetCompression::Uncompressed).finish(&mut df).unwrap();
    assert!(bytes.len() > 16 << 20, "{}", bytes.len());
    let tmp = tempfile::tempdir().unwrap();
    let release = tmp.path().join("release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(release.join(file), &bytes).unwrap();
    std::fs::copy(scenario.join(register), release.join(register)).unwrap();

    let (code, report) = scan_json(&release, &[]);
    let fixed = tmp.path().join("fixed");
    let (code_here, here) = scan_json(&release, &["--fix", fixed.to_str().unwrap()]);
    assert_eq!((code, code_here), (1, 1), "{report}");
    let found = holds(&report);
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0]["combination"]["kind"], "join");
    let mut both = vec![file.to_string(), register.to_string()];
    both.sort();
    assert_eq!(names(found[0]), both);
    let without = |f: &Value| {
        let mut f = f.clone();
        f.as_object_mut().unwrap().remove("fix");
        f
    };
    assert_eq!(
        report["findings"].as_array().unwrap().iter().map(without).collect::<Vec<_>>(),
        here["findings"].as_array().unwrap().iter().map(without).collect::<Vec<_>>()
    );
    assert_eq!(found[0]["fix"], holds(&here)[0]["fix"]);
    assert!(found[0]["fix"]["evidence"].as_array().unwrap().iter().any(|e| e["holds"] == false), "{report}");
    assert_eq!(report["scan"]["inputs"], here["scan"]["inputs"]);
    assert_eq!(report["tagging"], here["tagging"]);
    let input = report["scan"]["inputs"].as_array().unwrap().iter().find(|i| i["id"] == file).unwrap();
    assert_eq!(input["sha256"], Value::from(hex::encode(sha2::Sha256::digest(&bytes))));
}

#[test]
fn a_fixed_union_of_tiles_scans_clean() {
    let scenario = common::root().join("datasets/linkage/tiles-union-hold");
    let tmp = tempfile::tempdir().unwrap();
    let fixed = tmp.path().join("fixed");
    let (code, report) = scan_json(&scenario, &["--fix", fixed.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(names(holds(&report)[0]).len(), 4);
    let written: Vec<_> = std::fs::read_dir(&fixed).unwrap().collect();
    assert_eq!(written.len(), 4, "every release of the union is rewritten");
    let (code, report) = scan_json(&fixed, &[]);
    assert!(holds(&report).is_empty(), "{report}");
    assert_eq!(code, 0);
}

/// 100 registers (site, voltage) and 100 coordinate tables (site, position), each
/// with its own site ids except three register/coordinate pairs that share theirs.
fn many(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let shared = [7usize, 41, 88];
    for i in 0..100 {
        let mut register = String::from("site_id,voltage_kv\n");
        let mut coords = String::from("site_id,lat,lon\n");
        for j in 0..25 {
            register += &format!("R{i:03}-{j:02},{}\n", if j % 5 == 0 { 220 } else { 500 });
            let owner = if shared.contains(&i) { format!("R{i:03}") } else { format!("C{i:03}") };
            // Surveyed to the metre: the values do not sit on a coarser lattice.
            let jitter = ((i * 31 + j * 17) % 97) as f64 * 0.000_001;
            let (lat, lon) = (30.0 + i as f64 * 0.05 + j as f64 * 0.001 + jitter, 110.0 + j as f64 * 0.0137 + jitter);
            coords += &format!("{owner}-{j:02},{lat:.6},{lon:.6}\n");
        }
        std::fs::write(dir.join(format!("register-{i:03}.csv")), register).unwrap();
        std::fs::write(dir.join(format!("coords-{i:03}.csv")), coords).unwrap();
    }
}

#[test]
fn two_hundred_datasets_prune_to_the_pairs_that_share_keys() {
    let tmp = tempfile::tempdir().unwrap();
    many(tmp.path());
    let (code, report) = scan_json(tmp.path(), &[]);
    assert_eq!(code, 1);
    let stats = &report["scan"]["stats"];
    let (candidates, pruned, joined) =
        (stats["candidates"].as_u64().unwrap(), stats["pruned"].as_u64().unwrap(), stats["joined"].as_u64().unwrap());
    // 200 singles and the 19 900 pairs sharing the `site` tag are considered ...
    assert!(candidates >= 200 + 19_900, "{stats}");
    // ... but only the three overlapping pairs are joined (and once the releases of
    // each table that overlap at all, together: the registers as one table's releases
    // joined with the coordinate tables as another's).
    assert!((3..=4).contains(&joined), "{stats}");
    assert!(pruned >= 19_900 - 3, "{stats}");
    let mut pairs: Vec<Vec<String>> = holds(&report).iter().map(|f| names(f)).collect();
    pairs.sort();
    assert_eq!(pairs, [7, 41, 88].map(|i| vec![format!("coords-{i:03}.csv"), format!("register-{i:03}.csv")]).to_vec());
}

#[test]
fn a_join_of_56_million_rows_is_judged_from_per_key_counts() {
    // 25 sites, 1 500 distinct rows per site on each side: 56 250 000 joined rows,
    // more than a join is ever built with. Two members are judged from per-key
    // counts without building it: the join holds (25 ≥500 kV sites at 0.11 m).
    let tmp = tempfile::tempdir().unwrap();
    let mut register = String::from("site_id,voltage_kv\n");
    let mut coords = String::from("site_id,lat,lon\n");
    for i in 0..37_500 {
        register += &format!("S{:02},{}\n", i % 25, 500 + i);
        coords += &format!("S{:02},{:.6},{:.6}\n", i % 25, 30.0 + i as f64 * 1e-5, 114.0 + (i % 97) as f64 * 1e-4);
    }
    std::fs::write(tmp.path().join("register.csv"), register).unwrap();
    std::fs::write(tmp.path().join("coords.csv"), coords).unwrap();
    let (code, report) = scan_json(tmp.path(), &[]);
    assert_eq!(code, 1, "{report}");
    assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");
    let held = holds(&report);
    assert_eq!(held.len(), 1, "{report}");
    let evidence = held[0]["evidence"].as_array().unwrap();
    assert!(evidence.iter().any(|e| e["condition"] == "distinct(site) >= 20" && e["value"] == 25.0), "{evidence:?}");
    // Too large to build for a fix search: the fix offered is to release them apart.
    assert_eq!(held[0]["fix"]["action"], "split_release", "{}", held[0]["fix"]);
}

#[test]
fn a_register_joined_with_all_monthly_releases_names_a_minimal_set() {
    let scenario = common::root().join("datasets/linkage/registry-releases-hold");
    let (code, report) = scan_json(&scenario, &[]);
    assert_eq!(code, 1);
    let found = holds(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["combination"]["kind"], "join");
    let set = names(found[0]);
    assert_eq!(set.len(), 5, "the register and all four months: {set:?}");
    // Each month alone joined with the register stays below; so does every three months.
    let tmp = tempfile::tempdir().unwrap();
    let months: Vec<String> = set.iter().filter(|n| n.starts_with("coordinates-")).cloned().collect();
    for (i, left_out) in months.iter().enumerate() {
        let mut files: Vec<String> = set.iter().filter(|f| *f != left_out).cloned().collect();
        files.sort();
        let dir = tmp.path().join(format!("without-{i}"));
        subset(&scenario, &files, &dir);
        let (code, report) = scan_json(&dir, &[]);
        assert_eq!(code, 0, "without {left_out}: {report}");
    }
}
