//! Holds: what a scan records in the ledger and what people then do with a hold —
//! propose a level, determine it (DM25 Art 30), release it — each step audited.

use std::collections::BTreeSet;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{audit, Ledger, LedgerError, Result};
use crate::config::Org;
use crate::report::{FindingV1, FindingsV1};
use crate::rules::{Level, Period};

/// Hold states: open → reported → determined | released | closed.
pub const OPEN_STATES: [&str; 3] = ["open", "reported", "determined"];

/// One row of `hold list`.
#[derive(Clone, Debug, Serialize)]
pub struct HoldRow {
    pub id: i64,
    pub finding_id: String,
    pub state: String,
    pub outcome: String,
    pub addressee: String,
    pub deadline: Option<String>,
    pub level: Option<String>,
}

/// What recording a scan did: holds opened, held ones found again by state, closed.
#[derive(Debug, Default, Serialize)]
pub struct Recorded {
    pub scan: i64,
    pub opened: Vec<i64>,
    /// Found again, still awaiting the authority (open or reported).
    pub still_open: Vec<i64>,
    /// Found again, determined secret (still held, under its mark).
    pub determined: Vec<i64>,
    /// Found again, determined not secret or released.
    pub released: Vec<i64>,
    pub closed: Vec<i64>,
    /// Early-warning events written by this scan (Reg 64).
    pub warnings: Vec<i64>,
}

/// Write one early-warning event (Reg 64: monitoring and early warning) and audit it.
fn warn(
    tx: &rusqlite::Transaction,
    now: &str,
    scan: i64,
    kind: &str,
    f: &crate::report::FindingV1,
    hold: Option<i64>,
) -> rusqlite::Result<i64> {
    let detail = serde_json::json!({
        "item": f.item, "outcome": f.outcome, "datasets": f.datasets, "addressee": f.addressee, "deadline": f.deadline,
    })
    .to_string();
    tx.execute(
        "INSERT INTO events (at, scan, kind, finding_id, hold, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now, scan, kind, f.id, hold, detail],
    )?;
    let id = tx.last_insert_rowid();
    audit(
        tx,
        now,
        &format!("warning.{kind}"),
        &format!("event:{id}"),
        &serde_json::json!({"finding": f.id, "hold": hold, "scan": scan}),
    )?;
    Ok(id)
}

