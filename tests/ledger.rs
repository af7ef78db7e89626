//! The hold-and-report workflow end to end on the real binary: scan → hold →
//! notice → determine → release, idempotent re-scans, the pre-release gate,
//! routing, tampering caught by `ledger verify`, concurrent scans, escaping and
//! the canary (no data value in any notice), and a notice rendered by a real
//! headless browser.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

struct Workspace {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Workspace {
    fn new(org: &str) -> Workspace {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("mosaic.toml"), org).unwrap();
        Workspace { _tmp: tmp, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        common::mosaic().current_dir(&self.dir).args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", common::stderr(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Run a scan that holds (exit 1).
    fn ok_or_hold(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {}", common::stderr(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn holds(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["hold", "list", "--format", "json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn copy(&self, scenario: &str, to: &str) -> PathBuf {
        let target = self.dir.join(to);
        common::copy_dir(&common::root().join("datasets").join(scenario), &target);
        let _ = std::fs::remove_file(target.join("expected.json"));
        target
    }
}

const ORG: &str = r#"
[org]
name = "某市数据资源局"
authority = "prefecture"
superior = "某省国家保密局"
contact = "张三 010-12345678"
signer = "李四"
doc_code = "某数保"
"#;

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn full_cycle_scan_hold_notice_determine_release() {
    let ws = Workspace::new(ORG);
    ws.copy("linkage/registry-join-hold", "release");
    // Scan twice: one hold, recorded once.
    for _ in 0..2 {
        assert_eq!(code(&ws.run(&["scan", "release", "--ledger", ".mosaic/ledger.db"])), 1);
    }
    let holds = ws.holds();
    assert_eq!(holds.len(), 1, "re-scans are idempotent: {holds:?}");
    let hold = &holds[0];
    assert_eq!(hold["state"], "open");
    assert_eq!(hold["outcome"], "hold_and_report");
    assert_eq!(hold["addressee"], "国家能源局");
    assert_eq!(hold["deadline"], "2026-12-07");

    // The gate refuses while the hold is open.
    let refused = ws.run(&["release", "record", "release/coordinates.parquet"]);
    assert_eq!(code(&refused), 1, "{}", common::stderr(&refused));
    assert!(common::stderr(&refused).contains("open hold"));

    // The notice: every element, the provisional mark and never a secret mark.
    let md = ws.ok(&["notice", "render", "1", "--format", "md"]);
    for part in [
        "待定密（先行保密）",
        "某数保〔2026〕1号",
        "国家能源局：",
        "某市数据资源局",
        "energy.substation-locations",
        "坐标精度约 0.111 米，细于 50 米的门槛",
        "先行保密并报告",
        "暂停发布",
        "请求事项",
        "2026-12-07",
        "张三 010-12345678",
        "签发人：李四",
        "2026年11月23日",
        "附件",
    ] {
        assert!(md.contains(part), "notice lacks {part}:\n{md}");
    }
    assert!(!md.contains('★'), "a Case-2 notice never carries a secret mark");
    let json: Value = serde_json::from_str(&ws.ok(&["notice", "render", "1", "--format", "json"])).unwrap();
    assert_eq!(json["number"], "某数保〔2026〕1号", "the number is assigned once");
    assert_eq!(ws.holds()[0]["state"], "reported");

    // A disputed hold is protected at the highest level proposed (Reg 26).
    ws.ok(&["hold", "propose", "1", "--level", "绝密", "--by", "某省电力公司"]);
    assert_eq!(ws.holds()[0]["level"], "绝密");

    // The authority decides: not secret → the hold is released and the data may go out.
    let args = [
        "hold",
        "determine",
        "1",
        "--decision",
        "not-secret",
        "--scope",
        "—",
        "--handler",
        "王五",
        "--approver",
        "赵六",
        "--basis",
        "国家能源局复函",
    ];
    ws.ok(&args);
    assert_eq!(ws.holds()[0]["state"], "released");
    let show: Value = serde_json::from_str(&ws.ok(&["hold", "show", "1"])).unwrap();
    assert_eq!(show["determination"]["handler"], "王五");
    assert_eq!(show["determination"]["approver"], "赵六");
    assert_eq!(show["determination"]["basis"], "国家能源局复函");
    ws.ok(&["release", "record", "release/coordinates.parquet"]);
    assert!(ws.ok(&["ledger", "verify"]).starts_with("ok:"));

    // Released data is published data for later scans: a new release of the register
    // alone is checked together with the coordinates already out.
    std::fs::create_dir(ws.dir.join("next")).unwrap();
    std::fs::copy(ws.dir.join("release/厂站台账.csv"), ws.dir.join("next/厂站台账.csv")).unwrap();
    // The combination is found again with the released coordinates as published data —
    // the same content, so the same finding, which the authority determined not secret:
    // reported with that determination, and no longer held.
    let out = ws.run(&["scan", "next", "--ledger", ".mosaic/ledger.db", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = &report["findings"][0];
    let names: Vec<&str> = finding["datasets"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(names, ["published:coordinates.parquet", "厂站台账.csv"]);
    assert_eq!(finding["determination"]["decision"], "not_secret");
    assert_eq!(finding["determination"]["basis"], "国家能源局复函");
    assert_eq!(finding["status"], "released");
    assert_eq!(report["verdict"], "pass", "a determined finding neither holds nor warns");
    // Without the ledger the same scan still holds: the decision lives in the ledger.
    assert_eq!(code(&ws.run(&["scan", "next", "release"])), 1);
}

#[test]
fn a_secret_determination_sets_the_article_34_mark() {
    let ws = Workspace::new(ORG);
    ws.copy("energy/substations-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", ".mosaic/ledger.db"])), 1);
    let base = [
        "hold",
        "determine",
        "1",
        "--decision",
        "secret",
        "--level",
        "机密",
        "--scope",
        "调度人员",
        "--handler",
        "王五",
        "--approver",
        "赵六",
        "--basis",
        "DM25 第35条",
    ];
    let mut until = base.to_vec();
    until.extend(["--until", "2035-12-31"]);
    let out = ws.ok(&until);
    assert!(out.contains("机密★2035年12月31日解密"), "{out}");
    assert_eq!(ws.holds()[0]["state"], "determined");
    // A determined (secret) dataset cannot be released.
    assert_eq!(code(&ws.run(&["release", "record", "data/substations.csv"])), 1);
    // Determining twice is refused.
    assert_eq!(code(&ws.run(&base)), 2);
}

#[test]
fn catalog_matches_above_our_authority_go_to_the_superior() {
    let ws =
        Workspace::new("[org]\nname = \"某县测绘队\"\nauthority = \"none\"\nsuperior = \"某市自然资源和规划局\"\n");
    ws.copy("surveying/contours-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", ".mosaic/ledger.db"])), 1);
    let holds = ws.holds();
    assert_eq!(holds[0]["outcome"], "catalog_match");
    assert_eq!(holds[0]["addressee"], "某市自然资源和规划局", "DM25 Art 11: report up");
    let md = ws.ok(&["notice", "render", "1"]);
    assert!(md.contains("秘密★10年"), "a Case-1 notice carries the catalog mark:\n{md}");
}

