//! The Python wheel (issue 17): built with maturin from the same target directory and
//! profile the tests use, installed in a fresh virtual environment, and scanning
//! through `mosaic.scan`. Needs maturin and python3-venv; `.ci/run` installs them, so
//! in CI (`CI=true`) their absence fails the test instead of skipping it.

mod common;

use std::process::Command;

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success())
}

#[test]
fn the_wheel_installs_and_scans_through_python() {
    if !have("maturin", &["--version"]) || !have("python3", &["-c", "import venv, ensurepip"]) {
        assert!(std::env::var_os("CI").is_none(), "CI must provide maturin and python3-venv (.ci/run installs them)");
        eprintln!("skipped: maturin or python3-venv is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // CARGO_TARGET_TMPDIR is <target>/tmp: build from the same target directory.
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let wheels = tmp.path().join("wheels");
    let out = Command::new("maturin")
        .args(["build", "--profile", "dev", "--compatibility", "linux", "--out"])
        .arg(&wheels)
        .env("CARGO_TARGET_DIR", target)
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(out.status.success(), "maturin build: {}", common::stderr(&out));
    let wheel = std::fs::read_dir(&wheels).unwrap().next().unwrap().unwrap().path();

    let venv = tmp.path().join("venv");
    let ok = |c: &mut Command| {
        let o = c.output().unwrap();
        assert!(o.status.success(), "{c:?}: {}{}", String::from_utf8_lossy(&o.stdout), common::stderr(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    ok(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--no-index"]).arg(&wheel));

    // A directory that cannot be called clean: a readable file and an unreadable one.
    let incomplete = tmp.path().join("incomplete");
    std::fs::create_dir_all(&incomplete).unwrap();
    std::fs::write(incomplete.join("ok.csv"), "site_id,voltage_kv\nS1,220\n").unwrap();
    std::fs::write(incomplete.join("broken.parquet"), b"PAR1 not really").unwrap();
    let script = format!(
        r#"
import mosaic, os, sys
assert os.path.dirname(mosaic.binary()) == os.path.dirname(sys.executable), mosaic.binary()
r = mosaic.scan("{hold}")
assert r["verdict"] == "hold" and r["exit_code"] == 1, r["verdict"]
assert r["findings"][0]["combination"]["via"] == "proximity", r["findings"][0]["combination"]
r = mosaic.scan(["{clean}"], fix_search=False)
assert r["verdict"] in ("pass", "warn") and r["exit_code"] == 0, r["verdict"]
try:
    mosaic.scan(["{incomplete}"])
    raise SystemExit("an incomplete scan must raise")
except mosaic.MosaicError as e:
    assert e.code == 3 and e.report["errors"][0]["input"] == "broken.parquet", e
r = mosaic.scan(["{incomplete}"], check=False)
assert r["exit_code"] == 3 and r["verdict"] == "incomplete", r["verdict"]
try:
    mosaic.scan(["{incomplete}"], rules=["/nonexistent.toml"])
    raise SystemExit("a bad pack must raise")
except mosaic.MosaicError as e:
    assert e.code == 2 and e.report is None, e
print("ok")
"#,
        hold = common::root().join("datasets/linkage/proximity-hold").display(),
        clean = common::root().join("datasets/energy/substations-cleared").display(),
        incomplete = incomplete.display(),
    );
    let printed = ok(Command::new(venv.join("bin/python")).arg("-c").arg(&script).current_dir(tmp.path()));
    assert_eq!(printed.trim(), "ok");
    // The Airflow example at least compiles (Airflow itself is not installed here).
    let example = common::root().join("examples/airflow/mosaic_gate.py");
    ok(Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg("import sys; compile(open(sys.argv[1], encoding='utf-8').read(), sys.argv[1], 'exec')")
        .arg(&example));
}
