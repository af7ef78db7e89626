//! Apache Iceberg tables written by their own writer (the `pyiceberg` Python package,
//! with a local SQL catalog): one dataset of the current snapshot's live data files,
//! rows its deletes removed never counted, the table readable where it was moved to,
//! and metadata pointing at missing files an error naming the table. Needs pyiceberg;
//! `.ci/run` installs it, so in CI (`CI=true`) its absence fails the test.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn have_pyiceberg() -> bool {
    Command::new("python3")
        .args(["-c", "import pyiceberg, pyarrow, sqlalchemy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// 30 ≥500 kV substations appended in two snapshots, then one deleted; returns the table directory.
fn write_table(root: &Path) -> PathBuf {
    let script = r#"
import sys, pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
root = sys.argv[1]
cat = SqlCatalog("local", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse")
cat.create_namespace("energy")
t = pa.table({"site_id": [f"S{i:03d}" for i in range(30)], "voltage_kv": [500] * 30,
              "lat": [round(30 + i * 0.01 + 0.000123, 6) for i in range(30)],
              "lon": [round(110 + i * 0.01 + 0.000456, 6) for i in range(30)]})
tbl = cat.create_table("energy.substations", schema=t.schema)
tbl.append(t.slice(0, 10))
tbl.append(t.slice(10))
tbl.delete("site_id == 'S000'")
print(len(tbl.scan().to_arrow()))
# Leave without interpreter teardown: the writers' native thread pools can abort
# ("terminate called without an active exception") while Python shuts down.
sys.stdout.flush()
import os
os._exit(0)
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(root).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "29", "the writer's own count");
    root.join("warehouse/energy/substations")
}

fn scan(path: &Path) -> (i32, Value) {
    common::json(&["scan", path.to_str().unwrap(), "--format", "json"])
}

#[test]
fn an_iceberg_table_is_its_current_snapshot() {
    if !have_pyiceberg() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide pyiceberg (.ci/run installs it)");
        eprintln!("skipped: pyiceberg is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let table = write_table(tmp.path());
    let (code, report) = scan(&table);
    assert_eq!(code, 1, "{report}");
    let inputs = report["scan"]["inputs"].as_array().unwrap();
    assert_eq!((inputs.len(), inputs[0]["rows"].as_u64()), (1, Some(29)), "{report}");
    assert_eq!(report["findings"][0]["evidence"][2]["value"], 29.0);

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
