//! Remedy: the smallest change that clears a held finding, verified by evaluating
//! the item again on the changed data. Changes are tried from least to most
//! destructive: round a point tag to fewer decimals (the most decimals that clears),
//! truncate a time tag (minute, hour, day), then — decided by the caller for
//! combinations — split the release, and last drop a column the item needs.

use polars::prelude::*;

use crate::assess::{assess, Task};
use crate::evaluate::Evidence;
use crate::link::view::Bindings;
use crate::profile::{self, coarsen_time, geo, quantize, round_decimals, rounder, Source};
use crate::rules::{Criterion, Metric, Prop, TagKind};
use crate::tag::Columns;

pub use crate::decide::Action;

/// A change found on a frame: which tag, how far, and the evidence after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub action: Action,
    pub tag: Option<String>,
    /// Decimals kept (round) or seconds truncated to (coarsen_time).
    pub value: Option<f64>,
    pub evidence: Vec<Evidence>,
}

/// Time steps tried, finest first.
const TIME_STEPS: [(f64, &str); 3] = [(60.0, "minute"), (3_600.0, "hour"), (86_400.0, "day")];

/// Name of a time step for messages.
pub fn time_step_name(seconds: f64) -> &'static str {
    TIME_STEPS.iter().find(|(s, _)| *s == seconds).map_or("step", |(_, n)| n)
}

/// The frame with changes applied to named columns, in the data's own form (text
/// stays text with the kept decimals): what `--fix` writes.
pub fn apply_columns(lf: LazyFrame, changes: &[(&str, Action, Option<f64>)]) -> LazyFrame {
    let mut lf = lf;
    let mut dropped = Vec::new();
    for &(column, action, value) in changes {
        lf = match (action, value) {
            (Action::Round, Some(k)) => lf.with_column(quantize(column, k as i32).alias(column)),
            (Action::CoarsenTime, Some(step)) => lf.with_column(coarsen_time(column, step).alias(column)),
            (Action::DropColumn, _) => {
                dropped.push(column);
                lf
            }
            _ => lf,
        };
    }
    if dropped.is_empty() {
        lf
    } else {
        lf.drop(by_name(dropped, true, false))
    }
}

/// The frame with a change applied to the columns bound to `tag`.
pub fn apply(lf: &LazyFrame, bindings: &Bindings, action: Action, tag: &str, value: Option<f64>) -> LazyFrame {
    let Some(b) = bindings.get(tag) else { return lf.clone() };
    let changes: Vec<(&str, Action, Option<f64>)> = b.columns.names().into_iter().map(|c| (c, action, value)).collect();
    apply_columns(lf.clone(), &changes)
}

/// Coordinates rounded to `k` decimals as numbers, for judging a rounding: the
/// rounded rows' resolution is set from `k` (not counted from their text), so the
/// text form need not be written, which is the expensive part on large CSVs.
/// Divides by the power of ten (never multiplies by 10^-k: DESIGN §10).
fn round_numeric(lf: &LazyFrame, columns: &Columns, k: i32) -> LazyFrame {
    lf.clone().with_columns(columns.names().into_iter().map(|c| rounded_column(c, k).alias(c)).collect::<Vec<_>>())
}

/// Column `c`'s coordinates rounded to `k` decimals (a negative `k` rounds to tens,
/// hundreds, … of metres), each by [`round_decimals`]: a true division by the power of ten,
/// so a value is the double nearest its rounded decimal, as the fixed file's text
/// reads back. polars divides a column by a literal as a multiplication by its
/// reciprocal, which left `114.42079000000001` where the text `114.42079` is read.
fn rounded_column(c: &str, k: i32) -> Expr {
    profile::coord(c).map(
        move |column: Column| {
            let values = column.as_materialized_series().f64()?.apply_values(rounder(k));
            Ok(values.into_series().into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Float64)),
    )
}

/// Does the item still hold on the changed frame? `Some(evidence)` when it is cleared.
fn cleared(src: &Source, lf: LazyFrame, task: Task) -> PolarsResult<Option<Vec<Evidence>>> {
    let changed = Source { lf: &lf, text: src.text, memo: None };
    Ok(match assess(&changed, &[task])?.pop().flatten() {
        None => Some(vec![]),
        Some(e) if !e.met => Some(e.evidence),
        Some(_) => None,
    })
}

/// Whether the item still holds once `tag`'s columns are changed as `lf` has them
/// (no row added or removed); `Some(evidence)` when it is cleared. When the hold's
/// evidence is known and no filter reads `tag`, only the criteria that read `tag` are
/// evaluated again (no other metric moves), the others keep the hold's evidence.
fn cleared_keeping(
    src: &Source,
    lf: LazyFrame,
    task: Task,
    held: Option<&[Evidence]>,
    tag: &str,
) -> PolarsResult<Option<Vec<Evidence>>> {
    let item = task.item;
    let Some(held) = kept_apart(item, held, tag) else {
        return cleared(src, lf, task);
    };
    let reduced = reading(item, tag);
    let changed = Source { lf: &lf, text: src.text, memo: None };
    let fresh = assess(&changed, &[Task { item: &reduced, ..task }])?.pop().flatten();
    fresh_evidence(item, held, tag, fresh)
}

