//! The command line: clap structs hold what was typed; `run` resolves them into a
//! scan or a rules command and returns the exit status. Output goes to stdout,
//! diagnostics to stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::exit::ExitStatus;
use crate::report::{self, Format};
use crate::rules::{self, Catalog, CatalogError, Pack};
use crate::scan;

/// Find the mosaic effect: data harmless file by file that, aggregated or linked,
/// reaches a precision or scale treated as a state secret. Exit codes: 0 pass/warn,
/// 1 hold, 2 usage or configuration error, 3 incomplete (an input was unreadable).
#[derive(Debug, Parser)]
#[command(name = "mosaic", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// Rule pack file or directory of packs, added to the built-in ones (repeatable);
    /// a pack with a built-in's id replaces it.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Use only the packs given with --rules.
    #[arg(long)]
    pub no_builtin: bool,
    /// Administrative divisions to resolve region names and codes with, replacing the
    /// bundled data/gazetteer.csv (same header; see data/GAZETTEER.md).
    #[arg(long, value_name = "FILE")]
    pub gazetteer: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan datasets (files, directories, hive-partitioned tables) against the rule packs.
    Scan {
        /// Files or directories; each direct child of a directory is a dataset.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        packs: PackArgs,
        /// Data already public, evaluated together with the candidates (repeatable).
        #[arg(long, value_name = "DIR")]
        published: Vec<PathBuf>,
        /// Largest join searched, in datasets (unions of releases are not bounded by it).
        #[arg(long, value_name = "N", default_value_t = scan::DEFAULT_MAX_COMBO as u16, value_parser = clap::value_parser!(u16).range(1..=8))]
        max_combo: u16,
        /// Write remediated copies of the datasets that verified fixes change to DIR.
        #[arg(long = "fix", value_name = "DIR")]
        fix: Option<PathBuf>,
        /// Skip the search for verified fixes (extra passes over held data).
        #[arg(long)]
        no_fix_search: bool,
        /// Record findings and open holds in this ledger (SQLite); its released
        /// datasets are scanned as published data.
        #[arg(long, value_name = "PATH")]
        ledger: Option<PathBuf>,
        /// Scheduled scans of a lake: cache each file's profile beside the ledger
        /// (`LEDGER.cache/`) and re-read only new or changed files.
        #[arg(long, requires = "ledger")]
        incremental: bool,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write the report to FILE instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Colour in text output.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
        /// Columns that look like positions but that no pack binds make the scan
        /// incomplete (exit 3) instead of a note in the report.
        #[arg(long)]
        strict: bool,
        /// Read Delta and Iceberg tables as they were: a Delta version or Iceberg snapshot
        /// id, or a time (RFC 3339, or YYYY-MM-DD[ HH:MM[:SS]] in UTC): the latest commit
        /// at or before it. Default: the latest.
        #[arg(long, value_name = "VERSION|TIME", value_parser = crate::source::delta::AsOf::parse)]
        as_of: Option<crate::source::delta::AsOf>,
        /// Language of the text and HTML reports (default: from the locale; notices
        /// are always Chinese).
        #[arg(long, value_enum)]
        lang: Option<report::Lang>,
        /// No progress on stderr (it is shown only on a terminal, after a second).
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Write a mergeable profile of one dataset or partition (DESIGN §9).
    Profile {
        /// A data file, or a directory of one table's files (hive partitions included).
        #[arg(value_name = "PATH")]
        path: PathBuf,
        #[command(flatten)]
        packs: PackArgs,
        /// Name of the dataset the profile describes (partitions profiled apart share it).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// The data is already public (as `scan --published`): its id gets `published:`.
        #[arg(long)]
        published: bool,
        #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
        output: PathBuf,
    },
    /// Merge partition profiles of one dataset into one profile.
    Merge {
        #[arg(required = true, value_name = "PROFILE")]
        profiles: Vec<PathBuf>,
        /// Name of the merged dataset (required when the parts name different ones).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
        output: PathBuf,
    },
    /// Evaluate profiles (singles, unions of releases, joins) as `scan` evaluates data;
    /// profiles naming one dataset are merged first. Same report formats and exit codes.
    Check {
        #[arg(required = true, value_name = "PROFILE")]
        profiles: Vec<PathBuf>,
        #[command(flatten)]
        packs: PackArgs,
        /// Largest join searched, in datasets.
        #[arg(long, value_name = "N", default_value_t = scan::DEFAULT_MAX_COMBO as u16, value_parser = clap::value_parser!(u16).range(1..=8))]
        max_combo: u16,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write the report to FILE instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Language of the text and HTML reports (default: from the locale).
        #[arg(long, value_enum)]
        lang: Option<report::Lang>,
    },
    /// Inspect and check rule packs.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Print the JSON Schema of an output or input format.
    Schema {
        #[arg(value_enum)]
        what: SchemaKind,
    },
    /// Holds: list, show, propose a level, determine, release.
    Hold {
        #[command(subcommand)]
        command: crate::commands::HoldCommand,
    },
    /// Notices to the authority that must decide.
    Notice {
        #[command(subcommand)]
        command: crate::commands::NoticeCommand,
    },
    /// The ledger itself.
    Ledger {
        #[command(subcommand)]
        command: crate::commands::LedgerCommand,
    },
    /// The pre-release gate: register published data.
    Release {
        #[command(subcommand)]
        command: crate::commands::ReleaseCommand,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Decode binary files completely, in order (the sandbox child of a scan): prints
    /// `ok [plain] [head] ROWS` for each file decoded, stops at the first that fails.
    #[command(name = "__decode", hide = true)]
    Decode {
        #[arg(long)]
        format: String,
        /// Also write the rows of the files decoded whole here, as one Arrow IPC file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Decode only the first rows of each file (all of a file with geometries).
        #[arg(long, conflicts_with_all = ["out", "column"])]
        head: bool,
        /// Decode every row of only these columns (repeatable).
        #[arg(long, conflicts_with = "out")]
        column: Vec<String>,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run one dataset's part of a scan, reading its file directly (the sandbox child
    /// of a scan of one binary file): the request on stdin, the answer on stdout.
    #[command(name = "__scan-one", hide = true)]
    ScanOne,
    /// Profile one dataset, reading its file directly (the sandbox child of a profile
    /// of one binary file): the request on stdin, the answer on stdout.
    #[command(name = "__profile-one", hide = true)]
    ProfileOne,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the packs and items in use.
    List {
        #[command(flatten)]
        packs: PackArgs,
    },
    /// Explain an item: name, harm, basis, thresholds and remediation.
    Explain {
        item: String,
        #[command(flatten)]
        packs: PackArgs,
    },
    /// Validate pack files; every problem is shown with file, line and column.
    Validate {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the pack format.
    Schema,
    /// Print the reference of the packs in use as Markdown (docs/rules.md).
    Doc {
        #[command(flatten)]
        packs: PackArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    /// Rule pack TOML.
    Pack,
    /// Findings JSON v1.
    Findings,
    /// Dataset manifest `<dataset>.mosaic.toml`.
    Manifest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Print diagnostics for pack loading errors.
fn report_catalog_errors(errors: Vec<CatalogError>) -> ExitStatus {
    for e in errors {
        eprintln!("{:?}", miette::Report::new(e));
    }
    ExitStatus::Usage
}

fn load(args: &PackArgs) -> Result<Catalog, ExitStatus> {
    let catalog = Catalog::load(&args.rules, args.no_builtin).map_err(report_catalog_errors)?;
    // The gazetteer is read before any data: a bad one is a configuration error (exit 2).
    crate::link::names::choose(args.gazetteer.as_deref());
    let regions = catalog.packs.iter().any(|p| p.tags.values().any(|t| t.kind == crate::rules::TagKind::Region));
    if regions || args.gazetteer.is_some() {
        if let Err(e) = crate::link::names::get() {
            eprintln!("error: {e}");
            return Err(ExitStatus::Usage);
        }
    }
    Ok(catalog)
}

/// A scan with a ledger: each finding's determination and status, the scan recorded
/// (holds opened, found again, closed), and holds past their deadline reported and
/// warned of (Reg 25, 64). The summary line counts what happened.
fn with_ledger(
    l: &mut crate::ledger::Ledger,
    result: &mut scan::ScanResult,
    org: &crate::config::Org,
) -> Result<(), crate::ledger::LedgerError> {
    use crate::ledger::holds;
    let known = holds::determinations(l)?;
    let statuses = holds::statuses(l)?;
    for f in &mut result.findings {
        f.determination = known.get(&f.id).cloned();
        if f.outcome.holds() {
            f.status = Some(statuses.get(&f.id).copied().unwrap_or(crate::decide::Status::Open));
        }
        // The mark follows the decision: the Art 34 mark once determined secret, none
        // once determined not secret (the provisional 待定密 no longer applies).
        match (f.status, &f.determination) {
            (Some(crate::decide::Status::DeterminedSecret), Some(d)) if d.mark.is_some() => f.mark = d.mark.clone(),
            (Some(s), _) if s.cleared() => f.mark = None,
            _ => {}
        }
    }
    let stamp = commands::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = holds::record_scan(l, &report::findings_v1(result), org, &stamp)?;
    result.overdue = holds::overdue(l, &commands::now().date_naive().format("%Y-%m-%d").to_string())?;
    let overdue_warnings = holds::warn_overdue(l, r.scan, &result.overdue, &stamp)?;
    eprintln!(
        "ledger {}: scan {} recorded; {} hold(s) opened, {} still open, {} determined secret, {} determined not secret or released, {} closed; {} overdue; {} early warning(s)",
        l.path.display(),
        r.scan,
        r.opened.len(),
        r.still_open.len(),
        r.determined.len(),
        r.released.len(),
        r.closed.len(),
        result.overdue.len(),
        r.warnings.len() + overdue_warnings.len()
    );
    Ok(())
}

fn write_output(output: Option<&PathBuf>, text: &str) -> Result<(), ExitStatus> {
    let result = match output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| format!("cannot write to stdout: {e}")),
    };
    result.map_err(|e| {
        eprintln!("error: {e}");
        ExitStatus::Usage
    })
}

/// Files at least this large are read by byte ranges (see [`Cli::large_inputs`]).
const RANGED_READ_BYTES: u64 = 512 << 20;

/// Entries looked at before giving up the search for a large file.
const RANGED_READ_WALK: usize = 100_000;

impl Cli {
    /// Whether a local input file of a scan or profile is large enough that reading it
    /// mapped would make the process's RSS grow with it: polars maps a local Parquet,
    /// IPC or CSV file and the pages it touched stay resident (3.0 GiB for an 80M-row
    /// Parquet of 2.8 GB whose heap peak is 302 MiB). Read by byte ranges instead, that
    /// scan keeps 745 MiB, for 6 % more time; small files are mapped, which is faster
    /// (10–18 % at 5M rows) and bounded by the file. The walk stops at the first large
    /// file, or after [`RANGED_READ_WALK`] entries (a lake of small files).
    pub fn large_inputs(&self) -> bool {
        let paths: Vec<&PathBuf> = match &self.command {
            Command::Scan { paths, published, .. } => paths.iter().chain(published).collect(),
            Command::Profile { path, .. } => vec![path],
            _ => return false,
        };
        let mut budget = RANGED_READ_WALK;
        let mut stack: Vec<PathBuf> = paths.into_iter().cloned().collect();
        while let Some(path) = stack.pop() {
            if budget == 0 {
                return false;
            }
            budget -= 1;
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if meta.is_dir() {
                if let Ok(entries) = std::fs::read_dir(&path) {
                    stack.extend(entries.flatten().map(|e| e.path()));
                }
            } else if meta.len() >= RANGED_READ_BYTES {
                return true;
            }
        }
        false
    }
}

pub fn run(cli: Cli) -> ExitStatus {
    // Binary files are decoded in sandbox children first, except by such a child.
    if let (Ok(exe), false) = (std::env::current_exe(), matches!(cli.command, Command::ScanOne | Command::ProfileOne)) {
        let _ = crate::source::DECODER.set(exe);
    }
    match cli.command {
        Command::Scan {
            paths,
            packs,
            published,
            max_combo,
            fix,
            no_fix_search,
            ledger,
            incremental,
            format,
            output,
            color,
            strict,
            as_of,
            lang,
            quiet,
        } => {
            crate::source::delta::set_as_of(as_of);
            let catalog = match load(&packs) {
                Ok(c) => c,
                Err(status) => return status,
            };
            let here = std::path::Path::new(".");
            let (config, calendar) = match crate::config::Config::load(here)
                .and_then(|c| c.org.validate().map(|()| c))
                .and_then(|c| c.calendar(here).map(|cal| (c, cal)))
            {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitStatus::Usage;
                }
            };
            if let Err(e) = config.storage.validate() {
                eprintln!("error: {e}");
                return ExitStatus::Usage;
            }
            let ledger_path = ledger.clone();
            let mut ledger = match ledger.as_deref().map(crate::ledger::Ledger::open).transpose() {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitStatus::Usage;
                }
            };
            let mut released = Vec::new();
            if let Some(l) = &ledger {
                match crate::ledger::holds::released_paths(l) {
                    Ok(paths) => released = paths,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitStatus::Usage;
                    }
                }
            }
            let cache = incremental.then(|| ledger_path.as_deref().map(crate::incremental::cache_dir)).flatten();
            let mut stage =
                crate::source::store::Stage::new(config.storage.clone(), cache.as_ref().map(|c| c.join("objects")));
            // Nothing more is fetched once a path cannot be listed.
            let paths = match commands::stage_all(&mut stage, paths) {
                Ok(p) => p,
                Err(status) => return status,
            };
            let mut published = match commands::stage_all(&mut stage, published) {
                Ok(p) => p,
                Err(status) => return status,
            };
            // Releases recorded in the ledger: one deleted since is no longer public (as
            // a local file that is gone); one that cannot be read leaves the scan incomplete.
            for path in released {
                match stage.local(&path) {
                    Ok(local) => published.push(local),
                    Err(e) if e.is_missing() => {}
                    Err(e) => stage.errors.push(crate::source::InputError::new(
                        path.display().to_string(),
                        "object-store",
                        format!("released data not read: {e}"),
                    )),
                }
                commands::print_notes(&mut stage);
            }
            let options = scan::Options {
                published,
                max_combo: usize::from(max_combo),
                fix_dir: fix,
                coverage: format == Format::Html,
                fixes: !no_fix_search,
                cache,
                calendar,
                strict,
                ..scan::Options::new(paths, commands::now())
            };
            if !quiet && std::io::stderr().is_terminal() {
                crate::progress::start("reading datasets");
            }
            let scanned = match &options.cache {
                Some(dir) => crate::incremental::run(&catalog, &options, dir),
                None => scan::run(&catalog, &options),
            };
            crate::progress::finish();
            let mut result = match scanned {
                Ok(r) => r,
                Err(missing) => {
                    eprintln!("error: {}", stage.shown(&missing.to_string()));
                    return ExitStatus::Usage;
                }
            };
            result.relocate(&mut stage);
            for e in &result.errors {
                eprintln!("error: {}: {} ({})", e.input, e.message, e.kind);
            }
            for (id, path) in &result.fixed {
                eprintln!("fixed: {id} → {}", path.display());
            }
            if !result.fixed.is_empty() && !result.errors.iter().any(|e| e.kind == "fix") {
                eprintln!("fixed copies re-scanned: the holds their fixes address no longer hold");
            }
            let color = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    output.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            if let Some(l) = ledger.as_mut() {
                if let Err(e) = with_ledger(l, &mut result, &config.org) {
                    eprintln!("error: {e}");
                    return ExitStatus::Usage;
                }
            }
            if let Err(status) = write_output(
                output.as_ref(),
                &report::render(&result, &catalog, format, color, lang.unwrap_or_else(report::Lang::from_env)),
            ) {
                return status;
            }
            result.exit_status()
        }
        Command::Profile { path, packs, id, published, output } => {
            let catalog = match load(&packs) {
                Ok(c) => c,
                Err(status) => return status,
            };
            let (mut stage, local) = match commands::stage_one(path) {
                Ok(s) => s,
                Err(status) => return status,
            };
            // A profile of objects that could not all be read would pass as complete.
            if commands::report_stage_errors(&mut stage) != ExitStatus::Clean {
                return ExitStatus::Incomplete;
            }
            crate::check::cmd::profile(&catalog, &local, &output, id.as_deref(), published, &|t| stage.shown(t))
        }
        Command::Merge { profiles, id, output } => crate::check::cmd::merge(&profiles, &output, id.as_deref()),
        Command::Check { profiles, packs, max_combo, format, output, lang } => {
            let catalog = match load(&packs) {
                Ok(c) => c,
                Err(status) => return status,
            };
            let profiles = match crate::check::cmd::read_for_check(&profiles) {
                Ok(p) => p,
                Err(status) => return status,
            };
            let here = std::path::Path::new(".");
            let calendar = match crate::config::Config::load(here).and_then(|c| c.calendar(here)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitStatus::Usage;
                }
            };
            let options = scan::Options {
                max_combo: usize::from(max_combo),
                calendar,
                ..scan::Options::new(vec![], commands::now())
            };
            let result = crate::check::run(&catalog, &profiles, &options);
            for e in &result.errors {
                eprintln!("error: {}: {} ({})", e.input, e.message, e.kind);
            }
            if let Err(status) = write_output(
                output.as_ref(),
                &report::render(&result, &catalog, format, false, lang.unwrap_or_else(report::Lang::from_env)),
            ) {
                return status;
            }
            result.exit_status()
        }
        Command::Rules { command } => rules_command(command),
        Command::Schema { what } => {
            let schema = match what {
                SchemaKind::Pack => rules::schema(),
                SchemaKind::Findings => report::schema(),
                SchemaKind::Manifest => {
                    serde_json::to_value(schemars::schema_for!(crate::source::Manifest)).unwrap_or_default()
                }
            };
            print_json(&schema)
        }
        Command::Hold { command } => crate::commands::hold(command),
        Command::Notice { command } => crate::commands::notice(command),
        Command::Ledger { command } => crate::commands::ledger_command(command),
        Command::Release { command } => crate::commands::release(command),
        Command::Decode { format, out, head, column, paths } => {
            let part = match (head, column.is_empty()) {
                (true, _) => crate::source::Part::Head,
                (false, true) => crate::source::Part::Whole,
                (false, false) => crate::source::Part::Columns(column),
            };
            if crate::source::decode_files(&format, &paths, out.as_deref(), &part) {
                ExitStatus::Clean
            } else {
                ExitStatus::Incomplete
            }
        }
        Command::ScanOne | Command::ProfileOne => {
            let served = match cli.command {
                Command::ScanOne => crate::scan::child::serve(),
                _ => crate::check::doc::serve(),
            };
            if served {
                ExitStatus::Clean
            } else {
                ExitStatus::Incomplete
            }
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "mosaic", &mut std::io::stdout());
            ExitStatus::Clean
        }
    }
}

