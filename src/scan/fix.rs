//! Fixes: turn a verified `remedy::Change` into the finding's `fix` (which datasets
//! and columns to change, in words a user can act on), and with `--fix OUT_DIR`
//! write the remediated datasets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::Prepared;
use crate::assess::Task;
use crate::decide::Fix;
use crate::profile::Source;
use crate::remedy::{self, Action, Change};
use crate::source::{Format, InputError};

/// Where a tag of a checked frame comes from: dataset id and its own column names.
pub struct Origin {
    pub dataset: String,
    pub columns: Vec<String>,
    /// Coordinates in metres (xy tags, projected point tags).
    pub planar: bool,
}

impl Origin {
    /// The origin of a binding of `dataset`.
    pub fn of(dataset: &str, b: &crate::tag::Binding) -> Self {
        Origin {
            dataset: dataset.to_string(),
            columns: b.columns.names().iter().map(|s| s.to_string()).collect(),
            planar: matches!(b.columns, crate::tag::Columns::Pair { planar: true, .. }),
        }
    }
}

fn describe(change: &Change, origin: &Origin) -> String {
    let tag = change.tag.as_deref().unwrap_or("?");
    // Columns derived from one (`location·lat`, `geometry·lon`) are named by it.
    let bases: std::collections::BTreeSet<&str> =
        origin.columns.iter().map(|c| c.rsplit_once('·').map_or(c.as_str(), |(base, _)| base)).collect();
    let columns = bases.into_iter().collect::<Vec<_>>().join(", ");
    let at = format!("{tag} ({columns}) in {}", origin.dataset);
    match (change.action, change.value) {
        (Action::Round, Some(k)) if origin.planar => format!("round {at} to {} m", 10f64.powi(-(k as i32))),
        (Action::Round, Some(k)) => {
            let metres = 10f64.powi(-(k as i32)) * crate::profile::geo::M_PER_DEG;
            format!("round {at} to {k} decimals (≈{})", human_metres(metres))
        }
        (Action::CoarsenTime, Some(step)) => format!("truncate {at} to the {}", remedy::time_step_name(step)),
        (Action::DropColumn, _) => format!("drop {at}"),
        _ => format!("change {at}"),
    }
}

fn human_metres(m: f64) -> String {
    if m >= 1000.0 {
        format!("{:.1} km", m / 1000.0)
    } else {
        format!("{} m", crate::evaluate::round_sig(m).round().max(1.0))
    }
}

/// The fix of a change whose tag came from `origin`.
pub fn from_change(change: Change, origin: &Origin) -> Fix {
    Fix {
        action: change.action,
        change: describe(&change, origin),
        datasets: vec![origin.dataset.clone()],
        columns: origin.columns.clone(),
        tag: change.tag.clone(),
        value: change.value,
        evidence: change.evidence,
    }
}

/// Search a fix for a hold on one frame: round or coarsen, else (`last_resort`) drop a
/// column. `origin` maps a tag to the dataset and columns it came from; `held` is the
/// evidence of the hold, when known (see `remedy::search`).
pub fn search(
    src: &Source,
    task: Task,
    last_resort: bool,
    origin: &dyn Fn(&str) -> Option<Origin>,
    held: Option<&[crate::evaluate::Evidence]>,
) -> PolarsResult<Option<Fix>> {
    let mut change = remedy::search(src, task, held)?;
    if change.is_none() && last_resort {
        change = remedy::drop_column(src, task)?;
    }
    Ok(change.and_then(|c| {
        let o = origin(c.tag.as_deref()?)?;
        Some(from_change(c, &o))
    }))
}

/// A fix for a hold on one dataset alone.
pub fn single(
    src: &Source,
    task: Task,
    prepared: &Prepared,
    held: &[crate::evaluate::Evidence],
) -> PolarsResult<Option<Fix>> {
    let origin = |tag: &str| {
        let b = prepared.tagging.packs.get(&task.pack.id)?.get(tag)?;
        Some(Origin::of(&prepared.dataset.id, b))
    };
    search(src, task, true, &origin, Some(held))
}

