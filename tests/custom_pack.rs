//! A pack mosaic has never seen, written only to the contract: other tag names,
//! other columns, time, measure, region and planar xy metrics, snapping, `where`
//! filters on text and per-row resolution. Values are computed by hand below.

mod common;

use std::fs;

use serde_json::Value;

const PACK: &str = r#"
[pack]
id = "hydro-test"
version = "0.1"
name = "Gauges"
authority = "水利部"
warn_at = 0.9

[tags.gauge]
kind = "key"
columns = ["gauge_code"]

[tags.at]
kind = "point"
lat = ["wd"]
lon = ["jd"]

[tags.obs_time]
kind = "time"
columns = ["observed"]

[tags.level_m]
kind = "measure"
columns = ["water_level"]

[tags.basin]
kind = "region"
columns = ["basin"]

[tags.grid]
kind = "xy"
x = ["easting"]
y = ["northing"]

[[item]]
id = "hydro-test.dense-series"
name = { zh = "多个水位站全年逐小时水位", en = "Hourly levels over a year at many gauges" }
level = "秘密"
harm = "逐小时水位暴露调度规律。"
remediation = { zh = "改为公布日均值。", en = "Publish daily means." }
where = ["basin == '长江'"]
when = [
  "has(gauge, obs_time, level_m)",
  "obs_time.resolution_s <= 3600",
  "obs_time.span_days >= 300",
  "level_m.max > 40",
  "basin.distinct >= 1",
  "distinct(gauge) >= 3",
]

[[item]]
id = "hydro-test.snapped-positions"
name = { zh = "水位站位置", en = "Gauge positions" }
level = "秘密"
harm = "位置精确。"
remediation = "坐标取整。"
when = ["has(at)", "at.resolution_m < 60"]

[[item]]
id = "hydro-test.planar"
name = { zh = "平面测量点", en = "Planar survey points" }
level = "秘密"
harm = "测量点精确。"
remediation = "降低精度。"
where = ["grid.resolution_m <= 1"]
when = ["grid.resolution_m <= 1", "grid.extent_km > 1", "rows >= 4"]
"#;

fn evidence(report: &Value, item: &str) -> Vec<(String, Option<f64>, bool)> {
    let f = report["findings"].as_array().unwrap().iter().find(|f| f["item"] == item);
    f.map(|f| {
        f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["condition"].as_str().unwrap().to_string(), e["value"].as_f64(), e["holds"].as_bool().unwrap()))
            .collect()
    })
    .unwrap_or_default()
}