fn print_json(value: &serde_json::Value) -> ExitStatus {
    let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    write_output(None, &text).err().unwrap_or(ExitStatus::Clean)
}

fn rules_command(command: RulesCommand) -> ExitStatus {
    match command {
        RulesCommand::List { packs } => match load(&packs) {
            Ok(catalog) => {
                let mut out = String::new();
                for p in &catalog.packs {
                    let illustrative = if p.illustrative { ", illustrative" } else { "" };
                    out += &format!("{} {} — {} ({}{illustrative})\n", p.id, p.version, p.name, p.authority);
                    for i in &p.items {
                        let level = i.level.map_or("—", |l| l.as_str());
                        out += &format!("  {:<40} {:<4} {}\n", i.id, level, i.name);
                    }
                }
                write_output(None, &out).err().unwrap_or(ExitStatus::Clean)
            }
            Err(status) => status,
        },
        RulesCommand::Explain { item, packs } => match load(&packs) {
            Ok(catalog) => match catalog.item(&item) {
                Some((pack, it)) => write_output(None, &explain(pack, it)).err().unwrap_or(ExitStatus::Clean),
                None => {
                    eprintln!("error: no item `{item}` in the packs in use; `mosaic rules list` shows them");
                    ExitStatus::Usage
                }
            },
            Err(status) => status,
        },
        RulesCommand::Validate { paths } => {
            let mut status = ExitStatus::Clean;
            for path in &paths {
                let files = match rules::pack_files(path) {
                    Ok(f) => f,
                    Err(e) => {
                        status = status.and(report_catalog_errors(vec![e]));
                        continue;
                    }
                };
                for file in files {
                    let checked = std::fs::read_to_string(&file)
                        .map_err(|source| CatalogError::Io { path: file.clone(), source })
                        .and_then(|text| Pack::parse(&file.display().to_string(), &text).map_err(CatalogError::from));
                    match checked {
                        Ok(pack) => println!(
                            "ok: {} ({} {}, {} items)",
                            file.display(),
                            pack.id,
                            pack.version,
                            pack.items.len()
                        ),
                        Err(e) => status = status.and(report_catalog_errors(vec![e])),
                    }
                }
            }
            status
        }
        RulesCommand::Schema => print_json(&rules::schema()),
        RulesCommand::Doc { packs } => match load(&packs) {
            Ok(catalog) => write_output(None, &rules::doc::markdown(&catalog)).err().unwrap_or(ExitStatus::Clean),
            Err(status) => status,
        },
    }
}

