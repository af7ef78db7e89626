//! The scan: discovery → open → tag → profile → evaluate → decide for every
//! dataset, in parallel, each dataset isolated so that one unreadable (or a reader
//! that panics on it) is reported as that dataset's error and the rest still count.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use rayon::prelude::*;
use serde::Serialize;

use crate::calendar::Calendar;
use crate::decide::{self, Combination, Contributor, Finding};
use crate::evaluate;
use crate::profile::{self, Snap, Source};
use crate::rules::Catalog;
use crate::source::{self, Dataset, InputError, MissingPath};
use crate::tag::{self, Inference};

/// What to scan and when "now" is (pinned for reproducible output).
#[derive(Clone, Debug)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub published: Vec<PathBuf>,
    pub started: DateTime<Utc>,
    pub calendar: Calendar,
}

impl Options {
    pub fn today(&self) -> NaiveDate {
        self.started.date_naive()
    }
}

/// One input as the report lists it.
#[derive(Clone, Debug, Serialize)]
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
}

/// A pack as recorded in every report.
#[derive(Clone, Debug, Serialize)]
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
    pub stats: Stats,
    pub findings: Vec<Finding>,
    pub errors: Vec<InputError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warn,
    Hold,
    Incomplete,
}

impl ScanResult {
    /// `hold` if any finding holds (even with unreadable inputs), else `incomplete`
    /// if an input could not be read, else `warn` or `pass`.
    pub fn verdict(&self) -> Verdict {
        if self.findings.iter().any(Finding::holds) {
            Verdict::Hold
        } else if !self.errors.is_empty() {
            Verdict::Incomplete
        } else if !self.findings.is_empty() {
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

fn panic_error(dataset: &Dataset) -> InputError {
    let detail = LAST_PANIC.with(|p| p.borrow_mut().take()).map(|m| format!(": {m}")).unwrap_or_default();
    InputError::new(
        &dataset.id,
        "reader-panic",
        format!("the reader failed on this dataset{detail}; it was not evaluated"),
    )
}

struct DatasetOutcome {
    summary: InputSummary,
    tagging: Vec<Inference>,
    findings: Vec<Finding>,
    evaluated: u64,
}

/// Run a scan. A scan path that does not exist is a usage error (nothing evaluated).
pub fn run(catalog: &Catalog, options: &Options) -> Result<ScanResult, MissingPath> {
    let today = options.today();
    let (in_force, not_in_force): (Vec<_>, Vec<_>) = catalog.packs.iter().cloned().partition(|p| p.in_force(today));
    let catalog = Catalog { packs: in_force };
    let pack_ref =
        |p: &crate::rules::Pack| PackRef { id: p.id.clone(), version: p.version.clone(), sha256: p.sha256.clone() };

    let mut found = source::discover(&options.paths, false)?;
    let published = source::discover(&options.published, true)?;
    found.datasets.extend(published.datasets);
    found.skipped.extend(published.skipped);
    found.errors.extend(published.errors);

    let ctx = decide::Context { today, calendar: &options.calendar };
    let outcomes: Vec<Result<DatasetOutcome, InputError>> = found
        .datasets
        .par_iter()
        .map(|dataset| {
            catch_unwind(AssertUnwindSafe(|| scan_dataset(&catalog, dataset, &ctx)))
                .unwrap_or_else(|_| Err(panic_error(dataset)))
        })
        .collect();

    let mut result = ScanResult {
        started: options.started,
        packs: catalog.packs.iter().map(pack_ref).collect(),
        packs_not_in_force: not_in_force.iter().map(pack_ref).collect(),
        inputs: vec![],
        tagging: vec![],
        skipped: found.skipped,
        stats: Stats::default(),
        findings: vec![],
        errors: found.errors,
    };
    for outcome in outcomes {
        match outcome {
            Ok(o) => {
                result.stats.candidates += 1;
                result.stats.evaluated += o.evaluated;
                result.inputs.push(o.summary);
                result.tagging.extend(o.tagging);
                result.findings.extend(o.findings);
            }
            Err(e) => result.errors.push(e),
        }
    }
    result.inputs.sort_by(|a, b| a.id.cmp(&b.id));
    result.tagging.sort();
    result.errors.sort();
    result.findings.sort_by(|a, b| (&a.pack, &a.item, &a.datasets).cmp(&(&b.pack, &b.item, &b.datasets)));
    Ok(result)
}

fn profile_error(dataset: &Dataset, e: &polars::prelude::PolarsError) -> InputError {
    InputError::new(&dataset.id, "corrupt", source::clean_polars_error(e))
}

fn scan_dataset(catalog: &Catalog, dataset: &Dataset, ctx: &decide::Context) -> Result<DatasetOutcome, InputError> {
    let frame = source::open(dataset)?;
    let names: Vec<String> = frame.columns.iter().map(|(n, _)| n.clone()).collect();
    let tagging = tag::tag(&dataset.id, &names, dataset.manifest.as_ref(), catalog)?;
    let src = Source { lf: &frame.lf, text: frame.text };

    let rows = profile::row_count(&frame.lf).map_err(|e| profile_error(dataset, &e))?;

    let mut snaps: BTreeMap<_, Snap> = BTreeMap::new();
    let mut findings = Vec::new();
    let mut evaluated = 0;
    let contributor = Contributor {
        id: &dataset.id,
        sha256: &frame.sha256,
        published: dataset.published,
        manifest: dataset.manifest.as_ref(),
    };
    // Plan every applicable item, then run one query per distinct set of row
    // filters (items of all packs sharing filters share a pass over the data).
    let mut plans = Vec::new();
    let mut groups: BTreeMap<String, profile::Group> = BTreeMap::new();
    for pack in &catalog.packs {
        let bindings = &tagging.packs[&pack.id];
        for columns in evaluate::point_columns(bindings) {
            if let std::collections::btree_map::Entry::Vacant(slot) = snaps.entry(columns) {
                let snap = profile::snapping(&src, slot.key()).map_err(|e| profile_error(dataset, &e))?;
                slot.insert(snap);
            }
        }
        for item in &pack.items {
            let Some(group) = evaluate::plan(pack, item, bindings) else { continue };
            let key = group.key();
            let merged = groups
                .entry(key.clone())
                .or_insert_with(|| profile::Group { filters: group.filters.clone(), needs: vec![] });
            merged.needs.extend(group.needs);
            plans.push((pack, item, bindings, key));
        }
    }
    let mut values = BTreeMap::new();
    for (key, group) in &groups {
        values.insert(key.clone(), profile::compute(&src, group, &snaps).map_err(|e| profile_error(dataset, &e))?);
    }
    for (pack, item, bindings, key) in plans {
        let evaluation = evaluate::judge(pack, item, bindings, &values[&key]);
        evaluated += 1;
        if let Some(f) =
            decide::decide(pack, item, &evaluation, std::slice::from_ref(&contributor), Combination::single(), ctx)
        {
            findings.push(f);
        }
    }
    Ok(DatasetOutcome {
        summary: InputSummary {
            id: dataset.id.clone(),
            path: dataset.path.display().to_string(),
            sha256: frame.sha256.clone(),
            rows,
            tags: tagging.tag_columns(),
        },
        tagging: tagging.inferences(&dataset.id),
        findings,
        evaluated,
    })
}
