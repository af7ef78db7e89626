//! The binary as a pipeline step sees it: exit codes, the JSON v1 shape, byte-stable
//! output, bad inputs named with file and line, and the rules commands.

mod common;

use std::fs;

use common::{json, run, stderr};
use mosaic::report::FindingsV1;

const HOLDING_CSV: &str = "datasets/energy/substations-hold/substations.csv";

#[test]
fn scanning_the_samples_holds_and_exits_1() {
    let (code, report) = json(&["scan", "datasets", "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "hold");
    let findings = report["findings"].as_array().unwrap();
    let held: Vec<&str> =
        findings.iter().filter(|f| f["outcome"] != "near_threshold").map(|f| f["item"].as_str().unwrap()).collect();
    for item in [
        "energy.substation-locations",
        "energy.line-routes",
        "surveying.large-scale-map",
        "surveying.contours",
        "surveying.facility-positions",
        "surveying.dem-grid",
    ] {
        assert!(held.contains(&item), "{item} holds somewhere in datasets/: {held:?}");
    }
    assert!(report["errors"].as_array().unwrap().is_empty(), "{}", report["errors"]);
}

#[test]
fn json_is_v1_and_byte_stable() {
    // Joins, unions, minimal sets and fixes: everything that runs in parallel.
    let a = run(&["scan", "datasets/linkage", "datasets/energy", "--format", "json"]);
    let b = run(&["scan", "datasets/linkage", "datasets/energy", "--format", "json"]);
    assert_eq!(a.stdout, b.stdout, "same inputs and clock give the same bytes");
    let doc: FindingsV1 =
        serde_json::from_slice(&a.stdout).expect("matches the v1 structs exactly (no unknown fields)");
    assert_eq!(doc.schema, "mosaic/findings/v1");
    assert_eq!(doc.scan.started, "2026-11-23T00:00:00Z");
    let mut sorted =
        doc.findings.iter().map(|f| (f.pack.clone(), f.item.clone(), f.datasets.clone())).collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(
        sorted,
        doc.findings.iter().map(|f| (f.pack.clone(), f.item.clone(), f.datasets.clone())).collect::<Vec<_>>()
    );
    let held = doc.findings.iter().find(|f| f.outcome == "hold_and_report").unwrap();
    assert_eq!(held.mark.as_deref(), Some("待定密（先行保密）"));
    assert_eq!(held.deadline.as_deref(), Some("2026-12-07"), "10 working days from Monday 2026-11-23");
    assert!(doc.scan.packs.iter().all(|p| p.sha256.len() == 64));
    assert!(doc.scan.inputs.iter().all(|i| i.sha256.len() == 64 && i.rows > 0));
    assert!(doc.scan.tagging.iter().any(|t| t.column == "厂站编号" && t.tag == "site"));
}

#[test]
fn a_directory_of_clean_data_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    for scenario in
        ["energy/substations-cleared", "energy/route-cleared", "surveying/contours-cleared", "surveying/dem-cleared"]
    {
        common::copy_dir(&common::root().join("datasets").join(scenario), &tmp.path().join(scenario.replace('/', "-")));
    }
    let out = run(&["scan", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pass:"));
}

#[test]
fn a_near_miss_warns_but_exits_0() {
    let (code, report) = json(&["scan", "datasets/energy/substations-near", "--format", "json"]);
    assert_eq!((code, report["verdict"].as_str()), (0, Some("warn")));
    let f = &report["findings"][0];
    assert_eq!(f["outcome"], "near_threshold");
    assert_eq!(f["mark"], serde_json::Value::Null);
    assert!(f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["condition"] == "distinct(site) >= 20" && e["holds"] == false));
}

#[test]
fn missing_path_is_a_usage_error() {
    let out = run(&["scan", "datasets/does-not-exist"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("datasets/does-not-exist"), "{}", stderr(&out));
}

#[test]
fn unreadable_inputs_are_reported_and_never_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fs::read(common::root().join("datasets/energy/substations-near/substations.parquet")).unwrap();
    fs::write(tmp.path().join("truncated.parquet"), &good[..good.len() / 2]).unwrap();
    let mut bad_magic = good.clone();
    let n = bad_magic.len();
    bad_magic[n - 4..].copy_from_slice(b"XXXX");
    fs::write(tmp.path().join("bad-magic.parquet"), bad_magic).unwrap();
    fs::write(tmp.path().join("empty.csv"), b"").unwrap();
    fs::write(tmp.path().join("ragged.csv"), "site_id,lat,lon\nA,30.1,114.1\nB,30.2,114.2,extra\n").unwrap();
    fs::write(tmp.path().join("bad-utf8.csv"), b"site_id,lat,lon\nA,30.1,114.1\nB\xff\xfe,30.2,114.2\n").unwrap();
    fs::write(tmp.path().join("bad-utf8.csv.mosaic.toml"), "encoding = \"utf-8\"\n").unwrap();
    fs::write(tmp.path().join("fine.csv"), "site_id,lat,lon\nA,30.1,114.1\n").unwrap();

    let (code, report) = json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["verdict"], "incomplete");
    let errors = report["errors"].as_array().unwrap();
    let by_input = |name: &str| {
        errors.iter().find(|e| e["input"] == name).unwrap_or_else(|| panic!("{name} reported: {errors:?}"))
    };
    assert_eq!(by_input("ragged.csv")["kind"], "ragged");
    assert!(by_input("ragged.csv")["message"].as_str().unwrap().contains("line 3"));
    assert_eq!(by_input("bad-utf8.csv")["kind"], "encoding");
    assert!(by_input("bad-utf8.csv")["message"].as_str().unwrap().contains("line 3"));
    assert_eq!(by_input("empty.csv")["kind"], "empty");
    assert_eq!(by_input("truncated.parquet")["kind"], "corrupt");
    assert_eq!(by_input("bad-magic.parquet")["kind"], "corrupt");
    assert_eq!(report["scan"]["inputs"].as_array().unwrap().len(), 1, "the readable input is still evaluated");
}

/// A scan counts the fields of the rows past the first thousand in its one parse of
/// the text, not before it: a ragged line or a CR that ends a record there is still
/// reported with its line, by `scan` and by `profile`, where the parse reads the text
/// and where it does not (a column holding both axes is read whole first; a quote
/// sends the text to the csv reader).
#[test]
fn a_ragged_line_past_the_first_rows_is_reported_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = |bad: &str, line: usize, pair: bool| -> String {
        let mut text = String::from(if pair { "site_id,position\n" } else { "site_id,lat,lon\n" });
        for i in 2..5000 {
            let (lat, lon) = (30.0 + i as f64 * 1e-4, 114.0 + i as f64 * 1e-4);
            match (i == line, pair) {
                (true, _) => text.push_str(bad),
                (false, true) => text.push_str(&format!("S{i},{lat:.5} {lon:.5}\n")),
                (false, false) => text.push_str(&format!("S{i},{lat:.5},{lon:.5}\n")),
            }
        }
        text
    };
    let cases = [
        ("long.csv", rows("S1,30.1,114.1,extra\n", 4000, false), 4000, "row has 4 fields"),
        ("short.csv", rows("S1,30.1\n", 3500, false), 3500, "row has 2 fields"),
        ("cr.csv", rows("S1,30.1\r114.1\n", 3000, false), 3000, "row has 2 fields"),
        ("quoted.csv", rows("\"S1\",30.1,114.1,extra\n", 2500, false), 2500, "row has 4 fields"),
        ("pair.csv", rows("S1,30.1 114.1,extra\n", 4500, true), 4500, "row has 3 fields"),
    ];
    for (name, text, line, says) in &cases {
        let path = tmp.path().join(name);
        fs::write(&path, text).unwrap();
        let (code, report) = json(&["scan", path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code, 3, "{name}: {report}");
        let error = &report["errors"][0];
        assert_eq!(error["kind"], "ragged", "{name}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&format!("line {line}:")) && message.contains(says), "{name}: {message}");
        let out = run(&["profile", path.to_str().unwrap(), "-o", tmp.path().join("p.json").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{name}: profile");
        assert!(stderr(&out).contains(&format!("line {line}:")), "{name}: {}", stderr(&out));
    }
}

#[test]
fn a_hold_among_unreadable_inputs_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(common::root().join(HOLDING_CSV), tmp.path().join("substations.csv")).unwrap();
    fs::write(tmp.path().join("ragged.csv"), "a,b\n1,2,3\n").unwrap();
    let (code, report) = json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "hold");
    assert_eq!(report["errors"].as_array().unwrap().len(), 1);
}

#[test]
fn float_artefacts_do_not_fake_precision() {
    // 30.1 written by a float formatter as 30.100000000000001 in Parquet still has one decimal;
    // the same text in a CSV is what a reader sees, so it counts as written.
    let tmp = tempfile::tempdir().unwrap();
    let rows: String = (0..30).map(|i| format!("S{i:03},500,30.{},114.{}\n", i % 9 + 1, i % 7 + 1)).collect();
    fs::write(tmp.path().join("coarse.csv"), format!("site_id,voltage_kv,lat,lon\n{rows}")).unwrap();
    let (_, report) = json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert!(report["findings"].as_array().unwrap().is_empty(), "0.1° is 11 km: {report}");
}

#[test]
fn manifest_maps_columns_and_declared_accuracy_clears() {
    let tmp = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(common::root().join(HOLDING_CSV)).unwrap();
    let renamed = text.replacen("site_id,name,voltage_kv,facility_type,lat,lon", "code,name,kv,kind,y,x", 1);
    fs::write(tmp.path().join("s.csv"), &renamed).unwrap();
    fs::write(
        tmp.path().join("s.csv.mosaic.toml"),
        "[columns]\ncode = \"site\"\nkv = \"voltage_kv\"\ny = \"position.lat\"\nx = \"position.lon\"\n",
    )
    .unwrap();
    let (code, report) = json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{report}");
    assert!(report["scan"]["tagging"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["column"] == "code" && t["how"] == "manifest"));

    fs::write(tmp.path().join("s.csv.mosaic.toml"), "accuracy_m = 500\n[columns]\ncode = \"site\"\nkv = \"voltage_kv\"\ny = \"position.lat\"\nx = \"position.lon\"\n").unwrap();
    let (code, report) = json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "jittered to 500 m: {report}");

    fs::write(tmp.path().join("s.csv.mosaic.toml"), "[columns]\nmissing_col = \"site\"\n").unwrap();
    let (code, report) = json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 3);
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("missing_col"));
}

