//! The scan: discovery → open → tag → profile → evaluate → decide for every
//! dataset, in parallel, each dataset isolated so that one unreadable (or a reader
//! that panics on it) is reported as that dataset's error and the rest still count;
//! then the combinations `link` finds (joins on shared keys, unions of releases),
//! each evaluated on its own view; then a verified fix for every hold.

pub mod child;
pub(crate) mod combine;
mod fix;
mod pair;
pub mod read;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::assess::{self, assess, Task};
use crate::calendar::Calendar;
use crate::decide::{self, Combination, Contributor, Finding};
use crate::link::keys::{CodeForms, Gathering as KeySetGathering, KeySet};
use crate::profile::Source;
use crate::rules::Catalog;
use crate::source::{self, Dataset, Frame, InputError, MissingPath};
use crate::tag::{Inference, Tagging};

/// What to scan and when "now" is (pinned for reproducible output).
#[derive(Clone, Debug)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub published: Vec<PathBuf>,
    pub started: DateTime<Utc>,
    pub calendar: Calendar,
    /// Largest join searched (datasets per join); unions are not bounded by it.
    pub max_combo: usize,
    /// Write remediated copies of the datasets that verified fixes change here.
    pub fix_dir: Option<PathBuf>,
    /// Compute each hold's occupied cells (for the HTML report's picture).
    pub coverage: bool,
    /// Search a verified fix for every hold (extra passes over held data).
    pub fixes: bool,
    /// Incremental scan: cache file profiles in this directory and re-read only new
    /// or changed files. Read by `incremental::run`; `scan::run` always reads
    /// every file (the incremental scan is built on the scan and on `check`, so it
    /// sits above both rather than inside the scan).
    pub cache: Option<PathBuf>,
    /// Columns that look like positions but that no pack binds make the scan incomplete.
    pub strict: bool,
}

/// What to compute for each hold besides the finding itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extras {
    pub coverage: bool,
    pub fixes: bool,
    /// Fixed copies of the datasets are written (every column is read).
    pub writes: bool,
    /// The scan holds one dataset: no combination reads what its items do not.
    pub alone: bool,
}

impl Options {
    pub fn new(paths: Vec<PathBuf>, started: DateTime<Utc>) -> Self {
        Options {
            paths,
            published: vec![],
            started,
            calendar: Calendar::builtin(),
            max_combo: DEFAULT_MAX_COMBO,
            fix_dir: None,
            coverage: false,
            fixes: true,
            cache: None,
            strict: false,
        }
    }
}

/// Default `--max-combo`.
pub const DEFAULT_MAX_COMBO: usize = 3;

impl Options {
    pub fn today(&self) -> NaiveDate {
        self.started.date_naive()
    }
}

/// One input as the report lists it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct InputSummary {
    pub id: String,
    pub path: String,
    pub sha256: String,
    pub rows: u64,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub candidates: u64,
    pub pruned: u64,
    pub joined: u64,
    pub evaluated: u64,
    /// Incremental scans: files profiled in this scan, and files whose cached profile
    /// was reused (unchanged content).
    pub profiled: Option<u64>,
    pub reused: Option<u64>,
}

/// A pack as recorded in every report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PackRef {
    pub id: String,
    pub version: String,
    pub sha256: String,
}

/// Everything a scan found, before rendering.
#[derive(Clone, Debug)]
pub struct ScanResult {
    pub started: DateTime<Utc>,
    pub packs: Vec<PackRef>,
    /// Packs not applied because today is outside their effective/expires dates.
    pub packs_not_in_force: Vec<PackRef>,
    pub inputs: Vec<InputSummary>,
    pub tagging: Vec<Inference>,
    pub skipped: Vec<String>,
    /// Columns that look like positions but that no pack binds.
    pub unbound: Vec<read::Unbound>,
    pub stats: Stats,
    pub findings: Vec<Finding>,
    pub errors: Vec<InputError>,
    /// Remediated datasets written with `--fix`: (dataset id, path written).
    pub fixed: Vec<(String, PathBuf)>,
    /// Holds past their deadline without a determination (`scan --ledger`).
    pub overdue: Vec<crate::decide::OverdueV1>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warn,
    Hold,
    Incomplete,
}

impl PackRef {
    pub fn of(p: &crate::rules::Pack) -> Self {
        PackRef { id: p.id.clone(), version: p.version.clone(), sha256: p.sha256.clone() }
    }
}