/// The item's evidence from the hold's and the fresh evaluation of the criteria that
/// read `tag` (`None`: the item no longer applies, which clears it); `Some` when cleared.
fn fresh_evidence(
    item: &crate::rules::Item,
    held: &[Evidence],
    tag: &str,
    fresh: Option<crate::evaluate::Evaluation>,
) -> PolarsResult<Option<Vec<Evidence>>> {
    let Some(fresh) = fresh else { return Ok(Some(vec![])) };
    let evidence = with_fresh(item, held, tag, fresh.evidence)
        .ok_or_else(|| polars_err!(ComputeError: "a criterion of the changed tag was not evaluated"))?;
    Ok((!evidence.iter().all(|e| e.holds)).then_some(evidence))
}

/// The hold's evidence, when the criteria that do not read `tag` can keep it through
/// a change of `tag` alone: it is known, one per criterion, and no filter reads `tag`
/// (so no row set moves).
fn kept_apart<'e>(item: &crate::rules::Item, held: Option<&'e [Evidence]>, tag: &str) -> Option<&'e [Evidence]> {
    held.filter(|h| h.len() == item.criteria.len() && item.filters.iter().all(|f| f.tag() != tag))
}

/// The item with only its criteria that read `tag` (their source lines kept).
fn reading(item: &crate::rules::Item, tag: &str) -> crate::rules::Item {
    let reads = |c: &Criterion| c.tags().contains(&tag);
    let mut reduced = item.clone();
    reduced.criteria = item.criteria.iter().filter(|c| reads(c)).cloned().collect();
    reduced.criteria_lines = match item.criteria_lines.len() == item.criteria.len() {
        true => item.criteria.iter().zip(&item.criteria_lines).filter(|(c, _)| reads(c)).map(|(_, l)| *l).collect(),
        false => vec![],
    };
    reduced
}

/// Whether roundings of `tag` clear the item, verified on the rounded rows, all of
/// `roundings` in one pass: each rounded copy of the tag's columns is a column of its
/// own, judged under bindings that point at it. When the hold's evidence is known and
/// no filter reads `tag`, only the criteria that read `tag` are evaluated again:
/// rounding changes no other metric and no row set, so the others keep the evidence
/// of the hold (a 20M-row verification no longer recounts the distinct sites).
/// Otherwise the whole item is evaluated, one rounding per pass. Per rounding, in
/// order, `Some(evidence)` where it clears.
fn cleared_roundings(
    src: &Source,
    task: Task,
    held: Option<&[Evidence]>,
    tag: &str,
    roundings: &[Rounding],
) -> PolarsResult<Vec<Option<Vec<Evidence>>>> {
    let item = task.item;
    let rounded_bindings = |columns: Columns, accuracy_m: f64| {
        let mut bindings = task.bindings.clone();
        if let Some(b) = bindings.get_mut(tag) {
            b.columns = columns;
            b.accuracy_m = Some(accuracy_m);
        }
        bindings
    };
    let Some(binding) = task.bindings.get(tag) else { return Ok(vec![None; roundings.len()]) };
    let Some(held) = kept_apart(item, held, tag) else {
        let mut out = Vec::with_capacity(roundings.len());
        for r in roundings {
            let lf = round_numeric(src.lf, &binding.columns, r.k);
            let bindings = rounded_bindings(binding.columns.clone(), r.accuracy_m);
            out.push(cleared(src, lf, Task { bindings: &bindings, ..task })?);
        }
        return Ok(out);
    };
    let Columns::Pair { lat, lon, planar, crs } = &binding.columns else { return Ok(vec![None; roundings.len()]) };
    let reduced = reading(item, tag);
    let mut columns = Vec::new();
    let mut all_bindings = Vec::new();
    for r in roundings {
        let name = |c: &str| format!("__mosaic_round_{}_{c}", r.k);
        columns.extend([rounded_column(lat, r.k).alias(name(lat)), rounded_column(lon, r.k).alias(name(lon))]);
        let pair = Columns::Pair { lat: name(lat), lon: name(lon), planar: *planar, crs: crs.clone() };
        all_bindings.push(rounded_bindings(pair, r.accuracy_m));
    }
    let lf = src.lf.clone().with_columns(columns);
    let changed = Source { lf: &lf, text: src.text, memo: None };
    let tasks: Vec<Task> = all_bindings.iter().map(|bindings| Task { item: &reduced, bindings, ..task }).collect();
    assess(&changed, &tasks)?.into_iter().map(|fresh| fresh_evidence(item, held, tag, fresh)).collect()
}

/// Most bytes the sets of one batch of roundings may hold (distinct positions,
/// occupied cells), as estimated from the hold.
const BATCH_BYTES: f64 = 256.0 * 1024.0 * 1024.0;
/// Bytes a set spends per key (16-byte keys in tables at most 0.7 full).
const BYTES_PER_KEY: f64 = 32.0;