#[test]
fn unseen_pack_with_time_measure_region_xy_and_snapping() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("pack.toml");
    fs::write(&pack, PACK).unwrap();
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();

    // 3 gauges on the 长江, hourly over 365 days,
    // plus a 黄河 gauge that the `where` filter removes.
    let mut csv = String::from("gauge_code,basin,observed,water_level,wd,jd\n");
    for (g, basin) in [("G1", "长江"), ("G2", "长江"), ("G3", "长江"), ("G9", "黄河")] {
        for h in 0..(365 * 24) {
            let day = h / 24;
            let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(day as u64);
            let level = if basin == "黄河" { 90.0 } else { 30.0 + (h % 100) as f64 / 10.0 };
            csv += &format!("{g},{basin},{date} {:02}:00:00,{level},30.1235,114.2470\n", h % 24);
        }
    }
    fs::write(data.join("levels.csv"), csv).unwrap();
    // Positions snapped to 0.0005° (≈ 55.7 m north-south): 4 decimals, but not finer than 50 m.
    fs::write(
        data.join("gauges.csv"),
        "gauge_code,wd,jd\nG1,30.1235,114.2470\nG2,30.5000,114.0005\nG3,29.9990,113.9995\n",
    )
    .unwrap();
    // Planar metres with 2 decimals (0.01 m), over 1.5 km.
    fs::write(
        data.join("points.csv"),
        "easting,northing\n500000.12,3300000.50\n500400.25,3300300.75\n501000.50,3301100.00\n500700.33,3300800.81\n",
    )
    .unwrap();

    let (code, report) = common::json(&[
        "scan",
        data.to_str().unwrap(),
        "--rules",
        pack.to_str().unwrap(),
        "--no-builtin",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{report}");

    let dense = evidence(&report, "hydro-test.dense-series");
    let value = |cond: &str| dense.iter().find(|e| e.0 == cond).unwrap_or_else(|| panic!("{cond}: {dense:?}")).1;
    assert_eq!(value("obs_time.resolution_s <= 3600"), Some(3_600.0));
    assert_eq!(value("obs_time.span_days >= 300"), Some(364.958));
    // 黄河 rows (level 90) are filtered out by `where`: the maximum misses 40 by less
    // than 10 %, so the item is a near miss, not a hold.
    assert_eq!(value("level_m.max > 40"), Some(39.9));
    let near = report["findings"].as_array().unwrap().iter().find(|f| f["item"] == "hydro-test.dense-series").unwrap();
    assert_eq!(near["outcome"], "near_threshold");
    assert_eq!(value("basin.distinct >= 1"), Some(1.0));
    assert_eq!(value("distinct(gauge) >= 3"), Some(3.0));

    let snapped = evidence(&report, "hydro-test.snapped-positions");
    let res = snapped.iter().find(|e| e.0 == "at.resolution_m < 60").unwrap().1.unwrap();
    assert!((res - 55.66).abs() < 0.01, "0.0005° snapping gives 55.66 m, not 11 m: {res}");

    let planar = evidence(&report, "hydro-test.planar");
    assert!(planar.iter().all(|e| e.2), "{planar:?}");
    assert_eq!(planar[0].1, Some(0.01));
    let finding = report["findings"].as_array().unwrap().iter().find(|f| f["item"] == "hydro-test.planar").unwrap();
    assert_eq!(finding["outcome"], "hold_and_report");
    assert_eq!(finding["addressee"], "水利部");
}

#[test]
fn verified_fixes_truncate_time_and_round_planar_coordinates() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("pack.toml");
    fs::write(&pack, PACK).unwrap();
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    // Hourly levels above 40 m at 3 gauges for a year: only coarser time clears it.
    let mut csv = String::from("gauge_code,basin,observed,water_level\n");
    for g in ["G1", "G2", "G3"] {
        for h in 0..(320 * 24) {
            let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new((h / 24) as u64);
            csv += &format!("{g},长江,{date} {:02}:00:00,{}\n", h % 24, 35.0 + (h % 80) as f64 / 10.0);
        }
    }
    fs::write(data.join("levels.csv"), csv).unwrap();
    fs::write(
        data.join("points.csv"),
        "easting,northing\n500000.12,3300000.50\n500400.25,3300300.75\n501000.50,3301100.00\n500700.33,3300800.81\n",
    )
    .unwrap();
    let fixed = tmp.path().join("fixed");
    let args = ["scan", data.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin", "--format", "json"];
    let mut with_fix = args.to_vec();
    with_fix.extend(["--fix", fixed.to_str().unwrap()]);
    let (code, report) = common::json(&with_fix);
    assert_eq!(code, 1, "{report}");
    let fix =
        |item: &str| report["findings"].as_array().unwrap().iter().find(|f| f["item"] == item).unwrap()["fix"].clone();
    let time = fix("hydro-test.dense-series");
    assert_eq!(time["action"], "coarsen_time", "{time}");
    assert_eq!(time["value"], 86_400.0, "minute and hour steps keep 3600 s: {time}");
    assert_eq!(time["columns"], serde_json::json!(["observed"]));
    let planar = fix("hydro-test.planar");
    assert_eq!(planar["action"], "round", "{planar}");
    assert_eq!(planar["value"], -1.0, "1 m still meets `<= 1`, 10 m does not: {planar}");
    assert!(planar["change"].as_str().unwrap().contains("to 10 m"), "{planar}");

    // The remediated copies scan clean.
    let (code, report) = common::json(&[
        "scan",
        fixed.to_str().unwrap(),
        "--rules",
        pack.to_str().unwrap(),
        "--no-builtin",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{report}");
    assert!(report["findings"].as_array().unwrap().iter().all(|f| f["outcome"] == "near_threshold"), "{report}");
}

/// Items whose every metric the position checks' pass already knows (a resolution
/// counted with the snapping, `has` and the extent from the checks' counts) run no
/// metrics query of their own, and are judged all the same: each of these holds.
#[test]
fn items_of_metrics_known_before_the_query_are_judged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pack = String::from(
        "[pack]\nid = \"known\"\nversion = \"1\"\nname = \"Known metrics\"\nauthority = \"国家保密局\"\n\
         [tags.spot]\nkind = \"point\"\nlat = [\"y_deg\"]\nlon = [\"x_deg\"]\n",
    );
    let whens =
        [("resolution", "\"spot.resolution_m < 50\""), ("has", "\"has(spot)\""), ("extent", "\"spot.extent_km > 10\"")];
    for (id, when) in whens {
        pack += &format!(
            "[[item]]\nid = \"known.{id}\"\nname = {{ zh = \"已知\", en = \"Known\" }}\nlevel = \"秘密\"\n\
             harm = \"位置精确。\"\nremediation = \"坐标取整。\"\nwhen = [{when}]\n"
        );
    }
    let pack_path = tmp.path().join("pack.toml");
    fs::write(&pack_path, pack).unwrap();
    let data = tmp.path().join("spots.csv");
    fs::write(&data, "y_deg,x_deg\n30.123456,114.123456\n30.654321,114.654321\n31.000001,115.000002\n").unwrap();
    let (code, report) = common::json(&[
        "scan",
        data.to_str().unwrap(),
        "--rules",
        pack_path.to_str().unwrap(),
        "--no-builtin",
        "--no-fix-search",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{report}");
    for (id, _) in whens {
        let item = format!("known.{id}");
        let e = evidence(&report, &item);
        assert!(!e.is_empty() && e.iter().all(|e| e.1.is_some() && e.2), "{item}: {e:?}");
    }
}
