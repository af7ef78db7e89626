//! Profiles: the metrics of DESIGN §2 computed on a (filtered) dataset with polars
//! lazy queries. Per-row precision runs as elementwise kernels inside the query;
//! only aggregates (and the set of occupied cells) come back to Rust.

pub mod geo;
mod kernels;
pub mod keys;
pub mod sketch;
pub mod state;

pub use kernels::{
    coarsen_time, coarsen_time_seconds, coord, epoch_seconds, float_text, gathered, parse_coordinate, quantize,
    round_decimals, rounder, row_resolution, unreadable_text, Tally,
};
pub use state::{AxisInfo, Measured, SnapInfo, State};

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use serde::Serialize;

use crate::rules::{Literal as RuleLiteral, Op, Prop, TagKind};
use crate::tag::Columns;

/// A resolved row filter: an item's `where` on concrete columns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RowFilter {
    Value { column: String, op: Op, value: RuleLiteral },
    Resolution { columns: Columns, accuracy_m: Option<f64>, op: Op, threshold_m: f64 },
}

impl fmt::Display for RowFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowFilter::Value { column, op, value } => write!(f, "{column} {} {value}", op.as_str()),
            RowFilter::Resolution { columns, op, threshold_m, .. } => {
                write!(f, "resolution_m({}) {} {threshold_m}", columns.label(), op.as_str())
            }
        }
    }
}

/// One metric to compute, on concrete columns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Need {
    Rows,
    Has(Columns),
    Distinct(Columns),
    Prop { kind: TagKind, columns: Columns, accuracy_m: Option<f64>, prop: Prop, grid_m: f64 },
}

impl Need {
    /// Canonical key: equal keys are the same computation.
    pub fn key(&self) -> String {
        match self {
            Need::Rows => "rows".into(),
            Need::Has(c) => format!("has({})", c.label()),
            Need::Distinct(c) => format!("distinct({})", c.label()),
            Need::Prop { columns, accuracy_m, prop, grid_m, .. } => {
                format!("{}({})@{grid_m}~{accuracy_m:?}", prop.name(), columns.label())
            }
        }
    }
}

/// Metrics needed under one set of row filters.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub filters: Vec<RowFilter>,
    pub needs: Vec<Need>,
}

impl Group {
    pub fn key(&self) -> String {
        let mut parts: Vec<String> = self.filters.iter().map(ToString::to_string).collect();
        parts.sort();
        parts.join(" && ")
    }
}

/// Metric values by `Need::key`; `None` when a metric is undefined (no valid rows).
pub type Values = BTreeMap<String, Option<f64>>;

/// The columns a profile needs per source kind.
pub struct Source<'a> {
    pub lf: &'a LazyFrame,
    /// Text source: coordinates counted on the text as written.
    pub text: bool,
    /// The snapping passes already made over these rows (`None` for rows that are
    /// not a dataset's own, such as a fix's rounded rows).
    pub memo: Option<&'a SnapMemo>,
}

/// What [`snap_pass`] learnt of a dataset's points, kept so that a later question
/// about the same rows (the fix search's decimals) does not read them again; and
/// what the position checks counted of each point's valid rows and the cells they
/// occupy (`scan::read`, [`point_pass`]), which the metrics of a group without row
/// filters take instead of parsing the axes again.
#[derive(Default)]
pub struct SnapMemo {
    snaps: Mutex<BTreeMap<Columns, (SnapInfo, kernels::Counts)>>,
    checked: Mutex<BTreeMap<Columns, Tally>>,
    /// Occupied cells the position checks gathered, by point and grid, sorted.
    cells: Mutex<BTreeMap<CellKey, Arc<Vec<(i64, i64)>>>>,
    /// Aggregates of other ends (a scan's key sets) to ride on the first metrics query
    /// over all of these rows ([`SnapMemo::ride`]), taken by that query.
    riders: Mutex<Vec<Expr>>,
}

impl SnapMemo {
    fn lock(&self) -> PolarsResult<std::sync::MutexGuard<'_, BTreeMap<Columns, (SnapInfo, kernels::Counts)>>> {
        self.snaps.lock().map_err(|_| polars_err!(ComputeError: "snapping poisoned"))
    }

    /// What a pass already learnt of `columns`, if one ran.
    pub fn known(&self, columns: &Columns) -> Option<SnapInfo> {
        self.lock().ok()?.get(columns).map(|(info, _)| info.clone())
    }

    /// Keep the position checks' counts of `columns` over these rows.
    pub fn checked(&self, columns: &Columns, tally: Tally) {
        if let Ok(mut m) = self.checked.lock() {
            m.insert(columns.clone(), tally);
        }
    }

    pub(crate) fn tally(&self, columns: &Columns) -> Option<Tally> {
        self.checked.lock().ok()?.get(columns).copied()
    }

    /// Have `aggregates` read by the first metrics query over all of these rows
    /// ([`compute_known`]), so that those rows are read once; [`SnapMemo::riders`]
    /// gives back those no such query took.
    pub fn ride(&self, aggregates: Vec<Expr>) -> PolarsResult<()> {
        self.riding()?.extend(aggregates);
        Ok(())
    }

    /// The aggregates given to [`SnapMemo::ride`] that no query has taken yet, taken.
    pub fn riders(&self) -> PolarsResult<Vec<Expr>> {
        Ok(std::mem::take(&mut *self.riding()?))
    }

    fn riding(&self) -> PolarsResult<std::sync::MutexGuard<'_, Vec<Expr>>> {
        self.riders.lock().map_err(|_| polars_err!(ComputeError: "riders poisoned"))
    }

    /// The occupied cells of `columns` on a grid of `grid_m`, if the checks gathered them.
    fn cells(&self, columns: &Columns, grid_m: f64) -> Option<Arc<Vec<(i64, i64)>>> {
        self.cells.lock().ok()?.get(&(columns.clone(), grid_m.to_bits())).cloned()
    }
}

pub(crate) fn num(column: &str) -> Expr {
    col(column).cast(DataType::Float64)
}

/// Valid coordinates: finite and within ±90/±180 (planar: finite).
pub(crate) fn valid(columns: &Columns) -> Expr {
    match columns {
        Columns::One(c) => col(c.as_str()).is_not_null(),
        Columns::Pair { lat, lon, planar: true, .. } => coord(lat).is_finite().and(coord(lon).is_finite()),
        Columns::Pair { lat, lon, .. } => coord(lat)
            .gt_eq(lit(-90.0))
            .and(coord(lat).lt_eq(lit(90.0)))
            .and(coord(lon).gt_eq(lit(-180.0)))
            .and(coord(lon).lt_eq(lit(180.0))),
    }
}

fn compare(e: Expr, op: Op, rhs: Expr) -> Expr {
    match op {
        Op::Lt => e.lt(rhs),
        Op::Le => e.lt_eq(rhs),
        Op::Gt => e.gt(rhs),
        Op::Ge => e.gt_eq(rhs),
        Op::Eq => e.eq(rhs),
    }
}

pub(crate) fn collect(lf: LazyFrame) -> PolarsResult<DataFrame> {
    Ok(lf.collect_with_engine(Engine::Streaming)?.unwrap_single())
}

/// Expressions named apart for one `select` (`n0`, `n1`, …).
pub(crate) fn aliased(exprs: Vec<Expr>) -> Vec<Expr> {
    exprs.into_iter().enumerate().map(|(i, e)| e.alias(format!("n{i}").as_str())).collect()
}

pub(crate) fn scalar(df: &DataFrame, name: &str) -> Option<f64> {
    let column = df.column(name).ok()?;
    let value = column.cast(&DataType::Float64).ok()?.f64().ok()?.get(0)?;
    value.is_finite().then_some(value)
}

/// Rows of a frame. The streaming engine of polars 0.55 panics on a plain `len()` over
/// a union of files, and the in-memory engine reads every file of a union at once
/// (1 GiB of heap for 1 000 small partitions), so rows are counted as the length of
/// the first column, streamed; geometry frames (in memory already) count features.
pub fn row_count(lf: &LazyFrame) -> PolarsResult<u64> {
    let schema = lf.clone().collect_schema()?;
    let first = schema.iter_names().next().cloned();
    let df = match first {
        Some(name) if !schema.contains(crate::source::geometry::FEATURE) => {
            collect(lf.clone().select([col(name).len().cast(DataType::UInt64).alias("n")]))?
        }
        _ => lf.clone().select([rows_expr(lf)?.cast(DataType::UInt64).alias("n")]).collect()?,
    };
    Ok(scalar(&df, "n").unwrap_or(0.0) as u64)
}