impl ScanResult {
    /// Nothing found yet, with the packs in force today (returned as the catalog to
    /// apply) and those that are not.
    pub fn empty(catalog: &Catalog, options: &Options) -> (Catalog, ScanResult) {
        let today = options.today();
        let (in_force, not_in_force): (Vec<_>, Vec<_>) = catalog.packs.iter().cloned().partition(|p| p.in_force(today));
        let result = ScanResult {
            started: options.started,
            packs: in_force.iter().map(PackRef::of).collect(),
            packs_not_in_force: not_in_force.iter().map(PackRef::of).collect(),
            inputs: vec![],
            tagging: vec![],
            skipped: vec![],
            unbound: vec![],
            stats: Stats::default(),
            findings: vec![],
            errors: vec![],
            fixed: vec![],
            overdue: vec![],
        };
        (Catalog { packs: in_force }, result)
    }

    /// The exit status of a finished scan (DESIGN §7).
    /// Add the errors of staging `s3://` paths and write staged paths as their URLs.
    pub fn relocate(&mut self, stage: &mut crate::source::store::Stage) {
        self.errors.append(&mut stage.errors);
        if !stage.used() {
            return;
        }
        for input in &mut self.inputs {
            input.path = stage.shown(&input.path);
        }
        for e in &mut self.errors {
            e.input = stage.shown(&e.input);
            e.message = stage.shown(&e.message);
        }
    }

    pub fn exit_status(&self) -> crate::exit::ExitStatus {
        match self.verdict() {
            Verdict::Hold => crate::exit::ExitStatus::Hold,
            Verdict::Incomplete => crate::exit::ExitStatus::Incomplete,
            Verdict::Warn | Verdict::Pass => crate::exit::ExitStatus::Clean,
        }
    }

    /// `hold` if any finding holds (even with unreadable inputs), else `incomplete`
    /// if an input could not be read or nothing at all was evaluated (DESIGN §3a:
    /// never a silent pass), else `warn` when a finding warns (near a threshold, or
    /// recorded as must-not-classify), else `pass`. A finding the authority
    /// determined not secret neither holds nor warns.
    pub fn verdict(&self) -> Verdict {
        if self.findings.iter().any(Finding::holds) {
            Verdict::Hold
        } else if !self.errors.is_empty() || self.inputs.is_empty() {
            Verdict::Incomplete
        } else if self.findings.iter().any(|f| !f.determined()) {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Replace the default panic output (a backtrace on stderr) with a record of the
/// message, which the scan reports as the failing dataset's error. Set
/// `MOSAIC_BACKTRACE=1` to see the default output as well.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(message));
        if std::env::var_os("MOSAIC_BACKTRACE").is_some() {
            default(info);
        }
    }));
}

pub fn panic_error(input: &str) -> InputError {
    let detail = LAST_PANIC.with(|p| p.borrow_mut().take()).map(|m| format!(": {m}")).unwrap_or_default();
    InputError::new(input, "reader-panic", format!("the reader failed on {input}{detail}; it was not evaluated"))
}

/// A dataset evaluated: here, and kept for the combination search; or in a sandbox
/// child (`child`) (its flag: published), and kept for the combination search opened
/// again when other datasets are scanned with it (or the error of opening it again).
enum Evaluated {
    Here(Box<Prepared>),
    Child(bool, Box<child::Alone>, Option<Result<Box<Prepared>, InputError>>),
}

impl Evaluated {
    fn summary(&self) -> &InputSummary {
        match self {
            Evaluated::Here(p) => &p.summary,
            Evaluated::Child(_, a, _) => &a.summary,
        }
    }

    fn published(&self) -> bool {
        match self {
            Evaluated::Here(p) => p.dataset.published,
            Evaluated::Child(published, ..) => *published,
        }
    }
}

