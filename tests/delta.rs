//! Delta Lake tables written by their own writer (the `deltalake` Python package):
//! one dataset of the live files of the current version or `--as-of`, partition values
//! as columns, rows deleted by the log never counted, and every log mosaic cannot
//! honour an error naming the table. Needs python3 with deltalake and pandas;
//! `.ci/run` installs them, so in CI (`CI=true`) their absence fails the test.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn scan(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["scan", "--format", "json"];
    all.extend_from_slice(args);
    common::json(&all)
}

fn rows(report: &Value) -> u64 {
    report["scan"]["inputs"][0]["rows"].as_u64().unwrap()
}

#[test]
fn a_delta_table_is_its_live_files() {
    if !common::tables::have_deltalake() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide deltalake (.ci/run installs it)");
        eprintln!("skipped: the deltalake Python package is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("substations");
    common::tables::write_delta(&table);
    let path = table.to_str().unwrap();

    let (code, report) = scan(&[path]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["scan"]["inputs"].as_array().unwrap().len(), 1, "one dataset: {report}");
    assert_eq!(rows(&report), 29, "the deleted row's old file is not read: {report}");
    let distinct = &report["findings"][0]["evidence"][2];
    assert_eq!(distinct["value"], 29.0, "{distinct}");
    // The same scan from a directory holding the table finds it as one dataset.
    let (_, around) = scan(&[tmp.path().to_str().unwrap()]);
    assert_eq!(around["scan"]["inputs"][0]["id"], "substations");
    assert_eq!(rows(&around), 29);

    // As of version 0: the first 10 rows, below the item's 20 sites.
    let (code, report) = scan(&[path, "--as-of", "0"]);
    assert_eq!((code, rows(&report)), (0, 10), "{report}");
    let (code, report) = scan(&[path, "--as-of", "9"]);
    assert_eq!(code, 3, "{report}");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("latest version is 2"), "{report}");

    // As of a time: the latest commit made by then, from the commits' own timestamps.
    let committed = |v: u64| -> i64 {
        let text = fs::read_to_string(table.join(format!("_delta_log/{v:020}.json"))).unwrap();
        let info =
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|a| a.get("commitInfo").is_some());
        info.unwrap()["commitInfo"]["timestamp"].as_i64().unwrap()
    };
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339();
    let (t0, t1, t2) = (committed(0), committed(1), committed(2));
    assert!(t0 < t1 && t1 < t2, "the writer's commits are apart: {t0} {t1} {t2}");
    let (code, report) = scan(&[path, "--as-of", &at(t0)]);
    assert_eq!((code, rows(&report)), (0, 10), "at the first commit: {report}");
    let (code, report) = scan(&[path, "--as-of", &at(t2 - 1)]);
    assert_eq!((code, rows(&report)), (1, 30), "before the delete: {report}");
    let (code, report) = scan(&[path, "--as-of", &at(t2 + 60_000)]);
    assert_eq!((code, rows(&report)), (1, 29), "after the delete: {report}");
    let (code, report) = scan(&[path, "--as-of", &at(t0 - 1)]);
    assert_eq!(code, 3, "{report}");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("no version committed by then"), "{report}");
    let out = common::run(&["scan", path, "--as-of", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2), "an unreadable --as-of is a usage error");

    // Partition values are columns: a pack can bind them.
    let pack = tmp.path().join("p.toml");
    fs::write(
        &pack,
        "[pack]\nid = \"p\"\nversion = \"1\"\nname = \"p\"\nauthority = \"a\"\n\n[tags.site]\nkind = \"key\"\ncolumns = [\"site_id\"]\n\n[tags.prov]\nkind = \"category\"\ncolumns = [\"province\"]\n\n[[item]]\nid = \"p.provinces\"\nname = \"n\"\nlevel = \"秘密\"\nharm = \"h\"\nremediation = \"r\"\nwhen = [\"has(site, prov)\", \"distinct(prov) >= 2\"]\n",
    )
    .unwrap();
    let (code, report) = scan(&[path, "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 1, "{report}");

    // A checkpoint, and the commits before it cleaned up: the state comes from the
    // checkpoint (partition values included).
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, sys; from deltalake import DeltaTable; DeltaTable(sys.argv[1]).create_checkpoint(); os._exit(0)",
            path,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    for v in 0..2 {
        fs::remove_file(table.join(format!("_delta_log/{v:020}.json"))).unwrap();
    }
    let (code, report) = scan(&[path]);
    assert_eq!((code, rows(&report)), (1, 29), "{report}");
    let (code, report) = scan(&[path, "--rules", pack.to_str().unwrap(), "--no-builtin"]);
    assert_eq!(code, 1, "partition values from the checkpoint: {report}");
    let (code, report) = scan(&[path, "--as-of", "1"]);
    assert_eq!(code, 3, "version 1 cannot be rebuilt without its commits: {report}");
}

#[test]
fn delta_logs_mosaic_cannot_honour_are_the_tables_errors() {
    if !common::tables::have_deltalake() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide deltalake (.ci/run installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    common::tables::write_delta(&base);
    let log = |dir: &Path, v: u64| dir.join(format!("_delta_log/{v:020}.json"));
    let case = |name: &str, change: &dyn Fn(&Path)| {
        let dir = tmp.path().join(name);
        common::copy_dir(&base, &dir);
        change(&dir);
        let (code, report) = scan(&[dir.to_str().unwrap()]);
        assert_eq!(code, 3, "{name}: {report}");
        let e = &report["errors"][0];
        assert_eq!(e["input"], name, "{name}: {report}");
        e["message"].as_str().unwrap().to_string()
    };
    let commit = |dir: &Path, line: &str| fs::write(log(dir, 3), format!("{line}\n")).unwrap();
    let first_live = |dir: &Path| -> String {
        let text = fs::read_to_string(log(dir, 1)).unwrap();
        let add: Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get("add").is_some())
            .unwrap();
        add["add"]["path"].as_str().unwrap().to_string()
    };

    let m = case("deletion-vector", &|d| {
        let path = first_live(d);
        commit(
            d,
            &format!(
                r#"{{"add":{{"path":"{path}","partitionValues":{{}},"size":1,"modificationTime":0,"dataChange":true,"deletionVector":{{"storageType":"u","pathOrInlineDv":"ab","offset":1,"sizeInBytes":36,"cardinality":2}}}}}}"#
            ),
        );
    });
    assert!(m.contains("deletion vectors"), "{m}");
    let m = case("newer-protocol", &|d| commit(d, r#"{"protocol":{"minReaderVersion":4,"minWriterVersion":7}}"#));
    assert!(m.contains("reader version 4"), "{m}");
    let m = case("unknown-feature", &|d| {
        commit(
            d,
            r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["catalogOwned"],"writerFeatures":[]}}"#,
        )
    });
    assert!(m.contains("catalogOwned"), "{m}");
    let m = case("missing-commit", &|d| fs::remove_file(log(d, 1)).unwrap());
    assert!(m.contains("commit 1"), "{m}");
    let m = case("missing-file", &|d| fs::remove_file(d.join(first_live(d))).unwrap());
    assert!(m.contains("is missing"), "{m}");
    let m = case("no-start", &|d| fs::remove_file(log(d, 0)).unwrap());
    assert!(m.contains("no checkpoint"), "{m}");
    let m = case("garbage", &|d| commit(d, "{not json"));
    assert!(m.contains("commit 3, line 1"), "{m}");
}