/// Rows of a frame: its features when its rows are the vertices of geometries.
pub fn rows_expr(lf: &LazyFrame) -> PolarsResult<Expr> {
    let features = lf.clone().collect_schema()?.contains(crate::source::geometry::FEATURE);
    Ok(if features { col(crate::source::geometry::FEATURE).n_unique() } else { len() })
}

/// Snapping steps of a point's two axes, measured on the unfiltered data.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Snap {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// Snapping facts of a point's two axes ([`SnapInfo`]), in one streamed pass: each
/// batch of rows yields its own facts (its most decimals, and which candidate steps
/// of the lists for those decimals and one more every valid value sits on), and the
/// batches merge as partitions do ([`AxisInfo::merge`]), so every coordinate is
/// parsed once.
pub fn snap_info(src: &Source, columns: &Columns) -> PolarsResult<SnapInfo> {
    Ok(snap_pass(src, columns)?.info)
}

/// What the snapping pass learns of a point: its snapping facts, and the rows per
/// per-row resolution the point has if it turns out not to be snapped (the same
/// parse gives both; a group without row filters then needs no pass of its own for
/// the point's resolution).
pub struct SnapPass {
    pub info: SnapInfo,
    pub unsnapped: kernels::Counts,
}

pub fn snap_pass(src: &Source, columns: &Columns) -> PolarsResult<SnapPass> {
    let pass = SnapPass { info: SnapInfo::default(), unsnapped: kernels::Counts::default() };
    if !matches!(columns, Columns::Pair { .. }) {
        return Ok(pass);
    }
    if let Some(m) = src.memo {
        if let Some((info, unsnapped)) = m.lock()?.get(columns) {
            return Ok(SnapPass { info: info.clone(), unsnapped: unsnapped.clone() });
        }
    }
    let (gather, expr) = SnapGather::new(columns, src.text);
    collect(src.lf.clone().select([expr.alias("n")]))?;
    let pass = gather.finish()?;
    if let Some(m) = src.memo {
        m.lock()?.insert(columns.clone(), (pass.info.clone(), pass.unsnapped.clone()));
    }
    Ok(pass)
}

/// A point's snapping pass run inside another query over the same rows (the
/// position checks'), so that the rows are read once for both: the expression
/// gathers as the rows stream past, [`SnapGather::finish`] gives the pass once the
/// query has run.
pub struct SnapGather {
    into: Shared<Option<SnapInfo>>,
    counts: Shared<kernels::Counts>,
}

impl SnapGather {
    pub fn new(columns: &Columns, text: bool) -> (SnapGather, Expr) {
        let gather = SnapGather { into: Arc::default(), counts: Arc::default() };
        let expr = gather_snap(columns, text, gather.into.clone(), gather.counts.clone());
        (gather, expr)
    }

    pub fn finish(self) -> PolarsResult<SnapPass> {
        let info = self.into.lock().map_err(|_| polars_err!(ComputeError: "snapping poisoned"))?.take();
        Ok(SnapPass { info: info.unwrap_or_default(), unsnapped: taken(&self.counts)? })
    }

    /// Keep the pass in `memo` for the rows it was gathered over.
    pub fn finish_into(self, columns: &Columns, memo: &SnapMemo) -> PolarsResult<()> {
        let pass = self.finish()?;
        memo.lock()?.insert(columns.clone(), (pass.info, pass.unsnapped));
        Ok(())
    }
}

/// Find the coarsest common step (0.0005°, 0.25°, 100 m …) each axis is snapped to,
/// if any (see [`snap_info`]).
pub fn snapping(src: &Source, columns: &Columns) -> PolarsResult<Snap> {
    Ok(snap_info(src, columns)?.snap())
}

/// The most decimals any valid coordinate of a point tag carries (both axes).
pub fn max_decimals(src: &Source, columns: &Columns) -> PolarsResult<Option<u8>> {
    let info = snap_info(src, columns)?;
    Ok(match (info.lat.k, info.lon.k) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
    })
}

/// Merge each batch's snapping facts into `into`, and count its rows' resolutions
/// without snapping into `counts`, as the rows stream past.
fn gather_snap(columns: &Columns, text: bool, into: Shared<Option<SnapInfo>>, counts: Shared<kernels::Counts>) -> Expr {
    let Columns::Pair { lat, lon, planar, .. } = columns.clone() else { return lit(0u32) };
    col(lat.as_str())
        .map_many(
            move |cols: &mut [Column]| {
                match (kernels::float_axis(&cols[0])?, kernels::float_axis(&cols[1])?) {
                    (Some(ys), Some(xs)) => snap_floats(&ys, &xs, planar, &into, &counts)?,
                    _ => {
                        let ys = kernels::readings(&cols[0], text)?;
                        let xs = kernels::readings(&cols[1], text)?;
                        snap_batch(&ys, &xs, planar, &into, &counts)?;
                    }
                }
                Ok(kernels::gathered(cols[0].name().clone(), 1))
            },
            &[col(lon.as_str())],
            |_, f| Ok(Field::new(f[0].name().clone(), DataType::UInt32)),
        )
        .sum()
}

/// One batch of a snapping pass: its facts merged into `into`, its rows' resolutions
/// without snapping counted into `counts`.
fn snap_batch(
    ys: &[Option<kernels::Reading>],
    xs: &[Option<kernels::Reading>],
    planar: bool,
    into: &Mutex<Option<SnapInfo>>,
    counts: &Mutex<kernels::Counts>,
) -> PolarsResult<()> {
    let (mut lat_rows, mut lon_rows) = (Vec::with_capacity(ys.len()), Vec::with_capacity(xs.len()));
    let mut resolutions = Vec::with_capacity(ys.len());
    for (y, x) in ys.iter().zip(xs) {
        let (Some(y), Some(x)) = (y, x) else { continue };
        if kernels::valid_position(y.value, x.value, planar) {
            lat_rows.push((y.value, y.decimals));
            lon_rows.push((x.value, x.decimals));
            if y.step.is_finite() && x.step.is_finite() {
                let r = kernels::resolution_of((y.value, y.step), (x.value, x.step), planar, Snap::default());
                resolutions.extend(r);
            }
        }
    }
    kernels::add_counts(counts, resolutions.into_iter())?;
    merge_snap(into, SnapInfo { lat: AxisInfo::of_values(&lat_rows), lon: AxisInfo::of_values(&lon_rows) })
}

/// [`snap_batch`] of two float columns, read in place: the decimals of the valid
/// rows only (a value's decimals do not depend on the rows before it), and no row
/// materialised as a [`kernels::Reading`].
fn snap_floats(
    ys: &Float64Chunked,
    xs: &Float64Chunked,
    planar: bool,
    into: &Mutex<Option<SnapInfo>>,
    counts: &Mutex<kernels::Counts>,
) -> PolarsResult<()> {
    let mut pass = FloatSnap {
        planar,
        lat: Vec::with_capacity(ys.len()),
        lon: Vec::with_capacity(xs.len()),
        ..FloatSnap::default()
    };
    kernels::each_float_chunk(
        ys,
        xs,
        &mut pass,
        |pass, ys, xs| {
            // The decimals of a stretch without nulls, counted a slice at a time.
            let (mut dys, mut dxs) = (std::mem::take(&mut pass.dys), std::mem::take(&mut pass.dxs));
            pass.lat_run.decimals_of(ys, &mut dys);
            pass.lon_run.decimals_of(xs, &mut dxs);
            let known = |d: u8| (d != crate::decimals::NO_DECIMALS).then_some(d);
            for (((&y, &x), &dy), &dx) in ys.iter().zip(xs).zip(&dys).zip(&dxs) {
                pass.row(y, x, |_| (known(dy), known(dx)));
            }
            (pass.dys, pass.dxs) = (dys, dxs);
        },
        |pass, y, x| {
            let (Some(y), Some(x)) = (y, x) else { return };
            pass.row(y, x, |pass| (pass.lat_run.decimals(y), pass.lon_run.decimals(x)));
        },
    );
    let FloatSnap { lat, lon, by_decimals, mut varying, lat_k, lon_k, .. } = pass;
    for (dy, row) in by_decimals.iter().enumerate() {
        for (dx, &n) in row.iter().enumerate().filter(|(_, n)| **n > 0) {
            let (sy, sx) = (kernels::decimal_step(dy as u8), kernels::decimal_step(dx as u8));
            // Any valid latitude gives the same value here: the latitude's step is the
            // coarser, or the point is planar.
            if let Some(r) = kernels::resolution_of((0.0, sy), (0.0, sx), planar, Snap::default()) {
                varying.add(r, n);
            }
        }
    }
    counts.lock().map_err(|_| polars_err!(ComputeError: "counts poisoned"))?.merge_from(&varying);
    merge_snap(into, SnapInfo { lat: AxisInfo::of_axis(&lat, lat_k), lon: AxisInfo::of_axis(&lon, lon_k) })
}