/// `rules explain`: the item's own documentation, as `docs/rules.md` prints it.
/// How datasets link to bring an item's tags together (DESIGN §4, §4a).
fn links(pack: &rules::Pack, item: &rules::Item) -> String {
    use rules::TagKind;
    let needed = item.required_tags();
    let mut lines = Vec::new();
    for (name, t) in &pack.tags {
        let how = match t.kind {
            TagKind::Key => "datasets with equal values join".to_string(),
            TagKind::Region => {
                let g = crate::link::names::get()
                    .map(|g| format!("{}, {} divisions", g.origin, g.divisions.len()))
                    .unwrap_or_else(|e| e.to_string());
                let mut how = format!(
                    "names and 6/12-digit codes resolve to divisions through the gazetteer ({g}); ambiguous names link nothing"
                );
                if !t.link.parent.is_empty() {
                    how += &format!("; a parent division from column {}", t.link.parent.join(", "));
                }
                how
            }
            TagKind::Name => {
                let mut how =
                    "equal after normalisation (traditional → simplified, full-width, organ suffixes)".to_string();
                if !t.link.strip_suffixes.is_empty() {
                    how += &format!(" and without {}", t.link.strip_suffixes.join(", "));
                }
                if let Some(score) = t.link.min_score {
                    how += &format!("; otherwise each other's one best Jaro–Winkler match at or above {score}");
                }
                how + "; within one region when both bind one"
            }
            TagKind::Point => match t.link.within_m {
                Some(m) => format!(
                    "rows within {m} m of each other with a unique partner link (GCJ-02/BD-09 converted to WGS-84); \
                     the finer position is kept"
                ),
                None => continue,
            },
            _ => continue,
        };
        let role = if needed.contains(&name.as_str()) { "" } else { " (links only)" };
        lines.push(format!("  - {name} [{}]{role}: {how}\n", t.kind.name()));
    }
    if lines.is_empty() {
        return "links:       none: the item is judged on single datasets and releases of one table\n".into();
    }
    format!("links:       datasets combine through\n{}", lines.concat())
}

