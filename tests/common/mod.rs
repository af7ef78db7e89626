//! Helpers shared by the integration tests: run the real binary with a pinned clock.

#![allow(dead_code)]

pub mod tables;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// 2026-11-23T00:00:00Z: every test sees the same "today".
pub const EPOCH: &str = "1795392000";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn mosaic() -> Command {
    let mut cmd = Command::cargo_bin("mosaic").expect("binary is built");
    cmd.env("SOURCE_DATE_EPOCH", EPOCH).env("NO_COLOR", "1").current_dir(root());
    cmd
}

pub fn run(args: &[&str]) -> Output {
    mosaic().args(args).output().expect("mosaic runs")
}

pub fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = run(args);
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), value)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A register that holds under the energy pack: 25 ≥500 kV sites at 6 decimals
/// starting at (`lat`, `lon`), site ids starting with `canary` (a value that must
/// never leave the data), and optionally one more column and its value.
pub fn holding_register(canary: &str, lat: f64, lon: f64, extra: Option<(&str, &str)>) -> String {
    let mut csv = String::from("site_id,voltage_kv,lat,lon");
    if let Some((name, _)) = extra {
        csv += &format!(",{name}");
    }
    csv.push('\n');
    for i in 0..25 {
        csv += &format!("{canary}-{i:02},500,{:.6},{:.6}", lat + i as f64 * 0.01, lon + i as f64 * 0.011);
        if let Some((_, value)) = extra {
            csv += &format!(",{value}");
        }
        csv.push('\n');
    }
    csv
}
