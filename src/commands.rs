//! The hold-and-report workflow on the command line: `hold`, `notice`, `ledger`
//! and `release` commands over the ledger (DESIGN §7, §8).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use clap::{Subcommand, ValueEnum};

use crate::config::Config;
use crate::exit::ExitStatus;
use crate::ledger::holds::{self, Determination};
use crate::ledger::{self, Ledger, LedgerError};
use crate::notice;
use crate::rules::{Level, Period};

#[derive(Debug, clap::Args)]
pub struct LedgerArg {
    /// Ledger file.
    #[arg(long, value_name = "PATH", default_value = ledger::DEFAULT_PATH)]
    pub ledger: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateFilter {
    Open,
    Reported,
    Determined,
    Released,
    Closed,
    Overdue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Decision {
    Secret,
    NotSecret,
}

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// List holds: id, finding, state, outcome, addressee, deadline.
    List {
        #[command(flatten)]
        ledger: LedgerArg,
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
        /// Only holds in this state: open, reported, determined, released, closed, or
        /// overdue (open or reported past the deadline, Reg 25).
        #[arg(long, value_enum)]
        state: Option<StateFilter>,
        /// Only undetermined holds due within DAYS days (calendar days from today).
        #[arg(long, value_name = "DAYS")]
        due_within: Option<u32>,
    },
    /// Show one hold with its finding, proposals, determination and audit trail.
    Show {
        id: i64,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Record a proposed level; an undetermined hold is protected at the highest (Reg 26).
    Propose {
        id: i64,
        #[arg(long)]
        level: String,
        /// Who proposes it.
        #[arg(long)]
        by: String,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Record the authority's determination (DM25 Art 30). `not_secret` releases the hold.
    Determine {
        id: i64,
        #[arg(long, value_enum)]
        decision: Decision,
        /// 秘密 | 机密 | 绝密 (secret only; default: the proposed level).
        #[arg(long)]
        level: Option<String>,
        /// 保密期限, e.g. `20年`, `6个月`, `长期`.
        #[arg(long, conflicts_with_all = ["until", "condition"])]
        period: Option<String>,
        /// 解密时间, YYYY-MM-DD.
        #[arg(long, conflicts_with = "condition")]
        until: Option<String>,
        /// 解密条件.
        #[arg(long)]
        condition: Option<String>,
        /// 知悉范围.
        #[arg(long)]
        scope: String,
        /// 承办人.
        #[arg(long)]
        handler: String,
        /// 定密责任人.
        #[arg(long)]
        approver: String,
        /// 定密依据.
        #[arg(long)]
        basis: String,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Release a hold (data withdrawn, or remediated and re-scanned clean).
    Release {
        id: i64,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        ledger: LedgerArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoticeFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum NoticeCommand {
    /// Render the notice of a hold (assigns its 发文字号 on first use).
    Render {
        id: i64,
        #[arg(long, value_enum, default_value_t = NoticeFormat::Md)]
        format: NoticeFormat,
        /// A reminder (催办) of a notice the authority has not answered by its deadline,
        /// citing the first notice's number and date.
        #[arg(long)]
        reminder: bool,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        ledger: LedgerArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check the audit chain, the append-only triggers and every hold's state.
    Verify {
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Early-warning events (Reg 64): holds opened and near misses first seen, per scan.
    Events {
        #[command(flatten)]
        ledger: LedgerArg,
        /// Only events after this event id (what a monitor has already seen).
        #[arg(long, default_value_t = 0)]
        since: i64,
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Register a published dataset; refused (exit 1) while it has open holds.
    Record {
        path: PathBuf,
        #[command(flatten)]
        ledger: LedgerArg,
    },
}

fn fail(e: LedgerError) -> ExitStatus {
    eprintln!("error: {e}");
    ExitStatus::Usage
}

fn open(arg: &LedgerArg) -> Result<Ledger, ExitStatus> {
    Ledger::open(&arg.ledger).map_err(fail)
}

/// Ledgers must exist for commands that only read or change holds.
fn open_existing(arg: &LedgerArg) -> Result<Ledger, ExitStatus> {
    if !arg.ledger.exists() {
        eprintln!(
            "error: no ledger at {} (run `mosaic scan … --ledger {}` first)",
            arg.ledger.display(),
            arg.ledger.display()
        );
        return Err(ExitStatus::Usage);
    }
    open(arg)
}

fn stamp() -> String {
    now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn config() -> Result<Config, ExitStatus> {
    let config = Config::load(Path::new(".")).map_err(|e| {
        eprintln!("error: {e}");
        ExitStatus::Usage
    })?;
    config.org.validate().map_err(|e| {
        eprintln!("error: {e}");
        ExitStatus::Usage
    })?;
    Ok(config)
}

fn parse_period(text: &str) -> Option<Period> {
    let t = text.trim();
    if t == "长期" {
        return Some(Period::LongTerm);
    }
    for (suffix, make) in [("年", Period::Years as fn(u32) -> Period), ("个月", Period::Months), ("天", Period::Days)]
    {
        if let Some(n) = t.strip_suffix(suffix).and_then(|n| n.trim().parse().ok()) {
            return Some(make(n));
        }
    }
    None
}

fn print(text: &str) -> ExitStatus {
    print!("{text}");
    ExitStatus::Clean
}

pub fn hold(command: HoldCommand) -> ExitStatus {
    let result = match command {
        HoldCommand::List { ledger, format, state, due_within } => {
            let l = match open_existing(&ledger) {
                Ok(l) => l,
                Err(s) => return s,
            };
            let today = now().date_naive();
            let undetermined = |r: &holds::HoldRow| matches!(r.state.as_str(), "open" | "reported");
            let due = |r: &holds::HoldRow| {
                r.deadline.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            };
            let keep = move |r: &holds::HoldRow| {
                let by_state = match state {
                    None => true,
                    Some(StateFilter::Overdue) => undetermined(r) && due(r).is_some_and(|d| d < today),
                    Some(s) => r.state == format!("{s:?}").to_lowercase(),
                };
                let by_due = due_within.is_none_or(|days| {
                    undetermined(r) && due(r).is_some_and(|d| d <= today + chrono::Days::new(u64::from(days)))
                });
                by_state && by_due
            };
            holds::list(&l).map(|rows| rows.into_iter().filter(|r| keep(r)).collect::<Vec<_>>()).map(
                |rows| match format {
                    ListFormat::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
                    ListFormat::Text => {
                        let mut s = format!(
                            "{:<4} {:<16} {:<10} {:<17} {:<10} {}\n",
                            "id", "finding", "state", "outcome", "deadline", "addressee"
                        );
                        for r in rows {
                            s += &format!(
                                "{:<4} {:<16} {:<10} {:<17} {:<10} {}\n",
                                r.id,
                                r.finding_id,
                                r.state,
                                r.outcome,
                                r.deadline.unwrap_or_else(|| "—".into()),
                                r.addressee
                            );
                        }
                        s
                    }
                },
            )
        }
        HoldCommand::Show { id, ledger } => {
            let l = match open_existing(&ledger) {
                Ok(l) => l,
                Err(s) => return s,
            };
            holds::show(&l, id).map(|d| serde_json::to_string_pretty(&d).unwrap_or_default() + "\n")
        }
        HoldCommand::Propose { id, level, by, ledger } => {
            let Some(level) = Level::parse(&level) else {
                eprintln!("error: unknown level `{level}` (秘密, 机密, 绝密)");
                return ExitStatus::Usage;
            };
            let mut l = match open_existing(&ledger) {
                Ok(l) => l,
                Err(s) => return s,
            };
            holds::propose(&mut l, id, level, &by, &stamp()).map(|highest| {
                format!("hold {id}: {level} proposed by {by}; protected at {highest} until determined\n")
            })
        }
        HoldCommand::Determine {
            id,
            decision,
            level,
            period,
            until,
            condition,
            scope,
            handler,
            approver,
            basis,
            ledger,
        } => {
            let level = match level.as_deref().map(|l| Level::parse(l).ok_or(l)) {
                Some(Err(l)) => {
                    eprintln!("error: unknown level `{l}` (秘密, 机密, 绝密)");
                    return ExitStatus::Usage;
                }
                Some(Ok(l)) => Some(l),
                None => None,
            };
            let period = if let Some(p) = period {
                match parse_period(&p) {
                    Some(p) => Some(p),
                    None => {
                        eprintln!("error: --period `{p}`: write it as N年, N个月, N天 or 长期");
                        return ExitStatus::Usage;
                    }
                }
            } else if let Some(u) = until {
                match chrono::NaiveDate::parse_from_str(&u, "%Y-%m-%d") {
                    Ok(d) => Some(Period::Until(d)),
                    Err(_) => {
                        eprintln!("error: --until `{u}`: expected YYYY-MM-DD");
                        return ExitStatus::Usage;
                    }
                }
            } else {
                condition.map(Period::Condition)
            };
            let mut l = match open_existing(&ledger) {
                Ok(l) => l,
                Err(s) => return s,
            };
            let d =
                Determination { secret: decision == Decision::Secret, level, period, scope, handler, approver, basis };
            holds::determine(&mut l, id, &d, &stamp()).map(|(state, mark)| match mark {
                Some(m) => format!("hold {id}: determined secret, mark {m}\n"),
                None => format!("hold {id}: {state}\n"),
            })
        }
        HoldCommand::Release { id, reason, ledger } => {
            let mut l = match open_existing(&ledger) {
                Ok(l) => l,
                Err(s) => return s,
            };
            holds::release(&mut l, id, &reason, &stamp()).map(|()| format!("hold {id}: released\n"))
        }
    };
    match result {
        Ok(text) => print(&text),
        Err(e) => fail(e),
    }
}

pub fn notice(command: NoticeCommand) -> ExitStatus {
    let NoticeCommand::Render { id, format, output, ledger, reminder } = command;
    let config = match config() {
        Ok(c) => c,
        Err(s) => return s,
    };
    let mut l = match open_existing(&ledger) {
        Ok(l) => l,
        Err(s) => return s,
    };
    let today = now().date_naive();
    let code = config.org.doc_code.clone().unwrap_or_else(|| "数保".to_string());
    let built = holds::show(&l, id).and_then(|detail| {
        if reminder {
            let first = holds::first_notice(&l, id)?;
            return Ok(notice::reminder(&detail, &config.org, &first, today));
        }
        let number = holds::notice_number(&mut l, id, &code, today.year(), &stamp())?;
        Ok(notice::build(&detail, &config.org, &number, today))
    });
    let n = match built {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let text = match format {
        NoticeFormat::Md => notice::markdown(&n),
        NoticeFormat::Html => notice::html(&n),
        NoticeFormat::Json => serde_json::to_string_pretty(&n).unwrap_or_default() + "\n",
    };
    match output {
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => ExitStatus::Clean,
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                ExitStatus::Usage
            }
        },
        None => print(&text),
    }
}

pub fn ledger_command(command: LedgerCommand) -> ExitStatus {
    let ledger = match command {
        LedgerCommand::Verify { ledger } => ledger,
        LedgerCommand::Events { ledger, since, format } => return events(&ledger, since, format),
    };
    let l = match open_existing(&ledger) {
        Ok(l) => l,
        Err(s) => return s,
    };
    match ledger::verify(&l) {
        Ok(v) if v.ok() => {
            print(&format!("ok: {} audit rows chain, append-only triggers present, holds consistent\n", v.audit_rows))
        }
        Ok(v) => {
            for p in &v.problems {
                eprintln!("tampered: {p}");
            }
            eprintln!("error: ledger {} failed verification ({} problem(s))", l.path.display(), v.problems.len());
            ExitStatus::Hold
        }
        Err(e) => fail(e),
    }
}

pub fn release(command: ReleaseCommand) -> ExitStatus {
    let ReleaseCommand::Record { path, ledger } = command;
    let (mut stage, local) = match stage_one(path) {
        Ok(s) => s,
        Err(status) => return status,
    };
    // A release recorded from objects that could not all be read would be incomplete.
    if report_stage_errors(&mut stage) != ExitStatus::Clean {
        return ExitStatus::Incomplete;
    }
    let found = match crate::source::discover(std::slice::from_ref(&local), true) {
        Ok(f) => f,
        Err(missing) => {
            eprintln!("error: {}", stage.shown(&missing.to_string()));
            return ExitStatus::Usage;
        }
    };
    if let Some(e) = found.errors.first() {
        eprintln!("error: {}: {} ({})", e.input, stage.shown(&e.message), e.kind);
        return ExitStatus::Incomplete;
    }
    let mut l = match open(&ledger) {
        Ok(l) => l,
        Err(s) => return s,
    };
    let mut refused = false;
    let mut recorded = Vec::new();
    for dataset in &found.datasets {
        let frame = match crate::source::open(dataset) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {}: {} ({})", e.input, stage.shown(&e.message), e.kind);
                return ExitStatus::Incomplete;
            }
        };
        let shown_path = stage.shown(&dataset.path.display().to_string());
        match holds::reviewed_with_other_content(&l, &shown_path, &frame.sha256) {
            Ok(changed) if !changed.is_empty() => {
                refused = true;
                let ids: Vec<String> = changed.iter().map(|i| i.to_string()).collect();
                eprintln!(
                    "refused: {} changed since hold(s) {} reviewed it (content {}); scan it again before releasing it",
                    dataset.id,
                    ids.join(", "),
                    &frame.sha256[..16.min(frame.sha256.len())]
                );
                if let Err(e) = holds::audit_refusal(&mut l, "release", &dataset.id, &ids, &stamp()) {
                    return fail(e);
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => return fail(e),
        }
        match holds::open_holds_on(&l, &frame.sha256) {
            Ok(open) if !open.is_empty() => {
                refused = true;
                let ids: Vec<String> = open.iter().map(|i| i.to_string()).collect();
                eprintln!(
                    "refused: {} has open hold(s) {}; determine or release them first",
                    dataset.id,
                    ids.join(", ")
                );
            }
            Ok(_) => recorded.push((dataset.id.clone(), shown_path, frame.sha256.clone())),
            Err(e) => return fail(e),
        }
    }
    if refused {
        return ExitStatus::Hold;
    }
    for (id, p, sha) in recorded {
        if let Err(e) = holds::record_release(&mut l, &id, &p, &sha, &stamp()) {
            return fail(e);
        }
        println!("released: {id} ({sha})");
    }
    ExitStatus::Clean
}

fn events(ledger: &LedgerArg, since: i64, format: ListFormat) -> ExitStatus {
    let l = match open_existing(ledger) {
        Ok(l) => l,
        Err(s) => return s,
    };
    let events = match holds::events(&l, since) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    if format == ListFormat::Json {
        return print(&(serde_json::to_string_pretty(&events).unwrap_or_default() + "\n"));
    }
    let mut out = String::new();
    for e in &events {
        let hold = e.hold.map(|h| format!(" hold {h}")).unwrap_or_default();
        out += &format!(
            "{:>4}  {}  scan {}  {:<15} {}{hold}  {}\n",
            e.id,
            e.at,
            e.scan,
            e.kind,
            e.detail["item"].as_str().unwrap_or_default(),
            e.detail["datasets"]
                .as_array()
                .map(|d| d.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(" + "))
                .unwrap_or_default()
        );
    }
    if events.is_empty() {
        out = "no early-warning events\n".into();
    }
    print(&out)
}

/// The scan clock: `SOURCE_DATE_EPOCH` (seconds) when set, so reports are reproducible.
pub fn now() -> DateTime<Utc> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or_else(Utc::now)
}

/// Local paths for `paths`, `s3://` ones staged; a path nothing could be listed
/// under is a usage error.
pub fn stage_all(stage: &mut crate::source::store::Stage, paths: Vec<PathBuf>) -> Result<Vec<PathBuf>, ExitStatus> {
    paths
        .iter()
        .map(|p| {
            let local = stage.local(p).map_err(|e| {
                eprintln!("error: {e}");
                ExitStatus::Usage
            });
            print_notes(stage);
            local
        })
        .collect()
}

/// What staging did, one line per `s3://` path, on stderr.
pub fn print_notes(stage: &mut crate::source::store::Stage) {
    for note in stage.notes.drain(..) {
        eprintln!("objects: {note}");
    }
}

/// A stage configured by `mosaic.toml [storage]`, and the local path for `path`.
pub fn stage_one(path: PathBuf) -> Result<(crate::source::store::Stage, PathBuf), ExitStatus> {
    let storage = crate::config::Config::load(std::path::Path::new("."))
        .and_then(|c| c.storage.validate().map(|()| c.storage))
        .map_err(|e| {
            eprintln!("error: {e}");
            ExitStatus::Usage
        })?;
    let mut stage = crate::source::store::Stage::new(storage, None);
    let local = stage_all(&mut stage, vec![path])?.remove(0);
    Ok((stage, local))
}

/// Objects that could not be read while staging: printed; the command is incomplete.
pub fn report_stage_errors(stage: &mut crate::source::store::Stage) -> ExitStatus {
    let errors = std::mem::take(&mut stage.errors);
    for e in &errors {
        eprintln!("error: {}: {} ({})", e.input, e.message, e.kind);
    }
    if errors.is_empty() {
        ExitStatus::Clean
    } else {
        ExitStatus::Incomplete
    }
}
