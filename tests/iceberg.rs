//! Apache Iceberg tables written by their own writer (the `pyiceberg` Python package,
//! with a local SQL catalog): one dataset of the current snapshot's live data files,
//! rows its deletes removed never counted, the table readable where it was moved to,
//! and metadata pointing at missing files an error naming the table. Needs pyiceberg;
//! `.ci/run` installs it, so in CI (`CI=true`) its absence fails the test.

mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

fn scan(path: &Path) -> (i32, Value) {
    common::json(&["scan", path.to_str().unwrap(), "--format", "json"])
}

fn scan_as_of(path: &Path, at: &str) -> (i32, Value) {
    common::json(&["scan", path.to_str().unwrap(), "--format", "json", "--as-of", at])
}

#[test]
fn an_iceberg_table_is_its_current_snapshot() {
    if !common::tables::have_pyiceberg() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide pyiceberg (.ci/run installs it)");
        eprintln!("skipped: pyiceberg is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let table = common::tables::write_iceberg(tmp.path());
    let (code, report) = scan(&table);
    assert_eq!(code, 1, "{report}");
    let inputs = report["scan"]["inputs"].as_array().unwrap();
    assert_eq!((inputs.len(), inputs[0]["rows"].as_u64()), (1, Some(29)), "{report}");
    assert_eq!(report["findings"][0]["evidence"][2]["value"], 29.0);

    // As of a snapshot id, or of a time: the snapshot current then (from the snapshot log).
    let latest = fs::read_dir(table.join("metadata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".metadata.json"))
        .max()
        .unwrap();
    let meta: Value = serde_json::from_str(&fs::read_to_string(latest).unwrap()).unwrap();
    let log = meta["snapshot-log"].as_array().unwrap();
    assert_eq!(log.len(), 3, "two appends and a delete: {meta}");
    let (first, second) = (&log[0], &log[1]);
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339();
    let t = |e: &Value| e["timestamp-ms"].as_i64().unwrap();
    let (code, report) = scan_as_of(&table, &at(t(first)));
    assert_eq!((code, report["scan"]["inputs"][0]["rows"].as_u64()), (0, Some(10)), "{report}");
    let (code, report) = scan_as_of(&table, &second["snapshot-id"].as_i64().unwrap().to_string());
    assert_eq!((code, report["scan"]["inputs"][0]["rows"].as_u64()), (1, Some(30)), "{report}");
    let (code, report) = scan_as_of(&table, &at(t(first) - 1));
    assert_eq!(code, 3, "{report}");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("no snapshot by then"), "{report}");
    let (code, report) = scan_as_of(&table, "12345");
    assert_eq!(code, 3, "{report}");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("no snapshot 12345"), "{report}");

    // Moved elsewhere: locations in the metadata are mapped to where the table is now.
    let moved = tmp.path().join("moved/substations");
    common::copy_dir(&table, &moved);
    let (code, report) = scan(&moved.parent().unwrap().to_path_buf());
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["scan"]["inputs"][0]["rows"], 29);

    // Metadata pointing at a missing data file, or at a missing manifest: the table's error.
    let broken = tmp.path().join("broken/substations");
    common::copy_dir(&table, &broken);
    for e in fs::read_dir(broken.join("data")).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    let (code, report) = scan(&broken);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["errors"][0]["input"], "substations");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("is missing"), "{report}");

    let no_manifest = tmp.path().join("no-manifest/substations");
    common::copy_dir(&table, &no_manifest);
    for e in fs::read_dir(no_manifest.join("metadata")).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with("-m0.avro") {
            fs::remove_file(p).unwrap();
        }
    }
    let (code, report) = scan(&no_manifest);
    assert_eq!(code, 3, "{report}");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("manifest"), "{report}");
}
