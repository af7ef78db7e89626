//! Progress in a real terminal (a pseudo-terminal from `script`, util-linux): shown on
//! stderr for a scan longer than a second, hidden with `--quiet` and when stderr is not
//! a terminal; the report is the same either way. `.ci/run` makes sure `script` exists,
//! so in CI (`CI=true`) its absence fails the test.

mod common;

use std::process::Command;

const LINE: &str = "dataset(s) read";

#[test]
fn progress_appears_on_a_terminal_only() {
    if !Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success()) {
        assert!(std::env::var_os("CI").is_none(), "CI must provide `script` (.ci/run installs bsdutils)");
        eprintln!("skipped: `script` is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("mosaic");
    // The bar shows after a delay (a second by default); linking several scenarios
    // together takes longer than the 50 ms set here, in any build.
    let data = common::root().join("datasets/linkage");
    let in_terminal = |extra: &str, report: &std::path::Path| -> String {
        let typescript = tmp.path().join("typescript");
        let command = format!(
            "MOSAIC_PROGRESS_AFTER_MS=50 {} scan {} -o {} {extra}",
            bin.display(),
            data.display(),
            report.display()
        );
        let out = Command::new("script").args(["-qec", &command]).arg(&typescript).output().unwrap();
        assert!(out.status.code().is_some(), "script ran: {}", common::stderr(&out));
        String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).to_string()
    };
    let shown = in_terminal("", &tmp.path().join("a.txt"));
    assert!(shown.contains(LINE), "progress on a terminal: {shown:?}");
    let quiet = in_terminal("--quiet", &tmp.path().join("b.txt"));
    assert!(!quiet.contains(LINE), "--quiet hides it: {quiet:?}");
    let piped = Command::new(&bin).args(["scan", data.to_str().unwrap()]).output().unwrap();
    assert!(!common::stderr(&piped).contains(LINE), "not a terminal, no progress");
    // The report holds the same findings with or without progress (deadlines aside,
    // which follow the day the scan ran).
    let findings = |name: &str| -> Vec<String> {
        let text = std::fs::read_to_string(tmp.path().join(name)).unwrap();
        text.lines().filter(|l| l.starts_with("HOLD") || l.trim_start().starts_with("id:")).map(String::from).collect()
    };
    let (a, b) = (findings("a.txt"), findings("b.txt"));
    assert!(a.iter().any(|l| l.starts_with("HOLD")), "{a:?}");
    assert_eq!(a, b);
}
