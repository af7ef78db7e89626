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
/// A copy that cannot be written is an error of its own; the others are written.
pub fn write(
    dir: &Path,
    prepared: &[Prepared],
    findings: &[crate::decide::Finding],
) -> (Vec<(String, PathBuf)>, Vec<InputError>) {
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
    let mut written = Vec::new();
    let mut errors = Vec::new();
    for (id, columns) in changes {
        let Some(p) = prepared.iter().find(|p| p.dataset.id == id) else { continue };
        match write_one(dir, p, columns) {
            Ok(path) => written.push((id.to_string(), path)),
            Err(e) => errors.push(e),
        }
    }
    (written, errors)
}

/// Write the remediated copy of one dataset (see [`write`]); its path.
fn write_one(dir: &Path, p: &Prepared, columns: BTreeMap<&str, (Action, Option<f64>)>) -> Result<PathBuf, InputError> {
    let io = |path: &Path, e: &dyn std::fmt::Display| InputError::new(path.display().to_string(), "fix", e.to_string());
    let id = p.dataset.id.as_str();
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
    if let Some(manifest) = &p.dataset.manifest {
        let copy = copied_manifest(manifest, &present);
        let at = crate::source::manifest::sidecar_path(&path);
        let text = toml::to_string(&copy).map_err(|e| io(&at, &e))?;
        std::fs::write(&at, text).map_err(|e| io(&at, &e))?;
    }
    Ok(path)
}

/// Re-scan what [`write`] wrote: the datasets of every finding a written fix
/// clears, with the written copies in place of the originals (under the same ids)
/// and the others as they are, with the same packs and no fix search. A finding
/// that still holds over the same datasets, or a copy that cannot be read back, is
/// an error of kind `fix`: the copies on disk do not do what the fix said.
pub fn verify(
    catalog: &crate::rules::Catalog,
    options: &super::Options,
    prepared: &[Prepared],
    findings: &[crate::decide::Finding],
    written: &[(String, PathBuf)],
) -> Vec<InputError> {
    let copy = |id: &str| written.iter().find(|(w, _)| w == id).map(|(_, path)| path);
    let fixed: Vec<&crate::decide::Finding> = findings
        .iter()
        .filter(|f| {
            f.fix
                .as_ref()
                .is_some_and(|x| x.action != Action::SplitRelease && x.datasets.iter().any(|d| copy(d).is_some()))
        })
        .collect();
    let ids: std::collections::BTreeSet<&str> =
        fixed.iter().flat_map(|f| f.datasets.iter().map(String::as_str)).collect();
    let mut errors = Vec::new();
    let mut datasets = Vec::new();
    for id in ids {
        let Some(original) = prepared.iter().find(|p| p.dataset.id == id) else { continue };
        let Some(path) = copy(id) else {
            datasets.push(original.dataset.clone());
            continue;
        };
        match crate::source::discover(std::slice::from_ref(path), original.dataset.published) {
            Ok(mut found) if found.datasets.len() == 1 && found.errors.is_empty() => {
                let mut dataset = found.datasets.remove(0);
                dataset.id = id.to_string();
                datasets.push(dataset);
            }
            _ => errors.push(InputError::new(
                id,
                "fix",
                format!("the fixed copy {} cannot be read back", path.display()),
            )),
        }
    }
    if !errors.is_empty() || datasets.is_empty() {
        return errors;
    }
    let again =
        super::Options { fixes: false, fix_dir: None, cache: None, coverage: false, strict: false, ..options.clone() };
    let found = crate::source::Discovery { datasets, ..Default::default() };
    let rescanned = super::run_found(catalog, &again, found);
    for e in rescanned.errors {
        let shown = copy(&e.input).map_or_else(|| e.input.clone(), |p| p.display().to_string());
        errors.push(InputError::new(
            e.input,
            "fix",
            format!("re-scanning the fixed copy {shown}: {} ({})", e.message, e.kind),
        ));
    }
    for f in fixed {
        let still = rescanned
            .findings
            .iter()
            .any(|g| (&g.pack, &g.item, &g.datasets, g.outcome) == (&f.pack, &f.item, &f.datasets, f.outcome));
        if still {
            let copies: Vec<String> =
                f.datasets.iter().filter_map(|d| copy(d)).map(|p| p.display().to_string()).collect();
            errors.push(InputError::new(
                f.datasets.join(" + "),
                "fix",
                format!("{} still holds on the fixed copies ({}): they do not clear it", f.item, copies.join(", ")),
            ));
        }
    }
    errors
}

/// The manifest of a remediated copy: what the owner declared about the dataset
/// still holds of the copy, except how its text was written (the copy is UTF-8 CSV
/// or Parquet), the accuracy its rounded positions now carry in their decimals (a
/// fix's trial judged them by their rounding, not the declared accuracy), and the
/// columns it dropped.
fn copied_manifest(
    manifest: &crate::source::Manifest,
    changes: &[(&str, Action, Option<f64>)],
) -> crate::source::Manifest {
    let dropped = |c: &str| changes.iter().any(|(column, action, _)| *column == c && *action == Action::DropColumn);
    let mut copy = manifest.clone();
    copy.encoding = None;
    copy.delimiter = None;
    if changes.iter().any(|(_, action, _)| *action == Action::Round) {
        copy.accuracy_m = None;
    }
    copy.columns.retain(|column, _| !dropped(column));
    copy.ignore.retain(|column| !dropped(column));
    copy
}

fn strongest(a: (Action, Option<f64>), b: (Action, Option<f64>)) -> (Action, Option<f64>) {
    match (a, b) {
        ((Action::DropColumn, _), _) | (_, (Action::DropColumn, _)) => (Action::DropColumn, None),
        ((Action::Round, Some(x)), (Action::Round, Some(y))) => (Action::Round, Some(x.min(y))),
        ((Action::CoarsenTime, Some(x)), (Action::CoarsenTime, Some(y))) => (Action::CoarsenTime, Some(x.max(y))),
        (a, _) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `verify` re-scans the copies `write` made and finds them clear; a copy that does
    /// not clear its finding (the original standing in for it) is an error of kind
    /// `fix` naming the item and the copy.
    #[test]
    fn the_written_copies_are_re_scanned() {
        let catalog = crate::rules::Catalog::load(&[], false).unwrap();
        let original =
            crate::source::discover(&[PathBuf::from("datasets/energy/substations-hold/substations.csv")], false)
                .unwrap()
                .datasets
                .remove(0);
        let options = super::super::Options::new(vec![original.path.clone()], chrono::Utc::now());
        let ctx = crate::decide::Context { today: options.today(), calendar: &options.calendar };
        let extras = super::super::Extras { coverage: false, fixes: true, writes: true, alone: true };
        let prepared = vec![super::super::prepare(&catalog, &original, &ctx, extras).unwrap()];
        let findings = prepared[0].findings.clone();
        assert!(findings.iter().any(|f| f.fix.as_ref().is_some_and(|x| x.action == Action::Round)), "{findings:?}");

        let out = tempfile::tempdir().unwrap();
        let (written, errors) = write(out.path(), &prepared, &findings);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(written.len(), 1);
        assert_eq!(verify(&catalog, &options, &prepared, &findings, &written), vec![]);

        let unchanged = vec![(original.id.clone(), original.path.clone())];
        let errors = verify(&catalog, &options, &prepared, &findings, &unchanged);
        assert!(!errors.is_empty());
        for e in &errors {
            assert_eq!(e.kind, "fix");
            assert!(e.message.contains("still holds on the fixed copies"), "{}", e.message);
            assert!(e.message.contains("substations.csv"), "{}", e.message);
        }
    }
}