/// A dataset read, tagged and evaluated alone; kept for the combination search.
pub(crate) struct Prepared {
    pub dataset: Dataset,
    pub frame: Frame,
    pub tagging: Tagging,
    summary: InputSummary,
    /// `(pack, item)` met by the dataset alone.
    pub met: std::collections::BTreeSet<(String, String)>,
    findings: Vec<Finding>,
    evaluated: u64,
    unbound: Vec<read::Unbound>,
    /// The snapping passes made over `frame`'s rows.
    snaps: crate::profile::SnapMemo,
    /// A frame opened again after a sandbox child evaluated the dataset, whose rows
    /// the sandbox decodes when a combination first reads them ([`Prepared::lf`]).
    deferred: Option<Deferred>,
    /// The key sets of its link values gathered while its items were evaluated, by
    /// link id ([`combine::links`]): the combination search takes them instead of
    /// reading the rows again ([`Prepared::take_key_set`]).
    key_sets: std::sync::Mutex<BTreeMap<String, (KeySet, CodeForms)>>,
}

/// The columns of a [`read::reopen`]ed frame still to decode, and once decoded the
/// frame that reads them (or, when the sandbox refused them, one that reads no column,
/// with the error).
struct Deferred {
    columns: Vec<String>,
    verified: std::sync::OnceLock<(polars::prelude::LazyFrame, Option<InputError>)>,
}

impl Deferred {
    fn get(&self, p: &Prepared) -> &(polars::prelude::LazyFrame, Option<InputError>) {
        self.verified.get_or_init(|| match read::verified(&p.dataset, &p.frame, &self.columns, &p.tagging) {
            Ok(lf) => (lf, None),
            Err(e) => (p.frame.lf.clone().select(Vec::<polars::prelude::Expr>::new()), Some(e)),
        })
    }
}

impl Prepared {
    pub fn contributor(&self) -> Contributor<'_> {
        Contributor {
            id: &self.dataset.id,
            sha256: &self.frame.sha256,
            published: self.dataset.published,
            manifest: self.dataset.manifest.as_ref(),
        }
    }

    pub fn source(&self) -> Source<'_> {
        Source { lf: &self.frame.lf, text: self.frame.text, memo: Some(&self.snaps) }
    }

    /// The key set of link value `id` gathered while the dataset's items were
    /// evaluated, taken (not copied: a set can hold millions of hashes).
    pub fn take_key_set(&self, id: &str) -> Option<(KeySet, CodeForms)> {
        self.key_sets.lock().ok()?.remove(id)
    }

    /// The rows a combination reads, once the sandbox has decoded them (the first
    /// call decodes a [`read::reopen`]ed frame's columns; the error names the file).
    pub fn lf(&self) -> Result<&polars::prelude::LazyFrame, InputError> {
        let Some(d) = &self.deferred else { return Ok(&self.frame.lf) };
        match d.get(self) {
            (lf, None) => Ok(lf),
            (_, Some(e)) => Err(e.clone()),
        }
    }

    /// The rows of some of the columns alone (a key set, names): when the sandbox has
    /// not decoded the frame's columns yet, it decodes only those (of 5 columns of 20M
    /// rows, the key's: 0.37 → 0.1 s).
    pub fn lf_of(&self, expr: &polars::prelude::Expr) -> Result<polars::prelude::LazyFrame, InputError> {
        let Some(d) = self.deferred.as_ref().filter(|d| d.verified.get().is_none()) else {
            return self.lf().cloned();
        };
        let read: Vec<String> =
            polars_plan::utils::expr_to_leaf_column_names(expr).iter().map(|n| n.to_string()).collect();
        let columns: Vec<String> = d.columns.iter().filter(|c| read.contains(c)).cloned().collect();
        read::verified(&self.dataset, &self.frame, &columns, &self.tagging)
    }

    /// [`Prepared::lf`], or after its error a frame that reads no column.
    pub fn rows(&self) -> &polars::prelude::LazyFrame {
        match &self.deferred {
            None => &self.frame.lf,
            Some(d) => &d.get(self).0,
        }
    }

    /// A dataset a sandbox child evaluated, opened again for the combinations, with
    /// what the child kept for them (taken from `alone`).
    fn reopened(catalog: &Catalog, dataset: &Dataset, alone: &mut child::Alone) -> Result<Prepared, InputError> {
        let Some(linked) = alone.linked.take() else {
            return Err(InputError::new(
                &dataset.id,
                "internal",
                "the sandbox child kept nothing for the combinations",
            ));
        };
        let read::Reopened { frame, columns } = read::reopen(dataset, catalog, &linked.tagging, &alone.summary.sha256)?;
        Ok(Prepared {
            dataset: dataset.clone(),
            frame,
            tagging: linked.tagging,
            summary: alone.summary.clone(),
            met: linked.met,
            findings: vec![],
            evaluated: 0,
            unbound: vec![],
            snaps: Default::default(),
            deferred: (!columns.is_empty()).then(|| Deferred { columns, verified: Default::default() }),
            key_sets: std::sync::Mutex::new(
                linked
                    .key_sets
                    .into_iter()
                    .map(|(id, hashes, forms)| (id, (KeySet::from_hashes(hashes), forms)))
                    .collect(),
            ),
        })
    }
}