/// The roundings to verify in one pass over the rows, finest first from `ks[0]`: down
/// to the first that the criteria known without the rows already clear (whose
/// evidence still needs the rows), as many as the sets the other criteria gather
/// leave room for. A rounding merges positions and never adds one, so the distinct
/// positions of each are at most the hold's; occupied cells are taken at the hold's
/// count. One rounding when the hold is not known, or a set's size cannot be told.
fn batch(
    task: Task,
    held: Option<&[Evidence]>,
    tag: &str,
    ks: &[i32],
    rounding: impl Fn(i32) -> Rounding,
) -> Vec<Rounding> {
    let item = task.item;
    let Some(held) = kept_apart(item, held, tag) else {
        return ks.first().map(|k| vec![rounding(*k)]).unwrap_or_default();
    };
    let cell_km2 = task.pack.grid_m * task.pack.grid_m / 1e6;
    let mut keys = 0.0_f64;
    for (criterion, evidence) in item.criteria.iter().zip(held).filter(|(c, _)| c.tags().contains(&tag)) {
        let Criterion::Compare { metric, .. } = criterion else { continue };
        let set = match metric {
            Metric::Distinct { .. } | Metric::Prop { prop: Prop::Distinct, .. } => evidence.value,
            Metric::Prop { prop: Prop::AreaKm2, .. } => evidence.value.map(|a| a / cell_km2),
            Metric::Prop { prop: Prop::ContiguousKm2 | Prop::SpacingM, .. } => None,
            _ => Some(0.0),
        };
        keys += set.unwrap_or(f64::INFINITY);
    }
    let room = (BATCH_BYTES / (keys * BYTES_PER_KEY).max(1.0)).floor().max(1.0) as usize;
    let mut out = Vec::new();
    for &k in ks.iter().take(room) {
        out.push(rounding(k));
        if known_to_clear(task, held, tag, rounding(k)) {
            break;
        }
    }
    out
}

/// Whether the criteria of `tag` whose value after a rounding is known without the
/// rows ([`after_rounding`] of each alone) already clear the item.
fn known_to_clear(task: Task, held: &[Evidence], tag: &str, rounding: Rounding) -> bool {
    task.item.criteria.iter().zip(held).filter(|(c, _)| c.tags().contains(&tag)).any(|(c, e)| {
        let mut single = task.item.clone();
        single.criteria = vec![c.clone()];
        single.criteria_lines.clear();
        let evidence = after_rounding(Task { item: &single, ..task }, std::slice::from_ref(e), tag, rounding);
        evidence.is_some_and(|e| e.iter().any(|e| !e.holds))
    })
}

/// A rounding of a point tag to `k` decimals (a step of `accuracy_m`), what the
/// position checks counted of the tag's rows, when they were checked (a dataset's
/// own rows, `profile::SnapMemo`), and the most decimals a valid coordinate carried
/// before, when known.
#[derive(Clone, Copy, Debug)]
struct Rounding {
    k: i32,
    accuracy_m: f64,
    checked: Option<profile::Tally>,
    decimals: Option<u8>,
}

/// The extent of a point's rows once rounded, from the range of its valid rows
/// before: rounding is monotone, so the rounded range is the range rounded — as long
/// as rounding makes no row valid or invalid. A valid row stays valid (±90° and ±180°
/// are on every lattice; a planar value stays finite unless its range overflows, which
/// is checked), and a row with a non-finite axis stays invalid; a row with both axes
/// finite but out of range could round into range, so the prediction needs every
/// such row to be valid already. `None` when that is not known.
fn rounded_extent(checked: profile::Tally, k: i32, planar: bool) -> Option<Option<f64>> {
    if checked.valid != checked.finite_lat.min(checked.finite_lon) {
        return None;
    }
    let round = |r: Option<(f64, f64)>| r.map(|(a, b)| (round_decimals(a, k), round_decimals(b, k)));
    let (lat, lon) = (round(checked.lat_range), round(checked.lon_range));
    let finite = |r: Option<(f64, f64)>| r.is_none_or(|(a, b)| a.is_finite() && b.is_finite());
    (finite(lat) && finite(lon)).then(|| profile::extent_km(lat, lon, planar))
}

/// The item's evidence once `tag` is rounded as `rounding` says, known from the
/// evaluation that held (`held`, one evidence per criterion) without reading the
/// rows: only when no filter reads `tag` and every criterion that reads it is `has`
/// (a valid position stays valid when rounded, ±90° and ±180° being on every
/// lattice), its resolution (every valid row then sits on the rounding step, which
/// is the resolution the rounded rows are judged at) or, for an item without
/// filters whose rows the position checks counted, its extent ([`rounded_extent`]).
/// Criteria that do not read `tag` keep the hold's evidence, as in
/// [`cleared_roundings`]. `None` when anything else reads `tag` (its cells, distinct
/// positions): the rounding is then tried on the rows. A unit test checks the result
/// against the evaluation of the rows.
fn after_rounding(task: Task, held: &[Evidence], tag: &str, rounding: Rounding) -> Option<Vec<Evidence>> {
    let item = task.item;
    let held = kept_apart(item, Some(held), tag)?;
    let mut bindings = task.bindings.clone();
    bindings.get_mut(tag)?.accuracy_m = Some(rounding.accuracy_m);
    let mut values = profile::Values::new();
    let mut reduced = item.clone();
    reduced.criteria.clear();
    reduced.criteria_lines.clear();
    for (criterion, evidence) in item.criteria.iter().zip(held) {
        if !criterion.tags().contains(&tag) {
            continue;
        }
        let need = |metric| crate::evaluate::need(task.pack, metric, &bindings).key();
        match criterion {
            Criterion::Has { tags } if evidence.holds => {
                for t in tags {
                    values.insert(profile::Need::Has(bindings.get(t.as_str())?.columns.clone()).key(), Some(1.0));
                }
            }
            Criterion::Compare { metric: metric @ Metric::Prop { tag: t, prop: Prop::ResolutionM }, .. }
                if t == tag && evidence.value.is_some() =>
            {
                values.insert(need(metric), Some(rounding.accuracy_m));
            }
            Criterion::Compare { metric: metric @ Metric::Prop { tag: t, prop: Prop::ExtentKm }, .. }
                if t == tag && item.filters.is_empty() =>
            {
                let Columns::Pair { planar, .. } = bindings.get(tag)?.columns else { return None };
                values.insert(need(metric), rounded_extent(rounding.checked?, rounding.k, planar)?);
            }
            _ => return None,
        }
        reduced.criteria.push(criterion.clone());
    }
    with_fresh(item, held, tag, crate::evaluate::judge(task.pack, &reduced, &bindings, &values).evidence)
}

