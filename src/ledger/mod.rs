//! The ledger: an embedded SQLite file recording scans, findings, holds, notices,
//! determinations and releases, with an append-only audit log in which every row
//! carries the hash of the one before it (DESIGN §8). Triggers reject UPDATE and
//! DELETE on the audit log; `verify` checks the chain, the triggers, and that every
//! hold's state is the one its audited events lead to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub mod holds;

/// Default location, relative to the working directory.
pub const DEFAULT_PATH: &str = ".mosaic/ledger.db";

/// Migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE scans (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    verdict TEXT NOT NULL,
    report_sha256 TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE findings (
    id TEXT PRIMARY KEY,
    pack TEXT NOT NULL,
    pack_version TEXT NOT NULL,
    item TEXT NOT NULL,
    outcome TEXT NOT NULL,
    datasets TEXT NOT NULL,
    body TEXT NOT NULL,
    inputs TEXT NOT NULL,
    first_scan INTEGER NOT NULL REFERENCES scans(id),
    last_scan INTEGER NOT NULL REFERENCES scans(id)
);
CREATE TABLE holds (
    id INTEGER PRIMARY KEY,
    finding_id TEXT NOT NULL UNIQUE REFERENCES findings(id),
    state TEXT NOT NULL,
    outcome TEXT NOT NULL,
    addressee TEXT NOT NULL,
    deadline TEXT,
    proposed_level TEXT,
    opened TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE proposals (
    id INTEGER PRIMARY KEY,
    hold_id INTEGER NOT NULL REFERENCES holds(id),
    level TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    hold_id INTEGER NOT NULL UNIQUE REFERENCES holds(id),
    number TEXT NOT NULL UNIQUE,
    year INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE determinations (
    id INTEGER PRIMARY KEY,
    hold_id INTEGER NOT NULL REFERENCES holds(id),
    decision TEXT NOT NULL,
    level TEXT,
    period TEXT,
    mark TEXT,
    scope TEXT NOT NULL,
    handler TEXT NOT NULL,
    approver TEXT NOT NULL,
    basis TEXT NOT NULL,
    decided TEXT NOT NULL
);
CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    dataset TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    recorded TEXT NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    r#"
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    scan INTEGER NOT NULL REFERENCES scans(id),
    kind TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    hold INTEGER,
    detail TEXT NOT NULL
);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'early-warning events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'early-warning events are append-only'); END;
"#,
];

/// A ledger problem, with what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {}: {source}{}", path.display(), hint(source))]
    Sql { path: PathBuf, source: rusqlite::Error },
    #[error("ledger {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, LedgerError>;

/// What a user can do about a storage failure. A failed write leaves nothing half
/// done: every change is one transaction, so earlier records are intact.
fn hint(e: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::SystemIoFailure) => {
            " — the disk holding the ledger is full or failing; free space (or check the device) and run again (nothing from this command was recorded; earlier records are intact)"
        }
        Some(ErrorCode::DiskFull) => {
            " — the disk holding the ledger is full; free space and scan again (nothing from this scan was recorded; earlier records are intact)"
        }
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            " — the ledger cannot be written here (read-only file or directory?); nothing from this command was recorded, earlier records are intact"
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            " — another mosaic held the ledger longer than the 60 s wait; run again"
        }
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            " — the file is not an intact mosaic ledger; restore it from a backup"
        }
        _ => "",
    }
}

/// An open ledger.
pub struct Ledger {
    pub path: PathBuf,
    pub conn: Connection,
}

/// Hash of an audit row, chained on the previous row's hash.
pub fn audit_hash(prev: &str, seq: i64, at: &str, action: &str, subject: &str, detail: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev, &seq.to_string(), at, action, subject, detail] {
        h.update(part.as_bytes());
        h.update(b"\x1f");
    }
    hex::encode(h.finalize())
}