/// The key sets gathered ([`prepare`]): those no metrics query took are gathered by a
/// query of their own. A set that could not be gathered is left out; the combination
/// search then reads it, and reports its error, as it did before.
fn gathered(p: &Prepared, gathering: Vec<(String, KeySetGathering)>) -> BTreeMap<String, (KeySet, CodeForms)> {
    let riders = p.snaps.riders().unwrap_or_default();
    if !riders.is_empty() {
        let exprs: Vec<_> = riders.into_iter().enumerate().map(|(i, e)| e.alias(format!("k{i}").as_str())).collect();
        if crate::profile::collect(p.frame.lf.clone().select(exprs)).is_err() {
            return BTreeMap::new();
        }
    }
    gathering.into_iter().filter_map(|(id, g)| Some((id, g.finish().ok()?))).collect()
}

/// The datasets to scan: candidates, then published data named apart (`published:`).
pub(crate) fn discover_all(options: &Options) -> Result<source::Discovery, MissingPath> {
    let mut found = source::discover(&options.paths, false)?;
    let mut published = source::discover(&options.published, true)?;
    for d in &mut published.datasets {
        // Published data is named apart from the candidates it is checked with.
        d.id = format!("published:{}", d.id);
    }
    found.datasets.extend(published.datasets);
    found.skipped.extend(published.skipped);
    found.errors.extend(published.errors);
    Ok(found)
}

/// Run a scan. A scan path that does not exist is a usage error (nothing evaluated).
pub fn run(catalog: &Catalog, options: &Options) -> Result<ScanResult, MissingPath> {
    let found = discover_all(options)?;
    Ok(run_found(catalog, options, found))
}

