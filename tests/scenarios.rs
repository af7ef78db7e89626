//! Every scenario under `datasets/<pack>/<scenario>/` gives exactly the findings in
//! its `expected.json` (a scenario holding `candidate/` and `published/` is scanned
//! as a pre-release check: `scan candidate --published published`). `UPDATE_EXPECTED=1 cargo test --test scenarios` rewrites
//! them from the real output (review the diff before committing).

mod common;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

fn scenarios() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for pack in std::fs::read_dir(common::root().join("datasets")).unwrap() {
        let pack = pack.unwrap().path();
        if !pack.is_dir() {
            continue;
        }
        for scenario in std::fs::read_dir(&pack).unwrap() {
            let scenario = scenario.unwrap().path();
            if scenario.is_dir() {
                found.push(scenario);
            }
        }
    }
    found.sort();
    found
}

/// The part of a report a scenario pins: verdict and, per finding, what was found
/// on which datasets, with which evidence.
fn summary(report: &Value) -> Value {
    let findings: Vec<Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            json!({
                "outcome": f["outcome"], "item": f["item"], "datasets": f["datasets"],
                "combination": f["combination"], "level": f["level"], "mark": f["mark"],
                "addressee": f["addressee"], "evidence": f["evidence"], "fix": f["fix"],
            })
        })
        .collect();
    json!({"verdict": report["verdict"], "findings": findings, "errors": report["errors"]})
}

fn check(dir: &Path) -> Result<(), String> {
    let rel = dir.strip_prefix(common::root()).unwrap().to_string_lossy().to_string();
    // A scenario with `published/` is a pre-release check of `candidate/` against it.
    let (code, report) = if dir.join("published").is_dir() {
        let (candidate, published) = (format!("{rel}/candidate"), format!("{rel}/published"));
        common::json(&["scan", &candidate, "--published", &published, "--format", "json"])
    } else {
        common::json(&["scan", &rel, "--format", "json"])
    };
    let actual = summary(&report);
    let want_code = match actual["verdict"].as_str() {
        Some("hold") => 1,
        Some("incomplete") => 3,
        _ => 0,
    };
    if code != want_code {
        return Err(format!("{rel}: exit {code}, verdict {}", actual["verdict"]));
    }
    let path = dir.join("expected.json");
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
        return Ok(());
    }
    let expected: Value = std::fs::read_to_string(&path)
        .map_err(|e| format!("{rel}: no expected.json ({e})"))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{rel}: bad expected.json: {e}")))?;
    if expected != actual {
        return Err(format!(
            "{rel}: findings differ\nexpected: {}\nactual:   {}",
            serde_json::to_string_pretty(&expected).unwrap(),
            serde_json::to_string_pretty(&actual).unwrap()
        ));
    }
    Ok(())
}

#[test]
fn every_scenario_gives_its_expected_findings() {
    let all = scenarios();
    assert!(all.len() >= 17, "found {} scenarios", all.len());
    let failures: Vec<String> = all.iter().filter_map(|d| check(d).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn scenario_names_match_their_verdicts() {
    // A `-hold` scenario holds, a `-near` one only warns, a `-cleared` one passes.
    for dir in scenarios() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let verdict = expected["verdict"].as_str().unwrap();
        let want = if name.ends_with("-hold") {
            "hold"
        } else if name.ends_with("-near") {
            "warn"
        } else if name.ends_with("-cleared") {
            "pass"
        } else {
            continue;
        };
        assert_eq!(verdict, want, "{}", dir.display());
    }
}
