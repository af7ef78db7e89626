//! The Spark example (examples/spark) in Spark local mode: profiles made per Spark
//! task through mapInArrow, merged and checked, give the report `scan` gives on the
//! same hive-partitioned table. Needs Java and pyspark; `.ci/run` installs both, so
//! in CI (`CI=true`) their absence fails the test instead of skipping it.

mod common;

use serde_json::Value;

fn have_spark() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import pyspark, pyarrow, pandas"])
        .output()
        .is_ok_and(|o| o.status.success())
        && std::process::Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success())
}

fn findings(report: &Value) -> Vec<(Value, Value, Value, Vec<Value>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let values = f["evidence"].as_array().unwrap().iter().map(|e| e["value"].clone()).collect();
            (f["outcome"].clone(), f["item"].clone(), f["datasets"].clone(), values)
        })
        .collect()
}

#[test]
fn spark_profiles_merge_and_check_like_scan() {
    if !have_spark() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide java and pyspark (.ci/run installs them)");
        eprintln!("skipped: java or pyspark is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("mosaic");
    let lake = common::root().join("datasets/surveying/large-map-hold/topo");
    let out = std::process::Command::new("python3")
        .arg(common::root().join("examples/spark/profile_lake.py"))
        .arg(&lake)
        .arg(tmp.path())
        .args(["--mosaic", bin.to_str().unwrap(), "--partitions", "3", "--master", "local[2]"])
        .env("SOURCE_DATE_EPOCH", common::EPOCH)
        .env("PYSPARK_PYTHON", "python3")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the table holds\n{stderr}");
    let parts = std::fs::read_dir(tmp.path().join("parts")).unwrap().count();
    assert!(parts >= 2, "one profile per Spark task, got {parts}");
    let checked: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("report.json")).unwrap()).unwrap();
    let (code, scanned) =
        common::json(&["scan", "datasets/surveying/large-map-hold", "--format", "json", "--no-fix-search"]);
    assert_eq!(code, 1);
    assert_eq!(checked["verdict"], scanned["verdict"]);
    assert_eq!(findings(&checked), findings(&scanned));
    assert_eq!(checked["scan"]["inputs"][0]["rows"], scanned["scan"]["inputs"][0]["rows"]);
}