#[test]
fn rescanning_changed_data_closes_the_hold() {
    let ws = Workspace::new(ORG);
    let data = ws.copy("energy/substations-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    // The same file under the same name, now remediated: a new content hash, no finding;
    // the old hold's inputs were not all scanned again, so it stays open ...
    let fixed = ws.dir.join("fixed");
    assert_eq!(code(&ws.run(&["scan", "data", "--fix", fixed.to_str().unwrap()])), 1);
    std::fs::copy(fixed.join("substations.csv"), data.join("substations.csv")).unwrap();
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 0);
    assert_eq!(ws.holds_at("l.db")[0]["state"], "open");
    // ... until someone releases it, with a reason, in the audit trail.
    ws.ok(&["hold", "release", "1", "--ledger", "l.db", "--reason", "remediated: coordinates rounded to 3 decimals"]);
    assert_eq!(ws.holds_at("l.db")[0]["state"], "released");
    assert!(ws.ok(&["ledger", "verify", "--ledger", "l.db"]).starts_with("ok:"));
}

impl Workspace {
    fn holds_at(&self, ledger: &str) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["hold", "list", "--ledger", ledger, "--format", "json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

#[test]
fn tampering_with_plain_sql_is_found_and_located() {
    let ws = Workspace::new(ORG);
    ws.copy("linkage/registry-join-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    ws.ok(&["notice", "render", "1", "--ledger", "l.db"]);
    assert!(ws.ok(&["ledger", "verify", "--ledger", "l.db"]).starts_with("ok:"));
    let db = ws.dir.join("l.db");

    // The audit log refuses edits ...
    let conn = rusqlite::Connection::open(&db).unwrap();
    let err = conn.execute("UPDATE audit SET detail = '{}' WHERE seq = 2", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(conn.execute("DELETE FROM audit WHERE seq = 1", []).is_err());

    // ... a hold changed behind mosaic's back is caught ...
    conn.execute("UPDATE holds SET state = 'released' WHERE id = 1", []).unwrap();
    let out = ws.run(&["ledger", "verify", "--ledger", "l.db"]);
    assert_eq!(code(&out), 1);
    assert!(common::stderr(&out).contains("hold 1: state is `released`"), "{}", common::stderr(&out));
    conn.execute("UPDATE holds SET state = 'reported' WHERE id = 1", []).unwrap();
    assert_eq!(code(&ws.run(&["ledger", "verify", "--ledger", "l.db"])), 0);

    // ... and so is an audit row edited after dropping the trigger.
    conn.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET detail = '{\"state\":\"open\"}' WHERE seq = 2;")
        .unwrap();
    drop(conn);
    let out = ws.run(&["ledger", "verify", "--ledger", "l.db"]);
    assert_eq!(code(&out), 1);
    let err = common::stderr(&out);
    assert!(err.contains("trigger audit_no_update is missing"), "{err}");
    assert!(err.contains("audit row 2"), "says where: {err}");
}

#[test]
fn two_scans_on_one_ledger_at_once_both_complete() {
    let ws = Workspace::new(ORG);
    ws.copy("linkage/registry-join-hold", "a");
    ws.copy("energy/substations-hold", "b");
    let spawn = |dir: &str| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mosaic"));
        cmd.current_dir(&ws.dir)
            .env("SOURCE_DATE_EPOCH", common::EPOCH)
            .args(["scan", dir, "--ledger", "l.db", "--format", "json"]);
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    };
    let children: Vec<_> = (0..3).flat_map(|_| [spawn("a"), spawn("b")]).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 1, "{}", common::stderr(&out));
    }
    assert_eq!(ws.holds_at("l.db").len(), 2, "one hold per finding however many scans ran");
    assert!(ws.ok(&["ledger", "verify", "--ledger", "l.db"]).contains("ok: "));
    let conn = rusqlite::Connection::open(ws.dir.join("l.db")).unwrap();
    let scans: i64 = conn.query_row("SELECT count(*) FROM scans", [], |r| r.get(0)).unwrap();
    assert_eq!(scans, 6);
}

/// A register whose file name and values are hostile: markup in the name, and a
/// canary value in the sensitive columns that must never reach a notice.
fn hostile(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let csv = common::holding_register("CANARY-7731", 30.123457, 114.234561, None);
    std::fs::write(dir.join("<img src=x onerror=alert(1)>.csv"), csv).unwrap();
}

#[test]
fn notices_escape_names_and_carry_no_data_values() {
    let ws = Workspace::new(ORG);
    hostile(&ws.dir.join("data"));
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    for format in ["md", "html", "json"] {
        let text = ws.ok(&["notice", "render", "1", "--ledger", "l.db", "--format", format]);
        assert!(!text.contains("CANARY-7731"), "{format} notice leaks a value:\n{text}");
        assert!(!text.contains("30.123457") && !text.contains("114.234561"), "{format} leaks coordinates");
        if format != "json" {
            assert!(!text.contains("<img"), "{format} notice does not escape the name:\n{text}");
            assert!(text.contains("&lt;img src=x onerror=alert(1)&gt;"), "{format}:\n{text}");
        }
    }
    // Nor does the ledger store any value.
    let bytes = std::fs::read(ws.dir.join("l.db")).unwrap();
    let wal = std::fs::read(ws.dir.join("l.db-wal")).unwrap_or_default();
    for b in [bytes, wal] {
        assert!(!String::from_utf8_lossy(&b).contains("CANARY-7731"), "the ledger holds no data value");
    }
}

/// A headless browser, or `None` off CI (CI installs one: `.ci/run`).
fn browser() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI installs chromium (.ci/run); it is missing");
        eprintln!("skipped: no chromium on this machine");
    }
    found
}

