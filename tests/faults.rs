//! Faults: a canary value never leaves the data in any output; a scan killed with
//! SIGKILL leaves the ledger consistent; a full disk or a read-only ledger gives a
//! clear error and exit 2 and loses nothing recorded before.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const CANARY: &str = "CANARY-5501";

/// A register that holds (25 ≥500 kV sites at 6 decimals) with the canary in the
/// sensitive columns, and a column named like markup.
fn canary_data(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let note = format!("{CANARY} note");
    let csv = common::holding_register(CANARY, 31.234567, 121.345678, Some(("<script>alert(1)</script>", &note)));
    std::fs::write(dir.join("register.csv"), csv).unwrap();
    // The owner maps the markup-named column to a tag, so its name reaches the report.
    std::fs::write(
        dir.join("register.csv.mosaic.toml"),
        "[columns]\n\"<script>alert(1)</script>\" = \"facility_type\"\n",
    )
    .unwrap();
}

fn mosaic(dir: &Path, args: &[&str]) -> Output {
    common::mosaic().current_dir(dir).args(args).output().unwrap()
}

#[test]
fn the_canary_never_leaves_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    canary_data(&tmp.path().join("data"));
    let mut outputs = Vec::new();
    for format in ["text", "json", "sarif", "html"] {
        let out = mosaic(tmp.path(), &["scan", "data", "--ledger", "l.db", "--format", format]);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", common::stderr(&out));
        outputs.push((format.to_string(), String::from_utf8_lossy(&out.stdout).to_string()));
        outputs.push((format!("{format} stderr"), common::stderr(&out)));
    }
    for format in ["md", "html", "json"] {
        let out = mosaic(tmp.path(), &["notice", "render", "1", "--ledger", "l.db", "--format", format]);
        outputs.push((format!("notice {format}"), String::from_utf8_lossy(&out.stdout).to_string()));
    }
    outputs.push((
        "hold show".into(),
        String::from_utf8_lossy(&mosaic(tmp.path(), &["hold", "show", "1", "--ledger", "l.db"]).stdout).to_string(),
    ));
    for name in ["l.db", "l.db-wal"] {
        let bytes = std::fs::read(tmp.path().join(name)).unwrap_or_default();
        outputs.push((name.to_string(), String::from_utf8_lossy(&bytes).to_string()));
    }
    for (what, text) in &outputs {
        assert!(!text.contains(CANARY), "{what} carries a data value:\n{text}");
        assert!(!text.contains("31.234567"), "{what} carries a coordinate");
    }
    let html = &outputs.iter().find(|(w, _)| w == "html").unwrap().1;
    assert!(!html.contains("<script>"), "a column named like markup stays text");
    assert!(html.contains("&lt;script&gt;"), "and is shown escaped");
}

fn copy_scenario(scenario: &str, to: &Path) {
    common::copy_dir(&common::root().join("datasets").join(scenario), to);
}

#[test]
fn a_scan_killed_mid_way_leaves_the_ledger_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    copy_scenario("linkage/tiles-six-hold", &tmp.path().join("data"));
    let bin = assert_cmd::cargo::cargo_bin("mosaic");
    for delay_ms in [20u64, 150, 400, 900, 1500, 2500] {
        let mut child = Command::new(&bin)
            .current_dir(tmp.path())
            .env("SOURCE_DATE_EPOCH", common::EPOCH)
            .args(["scan", "data", "--ledger", "l.db", "--format", "json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if tmp.path().join("l.db").exists() {
            let out = mosaic(tmp.path(), &["ledger", "verify", "--ledger", "l.db"]);
            assert!(out.status.success(), "after SIGKILL at {delay_ms} ms: {}", common::stderr(&out));
        }
    }
    // A scan that runs to the end records exactly one hold.
    assert_eq!(mosaic(tmp.path(), &["scan", "data", "--ledger", "l.db"]).status.code(), Some(1));
    let out = mosaic(tmp.path(), &["hold", "list", "--ledger", "l.db", "--format", "json"]);
    let holds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(holds.as_array().unwrap().len(), 1, "{holds}");
    assert!(mosaic(tmp.path(), &["ledger", "verify", "--ledger", "l.db"]).status.success());
}

/// A small tmpfs, unmounted when dropped; `None` where mounting is not allowed.
struct Disk(PathBuf);

impl Disk {
    fn mount(at: &Path, size: &str) -> Option<Disk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        }
        ok.then(|| Disk(at.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(&self.0).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

fn holds(dir: &Path, ledger: &str) -> usize {
    let out = mosaic(dir, &["hold", "list", "--ledger", ledger, "--format", "json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().len()
}

#[test]
fn a_full_disk_fails_clearly_and_keeps_what_was_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = Disk::mount(&tmp.path().join("disk"), "1m") else { return };
    copy_scenario("energy/substations-hold", &tmp.path().join("a"));
    copy_scenario("linkage/registry-join-hold", &tmp.path().join("b"));
    let ledger = disk.0.join("l.db");
    let ledger = ledger.to_str().unwrap();
    assert_eq!(mosaic(tmp.path(), &["scan", "a", "--ledger", ledger]).status.code(), Some(1));
    assert_eq!(holds(tmp.path(), ledger), 1);
    // Fill the disk.
    let filler = disk.0.join("filler");
    let chunk = vec![0u8; 64 * 1024];
    let mut f = std::fs::File::create(&filler).unwrap();
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let out = mosaic(tmp.path(), &["scan", "b", "--ledger", ledger]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("full"), "says the disk is full: {err}");
    assert!(err.contains(ledger), "names the ledger: {err}");
    std::fs::remove_file(&filler).unwrap();
    assert!(mosaic(tmp.path(), &["ledger", "verify", "--ledger", ledger]).status.success());
    assert_eq!(holds(tmp.path(), ledger), 1, "the hold recorded before is intact");
    assert_eq!(mosaic(tmp.path(), &["scan", "b", "--ledger", ledger]).status.code(), Some(1));
    assert_eq!(holds(tmp.path(), ledger), 2);
}

#[test]
fn a_read_only_ledger_fails_clearly_and_keeps_what_was_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = Disk::mount(&tmp.path().join("ro"), "4m") else { return };
    copy_scenario("energy/substations-hold", &tmp.path().join("a"));
    copy_scenario("linkage/registry-join-hold", &tmp.path().join("b"));
    let ledger = disk.0.join("l.db");
    let ledger = ledger.to_str().unwrap();
    assert_eq!(mosaic(tmp.path(), &["scan", "a", "--ledger", ledger]).status.code(), Some(1));
    disk.remount("ro");
    let out = mosaic(tmp.path(), &["scan", "b", "--ledger", ledger]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(ledger) && err.contains("cannot be written"), "{err}");
    disk.remount("rw");
    assert!(mosaic(tmp.path(), &["ledger", "verify", "--ledger", ledger]).status.success());
    assert_eq!(holds(tmp.path(), ledger), 1, "the hold recorded before is intact");
}
