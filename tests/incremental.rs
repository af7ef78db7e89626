//! Scheduled scans of a lake (`scan --incremental --ledger L`): file profiles are
//! cached beside the ledger, so a nightly scan reads only new or changed files, and
//! its findings are the full scan's (same ids); holds new since the last scan are
//! written as early-warning events (Reg 64).

mod common;

use std::path::Path;

use serde_json::Value;

fn scan(lake: &Path, ledger: &Path) -> (i32, Value) {
    common::json(&[
        "scan",
        lake.to_str().unwrap(),
        "--ledger",
        ledger.to_str().unwrap(),
        "--incremental",
        "--format",
        "json",
    ])
}

fn full(lake: &Path) -> (i32, Value) {
    common::json(&["scan", lake.to_str().unwrap(), "--format", "json"])
}

/// `(id, outcome, item, datasets)` of every finding: ids hash the inputs' content.
fn findings(report: &Value) -> Vec<(Value, Value, Value, Value)> {
    let mut v: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].clone(), f["outcome"].clone(), f["item"].clone(), f["datasets"].clone()))
        .collect();
    v.sort_by_key(|x| format!("{x:?}"));
    v
}

fn stats(report: &Value) -> (u64, u64) {
    let s = &report["scan"]["stats"];
    (s["profiled"].as_u64().unwrap(), s["reused"].as_u64().unwrap())
}

fn events(ledger: &Path) -> Vec<Value> {
    let (code, v) = common::json(&["ledger", "events", "--ledger", ledger.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0);
    v.as_array().unwrap().clone()
}

#[test]
fn a_nightly_scan_reads_only_what_changed_and_warns_of_new_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let ledger = tmp.path().join("ledger.db");
    let data = common::root().join("datasets");
    // A hive table with one map sheet (15 km², below 25 km²), a register ⋈ coordinates
    // pair that holds only joined, and a substation table near its threshold.
    let sheet = |n: &str, part: &str| data.join(format!("surveying/large-map-hold/topo/sheet={n}/{part}"));
    std::fs::create_dir_all(lake.join("topo/sheet=J50G001001")).unwrap();
    std::fs::copy(sheet("J50G001001", "part-0.parquet"), lake.join("topo/sheet=J50G001001/part-0.parquet")).unwrap();
    common::copy_dir(&data.join("linkage/registry-join-hold"), &lake.join("registry"));
    std::fs::remove_file(lake.join("registry/expected.json")).unwrap();
    std::fs::copy(data.join("energy/substations-near/substations.parquet"), lake.join("substations.parquet")).unwrap();

    // Night 1: everything is read.
    let (code, first) = scan(&lake, &ledger);
    assert_eq!(code, 1, "the registry join holds");
    assert_eq!(stats(&first), (4, 0));
    assert_eq!(findings(&first), findings(&full(&lake).1));
    let night1 = events(&ledger);
    assert!(night1.iter().any(|e| e["kind"] == "new_hold"), "{night1:?}");
    assert!(night1.iter().any(|e| e["kind"] == "near_threshold"), "{night1:?}");

    // Night 2: nothing changed, nothing is read, nothing new is warned of.
    let (_, second) = scan(&lake, &ledger);
    assert_eq!(stats(&second), (0, 4));
    assert_eq!(findings(&second), findings(&first));
    assert_eq!(events(&ledger).len(), night1.len());

    // Night 3: a second sheet lands. Only it is read; the table now covers 30 km²
    // contiguous and holds; the verdict is the full scan's; an early warning is written.
    std::fs::create_dir_all(lake.join("topo/sheet=J50G001002")).unwrap();
    std::fs::copy(sheet("J50G001002", "part-1.parquet"), lake.join("topo/sheet=J50G001002/part-1.parquet")).unwrap();
    let (code, third) = scan(&lake, &ledger);
    assert_eq!(code, 1);
    assert_eq!(stats(&third), (1, 4));
    let (full_code, full_report) = full(&lake);
    assert_eq!(code, full_code);
    assert_eq!(third["verdict"], full_report["verdict"]);
    assert_eq!(findings(&third), findings(&full_report));
    let topo: Vec<&Value> =
        third["findings"].as_array().unwrap().iter().filter(|f| f["datasets"] == serde_json::json!(["topo"])).collect();
    assert_eq!(topo.len(), 1, "{third}");
    assert_eq!(topo[0]["item"], "surveying.large-scale-map");
    let night3 = events(&ledger);
    let new: Vec<&Value> = night3.iter().skip(night1.len()).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["kind"], "new_hold");
    assert_eq!(new[0]["finding"], topo[0]["id"]);
    let since = night1.last().unwrap()["id"].as_i64().unwrap().to_string();
    let out = common::run(&["ledger", "events", "--ledger", ledger.to_str().unwrap(), "--since", &since]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("surveying.large-scale-map"));

    // Night 4: a file rewritten with the same bytes (new mtime) is hashed, not re-profiled.
    let part = lake.join("topo/sheet=J50G001001/part-0.parquet");
    let bytes = std::fs::read(&part).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&part, bytes).unwrap();
    let (_, fourth) = scan(&lake, &ledger);
    assert_eq!(stats(&fourth), (0, 5));
    let verify = common::run(&["ledger", "verify", "--ledger", ledger.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", common::stderr(&verify));
}

#[test]
fn workbook_sheets_and_shapefile_parts_are_cached_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    common::copy_dir(&common::root().join("datasets/formats/shapefile-gbk-hold"), &lake.join("grid"));
    common::copy_dir(&common::root().join("datasets/formats/xlsx-hold"), &lake.join("book"));
    std::fs::remove_file(lake.join("grid/expected.json")).unwrap();
    std::fs::remove_file(lake.join("book/expected.json")).unwrap();
    // A second sheet holding a table of its own.
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, lat) in [("甲", "30.123456"), ("乙", "31.1")] {
        let sheet = book.add_worksheet();
        sheet.set_name(name).unwrap();
        for (c, v) in ["site_id", "lat", "lon"].iter().enumerate() {
            sheet.write_string(0, c as u16, *v).unwrap();
        }
        sheet.write_string(1, 0, "S1").unwrap();
        sheet.write_string(1, 1, lat).unwrap();
        sheet.write_string(1, 2, "114.2").unwrap();
    }
    book.save(lake.join("book/two.xlsx")).unwrap();
    let ledger = tmp.path().join("ledger.db");
    let (code, first) = scan(&lake, &ledger);
    assert_eq!(code, 1, "{first}");
    let (_, full_report) = full(&lake);
    assert_eq!(findings(&first), findings(&full_report), "same findings as a full scan");
    let inputs = |r: &Value| r["scan"]["inputs"].as_array().unwrap().len();
    assert_eq!(inputs(&first), inputs(&full_report), "every sheet is a dataset: {first}");
    let (_, second) = scan(&lake, &ledger);
    assert_eq!(stats(&second).0, 0, "nothing changed, nothing profiled: {second}");
    // Changing only the attribute table changes the Shapefile's content.
    let dbf = lake.join("grid/变电站.dbf");
    let mut bytes = std::fs::read(&dbf).unwrap();
    // The last record's voltage (a 6-byte numeric field before the 12-byte type field).
    let at = bytes.len() - 1 - 12 - 1;
    assert!(bytes[at].is_ascii_digit());
    bytes[at] = b'1';
    std::fs::write(&dbf, bytes).unwrap();
    let (_, third) = scan(&lake, &ledger);
    assert_eq!(stats(&third).0, 1, "the changed .dbf is read again: {third}");
    let (_, full_again) = full(&lake);
    assert_eq!(findings(&third), findings(&full_again));
}