/// Whether the item is known to hold still once `tag` is rounded as `rounding` says,
/// from the evaluation that held, without reading the rows: every criterion that
/// reads `tag` holds at a value the rounding is known to give or to exceed. A valid
/// position stays valid when rounded (a row out of range may come into range, never
/// the reverse), so rows with valid positions remain: at least one occupied cell
/// (`area_km2`, `contiguous_km2`), one distinct position and an extent of at least
/// zero, each where a larger value holds the criterion; the resolution is the
/// rounding's step and the extent predicted as [`after_rounding`] predicts it. An
/// item of `position.area_km2 > 0` then costs no pass per rounding that cannot clear
/// it. `false` whenever anything is not known (a filter reading `tag`, a conversion
/// to degrees the rounding could move out of its domain, another metric).
fn still_met(task: Task, held: &[Evidence], tag: &str, rounding: Rounding) -> bool {
    let item = task.item;
    let Some(held) = kept_apart(item, Some(held), tag) else { return false };
    let Some(binding) = task.bindings.get(tag) else { return false };
    let converted = matches!(&binding.columns, Columns::Pair { planar: true, crs: Some(_), .. });
    if !held.iter().all(|e| e.holds) {
        return false;
    }
    item.criteria.iter().zip(held).filter(|(c, _)| c.tags().contains(&tag)).all(|(criterion, evidence)| {
        let Criterion::Compare { metric, op, threshold } = criterion else { return true };
        let larger_holds = op.grows_towards() == Some(true);
        let some_valid = evidence.value.is_some_and(|v| v > 0.0);
        let at_least = match metric {
            Metric::Prop { prop: Prop::ResolutionM, .. } if evidence.value.is_some() => Some(rounding.accuracy_m),
            Metric::Prop { prop: Prop::ExtentKm, .. } if evidence.value.is_some() => {
                let Columns::Pair { planar, .. } = binding.columns else { return false };
                let exact = item.filters.is_empty().then(|| rounding.checked).flatten();
                match exact.and_then(|c| rounded_extent(c, rounding.k, planar)) {
                    Some(extent) => extent,
                    None => larger_holds.then_some(0.0),
                }
            }
            Metric::Prop { prop: prop @ (Prop::AreaKm2 | Prop::ContiguousKm2), .. }
                if larger_holds && some_valid && !converted =>
            {
                let profile::Need::Prop { grid_m, .. } = crate::evaluate::need(task.pack, metric, task.bindings) else {
                    return false;
                };
                let cell_km2 = grid_m * grid_m / 1e6;
                let planar = matches!(binding.columns, Columns::Pair { planar: true, .. });
                // Cells before, over the most one cell after can gather (the largest
                // cluster: one cell, as a rounding can part it).
                let cells = match (prop, cells_into_one(planar, grid_m, rounding)) {
                    (Prop::AreaKm2, Some(most)) => (evidence.value.unwrap_or(0.0) / cell_km2).round() / most,
                    _ => 1.0,
                };
                Some(cells.ceil().max(1.0) * cell_km2)
            }
            Metric::Distinct { .. } | Metric::Prop { prop: Prop::Distinct, .. } if larger_holds && some_valid => {
                Some(merged_at_least(evidence.value.unwrap_or(1.0), rounding))
            }
            _ => None,
        };
        at_least.is_some_and(|v| op.compare(v, *threshold))
    })
}

/// The most occupied cells whose rows a rounding can gather into one cell, so the
/// cells after it are at least the cells before divided by this. A rounding moves a
/// coordinate by at most half its step `s`, so the rows that land in one cell came
/// from within `s/2` of it: on a planar grid at most ⌊1 + s/g⌋ + 2 cells per axis
/// (one more here for a float's rounding); in degrees as many rows of cells, and in
/// each row as many columns as the widest band ratio (`1 / cos φ`: a cell's width in
/// longitude changes with its band, `geo::Cells`) and the step allow, bounded by the
/// valid rows' largest latitude the position checks saw. `None` without it, or
/// within a degree of a pole.
fn cells_into_one(planar: bool, grid_m: f64, rounding: Rounding) -> Option<f64> {
    let step = 10f64.powi(-rounding.k);
    if planar {
        let per_axis = (1.0 + step / grid_m).floor() + 3.0;
        return Some(per_axis * per_axis);
    }
    let (lo, hi) = rounding.checked?.lat_range?;
    let per_deg = geo::M_PER_DEG / grid_m;
    let reach = lo.abs().max(hi.abs()) + step + 2.0 / per_deg;
    if !(reach < 89.0) {
        return None;
    }
    let widest = 1.0 / reach.to_radians().cos();
    let rows = (1.0 + step * per_deg).floor() + 3.0;
    let columns = (widest + step * per_deg).floor() + 3.0;
    Some(rows * columns)
}