/// What [`snap_floats`] gathers of a batch's valid rows.
#[derive(Default)]
struct FloatSnap {
    planar: bool,
    lat: Vec<f64>,
    lon: Vec<f64>,
    /// A row's resolution depends on its latitude only where the longitude's step is
    /// the coarser (geographic: scaled by cos φ); elsewhere on its decimals alone, and
    /// such rows are counted by their decimals, the value computed once per pair.
    by_decimals: [[u64; crate::decimals::MAX_DECIMALS as usize + 1]; crate::decimals::MAX_DECIMALS as usize + 1],
    varying: kernels::Counts,
    lat_run: crate::decimals::Run,
    lon_run: crate::decimals::Run,
    lat_k: Option<u8>,
    lon_k: Option<u8>,
    dys: Vec<u8>,
    dxs: Vec<u8>,
}

impl FloatSnap {
    /// One row: skipped unless a valid position, its decimals (`decimals`) counted.
    #[inline]
    fn row(&mut self, y: f64, x: f64, decimals: impl FnOnce(&mut Self) -> (Option<u8>, Option<u8>)) {
        if !kernels::valid_position(y, x, self.planar) {
            return;
        }
        let (dy, dx) = decimals(self);
        self.lat.push(y);
        self.lon.push(x);
        self.lat_k = self.lat_k.max(dy);
        self.lon_k = self.lon_k.max(dx);
        if let (Some(dy), Some(dx)) = (dy, dx) {
            let slot = self.by_decimals.get_mut(usize::from(dy)).and_then(|row| row.get_mut(usize::from(dx)));
            match slot {
                Some(n) if self.planar || dx >= dy => *n += 1,
                _ => {
                    let (sy, sx) = (kernels::decimal_step(dy), kernels::decimal_step(dx));
                    if let Some(r) = kernels::resolution_of((y, sy), (x, sx), self.planar, Snap::default()) {
                        self.varying.add(r, 1);
                    }
                }
            }
        }
    }
}

fn merge_snap(into: &Mutex<Option<SnapInfo>>, batch: SnapInfo) -> PolarsResult<()> {
    let mut shared = into.lock().map_err(|_| polars_err!(ComputeError: "snapping poisoned"))?;
    *shared = Some(match shared.take() {
        Some(seen) => seen.merge(&batch),
        None => batch,
    });
    Ok(())
}

/// What one pass over a point's rows gathers beside its position checks
/// ([`point_pass`]): its snapping pass, and its occupied cells on some grids.
pub struct PointPass {
    snap: Option<SnapGather>,
    cells: Vec<(f64, Arc<kernels::WordSet>)>,
}

impl PointPass {
    /// Keep what the pass gathered in `memo`, for the rows it was gathered over.
    pub fn finish_into(self, columns: &Columns, memo: &SnapMemo) -> PolarsResult<()> {
        if let Some(snap) = self.snap {
            snap.finish_into(columns, memo)?;
        }
        for (grid_m, set) in self.cells {
            let cells = Arc::new(sorted_cells(set.take()?));
            memo.cells
                .lock()
                .map_err(|_| polars_err!(ComputeError: "cells poisoned"))?
                .insert((columns.clone(), grid_m.to_bits()), cells);
        }
        Ok(())
    }
}

/// The position checks of a point (counted into `tally`: whether an axis is
/// malformed, in metres, the other axis, its valid rows and their range), with its
/// snapping pass when `snap` and its occupied cells on each of `grids` (metres), as
/// expressions of one query over its rows. `false_easting` is the easting zone checks
/// measure from (projected columns). On text, one expression parses each axis once
/// per batch for all of them (parsing each value again per pass was most of their
/// cost); binary floats need no parse, and an expression each runs them side by side
/// (one expression was 0.1 s slower at 20M rows). `None` for a point that is not a
/// pair of columns.
pub fn point_pass(
    columns: &Columns,
    text: bool,
    false_easting: Option<f64>,
    tally: Arc<Mutex<Tally>>,
    snap: bool,
    grids: &[f64],
) -> Option<(PointPass, Vec<Expr>)> {
    let Columns::Pair { lat, lon, planar, .. } = columns.clone() else { return None };
    let pass = PointPass {
        snap: snap.then(|| SnapGather { into: Arc::default(), counts: Arc::default() }),
        cells: grids.iter().map(|g| (*g, Arc::default())).collect(),
    };
    let gather = pass.snap.as_ref().map(|g| (g.into.clone(), g.counts.clone()));
    let mut exprs = Vec::new();
    let (gather, cells) = if text {
        (gather, pass.cells.clone())
    } else {
        if let Some((into, counts)) = gather {
            exprs.push(gather_snap(columns, text, into, counts));
        }
        for (grid_m, set) in &pass.cells {
            exprs.push(kernels::gather_valid_cells(columns, *grid_m, set.clone()));
        }
        (None, vec![])
    };
    let point = columns.clone();
    let checks = col(lat.as_str())
        .map_many(
            move |cols: &mut [Column]| {
                // Floats with nothing else to gather here are counted where they lie.
                let floats = match gather.is_none() && cells.is_empty() {
                    true => kernels::float_axis(&cols[0])?.zip(kernels::float_axis(&cols[1])?),
                    false => None,
                };
                if let Some((ys, xs)) = floats {
                    Tally::of_floats(&ys, &xs, false_easting, planar).add_into(&tally)?;
                } else {
                    let (ys, xs) = match &gather {
                        Some((into, counts)) => {
                            let ys = kernels::readings(&cols[0], text)?;
                            let xs = kernels::readings(&cols[1], text)?;
                            snap_batch(&ys, &xs, planar, into, counts)?;
                            (kernels::checked_axis(&cols[0], &ys)?, kernels::checked_axis(&cols[1], &xs)?)
                        }
                        None => (kernels::axis_values(&cols[0])?, kernels::axis_values(&cols[1])?),
                    };
                    Tally::of_rows(&ys, &xs, false_easting, planar).add_into(&tally)?;
                    for (grid_m, set) in &cells {
                        kernels::insert_cells(&ys, &xs, &mut kernels::CellKeyer::new(&point, *grid_m)?, set)?;
                    }
                }
                Ok(kernels::gathered(cols[0].name().clone(), 1))
            },
            &[col(lon.as_str())],
            |_, f| Ok(Field::new(f[0].name().clone(), DataType::UInt32)),
        )
        .sum();
    exprs.insert(0, checks);
    Some((pass, exprs))
}

/// The rows of `src` that pass a group's row filters.
pub fn filtered(src: &Source, group: &Group, snaps: &BTreeMap<Columns, Snap>) -> LazyFrame {
    let mut lf = src.lf.clone();
    for filter in &group.filters {
        let predicate = match filter {
            RowFilter::Value { column, op, value } => match value {
                RuleLiteral::Number(n) => compare(num(column), *op, lit(*n)),
                RuleLiteral::Text(t) => compare(col(column.as_str()).cast(DataType::String), *op, lit(t.clone())),
            },
            RowFilter::Resolution { columns, accuracy_m, op, threshold_m } => {
                let snap = snaps.get(columns).copied().unwrap_or_default();
                compare(kernels::row_resolution(columns, src.text, snap, *accuracy_m), *op, lit(*threshold_m))
            }
        };
        lf = lf.filter(predicate);
    }
    lf
}