/// Run a scan of the datasets `found` (see [`run`]).
pub(crate) fn run_found(catalog: &Catalog, options: &Options, found: source::Discovery) -> ScanResult {
    let today = options.today();
    let (catalog, mut result) = ScanResult::empty(catalog, options);

    let ctx = decide::Context { today, calendar: &options.calendar };
    let extras = Extras {
        coverage: options.coverage,
        fixes: options.fixes || options.fix_dir.is_some(),
        writes: options.fix_dir.is_some(),
        alone: found.datasets.len() == 1,
    };
    let evaluate = |dataset: &Dataset, gather: Gather| {
        let evaluated = catch_unwind(AssertUnwindSafe(|| {
            // One binary file: its part of the scan runs whole in a sandbox child,
            // which decodes it once (`child`); scanned with other datasets, it is
            // opened again for the combinations, its rows decoded only if one reads
            // them.
            let child =
                child::applies(dataset, extras).then(|| child::run(&catalog, dataset, &ctx, extras, gather)).flatten();
            match child {
                Some(Ok(mut a)) => {
                    let reopened = (!extras.alone).then(|| Prepared::reopened(&catalog, dataset, &mut a).map(Box::new));
                    Ok(Evaluated::Child(dataset.published, Box::new(a), reopened))
                }
                Some(Err(e)) => Err(e),
                None => prepare(&catalog, dataset, &ctx, extras).map(|p| Evaluated::Here(Box::new(p))),
            }
        }))
        .unwrap_or_else(|_| Err(panic_error(&dataset.id)));
        crate::progress::dataset(evaluated.as_ref().map_or(0, |e| e.summary().rows));
        evaluated
    };
    // A dataset evaluated in a child gathers the key sets of its link values for the
    // combination search, when some other dataset may share the tag: gathering a set
    // nothing reads cost a 20M-row scan with an unrelated small file a fifth of its
    // time. When it is the only one evaluated in a child, the others are evaluated
    // first and it gathers the sets of the tags they bind; with several in children,
    // whose tags are known only when they answer, each gathers every set.
    let in_child: Vec<usize> =
        (0..found.datasets.len()).filter(|&i| child::applies(&found.datasets[i], extras)).collect();
    let outcomes: Vec<Result<Evaluated, InputError>> = if in_child.len() == 1 && found.datasets.len() > 1 {
        let here: Vec<usize> = (0..found.datasets.len()).filter(|i| !in_child.contains(i)).collect();
        let mut outcomes: Vec<Option<Result<Evaluated, InputError>>> =
            (0..found.datasets.len()).map(|_| None).collect();
        for (i, outcome) in here.iter().zip(crate::par::map(&here, |&i| evaluate(&found.datasets[i], None))) {
            outcomes[*i] = Some(outcome);
        }
        let tags: std::collections::BTreeSet<(String, String)> = outcomes
            .iter()
            .flatten()
            .filter_map(|o| match o {
                Ok(Evaluated::Here(p)) => Some(combine::link_tags(&p.tagging)),
                _ => None,
            })
            .flatten()
            .collect();
        outcomes[in_child[0]] = Some(evaluate(&found.datasets[in_child[0]], Some(&tags)));
        outcomes.into_iter().flatten().collect()
    } else {
        crate::par::map(&found.datasets, |dataset| evaluate(dataset, None))
    };

    result.skipped = found.skipped;
    result.errors = found.errors;
    let mut read = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(p) => read.push(p),
            Err(e) => result.errors.push(e),
        }
    }
    // A dataset both scanned and registered as released (the same content) is one
    // input: the scanned one (DESIGN §8).
    let scanned: std::collections::BTreeSet<String> =
        read.iter().filter(|p| !p.published()).map(|p| p.summary().sha256.clone()).collect();
    read.retain(|p| !(p.published() && scanned.contains(&p.summary().sha256)));
    let mut prepared = Vec::new();
    for evaluated in read {
        result.stats.candidates += 1;
        match evaluated {
            Evaluated::Here(mut p) => {
                result.stats.evaluated += p.evaluated;
                result.inputs.push(p.summary.clone());
                result.tagging.extend(p.tagging.inferences(&p.dataset.id));
                result.unbound.append(&mut p.unbound);
                result.findings.append(&mut p.findings);
                prepared.push(*p);
            }
            Evaluated::Child(_, a, reopened) => {
                let child::Alone { summary, inferences, mut unbound, mut findings, evaluated, .. } = *a;
                result.stats.evaluated += evaluated;
                result.inputs.push(summary);
                result.tagging.extend(inferences);
                result.unbound.append(&mut unbound);
                result.findings.append(&mut findings);
                match reopened {
                    Some(Ok(p)) => prepared.push(*p),
                    Some(Err(e)) => result.errors.push(e),
                    None => {}
                }
            }
        }
    }
    prepared.sort_by(|a, b| a.dataset.id.cmp(&b.dataset.id));

    let combined = {
        let _t = crate::trace::span(|| "combinations".to_string());
        combine::run(&catalog, &prepared, options.max_combo, &ctx, extras)
    };
    result.stats.candidates += combined.candidates;
    result.stats.pruned += combined.pruned;
    result.stats.joined += combined.joined;
    result.stats.evaluated += combined.evaluated;
    result.findings.extend(combined.findings);
    result.errors.extend(combined.errors);

    if let Some(dir) = &options.fix_dir {
        let (written, errors) = fix::write(dir, &prepared, &result.findings);
        result.errors.extend(errors);
        let _t = crate::trace::span(|| "re-scan of the fixed copies".to_string());
        result.errors.extend(fix::verify(&catalog, options, &prepared, &result.findings, &written));
        result.fixed = written;
    }

    result.inputs.sort_by(|a, b| a.id.cmp(&b.id));
    result.tagging.sort();
    result.unbound.sort();
    if options.strict {
        result.errors.extend(result.unbound.iter().map(|u| {
            InputError::new(
                &u.input,
                "unbound",
                format!("{} look like {} but no pack binds them", u.columns, u.looks_like),
            )
        }));
    }
    result.errors.sort();
    // A file the sandbox refuses when a combination first reads it is reported once,
    // however many combinations it is a member of.
    result.errors.dedup();
    result.findings.sort_by(|a, b| (&a.pack, &a.item, &a.datasets).cmp(&(&b.pack, &b.item, &b.datasets)));
    // One story per finding: a finding is reported once per id.
    let mut seen = std::collections::BTreeSet::new();
    result.findings.retain(|f| seen.insert(f.id.clone()));
    result
}