/// Print `html` to PDF and a PNG screenshot; return the PNG's bytes.
fn render(browser: &str, html: &Path, size: &str) -> Vec<u8> {
    let dir = html.parent().unwrap();
    let (pdf, png) = (dir.join("page.pdf"), dir.join("page.png"));
    let url = format!("file://{}", html.display());
    for (flag, out) in [("--print-to-pdf", &pdf), ("--screenshot", &png)] {
        let status = std::process::Command::new(browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"])
            .arg(format!("--window-size={size}"))
            .arg(format!("{flag}={}", out.display()))
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.exists(), "{browser} {flag}: {}", String::from_utf8_lossy(&status.stderr));
    }
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"), "a PDF");
    let png = std::fs::read(&png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    png
}

#[test]
fn the_html_notice_renders_in_a_headless_browser() {
    let Some(browser) = browser() else { return };
    let ws = Workspace::new(ORG);
    ws.copy("linkage/registry-join-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    let html = ws.dir.join("notice.html");
    ws.ok(&["notice", "render", "1", "--ledger", "l.db", "--format", "html", "-o", html.to_str().unwrap()]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("size:A4") && page.contains("#c00"), "GB/T 9704 layout: A4, red header line");
    let png = render(browser, &html, "794,1123");
    // A blank A4-sized page compresses to a few kilobytes; the notice's red header,
    // CJK text and tables do not.
    assert!(png.len() > 20_000, "the rendered notice is not blank ({} bytes)", png.len());
}

#[test]
fn the_html_report_escapes_names_and_draws_coverage() {
    let ws = Workspace::new(ORG);
    hostile(&ws.dir.join("data"));
    ws.copy("linkage/tiles-union-hold", "tiles");
    let out = ws.run(&["scan", "data", "tiles", "--format", "html", "-o", "report.html"]);
    assert_eq!(code(&out), 1, "{}", common::stderr(&out));
    let page = std::fs::read_to_string(ws.dir.join("report.html")).unwrap();
    assert!(!page.contains("<img"), "data-derived names are escaped");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;.csv"));
    assert!(!page.contains("CANARY-7731"), "no data value in the report");
    assert!(!page.contains("<script"), "a self-contained page without scripts");
    assert_eq!(page.matches("<svg").count(), 2, "a coverage picture per hold on a point tag");
    assert!(page.contains("surveying.large-scale-map") && page.contains("28.34"), "the union's evidence");
    if let Some(browser) = browser() {
        let png = render(browser, &ws.dir.join("report.html"), "1000,1400");
        assert!(png.len() > 20_000, "the rendered report is not blank ({} bytes)", png.len());
    }
}

#[test]
fn notices_are_stable() {
    let ws = Workspace::new(ORG);
    ws.copy("linkage/registry-join-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    insta::assert_snapshot!("case2_notice_md", ws.ok(&["notice", "render", "1", "--ledger", "l.db"]));
    insta::assert_snapshot!(
        "case2_notice_json",
        ws.ok(&["notice", "render", "1", "--ledger", "l.db", "--format", "json"])
    );
    let ws =
        Workspace::new("[org]\nname = \"某县测绘队\"\nauthority = \"none\"\nsuperior = \"某市自然资源和规划局\"\n");
    ws.copy("surveying/contours-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    insta::assert_snapshot!("case1_report_up_notice_md", ws.ok(&["notice", "render", "1", "--ledger", "l.db"]));
}

#[test]
fn a_configured_calendar_moves_the_deadline() {
    // Declare 2026-11-24 … 2026-12-04 holidays: ten working days from Monday
    // 2026-11-23 then end on 2026-12-18 instead of 2026-12-07.
    let days: Vec<String> =
        (24..=30).map(|d| format!("\"2026-11-{d}\"")).chain((1..=4).map(|d| format!("\"2026-12-{d:02}\""))).collect();
    let ws = Workspace::new(&format!("calendar = \"extra.toml\"\n{ORG}"));
    std::fs::write(ws.dir.join("extra.toml"), format!("[2026]\nholidays = [{}]\nworking = []\n", days.join(", ")))
        .unwrap();
    ws.copy("energy/substations-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    assert_eq!(ws.holds_at("l.db")[0]["deadline"], "2026-12-18");
    std::fs::write(ws.dir.join("extra.toml"), "[2026]\nholidays = [\"tomorrow\"]\n").unwrap();
    let out = ws.run(&["scan", "data"]);
    assert_eq!(code(&out), 2, "a bad calendar is a configuration error");
    assert!(common::stderr(&out).contains("extra.toml"), "{}", common::stderr(&out));
}

#[test]
fn a_revised_pack_re_evaluates_held_findings() {
    let ws = Workspace::new(ORG);
    ws.copy("energy/substations-hold", "data");
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db"])), 1);
    let energy = std::fs::read_to_string(common::root().join("rules/energy.toml")).unwrap();
    // The same catalog re-issued: the hold stays and the re-evaluation is audited.
    std::fs::write(ws.dir.join("energy.toml"), energy.replace("version = \"2026.1\"", "version = \"2026.2\"")).unwrap();
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db", "--rules", "energy.toml"])), 1);
    let show: Value = serde_json::from_str(&ws.ok(&["hold", "show", "1", "--ledger", "l.db"])).unwrap();
    let events: Vec<&str> = show["events"].as_array().unwrap().iter().map(|e| e[2].as_str().unwrap()).collect();
    assert_eq!(events, ["hold.open", "hold.reevaluated"], "{show}");
    assert_eq!(ws.holds_at("l.db")[0]["state"], "open");
    // A revision that raises the threshold above the data: the hold is closed.
    let raised = energy
        .replace("version = \"2026.1\"", "version = \"2026.3\"")
        .replace("distinct(site) >= 20", "distinct(site) >= 30");
    std::fs::write(ws.dir.join("energy.toml"), raised).unwrap();
    assert_eq!(code(&ws.run(&["scan", "data", "--ledger", "l.db", "--rules", "energy.toml"])), 0);
    assert_eq!(ws.holds_at("l.db")[0]["state"], "closed");
    assert!(ws.ok(&["ledger", "verify", "--ledger", "l.db"]).starts_with("ok:"));
}

/// English words a notice may carry: ids, hashes, file names, units and the hash's name.
fn english_words(text: &str, allowed: &[String]) -> Vec<String> {
    let mut rest = text.to_string();
    let mut allowed = allowed.to_vec();
    allowed.sort_by_key(|a| std::cmp::Reverse(a.len()));
    for a in &allowed {
        rest = rest.replace(a.as_str(), " ");
    }
    let hex = regex::Regex::new(r"\b[0-9a-f]{16,64}\b").unwrap();
    let rest = hex.replace_all(&rest, " ").to_string();
    let units = ["kV", "km", "m", "sha", "SHA"];
    let word = regex::Regex::new(r"[A-Za-z]{2,}").unwrap();
    word.find_iter(&rest).map(|m| m.as_str().to_string()).filter(|w| !units.contains(&w.as_str())).collect()
}

#[test]
fn every_holding_scenario_gives_a_notice_in_chinese() {
    let mut scenarios = Vec::new();
    for pack in std::fs::read_dir(common::root().join("datasets")).unwrap() {
        for s in std::fs::read_dir(pack.unwrap().path()).unwrap() {
            let s = s.unwrap().path();
            let expected = std::fs::read_to_string(s.join("expected.json")).unwrap_or_default();
            if expected.contains("\"verdict\": \"hold\"") && !s.join("published").is_dir() {
                scenarios.push(s);
            }
        }
    }
    scenarios.sort();
    assert!(scenarios.len() >= 20, "{scenarios:?}");
    let mut failures = Vec::new();
    for scenario in &scenarios {
        let ws = Workspace::new(ORG);
        let rel = scenario.strip_prefix(common::root().join("datasets")).unwrap().to_string_lossy().to_string();
        ws.copy(&rel, "data");
        let out = ws.run(&["scan", "data", "--ledger", "l.db", "--no-fix-search"]);
        assert_eq!(out.status.code(), Some(1), "{rel}: {}", common::stderr(&out));
        let holds: Value =
            serde_json::from_str(&ws.ok(&["hold", "list", "--format", "json", "--ledger", "l.db"])).unwrap();
        for hold in holds.as_array().unwrap() {
            let id = hold["id"].to_string();
            let md = ws.ok(&["notice", "render", &id, "--ledger", "l.db", "--format", "md"]);
            let json: Value =
                serde_json::from_str(&ws.ok(&["notice", "render", &id, "--ledger", "l.db", "--format", "json"]))
                    .unwrap();
            let mut allowed: Vec<String> =
                json["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
            for key in ["item", "pack"] {
                allowed.push(json["criterion"][key].as_str().unwrap().to_string());
            }
            // Markdown escapes `_` and `#` in names.
            let escaped: Vec<String> =
                allowed.iter().map(|a| a.replace('_', "\\_").replace('[', "\\[").replace(']', "\\]")).collect();
            allowed.extend(escaped);
            let words = english_words(&md, &allowed);
            if !words.is_empty() {
                failures.push(format!("{rel} hold {id}: English words {words:?} in\n{md}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The README's cycle, step by step: the text an official reads, the JSON verdict and
/// statuses a pipeline reads, the exit code, the ledger's summary and `hold list` tell
/// one story at every step.
#[test]
fn the_readme_cycle_tells_one_story_at_every_step() {
    let ws = Workspace::new(ORG);
    ws.copy("linkage/registry-join-hold", "data");
    let scan = |ws: &Workspace| {
        let text = ws.run(&["scan", "data", "--ledger", "l.db", "--no-fix-search"]);
        let json = ws.run(&["scan", "data", "--ledger", "l.db", "--no-fix-search", "--format", "json"]);
        let report: Value = serde_json::from_slice(&json.stdout).unwrap();
        (code(&text), String::from_utf8_lossy(&text.stdout).to_string(), common::stderr(&text), report)
    };
    let states = |ws: &Workspace| -> Vec<String> {
        let list: Value =
            serde_json::from_str(&ws.ok(&["hold", "list", "--format", "json", "--ledger", "l.db"])).unwrap();
        list.as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap().to_string()).collect()
    };
    // 1. Scan: one hold, open.
    let (exit, text, log, report) = scan(&ws);
    assert_eq!(exit, 1, "{text}");
    assert!(text.contains("HOLD  hold_and_report") && text.contains("hold: 1 hold(s), 0 warning(s)"), "{text}");
    assert!(log.contains("1 hold(s) opened, 0 still open"), "{log}");
    assert_eq!(report["verdict"], "hold");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    assert_eq!(report["findings"][0]["status"], "open");
    assert_eq!(states(&ws), ["open"]);
    // 2. The notice is rendered (reported); the release is refused while it holds.
    ws.ok(&["notice", "render", "1", "--ledger", "l.db"]);
    assert_eq!(states(&ws), ["reported"]);
    let refused = ws.run(&["release", "record", "data/coordinates.parquet", "--ledger", "l.db"]);
    assert_eq!(code(&refused), 1, "{}", common::stderr(&refused));
    // 3. The authority determines it not secret; the data is released.
    ws.ok(&NOT_SECRET);
    assert_eq!(states(&ws), ["released"]);
    let (exit, text, log, report) = scan(&ws);
    assert_eq!(exit, 0, "{text}");
    assert!(text.contains("DETERMINED  determined_not_secret") && !text.contains("HOLD"), "{text}");
    assert!(text.contains("pass: 0 hold(s), 0 warning(s), 1 determined"), "{text}");
    assert!(log.contains("1 determined not secret or released"), "{log}");
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["findings"][0]["status"], "determined_not_secret");
    assert_eq!(report["findings"][0]["mark"], Value::Null, "no provisional mark once decided");
    ws.ok(&["release", "record", "data/coordinates.parquet", "--ledger", "l.db"]);
    assert!(ws.ok(&["ledger", "verify", "--ledger", "l.db"]).contains("ok: "));
    // 4. Scanned again: the released copy and the scanned one are one input, one finding.
    let (exit, text, log, report) = scan(&ws);
    assert_eq!(exit, 0, "{text}");
    assert_eq!(text.matches("DETERMINED").count(), 1, "one block per finding: {text}");
    assert!(!text.contains("published:"), "{text}");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["findings"][0]["status"], "released");
    assert_eq!(report["scan"]["inputs"].as_array().unwrap().len(), 2);
    assert!(
        log.contains(
            "0 hold(s) opened, 0 still open, 0 determined secret, 1 determined not secret or released, 0 closed"
        ),
        "{log}"
    );
    assert_eq!(states(&ws), ["released"]);
    assert!(ws.ok(&["ledger", "verify", "--ledger", "l.db"]).contains("ok: "));
}

#[test]
fn overdue_holds_are_reported_warned_of_once_and_reminded() {
    let ws = Workspace::new(ORG);
    ws.copy("energy/substations-hold", "data");
    ws.ok_or_hold(&["scan", "data", "--ledger", "l.db", "--no-fix-search"]);
    // Before a notice there is nothing to remind of.
    let early = ws.run(&["notice", "render", "1", "--reminder", "--ledger", "l.db"]);
    assert_eq!(code(&early), 2);
    assert!(common::stderr(&early).contains("render it first"), "{}", common::stderr(&early));
    let first = ws.ok(&["notice", "render", "1", "--ledger", "l.db"]);
    assert!(first.contains("某数保〔2026〕1号"));
    assert!(
        ws.ok(&["hold", "list", "--state", "overdue", "--ledger", "l.db"]).lines().count() == 1,
        "nothing overdue yet"
    );
    assert!(ws.ok(&["hold", "list", "--due-within", "30", "--ledger", "l.db"]).contains("reported"));
    assert_eq!(ws.ok(&["hold", "list", "--due-within", "3", "--ledger", "l.db"]).lines().count(), 1);
    // A month later the deadline (10 working days) has passed without a determination.
    let later = (common::EPOCH.parse::<i64>().unwrap() + 30 * 86_400).to_string();
    let at = |args: &[&str]| {
        common::mosaic().current_dir(&ws.dir).env("SOURCE_DATE_EPOCH", &later).args(args).output().unwrap()
    };
    let out = at(&["scan", "data", "--ledger", "l.db", "--no-fix-search"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("OVERDUE  hold 1") && text.contains("--reminder"), "{text}");
    assert!(common::stderr(&out).contains("1 overdue"), "{}", common::stderr(&out));
    let out = at(&["scan", "data", "--ledger", "l.db", "--no-fix-search", "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["overdue"][0]["hold"], 1, "{report}");
    assert_eq!(report["overdue"][0]["state"], "reported");
    let events: Value =
        serde_json::from_slice(&at(&["ledger", "events", "--ledger", "l.db", "--format", "json"]).stdout).unwrap();
    let overdue = events.as_array().unwrap().iter().filter(|e| e["kind"] == "overdue").count();
    assert_eq!(overdue, 1, "warned of once, however many scans: {events}");
    let listed =
        String::from_utf8_lossy(&at(&["hold", "list", "--state", "overdue", "--ledger", "l.db"]).stdout).to_string();
    assert!(listed.lines().nth(1).is_some_and(|l| l.starts_with("1 ")), "{listed}");
    let reminder =
        String::from_utf8_lossy(&at(&["notice", "render", "1", "--reminder", "--ledger", "l.db"]).stdout).to_string();
    assert!(reminder.contains("催办") && reminder.contains("以某数保〔2026〕1号报送"), "{reminder}");
    assert!(reminder.contains("2026年11月23日"), "cites the first notice's date: {reminder}");
    assert!(at(&["ledger", "verify", "--ledger", "l.db"]).status.success());
}

/// Determine hold 1 of `l.db` not secret.
const NOT_SECRET: [&str; 15] = [
    "hold",
    "determine",
    "1",
    "--decision",
    "not-secret",
    "--scope",
    "—",
    "--handler",
    "王五",
    "--approver",
    "赵六",
    "--basis",
    "复函",
    "--ledger",
    "l.db",
];

#[test]
fn refused_changes_to_a_hold_are_clear_and_audited() {
    let ws = Workspace::new(ORG);
    ws.copy("linkage/registry-join-hold", "data");
    ws.ok_or_hold(&["scan", "data", "--ledger", "l.db", "--no-fix-search"]);
    // A determination dated before its hold: the clock is wrong.
    let before = (common::EPOCH.parse::<i64>().unwrap() - 86_400).to_string();
    let skewed =
        common::mosaic().current_dir(&ws.dir).env("SOURCE_DATE_EPOCH", &before).args(NOT_SECRET).output().unwrap();
    assert_eq!(code(&skewed), 2);
    assert!(common::stderr(&skewed).contains("before hold 1 was opened"), "{}", common::stderr(&skewed));
    ws.ok(&NOT_SECRET);
    // A second, different decision is refused, not recorded over the first.
    let twice = ws.run(&[
        "hold",
        "determine",
        "1",
        "--decision",
        "secret",
        "--level",
        "机密",
        "--scope",
        "—",
        "--handler",
        "王五",
        "--approver",
        "赵六",
        "--basis",
        "x",
        "--ledger",
        "l.db",
    ]);
    assert_eq!(code(&twice), 2);
    assert!(common::stderr(&twice).contains("already determined not_secret"), "{}", common::stderr(&twice));
    // The data changes after the determination: its release is refused.
    let path = ws.dir.join("data/厂站台账.csv");
    // (a GBK file: its last row is written again, byte for byte)
    let mut bytes = std::fs::read(&path).unwrap();
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes).to_vec();
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let last = body[start..].to_vec();
    bytes.extend(last);
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
    let changed = ws.run(&["release", "record", "data/厂站台账.csv", "--ledger", "l.db"]);
    assert_eq!(code(&changed), 1, "{}", common::stderr(&changed));
    assert!(common::stderr(&changed).contains("changed since hold(s) 1"), "{}", common::stderr(&changed));
    // Every refusal is in the audit log, and the chain still verifies.
    let conn = rusqlite::Connection::open(ws.dir.join("l.db")).unwrap();
    let refused: i64 =
        conn.query_row("SELECT count(*) FROM audit WHERE action LIKE '%refused'", [], |r| r.get(0)).unwrap();
    assert_eq!(refused, 3);
    assert!(ws.ok(&["ledger", "verify", "--ledger", "l.db"]).contains("ok: "));
}