impl Ledger {
    /// Open (creating it and its directory if needed) and migrate. Concurrent
    /// writers wait for each other (busy timeout) instead of failing.
    pub fn open(path: &Path) -> Result<Ledger> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LedgerError::Io {
                path: path.to_path_buf(),
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let sql = |source| LedgerError::Sql { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(sql)?;
        // Switching a new ledger to WAL needs an exclusive lock, and SQLite answers
        // "database is locked" at once (without the busy handler) while another
        // process is creating the same ledger: retry for as long as a writer would wait.
        let started = std::time::Instant::now();
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                        && started.elapsed() < Duration::from_secs(60) =>
                {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(sql(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
        let mut ledger = Ledger { path: path.to_path_buf(), conn };
        ledger.migrate()?;
        Ok(ledger)
    }

    pub fn sql_error(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sql { path: self.path.clone(), source }
    }

    /// Maps SQLite errors to this ledger's errors without borrowing it (for use
    /// while a transaction holds the connection).
    pub fn errors(&self) -> impl Fn(rusqlite::Error) -> LedgerError + 'static {
        let path = self.path.clone();
        move |source| LedgerError::Sql { path: path.clone(), source }
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let sql = |source| LedgerError::Sql { path: path.clone(), source };
        let current: usize = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
        if current == MIGRATIONS.len() {
            return Ok(()); // nothing to write: a read-only ledger can still be read
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql)?;
        let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
        if version > MIGRATIONS.len() {
            return Err(LedgerError::Usage(format!(
                "ledger {} has schema version {version}, newer than this mosaic knows ({}); upgrade mosaic",
                self.path.display(),
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(m).map_err(sql)?;
            tx.pragma_update(None, "user_version", i + 1).map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// A write transaction that takes the lock at once (so two writers queue).
    pub fn write(&mut self) -> Result<Transaction<'_>> {
        let path = self.path.clone();
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|source| LedgerError::Sql { path, source })
    }
}

/// Append one audited event inside a transaction.
pub fn audit(
    tx: &Transaction,
    at: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> rusqlite::Result<()> {
    let last: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = last.map_or((1, String::new()), |(s, h)| (s + 1, h));
    let detail = detail.to_string();
    let hash = audit_hash(&prev, seq, at, action, subject, &detail);
    tx.execute(
        "INSERT INTO audit (seq, at, action, subject, detail, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, at, action, subject, detail, prev, hash],
    )?;
    Ok(())
}

/// What `ledger verify` found.
#[derive(Debug, Default, Serialize)]
pub struct Verification {
    pub audit_rows: u64,
    pub problems: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check the audit chain, the append-only triggers and every hold's state.
pub fn verify(ledger: &Ledger) -> Result<Verification> {
    let sql = |e| ledger.sql_error(e);
    let mut v = Verification::default();
    let check: String = ledger.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(sql)?;
    if check != "ok" {
        v.problems.push(format!("SQLite integrity check: {check}"));
    }
    for trigger in ["audit_no_update", "audit_no_delete"] {
        let n: i64 = ledger
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?1", [trigger], |r| {
                r.get(0)
            })
            .map_err(sql)?;
        if n == 0 {
            v.problems.push(format!("trigger {trigger} is missing: the audit log is no longer append-only"));
        }
    }
    let mut stmt = ledger
        .conn
        .prepare("SELECT seq, at, action, subject, detail, prev, hash FROM audit ORDER BY seq")
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .map_err(sql)?;
    let mut prev = String::new();
    let mut expected_seq = 1;
    let mut states: std::collections::BTreeMap<String, String> = Default::default();
    // What each scan's audit row says it did, and what its hold events show.
    let mut claimed: std::collections::BTreeMap<i64, (u64, u64, i64)> = Default::default();
    let mut done: std::collections::BTreeMap<(i64, &'static str), u64> = Default::default();
    for row in rows {
        let (seq, at, action, subject, detail, stored_prev, hash) = row.map_err(sql)?;
        if let Ok(d) = serde_json::from_str::<serde_json::Value>(&detail) {
            if action == "scan" {
                if let (Some(opened), Some(closed)) = (d["counts"]["opened"].as_u64(), d["counts"]["closed"].as_u64()) {
                    let scan = subject.trim_start_matches("scan:").parse().unwrap_or(0);
                    claimed.insert(scan, (opened, closed, seq));
                }
            }
            for (kind, name) in [("hold.open", "opened"), ("hold.close", "closed")] {
                if action == kind {
                    if let Some(scan) = d["scan"].as_i64() {
                        *done.entry((scan, name)).or_default() += 1;
                    }
                }
            }
        }
        v.audit_rows += 1;
        if seq != expected_seq {
            v.problems.push(format!("audit row {seq}: expected row {expected_seq} (rows removed or inserted)"));
        }
        expected_seq = seq + 1;
        if stored_prev != prev {
            v.problems.push(format!("audit row {seq}: does not chain on row {} (previous hash differs)", seq - 1));
        }
        if audit_hash(&stored_prev, seq, &at, &action, &subject, &detail) != hash {
            v.problems.push(format!("audit row {seq} ({action} {subject}): content does not match its hash"));
        }
        if let Some(state) = serde_json::from_str::<serde_json::Value>(&detail)
            .ok()
            .and_then(|d| d.get("state").and_then(|s| s.as_str()).map(String::from))
        {
            if subject.starts_with("hold:") {
                states.insert(subject.clone(), state);
            }
        }
        prev = hash;
    }
    drop(stmt);
    for (scan, (opened, closed, seq)) in claimed {
        for (name, count) in [("opened", opened), ("closed", closed)] {
            let audited = done.get(&(scan, name)).copied().unwrap_or(0);
            if audited != count {
                v.problems.push(format!(
                    "scan {scan} (audit row {seq}) says {count} hold(s) {name}, but its audited events show {audited}"
                ));
            }
        }
    }
    let mut stmt = ledger.conn.prepare("SELECT id, state FROM holds ORDER BY id").map_err(sql)?;
    let holds = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(sql)?;
    for hold in holds {
        let (id, state) = hold.map_err(sql)?;
        match states.get(&format!("hold:{id}")) {
            Some(audited) if *audited == state => {}
            Some(audited) => v.problems.push(format!(
                "hold {id}: state is `{state}` but its audited events end in `{audited}` (changed outside mosaic)"
            )),
            None => v.problems.push(format!("hold {id}: no audited event opened it (inserted outside mosaic)")),
        }
    }
    Ok(v)
}