/// Compute every need of a group. `snaps` gives each point's snapping (see [`snapping`]).
pub fn compute(src: &Source, group: &Group, snaps: &BTreeMap<Columns, Snap>) -> PolarsResult<Values> {
    compute_known(src, group, snaps, &BTreeMap::new())
}

/// The values of a group's needs as a scan reads them: the states [`measure`] gives,
/// read as `check` reads a profile's, exact inside their bands.
pub fn compute_known(
    src: &Source,
    group: &Group,
    snaps: &BTreeMap<Columns, Snap>,
    unsnapped: &BTreeMap<Columns, kernels::Counts>,
) -> PolarsResult<Values> {
    let measured = measure(src, group, snaps, unsnapped)?;
    debug_assert!(measured.banded(&group.needs).is_empty(), "a band left unread: {:?}", measured.banded(&group.needs));
    Ok(measured.values(&group.needs))
}

/// The state of every need of a group on the rows that pass its filters, from one
/// streamed query (value lists and lattice spacings from queries of their own), with
/// the exact value of each state that is an estimate ([`state::Measured`]). `unsnapped`
/// gives the rows per resolution of points that are not snapped, counted on all of
/// `src` by their snapping pass ([`snap_pass`]): a group without row filters takes
/// those counts instead of counting again. One function measures for a scan and for a
/// profile, so a scan's verdict is `check` of what a profile of the same rows holds.
pub fn measure(
    src: &Source,
    group: &Group,
    snaps: &BTreeMap<Columns, Snap>,
    unsnapped: &BTreeMap<Columns, kernels::Counts>,
) -> PolarsResult<state::Measured> {
    let (lf, parsed) = parse_pairs(src, filtered(src, group, snaps), group);
    let parsed = |columns: &Columns| parsed.get(columns).cloned().unwrap_or_else(|| columns.clone());
    // The position checks' counts over all of these rows, for a group without filters.
    let checked = |columns: &Columns| src.memo.filter(|_| group.filters.is_empty()).and_then(|m| m.tally(columns));
    // And the cells they gathered.
    let known_cells = |columns: &Columns, grid_m: f64| {
        src.memo.filter(|_| group.filters.is_empty()).and_then(|m| m.cells(columns, grid_m))
    };
    let mut out = state::Measured::default();
    let mut query = Query::default();
    let mut gathered: BTreeMap<CellKey, Arc<Vec<(i64, i64)>>> = BTreeMap::new();
    let mut post: Vec<(String, Post)> = Vec::new();
    for (i, need) in group.needs.iter().enumerate() {
        let key = need.key();
        if out.states.contains_key(&key) || post.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let alias = |suffix: &str| format!("m{i}_{suffix}");
        let step = match need {
            Need::Rows => {
                query.aggs.push(rows_expr(&lf)?.alias(alias("v").as_str()));
                Step::Deferred(Post::Count(alias("v")))
            }
            Need::Has(columns) if checked(columns).is_some() => {
                Step::Ready(State::Count { n: checked(columns).map_or(0, |t| t.valid) })
            }
            Need::Has(columns) => {
                query.aggs.push(valid(&parsed(columns)).cast(DataType::UInt64).sum().alias(alias("v").as_str()));
                Step::Deferred(Post::Count(alias("v")))
            }
            Need::Prop { prop: Prop::ExtentKm, columns: columns @ Columns::Pair { planar, .. }, .. }
                if checked(columns).is_some() =>
            {
                let t = checked(columns).unwrap_or_default();
                let ends = |r: Option<(f64, f64)>| [r.map(|r| r.0), r.map(|r| r.1)];
                Step::Ready(State::Extent { lat: ends(t.lat_range), lon: ends(t.lon_range), planar: *planar })
            }
            Need::Prop { prop: Prop::AreaKm2 | Prop::ContiguousKm2, columns, grid_m, .. }
                if known_cells(columns, *grid_m).is_some() =>
            {
                let cell_key = (columns.clone(), grid_m.to_bits());
                gathered.insert(cell_key.clone(), known_cells(columns, *grid_m).unwrap_or_default());
                Step::Deferred(Post::Cells(cell_key))
            }
            Need::Distinct(Columns::One(c)) | Need::Prop { prop: Prop::Distinct, columns: Columns::One(c), .. } => {
                // Gathered as the rows stream past: memory grows with the distinct values.
                let set = Arc::new(kernels::TextSet::default());
                query.aggs.push(kernels::gather_distinct(c, set.clone()).alias(alias("v").as_str()));
                Step::Deferred(Post::Set(state::DistinctSet::Texts(set)))
            }
            Need::Distinct(columns @ Columns::Pair { .. })
            | Need::Prop { prop: Prop::Distinct, columns: columns @ Columns::Pair { .. }, .. } => {
                let set = Arc::new(kernels::PairSet::for_columns(columns));
                query.aggs.push(kernels::gather_positions(columns, set.clone()).alias(alias("v").as_str()));
                Step::Deferred(Post::Set(state::DistinctSet::Positions(set)))
            }
            Need::Prop { prop: Prop::ResolutionM, columns, accuracy_m: None, .. }
                if group.filters.is_empty()
                    && snaps.get(columns).copied().unwrap_or_default() == Snap::default()
                    && unsnapped.contains_key(columns) =>
            {
                let per_row = kernels::row_resolution(columns, src.text, Snap::default(), None);
                let counts = Arc::new(Mutex::new(unsnapped[columns].clone()));
                Step::Deferred(Post::Resolution(counts, per_row))
            }
            Need::Prop { kind, columns, accuracy_m, prop, grid_m } => {
                // Extent and cells read the values parsed once; resolution reads the
                // text itself (the step of each value as written).
                let read = if *prop == Prop::ResolutionM { columns.clone() } else { parsed(columns) };
                let ask = Ask { kind: *kind, columns: &read, accuracy_m: *accuracy_m, prop: *prop, grid_m: *grid_m };
                prop_state(src, &lf, ask, snaps, &mut query, &alias, &mut out.exact, &key)?
            }
        };
        match step {
            Step::Ready(state) => {
                out.states.insert(key, state);
            }
            Step::Deferred(p) => post.push((key, p)),
        }
    }
    // Aggregates of other ends over all of the dataset's rows ride on this query.
    let riders = match src.memo {
        Some(memo) if group.filters.is_empty() && !query.aggs.is_empty() => memo.riders()?,
        _ => vec![],
    };
    let rode = !riders.is_empty();
    let Query { mut aggs, cells, .. } = query;
    aggs.extend(riders.into_iter().enumerate().map(|(i, e)| e.alias(format!("rider{i}").as_str())));
    // States known before the query (resolutions counted by a snapping pass, cells
    // gathered by the position checks) are posted too: a group whose every need is
    // known runs no query, and still gives every state.
    if !post.is_empty() || rode {
        let df = if aggs.is_empty() { DataFrame::empty() } else { collect(lf.clone().select(aggs))? };
        let get = |a: &str| scalar(&df, a);
        for (key, p) in post {
            let state = match p {
                Post::Count(a) => State::Count { n: get(&a).unwrap_or(0.0) as u64 },
                Post::Set(set) if set.len()? > sketch::EXACT_LIMIT => {
                    out.exact.insert(key.clone(), Some(set.len()? as f64));
                    out.unsketched.push((key, set));
                    continue;
                }
                Post::Set(set) => set.state()?,
                Post::Cells(cell_key) => {
                    if !gathered.contains_key(&cell_key) {
                        let set = cells.get(&cell_key).map(|s| s.take()).transpose()?.unwrap_or_default();
                        gathered.insert(cell_key.clone(), Arc::new(sorted_cells(set)));
                    }
                    State::Cells { cells: gathered[&cell_key].clone() }
                }
                Post::Resolution(counts, per_row) => {
                    let hist = hist_of(taken(&counts)?);
                    // The percentile's histogram bin holds several values: sort them
                    // (a query of its own, rare: resolutions come in few steps).
                    if hist.quantile(0.05).is_some_and(|(lo, hi)| lo != hi) {
                        let q = collect(
                            lf.clone().select([per_row.quantile(lit(0.05), QuantileMethod::Lower).alias("v")]),
                        )?;
                        out.exact.insert(key.clone(), scalar(&q, "v"));
                    }
                    State::Hist { hist }
                }
                Post::Steps(set, prop) => {
                    let sorted = kernels::sorted_values(&set)?;
                    if sorted.len() > state::VALUE_LIMIT {
                        out.exact.insert(key.clone(), state::value_steps(&sorted, prop));
                        State::Values { values: None }
                    } else {
                        State::Values { values: Some(sorted) }
                    }
                }
                Post::Range(min, max) => State::Range { min: get(&min), max: get(&max) },
                Post::Extent { lat, lon, planar } => {
                    State::Extent { lat: lat.map(|a| get(&a)), lon: lon.map(|a| get(&a)), planar }
                }
            };
            out.states.insert(key, state);
        }
    }
    Ok(out)
}