/// The fewest distinct positions `distinct` valid positions can merge into when
/// rounded as `rounding` says. Coordinates that carry at most `d` decimals are whole
/// multiples of 10⁻ᵈ, and a rounding to `k` decimals gathers into one value at most
/// 10ᵈ⁻ᵏ + 1 of them per axis (the interval around zero is closed on both sides);
/// one more per axis allows for a float rounded across a half step. So each rounded
/// position stands for at most (10ᵈ⁻ᵏ + 2)² positions before; at least one remains.
fn merged_at_least(distinct: f64, rounding: Rounding) -> f64 {
    match rounding.decimals.map(i32::from) {
        Some(d) if d > rounding.k && d - rounding.k <= 15 => {
            let per_position = (10f64.powi(d - rounding.k) + 2.0).powi(2);
            (distinct / per_position).ceil().max(1.0)
        }
        Some(d) if d <= rounding.k => distinct.max(1.0),
        _ => 1.0,
    }
}

/// The item's evidence: `fresh` (in order) for the criteria that read `tag`, the
/// hold's evidence for the others; `None` when `fresh` runs short.
fn with_fresh(item: &crate::rules::Item, held: &[Evidence], tag: &str, fresh: Vec<Evidence>) -> Option<Vec<Evidence>> {
    let mut fresh = fresh.into_iter();
    item.criteria
        .iter()
        .zip(held)
        .map(|(c, h)| if c.tags().contains(&tag) { fresh.next() } else { Some(h.clone()) })
        .collect()
}

/// Search the changes of one tag kind for the smallest that clears the item.
/// Combination-level changes (split the release) are the caller's. `held` is the
/// evaluation that held, when known: roundings it shows cannot clear are not tried.
pub fn search(src: &Source, task: Task, held: Option<&[Evidence]>) -> PolarsResult<Option<Change>> {
    let required = task.item.required_tags();
    let bound = |kinds: &[TagKind]| -> Vec<(&str, &Columns)> {
        required
            .iter()
            .filter_map(|t| task.bindings.get(*t).map(|b| (*t, b)))
            .filter(|(_, b)| kinds.contains(&b.kind))
            .map(|(t, b)| (t, &b.columns))
            .collect()
    };
    // 1. Round a point tag: the most decimals that clears, over every point tag.
    let mut best: Option<Change> = None;
    for (tag, columns) in bound(&[TagKind::Point, TagKind::Xy]) {
        // Degrees–minutes–seconds carry no decimals: rounding them writes decimal degrees.
        let carried = profile::max_decimals(src, columns)?;
        let k0 = carried.unwrap_or(6);
        let planar = matches!(columns, Columns::Pair { planar: true, .. });
        let lowest = if planar { -3 } else { 0 };
        let ks: Vec<i32> = (lowest..i32::from(k0)).rev().collect();
        // Judge every rounded row at the lattice step it now sits on: a value that
        // happens to end in zeros (39.1200 → 39.12) must not count as coarser.
        let rounding = |k: i32| {
            let step = 10f64.powi(-k);
            let accuracy_m = if planar { step } else { step * geo::M_PER_DEG };
            Rounding { k, accuracy_m, checked: src.memo.and_then(|m| m.tally(columns)), decimals: carried }
        };
        let mut i = 0;
        while i < ks.len() {
            // Only roundings finer than the best found on another tag.
            let finer = |k: &i32| best.as_ref().is_none_or(|b| b.value.unwrap_or(f64::MIN) < f64::from(*k));
            let ks = &ks[..ks.iter().position(|k| !finer(k)).unwrap_or(ks.len())];
            let Some(&k) = ks.get(i) else { break };
            // Known from the hold without reading the rows: still met, or cleared.
            if let Some(evidence) = held.and_then(|h| after_rounding(task, h, tag, rounding(k))) {
                if evidence.iter().all(|e| e.holds) {
                    i += 1;
                    continue;
                }
                best =
                    Some(Change { action: Action::Round, tag: Some(tag.into()), value: Some(f64::from(k)), evidence });
                break;
            }
            if held.is_some_and(|h| still_met(task, h, tag, rounding(k))) {
                i += 1;
                continue;
            }
            let roundings = batch(task, held, tag, &ks[i..], rounding);
            let verified = cleared_roundings(src, task, held, tag, &roundings)?;
            if let Some((r, evidence)) = roundings.iter().zip(verified).find_map(|(r, e)| Some((r, e?))) {
                best = Some(Change {
                    action: Action::Round,
                    tag: Some(tag.into()),
                    value: Some(f64::from(r.k)),
                    evidence,
                });
                break;
            }
            i += roundings.len();
        }
    }
    if best.is_some() {
        return Ok(best);
    }
    // 2. Truncate a time tag, judged on the truncated seconds (what the written text
    // reads back as) rather than on that text.
    for (tag, columns) in bound(&[TagKind::Time]) {
        for (step, _) in TIME_STEPS {
            let truncated = columns.names().into_iter().map(|c| profile::coarsen_time_seconds(c, step).alias(c));
            let lf = src.lf.clone().with_columns(truncated.collect::<Vec<_>>());
            if let Some(evidence) = cleared_keeping(src, lf, task, held, tag)? {
                return Ok(Some(Change {
                    action: Action::CoarsenTime,
                    tag: Some(tag.into()),
                    value: Some(step),
                    evidence,
                }));
            }
        }
    }
    Ok(None)
}