pub fn explain(pack: &Pack, item: &rules::Item) -> String {
    let mut s = format!("{} — {}\n", item.id, item.name);
    if item.zh.name != item.name {
        s += &format!("{}\n", item.zh.name);
    }
    s.push('\n');
    s += &format!(
        "pack:        {} {} ({}){}\n",
        pack.id,
        pack.version,
        pack.name,
        if pack.illustrative { ", illustrative thresholds" } else { "" }
    );
    let case = if item.catalog_match {
        "catalog match (DM25 Art 35 ¶1, Case 1)"
    } else {
        "no catalog item: hold and report (DM25 Art 35, Case 2)"
    };
    match item.track {
        rules::Track::ImportantData => {
            s += &format!("track:       important data → {}\n", pack.data_security_authority)
        }
        rules::Track::StateSecret => {
            s += &format!("outcome:     {case}\n");
            s += &format!("authority:   {}\n", pack.authority);
        }
    }
    if let (Some(level), Some(period)) = (item.level, &item.period) {
        s += &format!("level:       {level}, period {}\n", period.label());
    }
    if !item.knowledge_scope.is_empty() {
        s += &format!("scope:       {}\n", item.knowledge_scope);
    }
    if !item.art13.is_empty() {
        s += &format!("field:       {} (保守国家秘密法 第13条)\n", item.art13);
    }
    s += &format!("\nharm:        {}\n", item.harm);
    if item.zh.harm != item.harm {
        s += &format!("危害:        {}\n", item.zh.harm);
    }
    let basis: Vec<&String> = pack.basis.iter().chain(&item.basis).collect();
    if !basis.is_empty() {
        s += &format!("basis:       {}\n", basis.iter().map(|b| b.as_str()).collect::<Vec<_>>().join("; "));
    }
    if !item.filters.is_empty() {
        s += &format!(
            "rows:        where {}\n",
            item.filters.iter().map(ToString::to_string).collect::<Vec<_>>().join(" and ")
        );
    }
    s += "thresholds:  all of\n";
    for (c, line) in item.criteria.iter().zip(&item.criteria_lines) {
        s += &format!("  - {c}   ({}:{line})\n", pack.source);
    }
    s += &format!("near miss:   warns at {:.0} % of a threshold\n", pack.warn_at * 100.0);
    s += &links(pack, item);
    s += &format!("remediation: {}\n", item.remediation);
    if item.zh.remediation != item.remediation {
        s += &format!("处理方式:    {}\n", item.zh.remediation);
    }
    s
}