fn profile_error(id: &str, e: &polars::prelude::PolarsError) -> InputError {
    InputError::new(id, "corrupt", source::clean_polars_error(e))
}

/// Which key sets [`prepare_gathering`] gathers: of every link value, or of those
/// of the `(pack, tag)`s some other dataset binds.
pub(crate) type Gather<'a> = Option<&'a std::collections::BTreeSet<(String, String)>>;

/// [`prepare_gathering`] of every link value's key set, unless the dataset is alone.
pub(crate) fn prepare(
    catalog: &Catalog,
    dataset: &Dataset,
    ctx: &decide::Context,
    extras: Extras,
) -> Result<Prepared, InputError> {
    prepare_gathering(catalog, dataset, ctx, extras, None)
}

/// Read, tag and evaluate a dataset alone. Scanned with others, the key sets of its
/// link values (those of `gather`'s tags, when given) are gathered by the same query
/// as its metrics: the combination search then reads no row of it again unless a
/// combination does.
pub(crate) fn prepare_gathering(
    catalog: &Catalog,
    dataset: &Dataset,
    ctx: &decide::Context,
    extras: Extras,
    gather: Gather,
) -> Result<Prepared, InputError> {
    let read::Read { frame, tagging, rows, unbound, snaps } = read::read(
        dataset,
        catalog,
        &dataset.id,
        read::Reading { every_snap: extras.fixes, every_column: extras.writes, alone: extras.alone, cells: true },
    )?;
    let mut prepared = Prepared {
        unbound,
        dataset: dataset.clone(),
        summary: InputSummary {
            id: dataset.id.clone(),
            path: dataset.path.display().to_string(),
            sha256: frame.sha256.clone(),
            rows,
            tags: tagging.tag_columns(),
        },
        frame,
        tagging,
        met: Default::default(),
        findings: vec![],
        evaluated: 0,
        snaps,
        deferred: None,
        key_sets: Default::default(),
    };
    let mut gathering = Vec::new();
    if !extras.alone {
        let wanted = |pack: &str, tag: &str| gather.is_none_or(|g| g.contains(&(pack.to_string(), tag.to_string())));
        for (id, expr) in combine::links(catalog, &prepared.tagging, &prepared.frame, wanted) {
            let g = KeySetGathering::default();
            prepared.snaps.ride(vec![g.expr(expr)]).map_err(|e| profile_error(&dataset.id, &e))?;
            gathering.push((id, g));
        }
    }
    let tasks: Vec<Task> = catalog
        .packs
        .iter()
        .flat_map(|pack| {
            let bindings = &prepared.tagging.packs[&pack.id];
            pack.items.iter().map(move |item| Task { pack, item, bindings })
        })
        .collect();
    let evaluations = assess(&prepared.source(), &tasks).map_err(|e| profile_error(&dataset.id, &e))?;
    prepared.key_sets = std::sync::Mutex::new(gathered(&prepared, gathering));
    // The content hash ran beside the passes over the rows; finding ids need it now.
    source::finish_hash(dataset, &mut prepared.frame)?;
    prepared.summary.sha256 = prepared.frame.sha256.clone();
    let src = prepared.source();
    let contributor = prepared.contributor();
    let mut findings = Vec::new();
    let mut met = std::collections::BTreeSet::new();
    let mut evaluated = 0;
    for (task, evaluation) in tasks.iter().zip(evaluations) {
        let Some(evaluation) = evaluation else { continue };
        evaluated += 1;
        if evaluation.met {
            met.insert((task.pack.id.clone(), task.item.id.clone()));
        }
        let Some(mut finding) = decide::decide(
            task.pack,
            task.item,
            &evaluation,
            std::slice::from_ref(&contributor),
            Combination::single(),
            ctx,
        ) else {
            continue;
        };
        if finding.holds() && extras.fixes {
            finding.fix = fix::single(&src, *task, &prepared, &evaluation.evidence)
                .map_err(|e| profile_error(&dataset.id, &e))?;
        }
        if finding.holds() && extras.coverage {
            finding.coverage = assess::coverage(&src, *task).map_err(|e| profile_error(&dataset.id, &e))?;
        }
        findings.push(finding);
    }
    prepared.findings = findings;
    prepared.met = met;
    prepared.evaluated = evaluated;
    Ok(prepared)
}