/// The extent of a point's valid values, from each axis' range: the diagonal in
/// km (planar metres), or the great-circle distance between the corners.
pub(crate) fn extent_km(lat: Option<(f64, f64)>, lon: Option<(f64, f64)>, planar: bool) -> Option<f64> {
    let ((a, b), (c, d)) = (lat?, lon?);
    Some(if planar { ((b - a).powi(2) + (d - c).powi(2)).sqrt() / 1000.0 } else { geo::distance_km(a, c, b, d) })
}

/// The points whose values several metrics of `group` read (validity, extent,
/// cells), from a text source: each axis is parsed once into a number column beside
/// the text, and those metrics read the numbers (`Columns` of the parsed columns, by
/// the original). Binary sources are returned as they are: their values need no parse.
fn parse_pairs(src: &Source, lf: LazyFrame, group: &Group) -> (LazyFrame, BTreeMap<Columns, Columns>) {
    let mut parsed = BTreeMap::new();
    if !src.text {
        return (lf, parsed);
    }
    let mut exprs = Vec::new();
    for need in &group.needs {
        let columns = match need {
            Need::Has(c) => c,
            Need::Prop {
                prop: Prop::ExtentKm | Prop::AreaKm2 | Prop::ContiguousKm2 | Prop::SpacingM, columns, ..
            } => columns,
            _ => continue,
        };
        let Columns::Pair { lat, lon, planar, crs } = columns else { continue };
        if parsed.contains_key(columns) {
            continue;
        }
        let name = |axis: &str| format!("\u{1}parsed {axis}");
        let (plat, plon) = (name(lat), name(lon));
        exprs.push(coord(lat).alias(plat.as_str()));
        exprs.push(coord(lon).alias(plon.as_str()));
        parsed.insert(columns.clone(), Columns::Pair { lat: plat, lon: plon, planar: *planar, crs: crs.clone() });
    }
    if exprs.is_empty() {
        return (lf, parsed);
    }
    (lf.with_columns(exprs), parsed)
}

enum Post {
    /// Rows, or rows with a valid value.
    Count(String),
    /// Distinct values or positions.
    Set(state::DistinctSet),
    /// Occupied cells (shared by the area and the largest cluster of one point and grid).
    Cells(CellKey),
    /// Rows per per-row resolution, and the per-row expression for an exact percentile.
    Resolution(Shared<kernels::Counts>, Expr),
    /// Distinct values ([`kernels::gather_values`]) whose steps give a resolution.
    Steps(Arc<kernels::WordSet>, Prop),
    /// The smallest and largest value (of a measure, or of a time's epoch seconds).
    Range(String, String),
    /// Each axis' smallest and largest valid value.
    Extent { lat: [String; 2], lon: [String; 2], planar: bool },
}

type Shared<T> = Arc<Mutex<T>>;

/// What a gathering kernel collected, once the query has run.
fn taken<T: Default>(shared: &Shared<T>) -> PolarsResult<T> {
    Ok(std::mem::take(&mut *shared.lock().map_err(|_| polars_err!(ComputeError: "gathered set poisoned"))?))
}

/// The histogram of rows per resolution.
fn hist_of(counts: kernels::Counts) -> sketch::Hist {
    counts.into_hist()
}

fn sorted_cells(keys: Vec<u64>) -> Vec<(i64, i64)> {
    let mut cells: Vec<(i64, i64)> = keys.into_iter().map(kernels::unpack_cell).collect();
    cells.sort_unstable();
    cells
}

/// Occupied cells gathered in the one pass, by point and grid (the area and the
/// largest cluster share them).
type CellMemo = BTreeMap<CellKey, Arc<kernels::WordSet>>;

/// A point and a grid (its size's bits).
type CellKey = (Columns, u64);

enum Step {
    Ready(State),
    Deferred(Post),
}

/// A property of a tag asked for: of which kind, on which columns, at which accuracy
/// and grid.
struct Ask<'c> {
    kind: TagKind,
    columns: &'c Columns,
    accuracy_m: Option<f64>,
    prop: Prop,
    grid_m: f64,
}

/// The aggregates of a group's one query, and what they gather into.
#[derive(Default)]
struct Query {
    aggs: Vec<Expr>,
    /// Occupied cells gathered, by point and grid.
    cells: CellMemo,
    /// The smallest and largest value of an expression, by its text (a measure's
    /// `min` and `max` read one pair).
    ranges: BTreeMap<String, (String, String)>,
}

#[allow(clippy::too_many_arguments)]
fn prop_state(
    src: &Source,
    lf: &LazyFrame,
    ask: Ask,
    snaps: &BTreeMap<Columns, Snap>,
    query: &mut Query,
    alias: &dyn Fn(&str) -> String,
    exact: &mut Values,
    key: &str,
) -> PolarsResult<Step> {
    let Ask { kind, columns, accuracy_m, prop, grid_m } = ask;
    let one = match columns {
        Columns::One(c) => Some(c.as_str()),
        Columns::Pair { .. } => None,
    };
    let mut range = |e: Expr| {
        let (min, max) = query.ranges.entry(format!("{e:?}")).or_insert_with(|| {
            query.aggs.push(e.clone().min().alias(alias("min").as_str()));
            query.aggs.push(e.max().alias(alias("max").as_str()));
            (alias("min"), alias("max"))
        });
        Step::Deferred(Post::Range(min.clone(), max.clone()))
    };
    Ok(match (prop, one) {
        (Prop::ResolutionM, _) => {
            let snap = snaps.get(columns).copied().unwrap_or_default();
            let per_row = kernels::row_resolution(columns, src.text, snap, accuracy_m);
            // Resolutions come in few distinct steps: count rows per value as the rows
            // stream past and take the percentile from the counts.
            let counts = Arc::new(Mutex::new(kernels::Counts::default()));
            let gather = kernels::gather_resolutions(columns, per_row.clone(), accuracy_m, counts.clone());
            query.aggs.push(gather.alias(alias("v").as_str()));
            Step::Deferred(Post::Resolution(counts, per_row))
        }
        (Prop::ExtentKm, None) => {
            let Columns::Pair { lat, lon, planar, .. } = columns else { unreachable!("pair checked above") };
            let ok = valid(columns);
            let mut ends = |c: &str, axis: &str| {
                // Invalid rows as nulls, not filtered out: an elementwise expression
                // keeps the one query streaming beside the gathering kernels.
                let v = when(ok.clone()).then(coord(c)).otherwise(lit(NULL).cast(DataType::Float64));
                let names = [alias(&format!("{axis}_min")), alias(&format!("{axis}_max"))];
                query.aggs.push(v.clone().min().alias(names[0].as_str()));
                query.aggs.push(v.max().alias(names[1].as_str()));
                names
            };
            Step::Deferred(Post::Extent { lat: ends(lat, "lat"), lon: ends(lon, "lon"), planar: *planar })
        }
        (Prop::AreaKm2 | Prop::ContiguousKm2, None) => {
            let key = (columns.clone(), grid_m.to_bits());
            if !query.cells.contains_key(&key) {
                let set = Arc::new(kernels::WordSet::default());
                query
                    .aggs
                    .push(kernels::gather_valid_cells(columns, grid_m, set.clone()).alias(alias("cells").as_str()));
                query.cells.insert(key.clone(), set);
            }
            Step::Deferred(Post::Cells(key))
        }
        (Prop::SpacingM, None) => {
            // A query of its own: the distinct positions, kept as a profile keeps them
            // up to VALUE_LIMIT, else read for their spacing here.
            let Columns::Pair { planar, .. } = columns else { unreachable!("pair checked above") };
            let set = state::distinct_points(lf, columns)?;
            Step::Ready(if set.len()? > state::VALUE_LIMIT {
                exact.insert(key.to_string(), state::spacing_of(set.sorted()?, *planar));
                State::Points { points: None }
            } else {
                let keys = set.sorted_keys()?;
                State::Points {
                    points: Some(keys.iter().flat_map(|k| <[f64; 2]>::from(kernels::position_of(*k))).collect()),
                }
            })
        }
        (Prop::Min | Prop::Max, Some(c)) => range(num(c)),
        (Prop::Resolution, Some(c)) => {
            // The distinct values gathered as the rows stream past, their steps after.
            let set = Arc::new(kernels::WordSet::default());
            query.aggs.push(kernels::gather_values(num(c), set.clone()).alias(alias("v").as_str()));
            Step::Deferred(Post::Steps(set, prop))
        }
        (Prop::SpanDays, Some(c)) if kind == TagKind::Time => range(kernels::epoch_seconds(c)),
        (Prop::ResolutionS, Some(c)) if kind == TagKind::Time => {
            let set = Arc::new(kernels::WordSet::default());
            query.aggs.push(kernels::gather_values(kernels::epoch_seconds(c), set.clone()).alias(alias("v").as_str()));
            Step::Deferred(Post::Steps(set, prop))
        }
        _ => Step::Ready(State::Undefined),
    })
}