#[test]
fn bad_packs_name_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = fs::read_to_string(common::root().join("rules/energy.toml"))
        .unwrap()
        .replace("distinct(site) >= 20", "distinct(sitee) >= 20")
        .replace("level = \"机密\"", "level = \"机蜜\"");
    let path = tmp.path().join("energy.toml");
    fs::write(&path, &pack).unwrap();
    let line = pack.lines().position(|l| l.contains("sitee")).unwrap() + 1;
    for args in
        [vec!["rules", "validate", path.to_str().unwrap()], vec!["scan", "datasets", "--rules", path.to_str().unwrap()]]
    {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains("unknown tag `sitee`"), "{err}");
        assert!(err.contains("unknown level `机蜜`"), "{err}");
        assert!(err.contains(&format!("energy.toml:{line}:")), "names file and line {line}: {err}");
    }
}

#[test]
fn rules_commands() {
    let out = run(&["rules", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("energy.substation-locations") && list.contains("surveying.contours"));

    let out = run(&["rules", "explain", "surveying.large-scale-map"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for part in ["harm:", "basis:", "position.contiguous_km2 > 25", "remediation:", "机密"] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert_eq!(run(&["rules", "explain", "no.such-item"]).status.code(), Some(2));

    let out = run(&["rules", "validate", "rules"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let schema: serde_json::Value = serde_json::from_slice(&run(&["rules", "schema"]).stdout).unwrap();
    assert!(schema["properties"]["pack"].is_object(), "{schema}");
}

#[test]
fn sarif_lists_rules_and_results() {
    let out = run(&["scan", "datasets/energy", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "energy.substation-locations" && r["level"] == "error"));
    assert!(results.iter().any(|r| r["level"] == "warning"));
}

#[test]
fn output_file_and_replacement_packs() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let out = run(&["scan", HOLDING_CSV, "--format", "json", "-o", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(doc["verdict"], "hold");

    // A pack with a built-in's id replaces it: raising the threshold clears the file.
    let pack = fs::read_to_string(common::root().join("rules/energy.toml"))
        .unwrap()
        .replace("distinct(site) >= 20", "distinct(site) >= 200");
    let path = tmp.path().join("energy.toml");
    fs::write(&path, pack).unwrap();
    let out = run(&["scan", HOLDING_CSV, "--rules", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["scan", HOLDING_CSV, "--no-builtin"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_hive_partitioned_table_is_one_dataset() {
    let (code, report) = json(&["scan", "datasets/surveying/large-map-hold/topo", "--format", "json"]);
    assert_eq!(code, 1);
    let inputs = report["scan"]["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "{inputs:?}");
    assert_eq!(inputs[0]["id"], "topo");
    assert_eq!(report["findings"][0]["item"], "surveying.large-scale-map");
    assert_eq!(report["findings"][0]["mark"], "机密★20年");
}

#[test]
fn docs_rules_md_is_generated_from_the_bundled_packs() {
    let out = common::run(&["rules", "doc"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let committed = std::fs::read_to_string(common::root().join("docs/rules.md")).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "docs/rules.md is stale: run `cargo run -- rules doc > docs/rules.md`"
    );
}

#[test]
fn every_bundled_pack_validates_and_documents_every_item() {
    let out = common::run(&["rules", "validate", "rules"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let listed = String::from_utf8_lossy(&common::run(&["rules", "list"]).stdout).to_string();
    for id in [
        "surveying",
        "remote-sensing",
        "energy",
        "vehicles",
        "health-genetics",
        "meteorology-hydrology",
        "science-technology",
    ] {
        assert!(listed.contains(&format!("{id} 20")), "pack {id} is bundled: {listed}");
    }
    // Every item explains itself: harm, basis, thresholds, remediation, scope, field.
    for line in listed.lines().filter(|l| l.starts_with("  ")) {
        let item = line.split_whitespace().next().unwrap();
        let text = String::from_utf8_lossy(&common::run(&["rules", "explain", item]).stdout).to_string();
        for part in ["harm:", "basis:", "thresholds:", "remediation:", "scope:", "field:"] {
            assert!(text.contains(part), "{item} lacks {part}:\n{text}");
        }
        let secret = !text.contains("track:       important data");
        assert_eq!(text.contains("level:"), secret, "{item}: a level exactly when it can be a secret:\n{text}");
    }
}

#[test]
fn an_invalid_pack_is_reported_once_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::root().join("rules/energy.toml")).unwrap();
    let path = tmp.path().join("energy.toml");
    std::fs::write(&path, text.replace("distinct(site) >= 20", "distinct(sitee) >= 20")).unwrap();
    for args in [
        vec!["rules", "validate", path.to_str().unwrap()],
        vec!["scan", "datasets/energy", "--rules", path.to_str().unwrap()],
    ] {
        let out = run(&args);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.matches("unknown tag `sitee`").count(), 1, "the problem is shown once: {err}");
        assert!(err.contains("energy.toml:"), "with file and line: {err}");
        assert!(err.contains("invalid rule pack"), "{err}");
    }
}

#[test]
fn junit_and_github_formats_for_pipelines() {
    let out = run(&[
        "scan",
        "datasets/energy/substations-hold",
        "datasets/energy/substations-near",
        "--format",
        "junit",
        "--no-fix-search",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8_lossy(&out.stdout).to_string();
    // Parsed by a real XML parser: the counts in the attributes are the cases in it.
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut declared) = (0, 0, None);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                b"testsuites" => {
                    let attr = |k: &[u8]| -> usize {
                        let a = e.attributes().flatten().find(|a| a.key.as_ref() == k).unwrap();
                        String::from_utf8_lossy(&a.value).parse().unwrap()
                    };
                    declared = Some((attr(b"tests"), attr(b"failures")));
                }
                _ => {}
            },
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(declared, Some((cases, failures)), "{xml}");
    assert_eq!(failures, 1, "one hold, one failure: {xml}");
    let out = run(&["scan", "datasets/energy/substations-hold", "--format", "github", "--no-fix-search"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let error = text.lines().find(|l| l.starts_with("::error ")).unwrap_or_else(|| panic!("{text}"));
    assert!(
        error.starts_with("::error file=datasets/energy/substations-hold/substations.csv,title=mosaic "),
        "{error}"
    );
    assert!(error.contains("::hold_and_report: energy.substation-locations on substations.csv"), "{error}");
    assert!(!error.contains("Some("), "{error}");
}

/// A large input is read by byte ranges (its mapped pages would count in the RSS);
/// small ones are mapped. The walk looks at files under every scan path.
#[test]
fn only_large_inputs_are_read_by_ranges() {
    use clap::Parser;
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    fs::create_dir_all(small.join("day=1")).unwrap();
    fs::write(small.join("day=1/part-0.parquet"), b"PAR1").unwrap();
    let large = tmp.path().join("large/table/day=2");
    fs::create_dir_all(&large).unwrap();
    // Sparse: 600 MiB long, no disk used.
    fs::File::create(large.join("part-0.parquet")).unwrap().set_len(600 << 20).unwrap();
    let parse = |args: &[&str]| mosaic::cli::Cli::try_parse_from(args).unwrap();
    let (s, l) = (small.to_str().unwrap(), tmp.path().join("large"));
    assert!(!parse(&["mosaic", "scan", s]).large_inputs());
    assert!(parse(&["mosaic", "scan", s, l.to_str().unwrap()]).large_inputs());
    assert!(parse(&["mosaic", "scan", s, "--published", l.to_str().unwrap()]).large_inputs());
    assert!(!parse(&["mosaic", "rules", "list"]).large_inputs());
}