/// Write a remediated copy of every dataset a fix changes (round, coarsen, drop) into
/// `dir`: CSV/TSV as UTF-8 CSV, other formats as Parquet, under the dataset's id.
/// Several fixes to one column keep the strongest (fewest decimals, longest step).
pub fn write(
    dir: &Path,
    prepared: &[Prepared],
    findings: &[crate::decide::Finding],
) -> Result<Vec<(String, PathBuf)>, InputError> {
    let mut changes: BTreeMap<&str, BTreeMap<&str, (Action, Option<f64>)>> = BTreeMap::new();
    for fix in findings.iter().filter_map(|f| f.fix.as_ref()) {
        if fix.action == Action::SplitRelease {
            continue;
        }
        for dataset in &fix.datasets {
            for column in &fix.columns {
                let slot = changes.entry(dataset).or_default().entry(column).or_insert((fix.action, fix.value));
                *slot = strongest(*slot, (fix.action, fix.value));
            }
        }
    }
    let io = |path: &Path, e: &dyn std::fmt::Display| InputError::new(path.display().to_string(), "fix", e.to_string());
    let mut written = Vec::new();
    for (id, columns) in changes {
        let Some(p) = prepared.iter().find(|p| p.dataset.id == id) else { continue };
        if let Some(g) = &p.frame.geometry {
            return Err(InputError::new(
                id,
                "fix",
                format!(
                    "cannot write a remediated copy: its positions are the geometries of `{}` ({:?}); \
                     apply the fix where the geometries are produced and scan the result",
                    g.column, p.dataset.format
                ),
            ));
        }
        let present: Vec<(&str, Action, Option<f64>)> = columns
            .into_iter()
            .filter(|(column, _)| p.frame.columns.iter().any(|(n, _)| n == column))
            .map(|(column, (action, value))| (column, action, value))
            .collect();
        let mut lf = remedy::apply_columns(p.frame.full.clone().unwrap_or_else(|| p.frame.lf.clone()), &present);
        // One-column positions are written back as one column, in their own order.
        for (column, order) in &p.tagging.derived {
            let (lat, lon) = crate::source::geometry::pair_columns(column);
            let (first, second) =
                if *order == crate::source::geometry::Order::LonLat { (&lon, &lat) } else { (&lat, &lon) };
            let joined = crate::source::geometry::pair_join(first, second);
            lf = lf.with_column(joined.alias(column.as_str())).drop(by_name([lat.as_str(), lon.as_str()], true, false));
        }
        let text = matches!(p.dataset.format, Format::Csv | Format::Tsv);
        let name = id.trim_start_matches("published:").trim_end_matches('/');
        let stem = name.rsplit_once('.').filter(|_| p.dataset.path.is_file()).map_or(name, |(s, _)| s);
        let path = dir.join(format!("{stem}.{}", if text { "csv" } else { "parquet" }));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, &e))?;
        }
        let mut df = lf.collect().map_err(|e| io(&path, &e))?;
        let mut file = std::fs::File::create(&path).map_err(|e| io(&path, &e))?;
        if text {
            CsvWriter::new(&mut file).finish(&mut df).map_err(|e| io(&path, &e))?;
        } else {
            ParquetWriter::new(&mut file).finish(&mut df).map_err(|e| io(&path, &e))?;
        }
        written.push((id.to_string(), path));
    }
    Ok(written)
}

fn strongest(a: (Action, Option<f64>), b: (Action, Option<f64>)) -> (Action, Option<f64>) {
    match (a, b) {
        ((Action::DropColumn, _), _) | (_, (Action::DropColumn, _)) => (Action::DropColumn, None),
        ((Action::Round, Some(x)), (Action::Round, Some(y))) => (Action::Round, Some(x.min(y))),
        ((Action::CoarsenTime, Some(x)), (Action::CoarsenTime, Some(y))) => (Action::CoarsenTime, Some(x.max(y))),
        (a, _) => a,
    }
}