/// Rows per distinct per-row resolution, as a histogram; `weight` names a column
/// whose value counts each row that many times (a join side weighted by the other's
/// rows per key).
pub fn resolution_hist(lf: &LazyFrame, per_row: Expr, weight: Option<&str>) -> PolarsResult<sketch::Hist> {
    let (select, count) = match weight {
        Some(w) => (vec![per_row.alias("r"), col(w)], col(w).sum().cast(DataType::Float64).alias("n")),
        None => (vec![per_row.alias("r")], len().cast(DataType::Float64).alias("n")),
    };
    let df = collect(lf.clone().select(select).drop_nulls(None).group_by([col("r")]).agg([count]))?;
    let r = df.column("r")?.f64()?.clone();
    let n = df.column("n")?.f64()?.clone();
    Ok(sketch::Hist::from_counts(r.into_no_null_iter().zip(n.into_no_null_iter().map(|x| x.max(0.0) as u64))))
}

/// Distinct occupied cells of a point (or xy) tag on the coverage grid, sorted. The
/// cells are gathered as the rows stream past: memory grows with the cells, not the rows.
pub fn occupied_cells(lf: &LazyFrame, columns: &Columns, grid_m: f64) -> PolarsResult<Vec<(i64, i64)>> {
    if !matches!(columns, Columns::Pair { .. }) {
        return Ok(vec![]);
    }
    let set = Arc::new(kernels::WordSet::default());
    collect(lf.clone().select([kernels::gather_valid_cells(columns, grid_m, set.clone()).alias("n")]))?;
    Ok(sorted_cells(set.take()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` positions on `step` (in degrees, written with `k` decimals), a few out of
    /// range and a few missing, as text or as floats, over several streamed batches.
    fn frame(rows: usize, step: f64, k: usize, text: bool, seed: u64) -> DataFrame {
        let mut next = crate::decimals::xorshift(seed);
        let (mut lat, mut lon, mut site) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..rows {
            let y = 30.0 + ((next() % 40_000) as f64 * step);
            let x = 114.0 + ((next() % 40_000) as f64 * step);
            let y = if i % 997 == 0 { 95.0 } else { y };
            let (y, x) = ((y * 1e9).round() / 1e9, (x * 1e9).round() / 1e9);
            lat.push((i % 1009 != 0).then_some(y));
            lon.push(Some(x));
            site.push(format!("S{}", next() % 5_000));
        }
        let axis = |name: &str, v: Vec<Option<f64>>| -> Column {
            if text {
                let t: Vec<Option<String>> = v.iter().map(|x| x.map(|x| format!("{x:.k$}"))).collect();
                Column::new(name.into(), t)
            } else {
                Column::new(name.into(), v)
            }
        };
        DataFrame::new_infer_height(vec![axis("lat", lat), axis("lon", lon), Column::new("site".into(), site)]).unwrap()
    }

    fn pair() -> Columns {
        Columns::Pair { lat: "lat".into(), lon: "lon".into(), planar: false, crs: None }
    }

    /// The snapping of one axis found directly: the most decimals of its valid values,
    /// then the coarsest candidate step every valid value sits on.
    fn direct(values: &[(f64, u8)]) -> Option<f64> {
        let k = values.iter().map(|v| v.1).max()?;
        geo::snap_candidates(k)
            .into_iter()
            .filter(|s| {
                values.iter().all(|(x, _)| {
                    let q = x * (1.0 / s);
                    (q - q.round_ties_even()).abs() <= 1e-6
                })
            })
            .max_by(f64::total_cmp)
    }

    #[test]
    fn one_pass_snapping_finds_what_a_direct_search_finds() {
        for (seed, (step, k)) in [(0.25, 2), (0.0005, 4), (0.000001, 6), (0.01, 3), (0.002, 3)].into_iter().enumerate()
        {
            for text in [false, true] {
                let df = frame(250_000, step, k, text, 7 + seed as u64);
                let lf = df.clone().lazy();
                let snap = snapping(&Source { lf: &lf, text, memo: None }, &pair()).unwrap();
                let axis = |name: &str| -> Vec<(f64, u8)> {
                    let (y, x) = (df.column("lat").unwrap(), df.column("lon").unwrap());
                    let ys = kernels::readings(y, text).unwrap();
                    let xs = kernels::readings(x, text).unwrap();
                    ys.into_iter()
                        .zip(xs)
                        .filter_map(|(y, x)| {
                            let (y, x) = (y?, x?);
                            let r = if name == "lat" { y } else { x };
                            ((-90.0..=90.0).contains(&y.value) && (-180.0..=180.0).contains(&x.value))
                                .then_some((r.value, r.decimals?))
                        })
                        .collect()
                };
                assert_eq!(snap.lat, direct(&axis("lat")), "lat, step {step}, text {text}");
                assert_eq!(snap.lon, direct(&axis("lon")), "lon, step {step}, text {text}");
            }
        }
    }

    /// A property of the point `pair()` on a 50 m grid.
    fn point_prop(prop: Prop) -> Need {
        Need::Prop { kind: TagKind::Point, columns: pair(), accuracy_m: None, prop, grid_m: 50.0 }
    }

    /// The needs of a group that reads the point and the sites in every way one query does.
    fn point_needs() -> Vec<Need> {
        vec![
            Need::Rows,
            Need::Has(pair()),
            Need::Distinct(Columns::One("site".into())),
            point_prop(Prop::ResolutionM),
            point_prop(Prop::ExtentKm),
            point_prop(Prop::AreaKm2),
            point_prop(Prop::ContiguousKm2),
        ]
    }

    /// What a profile stores of a group, written and read back, gives `check` the
    /// scan's value of every need, or a band around it where the state is an estimate
    /// (here 300 000 distinct positions: a sketch of them, and no list of them for the
    /// lattice spacing); the scan leaves no band unread.
    #[test]
    fn a_scan_reads_the_states_a_profile_stores() {
        for text in [false, true] {
            let lf = frame(300_000, 0.0001, 4, text, 41).lazy();
            let src = Source { lf: &lf, text, memo: None };
            let mut needs = point_needs();
            needs.extend([Need::Distinct(pair()), point_prop(Prop::SpacingM)]);
            let snaps: BTreeMap<Columns, Snap> = [(pair(), snapping(&src, &pair()).unwrap())].into();
            let group = Group { filters: vec![], needs: needs.clone() };
            let measured = measure(&src, &group, &snaps, &BTreeMap::new()).unwrap();
            assert!(measured.banded(&needs).is_empty(), "text {text}");
            let values = measured.values(&needs);
            let states = measured.into_states().unwrap();
            let stored: BTreeMap<String, State> =
                serde_json::from_str(&serde_json::to_string(&states).unwrap()).unwrap();
            let (read, bands) = state::read(&needs, &stored);
            let banded = ["distinct(lat,lon)", "spacing_m(lat,lon)@50~None"];
            assert_eq!(bands.keys().collect::<Vec<_>>(), banded, "text {text}");
            for need in &needs {
                let (key, v) = (need.key(), values[&need.key()]);
                match bands.get(&key) {
                    Some(&(lo, hi)) => assert!(v.is_some_and(|v| lo <= v && v <= hi), "{key}: {v:?} in {lo}..{hi}"),
                    None => assert_eq!(read[&key], v, "{key}, text {text}"),
                }
            }
            // The exact count the scan reads is the count of distinct positions.
            let n = collect(
                lf.clone()
                    .filter(valid(&pair()))
                    .select([as_struct(vec![col("lat"), col("lon")]).n_unique().alias("n")]),
            )
            .unwrap();
            assert_eq!(values["distinct(lat,lon)"], scalar(&n, "n"), "text {text}");
        }
    }

    #[test]
    fn the_one_query_of_a_group_gives_what_separate_queries_give() {
        for text in [false, true] {
            let df = frame(300_000, 0.0001, 4, text, 99);
            let lf = df.lazy();
            let src = Source { lf: &lf, text, memo: None };
            let needs = point_needs();
            let snaps: BTreeMap<Columns, Snap> = [(pair(), snapping(&src, &pair()).unwrap())].into();
            let values = compute(&src, &Group { filters: vec![], needs: needs.clone() }, &snaps).unwrap();
            // The resolutions counted by the snapping pass give the same values.
            let pass = snap_pass(&src, &pair()).unwrap();
            assert_eq!(pass.info.snap(), Snap::default(), "these positions are not snapped");
            let unsnapped: BTreeMap<Columns, kernels::Counts> = [(pair(), pass.unsnapped)].into();
            let group = Group { filters: vec![], needs: needs.clone() };
            assert_eq!(compute_known(&src, &group, &snaps, &unsnapped).unwrap(), values, "text {text}");
            // Each need in a query of its own, and with the counts already known (a
            // group whose only need is known runs no query).
            let alone = |need: &Need| compute(&src, &Group { filters: vec![], needs: vec![need.clone()] }, &snaps);
            let known = |need: &Need| {
                compute_known(&src, &Group { filters: vec![], needs: vec![need.clone()] }, &snaps, &unsnapped)
            };
            for need in &needs {
                assert_eq!(values[&need.key()], alone(need).unwrap()[&need.key()], "{}, text {text}", need.key());
                assert_eq!(
                    values[&need.key()],
                    known(need).unwrap()[&need.key()],
                    "{}, known, text {text}",
                    need.key()
                );
            }
            // And against polars' own operators where they exist.
            let ok = collect(lf.clone().filter(valid(&pair()))).unwrap();
            assert_eq!(values["rows"], Some(300_000.0));
            let sites = collect(lf.clone().select([col("site").n_unique().alias("n")])).unwrap();
            assert_eq!(values["distinct(site)"], scalar(&sites, "n"));
            let cells = occupied_cells(&lf, &pair(), 50.0).unwrap();
            assert_eq!(values[&point_prop(Prop::AreaKm2).key()], Some(cells.len() as f64 * 2500.0 / 1e6));
            assert!(ok.height() < 300_000 && ok.height() > 290_000, "some rows are invalid");
            let per_row = kernels::row_resolution(&pair(), text, snaps[&pair()], None);
            let hist = resolution_hist(&lf, per_row, None).unwrap();
            assert_eq!(values[&point_prop(Prop::ResolutionM).key()], hist.quantile(0.05).map(|q| q.0));
        }
    }

    /// Float axes of mixed decimals, nulls, out-of-range and non-finite values, in
    /// two chunks of unequal length on each side.
    fn odd_floats(seed: u64) -> (Float64Chunked, Float64Chunked) {
        let mut next = crate::decimals::xorshift(seed);
        let mut value = |base: f64, i: usize| -> Option<f64> {
            let k = (next() % 8) as i32;
            let v = base + (next() % 100_000) as f64 / 1e5;
            match i % 211 {
                0 => None,
                1 => Some(f64::NAN),
                2 => Some(base * 4.0),
                3 => Some(f64::INFINITY),
                4 => Some(f64::NEG_INFINITY),
                5 => Some(base * -40.0),
                6 => Some(-0.0),
                7 => Some(0.0),
                _ => Some((v * 10f64.powi(k)).round() / 10f64.powi(k)),
            }
        };
        let lat: Vec<Option<f64>> = (0..30_000).map(|i| value(30.0, i)).collect();
        let lon: Vec<Option<f64>> = (0..30_000).map(|i| value(114.0, i + 7)).collect();
        let chunked = |name: &str, v: &[Option<f64>], cut: usize| {
            let mut ca = Float64Chunked::from_iter_options(name.into(), v[..cut].iter().copied());
            ca.append(&Float64Chunked::from_iter_options(name.into(), v[cut..].iter().copied())).unwrap();
            ca
        };
        (chunked("lat", &lat, 10_000), chunked("lon", &lon, 17_000))
    }

    #[test]
    fn the_float_kernels_give_what_the_readings_give() {
        for seed in [1, 2, 3] {
            let (ys, xs) = odd_floats(seed);
            // And one chunk each without nulls (the slices' path), of a length that
            // leaves rows over after the dense checks' lanes.
            let dense = |ca: &Float64Chunked| -> Float64Chunked {
                let values = ca.iter().take(ca.len() - 3).map(|v| v.unwrap_or(1.5)).collect();
                Float64Chunked::from_vec(ca.name().clone(), values)
            };
            for (ys, xs) in [(ys.clone(), xs.clone()), (dense(&ys), dense(&xs))] {
                for planar in [false, true] {
                    let (ycol, xcol) = (ys.clone().into_column(), xs.clone().into_column());
                    let (a, b) = (Mutex::new(None), Mutex::new(None));
                    let (ca, cb) = (Mutex::new(kernels::Counts::default()), Mutex::new(kernels::Counts::default()));
                    snap_floats(&ys, &xs, planar, &a, &ca).unwrap();
                    let (ry, rx) = (kernels::readings(&ycol, false).unwrap(), kernels::readings(&xcol, false).unwrap());
                    snap_batch(&ry, &rx, planar, &b, &cb).unwrap();
                    assert_eq!(a.into_inner().unwrap(), b.into_inner().unwrap(), "seed {seed}, planar {planar}");
                    assert_eq!(ca.into_inner().unwrap(), cb.into_inner().unwrap(), "seed {seed}, planar {planar}");
                    let (vy, vx) = (kernels::axis_values(&ycol).unwrap(), kernels::axis_values(&xcol).unwrap());
                    for x0 in [None, Some(500_000.0)] {
                        assert_eq!(
                            Tally::of_floats(&ys, &xs, x0, planar),
                            Tally::of_rows(&vy, &vx, x0, planar),
                            "seed {seed}, planar {planar}"
                        );
                    }
                }
            }
        }
    }

    /// The position checks, the snapping pass and the occupied cells in one query (one
    /// expression on text; what a scan runs) count and find what they count and find apart,
    /// on floats, on text, and on text with degrees–minutes–seconds, malformed values,
    /// values out of range and nulls; and the metrics of a group take those cells.
    #[test]
    fn one_point_pass_gives_what_separate_passes_give() {
        let odd = DataFrame::new_infer_height(vec![
            Column::new(
                "lat".into(),
                [Some("30.1234"), Some("30°12'30\"N"), Some("30°75'N"), None, Some("95.5"), Some("30.5"), Some("31")],
            ),
            Column::new(
                "lon".into(),
                [Some("114.5"), Some("114.25"), Some("114.1"), Some("114.2"), Some("114.3"), None, Some("190.25")],
            ),
        ])
        .unwrap();
        let cases =
            [(frame(200_000, 0.0005, 4, false, 3), false), (frame(200_000, 0.0001, 4, true, 4), true), (odd, true)];
        for (case, (df, text)) in cases.into_iter().enumerate() {
            let lf = df.lazy();
            // Apart: the checks alone, the snapping pass, the cells on two grids.
            let apart = Arc::new(Mutex::new(Tally::default()));
            let (alone, checks) = point_pass(&pair(), text, None, apart.clone(), false, &[]).unwrap();
            assert_eq!(checks.len(), 1, "the checks alone");
            let (gather, snap) = SnapGather::new(&pair(), text);
            collect(lf.clone().select([checks[0].clone().alias("n"), snap.alias("s")])).unwrap();
            let two = gather.finish().unwrap();
            let memo = SnapMemo::default();
            alone.finish_into(&pair(), &memo).unwrap();
            assert!(memo.known(&pair()).is_none() && memo.cells(&pair(), 50.0).is_none(), "nothing but checks");
            // Together.
            let together = Arc::new(Mutex::new(Tally::default()));
            let (pass, all) = point_pass(&pair(), text, None, together.clone(), true, &[50.0, 200.0]).unwrap();
            assert_eq!(all.len(), if text { 1 } else { 4 }, "text: one expression");
            collect(lf.clone().select(aliased(all))).unwrap();
            pass.finish_into(&pair(), &memo).unwrap();
            let (apart, together) = (*apart.lock().unwrap(), *together.lock().unwrap());
            assert_eq!(together, apart, "case {case}");
            assert_eq!(memo.known(&pair()), Some(two.info.clone()), "case {case}");
            assert_eq!(memo.lock().unwrap()[&pair()].1, two.unsnapped, "case {case}");
            for grid in [50.0, 200.0] {
                let cells = occupied_cells(&lf, &pair(), grid).unwrap();
                assert_eq!(*memo.cells(&pair(), grid).unwrap(), cells, "case {case}, grid {grid}");
                // A group without filters reads them; with the memo or without, the same area.
                let need = Need::Prop {
                    kind: TagKind::Point,
                    columns: pair(),
                    accuracy_m: None,
                    prop: Prop::AreaKm2,
                    grid_m: grid,
                };
                let group = Group { filters: vec![], needs: vec![need.clone()] };
                let snaps = BTreeMap::new();
                let with = compute(&Source { lf: &lf, text, memo: Some(&memo) }, &group, &snaps).unwrap();
                let without = compute(&Source { lf: &lf, text, memo: None }, &group, &snaps).unwrap();
                assert_eq!(with, without, "case {case}, grid {grid}");
                assert_eq!(with[&need.key()], Some(cells.len() as f64 * grid * grid / 1e6));
            }
            if case == 2 {
                assert_eq!((apart.rows, apart.bad_lat, apart.bad_lon), (7, 1, 0));
                assert_eq!(apart.valid, 2, "two rows have both axes in range");
            }
        }
        assert!(point_pass(&Columns::One("site".into()), true, None, Arc::default(), true, &[50.0]).is_none());
    }

    /// Aggregates riding on a dataset's memo are read by its first metrics query over
    /// all of its rows, once, and change none of the query's values; a query of a
    /// group with row filters leaves them.
    #[test]
    fn riders_are_read_by_the_first_query_over_all_rows() {
        let lf = df!("site" => ["a", "b", "a", " c ", "b"], "v" => [1.0, 2.0, 3.0, 4.0, 5.0]).unwrap().lazy();
        let memo = SnapMemo::default();
        let gathering = keys::Gathering::default();
        memo.ride(vec![gathering.expr(col("site"))]).unwrap();
        let snaps = BTreeMap::new();
        let with = Source { lf: &lf, text: true, memo: Some(&memo) };
        let filter = RowFilter::Value { column: "v".into(), op: Op::Gt, value: RuleLiteral::Number(2.0) };
        let filtered = Group { filters: vec![filter], needs: vec![Need::Rows] };
        let all = Group { filters: vec![], needs: vec![Need::Rows, Need::Distinct(Columns::One("site".into()))] };
        assert_eq!(compute(&with, &filtered, &snaps).unwrap()[&Need::Rows.key()], Some(3.0));
        assert_eq!(memo.riders().unwrap().len(), 1, "left by a filtered query");
        memo.ride(vec![gathering.expr(col("site"))]).unwrap();
        let values = compute(&with, &all, &snaps).unwrap();
        assert_eq!(values, compute(&Source { lf: &lf, text: true, memo: None }, &all, &snaps).unwrap());
        assert!(memo.riders().unwrap().is_empty(), "read by the query");
        let (set, _) = gathering.finish().unwrap();
        assert_eq!(set, keys::KeySet::from_values(["a", "b", "c"]));
    }

    /// Float noise (30.000146000000001) carries 15 decimals, and at such steps every
    /// value's quotient is past what a double tells apart: no snapping is read from
    /// it, and a profile keeps one variant of its states, not one per seeming step.
    #[test]
    fn float_noise_is_not_snapping() {
        for text in [false, true] {
            let lat: Vec<f64> = (0..50_000).map(|i| 30.0 + (i as f64 * 7.3e-5) % 1.0).collect();
            let lon: Vec<f64> = (0..50_000).map(|i| 114.0 + (i as f64 * 3.1e-5) % 1.0).collect();
            let axis = |name: &str, v: &[f64]| -> Column {
                if text {
                    Column::new(name.into(), v.iter().map(|x| format!("{x}")).collect::<Vec<_>>())
                } else {
                    Column::new(name.into(), v.to_vec())
                }
            };
            let df = DataFrame::new_infer_height(vec![axis("lat", &lat), axis("lon", &lon)]).unwrap();
            let lf = df.lazy();
            let info = snap_info(&Source { lf: &lf, text, memo: None }, &pair()).unwrap();
            assert!(info.lat.k >= Some(13), "noise carries many decimals: {:?}", info.lat.k);
            assert_eq!(info.snap(), Snap::default(), "text {text}");
            assert_eq!(info.variants(), vec![Snap::default()], "text {text}");
        }
        // A real step above the floor is still found.
        let values: Vec<(f64, Option<u8>)> = (0..1000).map(|i| (30.0 + i as f64 * 0.0005, Some(4))).collect();
        assert_eq!(AxisInfo::of_values(&values).snap(), Some(0.0005));
    }

    #[test]
    fn a_value_off_a_step_in_a_late_block_drops_it() {
        // Candidates tested one by one on every value, as the facts are defined.
        let reference = |values: &[(f64, Option<u8>)]| -> AxisInfo {
            let Some(k) = values.iter().filter_map(|v| v.1).max() else { return AxisInfo::default() };
            let mut fits = Vec::new();
            for list in [k, k + 1] {
                for (index, step) in geo::snap_candidates(list).into_iter().enumerate() {
                    let on = |x: f64| {
                        let q = x * (1.0 / step);
                        (q - q.round_ties_even()).abs() <= 1e-6
                    };
                    if values.iter().all(|v| on(v.0)) {
                        fits.push((list, index as u8));
                    }
                }
            }
            AxisInfo { k: Some(k), fits }
        };
        for off_at in [0, 255, 256, 257, 999, 1_999] {
            let mut values: Vec<(f64, Option<u8>)> = (0..2_000).map(|i| (30.0 + i as f64 * 0.0005, Some(4))).collect();
            values[off_at] = (30.0001, Some(4));
            let info = AxisInfo::of_values(&values);
            assert_eq!(info, reference(&values), "off at {off_at}");
            assert_eq!(info.snap(), None, "off at {off_at}: on no candidate of 4 decimals");
            let floats: Vec<f64> = values.iter().map(|v| v.0).collect();
            assert_eq!(AxisInfo::of_axis(&floats, Some(4)), info, "off at {off_at}");
        }
        assert_eq!(AxisInfo::of_values(&[]), AxisInfo::default());
        assert_eq!(AxisInfo::of_values(&[(30.5, None)]), AxisInfo::default());
    }
}