/// Last resort: drop the columns of one tag the item needs, verified by evaluating
/// the item without it. Tags that carry content go first (text such as key points
/// or variants, then coordinates, times, measures), identifiers last.
pub fn drop_column(src: &Source, task: Task) -> PolarsResult<Option<Change>> {
    let order = |kind: TagKind| match kind {
        TagKind::Text => 0,
        TagKind::Point | TagKind::Xy => 1,
        TagKind::Time => 2,
        TagKind::Measure => 3,
        TagKind::Category | TagKind::Region => 4,
        TagKind::Key | TagKind::Name => 5,
    };
    let mut tags: Vec<&str> =
        task.item.required_tags().into_iter().filter(|t| task.bindings.contains_key(*t)).collect();
    tags.sort_by_key(|t| (order(task.bindings[*t].kind), *t));
    for tag in tags {
        let mut bindings = task.bindings.clone();
        bindings.remove(tag);
        let lf = apply(src.lf, task.bindings, Action::DropColumn, tag, None);
        let reduced = Task { bindings: &bindings, ..task };
        if let Some(evidence) = cleared(src, lf, reduced)? {
            return Ok(Some(Change { action: Action::DropColumn, tag: Some(tag.into()), value: None, evidence }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Catalog, Pack};
    use crate::tag::{tag, Layout};

    /// A rounded coordinate is the double its rounded text reads back as, on every
    /// value (a multiplication by the reciprocal of the power of ten gave
    /// `114.42079000000001` for `114.42079`), for steps finer and coarser than one.
    #[test]
    fn a_rounded_coordinate_is_its_rounded_text_read_back() {
        let mut next = crate::decimals::xorshift(3);
        let values: Vec<f64> = (0..20_000).map(|_| (next() % 2_000_000_000) as f64 / 1e7 - 100.0).collect();
        let df = df!("x" => &values).unwrap();
        for k in [-2, 0, 3, 5, 6] {
            let out = df.clone().lazy().select([rounded_column("x", k).alias("r")]).collect().unwrap();
            let got: Vec<f64> = out["r"].f64().unwrap().into_no_null_iter().collect();
            for (v, r) in values.iter().zip(got) {
                let text = if k >= 0 {
                    format!("{:.*}", k as usize, round_decimals(*v, k))
                } else {
                    format!("{:.0}", round_decimals(*v, k))
                };
                assert_eq!(r.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{v} at {k}: {r} against {text}");
            }
        }
    }

    /// 40 sites at 6 decimals, 0.0003° apart on a diagonal; items whose fix is a rounding.
    fn setup() -> (Catalog, DataFrame) {
        let pack = Pack::parse(
            "t.toml",
            r#"
[pack]
id = "t"
version = "1"
name = "T"
authority = "A"
[tags.site]
kind = "key"
columns = ["site_id"]
[tags.position]
kind = "point"
lat = ["lat"]
lon = ["lon"]
[[item]]
id = "t.resolution"
name = "x"
level = "秘密"
harm = "h"
remediation = "r"
when = ["has(site, position)", "position.resolution_m < 500", "distinct(site) >= 20"]
[[item]]
id = "t.places"
name = "x"
level = "秘密"
harm = "h"
remediation = "r"
when = ["position.resolution_m < 500", "distinct(position) >= 30"]
"#,
        )
        .unwrap();
        let n = 40;
        let sites: Vec<String> = (0..n).map(|i| format!("S{i:02}")).collect();
        let lat: Vec<f64> = (0..n).map(|i| 30.0 + f64::from(i) * 0.000_3 + 0.000_123).collect();
        let lon: Vec<f64> = (0..n).map(|i| 110.0 + f64::from(i) * 0.000_3 + 0.000_456).collect();
        let df = df!("site_id" => sites, "lat" => lat, "lon" => lon).unwrap();
        (Catalog { packs: vec![pack] }, df)
    }

    #[test]
    fn roundings_the_hold_shows_cannot_clear_are_skipped_with_the_same_result() {
        let (catalog, df) = setup();
        let names: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
        let tagging = tag("d", Layout::plain(&names), None, &catalog).unwrap();
        let bindings = &tagging.packs["t"];
        let lf = df.lazy();
        let src = Source { lf: &lf, text: false, memo: None };
        let pack = &catalog.packs[0];
        for item in &pack.items {
            let task = Task { pack, item, bindings };
            let held = assess(&src, &[task]).unwrap().pop().flatten().unwrap();
            assert!(held.met, "{}: holds before any change", item.id);
            let tried = search(&src, task, None).unwrap();
            // With the hold's evidence, roundings are also verified on the rounded tag's
            // criteria alone, several in one pass (`cleared_roundings`; the second item's
            // distinct positions need the rows at 5, 4, 3 and 2 decimals): the same
            // change, the same evidence.
            let predicted = search(&src, task, Some(&held.evidence)).unwrap();
            assert_eq!(predicted, tried, "{}", item.id);
            let change = predicted.unwrap();
            assert_eq!(change.action, Action::Round);
            // 500 m needs 2 decimals (≈ 1.1 km); at 3 decimals the 40 places merge into
            // fewer than 30, which clears the second item there.
            let expected = if item.id == "t.resolution" { 2.0 } else { 3.0 };
            assert_eq!(change.value, Some(expected), "{}: {:?}", item.id, change.evidence);
        }
    }

    #[test]
    fn only_resolution_criteria_of_the_rounded_tag_are_predicted() {
        let (catalog, _) = setup();
        let pack = &catalog.packs[0];
        let names = vec!["site_id".to_string(), "lat".to_string(), "lon".to_string()];
        let tagging = tag("d", Layout::plain(&names), None, &catalog).unwrap();
        let bindings = &tagging.packs["t"];
        let evidence = |holds: &[bool]| -> Vec<Evidence> {
            holds
                .iter()
                .map(|h| Evidence {
                    condition: String::new(),
                    value: Some(1.0),
                    holds: *h,
                    band: None,
                    words: String::new(),
                })
                .collect()
        };
        let at = |k, accuracy_m| Rounding { k, accuracy_m, checked: None, decimals: None };
        let resolution = Task { pack, item: &pack.items[0], bindings };
        let met = |e: Option<Vec<Evidence>>| e.map(|e| e.iter().all(|e| e.holds));
        assert_eq!(
            met(after_rounding(resolution, &evidence(&[true, true, true]), "position", at(3, 111.0))),
            Some(true)
        );
        let cleared = after_rounding(resolution, &evidence(&[true, true, true]), "position", at(2, 1_113.0)).unwrap();
        assert_eq!(cleared.iter().map(|e| e.holds).collect::<Vec<_>>(), [true, false, true], "500 m cleared");
        assert_eq!(cleared[1].value, Some(1_113.0));
        assert!(
            after_rounding(resolution, &evidence(&[true, true]), "position", at(3, 111.0)).is_none(),
            "evidence must align"
        );
        let places = Task { pack, item: &pack.items[1], bindings };
        assert!(
            after_rounding(places, &evidence(&[true, true]), "position", at(3, 111.0)).is_none(),
            "distinct(position) moves"
        );
    }

    /// A pack of a site key and a point, with one item `id` of `when` (and `more`).
    fn point_pack(id: &str, when: &str, more: &str) -> Pack {
        let text = format!(
            r#"
[pack]
id = "t"
version = "1"
name = "T"
authority = "A"
[tags.site]
kind = "key"
columns = ["site_id"]
[tags.position]
kind = "point"
lat = ["lat"]
lon = ["lon"]
[[item]]
id = "{id}"
name = "x"
level = "秘密"
harm = "h"
remediation = "r"
when = [{when}]
{more}
"#
        );
        Pack::parse("t.toml", &text).unwrap()
    }

    /// An item the rounded rows are known to meet still (cells, distinct positions,
    /// extent, resolution only where larger holds, at bounds a rounding cannot go
    /// under) is met on the rounded rows at every rounding; an item a rounding could
    /// clear, or one filtered on the rounded tag, is not taken as known.
    #[test]
    fn an_item_known_to_hold_after_a_rounding_holds_on_the_rounded_rows() {
        let always = r#""has(site, position)", "position.area_km2 > 0", "position.contiguous_km2 >= 0.0025", "distinct(position) >= 1", "position.extent_km >= 0", "position.resolution_m < 1e9", "distinct(site) >= 2""#;
        // Per case, what the shortcut must say at each rounding (`None`: either).
        type Expect = fn(i32) -> Option<bool>;
        let cases: [(&str, &str, Expect); 8] = [
            (always, "", |_| Some(true)),
            // 256 cells: at 4 and 5 decimals at most 16 gather into one, at 3 at most 36.
            (r#""position.area_km2 >= 0.01""#, "", |k| Some(k >= 3)),
            (r#""position.area_km2 >= 0.03""#, "", |k| Some(k >= 4)),
            (r#""position.contiguous_km2 >= 0.01""#, "", |_| Some(false)),
            // 3 000 positions at 6 decimals: at 5 decimals at most 144 merge into one.
            (r#""distinct(position) >= 20""#, "", |k| Some(k == 5)),
            (r#""distinct(position) >= 22""#, "", |_| Some(false)),
            (r#""position.resolution_m < 500""#, "", |k| (k < 2).then_some(false)),
            (always, r#"where = ["position.resolution_m < 1e9"]"#, |_| Some(false)),
        ];
        let n = 3_000;
        let sites: Vec<String> = (0..n).map(|i| format!("S{i:04}")).collect();
        let six = |v: f64| format!("{v:.6}").parse::<f64>().unwrap();
        let lat: Vec<f64> = (0..n).map(|i| six(30.0 + f64::from(i) * 0.000_013_7)).collect();
        let lon: Vec<f64> = (0..n).map(|i| six(110.0 + f64::from(i) * 0.000_029_1)).collect();
        let lf = df!("site_id" => &sites, "lat" => &lat, "lon" => &lon).unwrap().lazy();
        let names = vec!["site_id".to_string(), "lat".to_string(), "lon".to_string()];
        for (when, more, expect) in cases {
            let text = format!("{when} {more}");
            let catalog = Catalog { packs: vec![point_pack("t.any", when, more)] };
            let pack = &catalog.packs[0];
            let tagging = tag("d", Layout::plain(&names), None, &catalog).unwrap();
            let bindings = &tagging.packs["t"];
            let columns = bindings["position"].columns.clone();
            let task = Task { pack, item: &pack.items[0], bindings };
            let src = Source { lf: &lf, text: false, memo: None };
            let held = assess(&src, &[task]).unwrap().pop().flatten().unwrap();
            assert!(held.met, "{text}");
            let decimals = profile::max_decimals(&src, &columns).unwrap();
            assert_eq!(decimals, Some(6));
            let axis = |v: &[f64]| Float64Chunked::from_iter(v.iter().map(|x| Some(*x)));
            let checked = Some(profile::Tally::of_floats(&axis(&lat), &axis(&lon), None, false));
            for k in 0..6 {
                let accuracy_m = 10f64.powi(-k) * geo::M_PER_DEG;
                let rounding = Rounding { k, accuracy_m, checked, decimals };
                let said = still_met(task, &held.evidence, "position", rounding);
                let mut rounded_bindings = bindings.clone();
                rounded_bindings.get_mut("position").unwrap().accuracy_m = Some(accuracy_m);
                let rounded = round_numeric(&lf, &columns, k);
                let rows = Source { lf: &rounded, text: false, memo: None };
                let on_rows = assess(&rows, &[Task { bindings: &rounded_bindings, ..task }]).unwrap().pop().flatten();
                let met = on_rows.is_some_and(|e| e.met);
                assert!(!said || met, "k = {k}: said to hold, not met on the rows: {text}");
                if let Some(want) = expect(k) {
                    assert_eq!(said, want, "k = {k}: {text}");
                }
            }
        }
    }

    /// The extent of rounded rows, predicted from the position checks' ranges, is the
    /// extent the rounded rows give, at every rounding; with a finite row out of range
    /// (which a rounding can bring into range) nothing is predicted.
    #[test]
    fn the_extent_of_rounded_rows_is_predicted_exactly_or_not_at_all() {
        let pack = point_pack(
            "t.spread",
            r#""has(site, position)", "position.resolution_m < 500", "position.extent_km >= 50", "distinct(site) >= 20""#,
            "",
        );
        let catalog = Catalog { packs: vec![pack] };
        let pack = &catalog.packs[0];
        let n = 60;
        let sites: Vec<String> = (0..n).map(|i| format!("S{i:02}")).collect();
        // Bounds that move when rounded (half a step up, down, and at the poles).
        let lat: Vec<Option<f64>> = (0..n)
            .map(|i| match i {
                0 => Some(-0.0),
                1 => Some(89.99996),
                2 => None,
                3 => Some(f64::NAN),
                _ => Some(-3.456_785 + f64::from(i) * 0.071_234_5),
            })
            .collect();
        let lon: Vec<Option<f64>> = (0..n).map(|i| Some(-179.99994 + f64::from(i) * 0.183_456_7)).collect();
        let names = vec!["site_id".to_string(), "lat".to_string(), "lon".to_string()];
        let tagging = tag("d", Layout::plain(&names), None, &catalog).unwrap();
        let bindings = &tagging.packs["t"];
        let columns = bindings["position"].columns.clone();
        for stray in [None, Some(90.00004)] {
            let mut lat = lat.clone();
            if stray.is_some() {
                lat[5] = stray;
            }
            let (ys, xs) = (Float64Chunked::from_iter(lat.clone()), Float64Chunked::from_iter(lon.clone()));
            let checked = profile::Tally::of_floats(&ys, &xs, None, false);
            let lf = df!("site_id" => &sites, "lat" => &lat, "lon" => &lon).unwrap().lazy();
            let task = Task { pack, item: &pack.items[0], bindings };
            let src = Source { lf: &lf, text: false, memo: None };
            let held = assess(&src, &[task]).unwrap().pop().flatten().unwrap();
            assert!(held.met);
            for k in 0..6 {
                let accuracy_m = 10f64.powi(-k) * geo::M_PER_DEG;
                let predicted = after_rounding(
                    task,
                    &held.evidence,
                    "position",
                    Rounding { k, accuracy_m, checked: Some(checked), decimals: None },
                );
                if stray.is_some() {
                    assert_eq!(predicted, None, "k = {k}: a finite row out of range");
                    continue;
                }
                let mut rounded_bindings = bindings.clone();
                rounded_bindings.get_mut("position").unwrap().accuracy_m = Some(accuracy_m);
                let rounded = round_numeric(&lf, &columns, k);
                let rows = Source { lf: &rounded, text: false, memo: None };
                let on_rows = assess(&rows, &[Task { bindings: &rounded_bindings, ..task }]).unwrap().pop().flatten();
                assert_eq!(predicted, Some(on_rows.unwrap().evidence), "k = {k}");
            }
        }
    }
}