/// Who a hold is reported to: a Case 1 matter above the unit's own authority goes
/// to its superior (DM25 Art 11); everything else to the finding's addressee.
pub fn route(finding: &FindingV1, org: &Org) -> String {
    let level = finding.level.as_deref().and_then(Level::parse);
    if finding.outcome == "catalog_match" && level.is_some_and(|l| org.max_level().is_none_or(|max| l > max)) {
        return org.superior.clone().unwrap_or_else(|| "上级机关（未配置 [org] superior）".to_string());
    }
    finding.addressee.clone().unwrap_or_default()
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Record a scan: the report, every finding (idempotent by finding id), a hold for
/// every finding that holds, and — for held findings whose inputs were all scanned
/// again and no longer give the finding (data or pack changed) — close the hold.
pub fn record_scan(ledger: &mut Ledger, doc: &FindingsV1, org: &Org, now: &str) -> Result<Recorded> {
    let report = serde_json::to_string(doc).unwrap_or_default();
    let sql = ledger.errors();
    let tx = ledger.write()?;
    let mut out = Recorded::default();
    tx.execute(
        "INSERT INTO scans (started, verdict, report_sha256, report) VALUES (?1, ?2, ?3, ?4)",
        params![doc.scan.started, doc.verdict, sha256(&report), report],
    )
    .map_err(&sql)?;
    out.scan = tx.last_insert_rowid();
    let versions: std::collections::BTreeMap<&str, &str> =
        doc.scan.packs.iter().map(|p| (p.id.as_str(), p.version.as_str())).collect();
    for f in &doc.findings {
        let inputs: Vec<_> = doc.scan.inputs.iter().filter(|i| f.datasets.contains(&i.id)).collect();
        let inputs_json = serde_json::to_string(&inputs).unwrap_or_default();
        let body = serde_json::to_string(f).unwrap_or_default();
        let version = versions.get(f.pack.as_str()).copied().unwrap_or("");
        let previous: Option<String> = tx
            .query_row("SELECT pack_version FROM findings WHERE id = ?1", [&f.id], |r| r.get(0))
            .optional()
            .map_err(&sql)?;
        tx.execute(
            "INSERT INTO findings (id, pack, pack_version, item, outcome, datasets, body, inputs, first_scan, last_scan)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT(id) DO UPDATE SET pack_version = ?3, outcome = ?5, body = ?7, inputs = ?8, last_scan = ?9",
            params![f.id, f.pack, version, f.item, f.outcome, serde_json::to_string(&f.datasets).unwrap_or_default(), body, inputs_json, out.scan],
        )
        .map_err(&sql)?;
        let holds = !matches!(f.outcome.as_str(), "near_threshold" | "must_not_classify");
        if !holds {
            // A combination approaching a threshold, seen for the first time.
            if previous.is_none() && f.outcome == "near_threshold" {
                out.warnings.push(warn(&tx, now, out.scan, "near_threshold", f, None).map_err(&sql)?);
            }
            continue;
        }
        let hold: Option<(i64, String)> = tx
            .query_row("SELECT id, state FROM holds WHERE finding_id = ?1", [&f.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(&sql)?;
        match hold {
            Some((id, state)) => {
                match state.as_str() {
                    "determined" => out.determined.push(id),
                    "released" | "closed" => out.released.push(id),
                    _ => out.still_open.push(id),
                }
                if previous.as_deref().is_some_and(|p| p != version) {
                    // DM25 / 003 Art 12: a revised catalog re-evaluates held findings.
                    audit(&tx, now, "hold.reevaluated", &format!("hold:{id}"), &serde_json::json!({"state": state, "pack": f.pack, "from": previous, "to": version, "still_met": true}))
                        .map_err(&sql)?;
                }
            }
            None => {
                let addressee = route(f, org);
                tx.execute(
                    "INSERT INTO holds (finding_id, state, outcome, addressee, deadline, proposed_level, opened, updated)
                     VALUES (?1, 'open', ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![f.id, f.outcome, addressee, f.deadline, f.level, now],
                )
                .map_err(&sql)?;
                let id = tx.last_insert_rowid();
                out.opened.push(id);
                out.warnings.push(warn(&tx, now, out.scan, "new_hold", f, Some(id)).map_err(&sql)?);
                audit(&tx, now, "hold.open", &format!("hold:{id}"), &serde_json::json!({"state": "open", "finding": f.id, "item": f.item, "outcome": f.outcome, "addressee": addressee, "deadline": f.deadline, "scan": out.scan}))
                    .map_err(&sql)?;
            }
        }
    }
    // Held findings whose inputs were all in this scan but that it no longer gives.
    let scanned: BTreeSet<&str> = doc.scan.inputs.iter().map(|i| i.sha256.as_str()).collect();
    // Still held: given again with an outcome that holds (a near miss does not).
    let found: BTreeSet<&str> = doc
        .findings
        .iter()
        .filter(|f| !matches!(f.outcome.as_str(), "near_threshold" | "must_not_classify"))
        .map(|f| f.id.as_str())
        .collect();
    let mut stmt = tx
        .prepare("SELECT h.id, h.finding_id, f.inputs FROM holds h JOIN findings f ON f.id = h.finding_id WHERE h.state IN ('open', 'reported')")
        .map_err(&sql)?;
    let candidates: Vec<(i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(&sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(&sql)?;
    drop(stmt);
    for (id, finding, inputs) in candidates {
        let shas: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&inputs)
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i["sha256"].as_str().map(String::from))
            .collect();
        if !shas.is_empty() && shas.iter().all(|s| scanned.contains(s.as_str())) && !found.contains(finding.as_str()) {
            tx.execute("UPDATE holds SET state = 'closed', updated = ?2 WHERE id = ?1", params![id, now])
                .map_err(&sql)?;
            audit(&tx, now, "hold.close", &format!("hold:{id}"), &serde_json::json!({"state": "closed", "reason": "the same inputs no longer meet the item (re-evaluated with the packs in use)", "now": doc.findings.iter().find(|x| x.id == finding).map(|x| x.outcome.clone()), "scan": out.scan}))
                .map_err(&sql)?;
            out.closed.push(id);
        }
    }
    // The scan's own audit row comes last and states what it did; `ledger verify`
    // checks the counts against the hold events that carry this scan's id.
    audit(
        &tx,
        now,
        "scan",
        &format!("scan:{}", out.scan),
        &serde_json::json!({
            "verdict": doc.verdict, "report_sha256": sha256(&report), "findings": doc.findings.len(),
            "counts": {
                "opened": out.opened.len(), "still_open": out.still_open.len(), "determined": out.determined.len(),
                "released": out.released.len(), "closed": out.closed.len(),
            },
        }),
    )
    .map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    Ok(out)
}

/// Every hold, newest last.
pub fn list(ledger: &Ledger) -> Result<Vec<HoldRow>> {
    let sql = |e| ledger.sql_error(e);
    let mut stmt = ledger
        .conn
        .prepare("SELECT id, finding_id, state, outcome, addressee, deadline, proposed_level FROM holds ORDER BY id")
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(HoldRow {
                id: r.get(0)?,
                finding_id: r.get(1)?,
                state: r.get(2)?,
                outcome: r.get(3)?,
                addressee: r.get(4)?,
                deadline: r.get(5)?,
                level: r.get(6)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql)
}

/// A hold with its finding, inputs, proposals, determination and audit trail.
#[derive(Debug, Serialize)]
pub struct HoldDetail {
    pub hold: HoldRow,
    pub finding: FindingV1,
    pub inputs: serde_json::Value,
    pub proposals: Vec<(String, String, String)>,
    pub determination: Option<serde_json::Value>,
    pub notice: Option<String>,
    pub events: Vec<(i64, String, String, String)>,
}

pub fn show(ledger: &Ledger, id: i64) -> Result<HoldDetail> {
    let sql = |e| ledger.sql_error(e);
    let hold = list(ledger)?.into_iter().find(|h| h.id == id).ok_or_else(|| {
        LedgerError::Usage(format!("no hold {id} in {}; `mosaic hold list` shows them", ledger.path.display()))
    })?;
    let (body, inputs): (String, String) = ledger
        .conn
        .query_row("SELECT body, inputs FROM findings WHERE id = ?1", [&hold.finding_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(sql)?;
    let finding: FindingV1 = serde_json::from_str(&body)
        .map_err(|e| LedgerError::Usage(format!("finding {} in the ledger is unreadable: {e}", hold.finding_id)))?;
    let mut stmt = ledger
        .conn
        .prepare("SELECT level, proposed_by, at FROM proposals WHERE hold_id = ?1 ORDER BY id")
        .map_err(sql)?;
    let proposals = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    let determination = ledger
        .conn
        .query_row(
            "SELECT decision, level, period, mark, scope, handler, approver, basis, decided FROM determinations WHERE hold_id = ?1 ORDER BY id DESC LIMIT 1",
            [id],
            |r| {
                Ok(serde_json::json!({
                    "decision": r.get::<_, String>(0)?, "level": r.get::<_, Option<String>>(1)?,
                    "period": r.get::<_, Option<String>>(2)?, "mark": r.get::<_, Option<String>>(3)?,
                    "scope": r.get::<_, String>(4)?, "handler": r.get::<_, String>(5)?,
                    "approver": r.get::<_, String>(6)?, "basis": r.get::<_, String>(7)?, "decided": r.get::<_, String>(8)?,
                }))
            },
        )
        .optional()
        .map_err(sql)?;
    let notice = ledger
        .conn
        .query_row("SELECT number FROM notices WHERE hold_id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(sql)?;
    let mut stmt = ledger
        .conn
        .prepare("SELECT seq, at, action, detail FROM audit WHERE subject = ?1 ORDER BY seq")
        .map_err(sql)?;
    let events = stmt
        .query_map([format!("hold:{id}")], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    Ok(HoldDetail {
        hold,
        finding,
        inputs: serde_json::from_str(&inputs).unwrap_or_default(),
        proposals,
        determination,
        notice,
        events,
    })
}

fn state_of(ledger: &Ledger, id: i64) -> Result<(String, String, Option<String>)> {
    ledger
        .conn
        .query_row("SELECT state, outcome, proposed_level FROM holds WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .map_err(|e| ledger.sql_error(e))?
        .ok_or_else(|| {
            LedgerError::Usage(format!("no hold {id} in {}; `mosaic hold list` shows them", ledger.path.display()))
        })
}

/// Record a proposed level (e.g. from a unit that disputes the hold). While the
/// hold is undetermined it is protected at the highest level proposed (Reg 26).
pub fn propose(ledger: &mut Ledger, id: i64, level: Level, by: &str, now: &str) -> Result<Level> {
    let (state, outcome, current) = state_of(ledger, id)?;
    if !matches!(state.as_str(), "open" | "reported") {
        let reason = format!("hold {id} is {state}: levels can be proposed only before it is determined");
        return Err(refuse(ledger, id, "propose", reason, now));
    }
    if outcome == "important_data" {
        return Err(LedgerError::Usage(format!("hold {id} is important data: it never carries a secret level")));
    }
    let highest = current.as_deref().and_then(Level::parse).map_or(level, |c| c.max(level));
    let sql = ledger.errors();
    let tx = ledger.write()?;
    tx.execute(
        "INSERT INTO proposals (hold_id, level, proposed_by, at) VALUES (?1, ?2, ?3, ?4)",
        params![id, level.as_str(), by, now],
    )
    .map_err(&sql)?;
    tx.execute("UPDATE holds SET proposed_level = ?2, updated = ?3 WHERE id = ?1", params![id, highest.as_str(), now])
        .map_err(&sql)?;
    audit(
        &tx,
        now,
        "hold.propose",
        &format!("hold:{id}"),
        &serde_json::json!({"state": state, "level": level.as_str(), "by": by, "protected_at": highest.as_str()}),
    )
    .map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    Ok(highest)
}

/// A determination as DM25 Art 30 records it.
pub struct Determination {
    pub secret: bool,
    pub level: Option<Level>,
    pub period: Option<Period>,
    pub scope: String,
    pub handler: String,
    pub approver: String,
    pub basis: String,
}

/// Record a determination. `not_secret` releases the hold; `secret` sets the mark
/// exactly as DM25 Art 34 writes it. Returns the new state and mark.
pub fn determine(ledger: &mut Ledger, id: i64, d: &Determination, now: &str) -> Result<(String, Option<String>)> {
    let (state, outcome, proposed) = state_of(ledger, id)?;
    if !matches!(state.as_str(), "open" | "reported") {
        let previous: Option<String> = ledger
            .conn
            .query_row("SELECT decision FROM determinations WHERE hold_id = ?1 ORDER BY id DESC LIMIT 1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| ledger.sql_error(e))?;
        let asked = if d.secret { "secret" } else { "not_secret" };
        let reason = match previous {
            Some(p) if p != asked => format!(
                "hold {id} was already determined {p}; a different decision ({asked}) is not recorded over it — \
                 a changed determination is a new review of the data: scan it again"
            ),
            Some(p) => format!("hold {id} was already determined {p}"),
            None if state == "closed" => format!(
                "hold {id} is closed: its finding no longer appears in scans of the same data, so there is nothing to determine"
            ),
            None => format!("hold {id} is already {state}"),
        };
        return Err(refuse(ledger, id, "determine", reason, now));
    }
    let opened: String = ledger
        .conn
        .query_row("SELECT opened FROM holds WHERE id = ?1", [id], |r| r.get(0))
        .map_err(|e| ledger.sql_error(e))?;
    if now < opened.as_str() {
        let reason = format!(
            "the clock says {now}, before hold {id} was opened ({opened}): a determination cannot predate its hold; check the system clock"
        );
        return Err(refuse(ledger, id, "determine", reason, now));
    }
    if d.secret && outcome == "important_data" {
        let reason = format!(
            "hold {id} is important data (data-security track): it is never a state secret; determine it not_secret to release it"
        );
        return Err(refuse(ledger, id, "determine", reason, now));
    }
    let (level, period, mark) = if d.secret {
        let level = d
            .level
            .or_else(|| proposed.as_deref().and_then(Level::parse))
            .ok_or_else(|| LedgerError::Usage("a secret determination needs --level 秘密|机密|绝密".to_string()))?;
        let period = d.period.clone().unwrap_or(Period::Years(level.default_years()));
        (Some(level), Some(period.label()), Some(period.mark(level)))
    } else {
        (None, None, None)
    };
    let new_state = if d.secret { "determined" } else { "released" };
    let sql = ledger.errors();
    let tx = ledger.write()?;
    tx.execute(
        "INSERT INTO determinations (hold_id, decision, level, period, mark, scope, handler, approver, basis, decided)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id,
            if d.secret { "secret" } else { "not_secret" },
            level.map(Level::as_str),
            period,
            mark,
            d.scope,
            d.handler,
            d.approver,
            d.basis,
            now
        ],
    )
    .map_err(&sql)?;
    tx.execute("UPDATE holds SET state = ?2, updated = ?3 WHERE id = ?1", params![id, new_state, now]).map_err(&sql)?;
    audit(
        &tx,
        now,
        "hold.determine",
        &format!("hold:{id}"),
        &serde_json::json!({
            "state": new_state, "decision": if d.secret { "secret" } else { "not_secret" }, "mark": mark,
            "scope": d.scope, "handler": d.handler, "approver": d.approver, "basis": d.basis,
        }),
    )
    .map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    Ok((new_state.to_string(), mark))
}

/// Release a hold by hand (data withdrawn, or remediated and re-scanned clean).
pub fn release(ledger: &mut Ledger, id: i64, reason: &str, now: &str) -> Result<()> {
    let (state, _, _) = state_of(ledger, id)?;
    if matches!(state.as_str(), "released" | "closed") {
        return Err(refuse(ledger, id, "release", format!("hold {id} is already {state}"), now));
    }
    let sql = ledger.errors();
    let tx = ledger.write()?;
    tx.execute("UPDATE holds SET state = 'released', updated = ?2 WHERE id = ?1", params![id, now]).map_err(&sql)?;
    audit(
        &tx,
        now,
        "hold.release",
        &format!("hold:{id}"),
        &serde_json::json!({"state": "released", "from": state, "reason": reason}),
    )
    .map_err(&sql)?;
    tx.commit().map_err(&sql)
}

/// The notice number of a hold, assigned on first use (`{code}〔{year}〕{n}号`);
/// assigning it marks an open hold as reported.
pub fn notice_number(ledger: &mut Ledger, id: i64, code: &str, year: i32, now: &str) -> Result<String> {
    let (state, _, _) = state_of(ledger, id)?;
    let sql = ledger.errors();
    let tx = ledger.write()?;
    if let Some(n) = tx
        .query_row("SELECT number FROM notices WHERE hold_id = ?1", [id], |r| r.get::<_, String>(0))
        .optional()
        .map_err(&sql)?
    {
        return Ok(n);
    }
    let seq: i64 = tx
        .query_row("SELECT coalesce(max(seq), 0) + 1 FROM notices WHERE year = ?1", [year], |r| r.get(0))
        .map_err(&sql)?;
    let number = format!("{code}〔{year}〕{seq}号");
    tx.execute(
        "INSERT INTO notices (hold_id, number, year, seq, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, number, year, seq, now],
    )
    .map_err(&sql)?;
    let new_state = if state == "open" { "reported" } else { state.as_str() };
    tx.execute("UPDATE holds SET state = ?2, updated = ?3 WHERE id = ?1", params![id, new_state, now]).map_err(&sql)?;
    audit(&tx, now, "notice.issue", &format!("hold:{id}"), &serde_json::json!({"state": new_state, "number": number}))
        .map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    Ok(number)
}

/// Held findings that name a dataset at `path` with other content than `sha256`: the
/// data changed after its review, so the determination does not cover it.
pub fn reviewed_with_other_content(ledger: &Ledger, path: &str, sha256: &str) -> Result<Vec<i64>> {
    let rows = holds_with_inputs(ledger, &["open", "reported", "determined", "released"])?;
    Ok(rows
        .into_iter()
        .filter(|(_, inputs)| {
            serde_json::from_str::<Vec<serde_json::Value>>(inputs).unwrap_or_default().iter().any(|i| {
                let same_path = i["path"].as_str().is_some_and(|p| {
                    p == path
                        || std::fs::canonicalize(p).ok().is_some_and(|c| Some(c) == std::fs::canonicalize(path).ok())
                });
                same_path && i["sha256"].as_str() != Some(sha256)
            })
        })
        .map(|(id, _)| id)
        .collect())
}

/// The number and date (RFC 3339) of a hold's first notice, for a reminder.
pub fn first_notice(ledger: &Ledger, id: i64) -> Result<(String, String)> {
    ledger
        .conn
        .query_row("SELECT number, created FROM notices WHERE hold_id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(|e| ledger.sql_error(e))?
        .ok_or_else(|| {
            LedgerError::Usage(format!(
                "hold {id} has no notice yet: a reminder cites the first notice — render it first (`mosaic notice render {id}`)"
            ))
        })
}

/// Audit a refused release of a dataset (its content changed after review).
pub fn audit_refusal(ledger: &mut Ledger, command: &str, dataset: &str, holds: &[String], now: &str) -> Result<()> {
    let sql = ledger.errors();
    let tx = ledger.write()?;
    audit(
        &tx,
        now,
        &format!("{command}.refused"),
        &format!("dataset:{dataset}"),
        &serde_json::json!({"holds": holds, "reason": "the content changed after the holds reviewed it"}),
    )
    .map_err(&sql)?;
    tx.commit().map_err(&sql)
}

/// Holds still open on data with this content hash.
pub fn open_holds_on(ledger: &Ledger, sha256: &str) -> Result<Vec<i64>> {
    let rows = holds_with_inputs(ledger, &OPEN_STATES)?;
    Ok(rows.into_iter().filter(|(_, inputs)| inputs.contains(sha256)).map(|(id, _)| id).collect())
}

/// Holds in one of `states`, each with its finding's inputs (JSON), by id.
fn holds_with_inputs(ledger: &Ledger, states: &[&str]) -> Result<Vec<(i64, String)>> {
    let sql = |e| ledger.sql_error(e);
    let wanted: Vec<String> = states.iter().map(|s| format!("'{s}'")).collect();
    let mut stmt = ledger
        .conn
        .prepare(&format!(
            "SELECT h.id, f.inputs FROM holds h JOIN findings f ON f.id = h.finding_id WHERE h.state IN ({}) ORDER BY h.id",
            wanted.join(", ")
        ))
        .map_err(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(sql)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql)
}

/// Register a published dataset.
pub fn record_release(ledger: &mut Ledger, dataset: &str, path: &str, sha256: &str, now: &str) -> Result<i64> {
    let sql = ledger.errors();
    let tx = ledger.write()?;
    tx.execute(
        "INSERT INTO releases (dataset, path, sha256, recorded) VALUES (?1, ?2, ?3, ?4)",
        params![dataset, path, sha256, now],
    )
    .map_err(&sql)?;
    let id = tx.last_insert_rowid();
    audit(
        &tx,
        now,
        "release.record",
        &format!("release:{id}"),
        &serde_json::json!({"dataset": dataset, "path": path, "sha256": sha256}),
    )
    .map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    Ok(id)
}

/// Paths of released datasets that still exist, for later scans as published data.
pub fn released_paths(ledger: &Ledger) -> Result<Vec<std::path::PathBuf>> {
    let sql = |e| ledger.sql_error(e);
    let mut stmt = ledger.conn.prepare("SELECT DISTINCT path FROM releases ORDER BY path").map_err(sql)?;
    let paths: Vec<String> =
        stmt.query_map([], |r| r.get(0)).map_err(sql)?.collect::<rusqlite::Result<_>>().map_err(sql)?;
    // Local releases that are gone are no longer public; object-store ones are looked
    // up when staged (see cli).
    Ok(paths
        .into_iter()
        .map(std::path::PathBuf::from)
        .filter(|p| crate::source::store::is_url(p) || p.exists())
        .collect())
}

/// Where each finding with a hold stands (DESIGN §8), by finding id; closed holds
/// (the finding is no longer given) have none.
pub fn statuses(ledger: &Ledger) -> Result<std::collections::BTreeMap<String, crate::decide::Status>> {
    use crate::decide::Status;
    let sql = |e| ledger.sql_error(e);
    let released: BTreeSet<String> = {
        let mut stmt = ledger.conn.prepare("SELECT sha256 FROM releases").map_err(sql)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(sql)?.collect::<rusqlite::Result<_>>().map_err(sql)?;
        rows
    };
    let mut stmt = ledger
        .conn
        .prepare(
            "SELECT h.finding_id, h.state,
                    (SELECT decision FROM determinations d WHERE d.hold_id = h.id ORDER BY d.id DESC LIMIT 1),
                    (SELECT count(*) FROM proposals p WHERE p.hold_id = h.id), f.inputs
             FROM holds h JOIN findings f ON f.id = h.finding_id ORDER BY h.id",
        )
        .map_err(sql)?;
    let rows: Vec<(String, String, Option<String>, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    let mut out = std::collections::BTreeMap::new();
    for (finding, state, decision, proposals, inputs) in rows {
        let shas: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&inputs)
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i["sha256"].as_str().map(String::from))
            .collect();
        let published = shas.iter().any(|s| released.contains(s));
        let status = match (state.as_str(), decision.as_deref()) {
            ("closed", _) => continue,
            ("determined", _) => Status::DeterminedSecret,
            ("released", Some("not_secret")) if !published => Status::DeterminedNotSecret,
            ("released", _) => Status::Released,
            _ if proposals > 0 => Status::Disputed,
            _ => Status::Open,
        };
        out.insert(finding, status);
    }
    Ok(out)
}

/// Holds whose deadline has passed (`today`, YYYY-MM-DD) without a determination.
pub fn overdue(ledger: &Ledger, today: &str) -> Result<Vec<crate::decide::OverdueV1>> {
    let sql = |e| ledger.sql_error(e);
    let mut stmt = ledger
        .conn
        .prepare(
            "SELECT id, finding_id, addressee, deadline, state FROM holds
             WHERE state IN ('open', 'reported') AND deadline IS NOT NULL AND deadline < ?1 ORDER BY id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([today], |r| {
            Ok(crate::decide::OverdueV1 {
                hold: r.get(0)?,
                finding: r.get(1)?,
                addressee: r.get(2)?,
                deadline: r.get(3)?,
                state: r.get(4)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql)
}

/// An early-warning event for each overdue hold not warned of before (Reg 25, 64).
pub fn warn_overdue(
    ledger: &mut Ledger,
    scan: i64,
    overdue: &[crate::decide::OverdueV1],
    now: &str,
) -> Result<Vec<i64>> {
    let sql = ledger.errors();
    let tx = ledger.write()?;
    let mut written = Vec::new();
    for o in overdue {
        let seen: i64 = tx
            .query_row("SELECT count(*) FROM events WHERE kind = 'overdue' AND hold = ?1", [o.hold], |r| r.get(0))
            .map_err(&sql)?;
        if seen > 0 {
            continue;
        }
        let detail =
            serde_json::json!({"deadline": o.deadline, "addressee": o.addressee, "state": o.state}).to_string();
        tx.execute(
            "INSERT INTO events (at, scan, kind, finding_id, hold, detail) VALUES (?1, ?2, 'overdue', ?3, ?4, ?5)",
            params![now, scan, o.finding, o.hold, detail],
        )
        .map_err(&sql)?;
        let id = tx.last_insert_rowid();
        audit(
            &tx,
            now,
            "warning.overdue",
            &format!("event:{id}"),
            &serde_json::json!({"hold": o.hold, "deadline": o.deadline, "scan": scan}),
        )
        .map_err(&sql)?;
        written.push(id);
    }
    tx.commit().map_err(&sql)?;
    Ok(written)
}

/// Refuse a command on a hold: the refusal is audited (who tried what, and why it was
/// refused), and the error says what to do.
fn refuse(ledger: &mut Ledger, id: i64, command: &str, reason: String, now: &str) -> LedgerError {
    let sql = ledger.errors();
    let written = ledger.write().and_then(|tx| {
        audit(
            &tx,
            now,
            "hold.refused",
            &format!("hold:{id}"),
            &serde_json::json!({"command": command, "reason": reason}),
        )
        .map_err(&sql)?;
        tx.commit().map_err(&sql)
    });
    match written {
        Ok(()) => LedgerError::Usage(reason),
        Err(e) => e,
    }
}

/// The latest determination of each finding that has one, by finding id.
pub fn determinations(ledger: &Ledger) -> Result<std::collections::BTreeMap<String, crate::decide::Determined>> {
    let sql = |e| ledger.sql_error(e);
    let mut stmt = ledger
        .conn
        .prepare(
            "SELECT h.finding_id, h.id, d.decision, d.mark, d.basis, d.decided FROM determinations d
             JOIN holds h ON h.id = d.hold_id ORDER BY d.id",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                crate::decide::Determined {
                    hold: r.get(1)?,
                    decision: r.get(2)?,
                    mark: r.get(3)?,
                    basis: r.get(4)?,
                    decided: r.get(5)?,
                },
            ))
        })
        .map_err(sql)?;
    // Later rows win: the latest determination of a finding is the one in force.
    rows.collect::<rusqlite::Result<_>>().map_err(sql)
}

/// One early-warning event as `ledger events` lists it.
#[derive(Debug, serde::Serialize)]
pub struct Event {
    pub id: i64,
    pub at: String,
    pub scan: i64,
    pub kind: String,
    pub finding: String,
    pub hold: Option<i64>,
    pub detail: serde_json::Value,
}

/// Early-warning events, oldest first; `since` keeps those after that event id.
pub fn events(ledger: &Ledger, since: i64) -> Result<Vec<Event>> {
    let sql = ledger.errors();
    let mut stmt = ledger
        .conn
        .prepare("SELECT id, at, scan, kind, finding_id, hold, detail FROM events WHERE id > ?1 ORDER BY id")
        .map_err(&sql)?;
    let rows = stmt
        .query_map([since], |r| {
            let detail: String = r.get(6)?;
            Ok(Event {
                id: r.get(0)?,
                at: r.get(1)?,
                scan: r.get(2)?,
                kind: r.get(3)?,
                finding: r.get(4)?,
                hold: r.get(5)?,
                detail: serde_json::from_str(&detail).unwrap_or_default(),
            })
        })
        .map_err(&sql)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(&sql)?;
    Ok(rows)
}
