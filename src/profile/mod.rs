//! Profiles: the metrics of DESIGN §2 computed on a (filtered) dataset with polars
//! lazy queries. Per-row precision runs as elementwise kernels inside the query;
//! only aggregates (and the set of occupied cells) come back to Rust.

pub mod geo;
mod kernels;
pub mod keys;
pub mod sketch;
pub mod state;

pub use kernels::{
    coarsen_time, coord, epoch_seconds, flag, float_text, malformed_dms, parse_coordinate, position_flags, quantize,
    row_resolution,
};
pub use state::{AxisInfo, SnapInfo, State};

use std::collections::BTreeMap;
use std::fmt;

use polars::prelude::*;
use polars::series::ops::NullBehavior;
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

/// The valid rows of a point, and the most decimals each axis carries (`lat`, `lon`).
fn most_decimals(src: &Source, columns: &Columns, lat: &str, lon: &str) -> PolarsResult<(LazyFrame, DataFrame)> {
    let base = src.lf.clone().filter(valid(columns));
    let decimals = collect(base.clone().select([
        kernels::decimals(lat, src.text).max().alias("lat"),
        kernels::decimals(lon, src.text).max().alias("lon"),
    ]))?;
    Ok((base, decimals))
}

/// Find the coarsest common step (0.0005°, 0.25°, 100 m …) each axis is snapped to, if any.
///
/// Every candidate but the finest (2·10^-k) is a multiple of 2.5·10^-k, so a first
/// pass tests only those two steps; the coarser ones are tested only for a column
/// that sits on 2.5·10^-k (rare: most columns end the scan after the first pass).
pub fn snapping(src: &Source, columns: &Columns) -> PolarsResult<Snap> {
    let Columns::Pair { lat, lon, .. } = columns else { return Ok(Snap::default()) };
    let (base, decimals) = most_decimals(src, columns, lat, lon)?;
    let off = |name: &str, step: f64, alias: String| {
        let q = coord(name) * lit(1.0 / step);
        (q.clone() - q.round(0, RoundMode::HalfToEven)).abs().gt(lit(1e-6)).cast(DataType::UInt32).sum().alias(alias)
    };
    let axes: Vec<(&str, &String, Vec<f64>)> = [("lat", lat), ("lon", lon)]
        .into_iter()
        .filter_map(|(axis, name)| Some((axis, name, geo::snap_candidates(scalar(&decimals, axis)? as u8))))
        .collect();
    let fits = |indices: &[usize], axes: &[(&str, &String, Vec<f64>)]| -> PolarsResult<Vec<Vec<bool>>> {
        let mut exprs = Vec::new();
        for (axis, name, steps) in axes {
            for i in indices {
                if let Some(step) = steps.get(*i) {
                    exprs.push(off(name, *step, format!("{axis}_{i}")));
                }
            }
        }
        let count = axes.iter().map(|(_, _, steps)| steps.len()).max().unwrap_or(0);
        if exprs.is_empty() {
            return Ok(vec![vec![false; count]; axes.len()]);
        }
        let df = collect(base.clone().select(exprs))?;
        Ok(axes
            .iter()
            .map(|(axis, _, _)| (0..count).map(|i| scalar(&df, &format!("{axis}_{i}")) == Some(0.0)).collect())
            .collect())
    };
    let first = fits(&[4, 5], &axes)?;
    let coarse: Vec<(&str, &String, Vec<f64>)> =
        axes.iter().zip(&first).filter(|(_, f)| f[4]).map(|(a, _)| a.clone()).collect();
    let coarser: Vec<usize> = (0..geo::snap_candidates(0).len()).filter(|i| ![4, 5].contains(i)).collect();
    let second = fits(&coarser, &coarse)?;
    let mut snap = Snap::default();
    for ((axis, _, steps), f) in axes.iter().zip(&first) {
        let chosen = match coarse.iter().position(|(a, _, _)| a == axis) {
            // The coarsest step that fits, by value (2.5·10^-k fits: it was tested first).
            Some(j) => steps
                .iter()
                .enumerate()
                .filter(|(i, _)| *i == 4 || second[j].get(*i).copied().unwrap_or(false))
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i),
            None => f[5].then_some(5),
        };
        let step = chosen.and_then(|i| steps.get(i).copied());
        if *axis == "lat" {
            snap.lat = step;
        } else {
            snap.lon = step;
        }
    }
    Ok(snap)
}

/// What snapping needs to know of a point's two axes, mergeable across partitions.
pub fn snap_info(src: &Source, columns: &Columns) -> PolarsResult<SnapInfo> {
    let Columns::Pair { lat, lon, .. } = columns else { return Ok(SnapInfo::default()) };
    let (base, decimals) = most_decimals(src, columns, lat, lon)?;
    let mut info = SnapInfo::default();
    let mut exprs = Vec::new();
    let mut tried = Vec::new();
    for (axis, name) in [("lat", lat), ("lon", lon)] {
        let Some(k) = scalar(&decimals, axis) else { continue };
        let k = k as u8;
        if axis == "lat" {
            info.lat.k = Some(k)
        } else {
            info.lon.k = Some(k)
        }
        for list in [k, k + 1] {
            for (i, step) in geo::snap_candidates(list).into_iter().enumerate() {
                let q = coord(name) * lit(1.0 / step);
                let off = (q.clone() - q.round(0, RoundMode::HalfToEven)).abs().gt(lit(1e-6));
                let alias = format!("{axis}_{list}_{i}");
                exprs.push(off.cast(DataType::UInt32).sum().alias(alias.as_str()));
                tried.push((axis, alias, (list, i as u8)));
            }
        }
    }
    if exprs.is_empty() {
        return Ok(info);
    }
    let checks = collect(base.select(exprs))?;
    for (axis, alias, candidate) in tried {
        if scalar(&checks, &alias) == Some(0.0) {
            if axis == "lat" {
                info.lat.fits.push(candidate)
            } else {
                info.lon.fits.push(candidate)
            }
        }
    }
    Ok(info)
}

/// The most decimals any valid coordinate of a point tag carries (both axes).
pub fn max_decimals(src: &Source, columns: &Columns) -> PolarsResult<Option<u8>> {
    let Columns::Pair { lat, lon, .. } = columns else { return Ok(None) };
    let (_, df) = most_decimals(src, columns, lat, lon)?;
    Ok(match (scalar(&df, "lat"), scalar(&df, "lon")) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0).max(b.unwrap_or(0.0)) as u8),
    })
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
    let lf = filtered(src, group, snaps);
    let mut values = Values::new();
    let mut cells = CellMemo::new();
    let mut aggs: Vec<Expr> = Vec::new();
    let mut post: Vec<(String, Post)> = Vec::new();
    for (i, need) in group.needs.iter().enumerate() {
        let key = need.key();
        if values.contains_key(&key) || post.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let alias = |suffix: &str| format!("m{i}_{suffix}");
        match need {
            Need::Rows => {
                aggs.push(rows_expr(&lf)?.alias(alias("v").as_str()));
                post.push((key, Post::Scalar(alias("v"))));
            }
            Need::Has(columns) => {
                aggs.push(valid(columns).cast(DataType::UInt32).sum().alias(alias("v").as_str()));
                post.push((key, Post::Positive(alias("v"))));
            }
            Need::Distinct(Columns::One(c)) | Need::Prop { prop: Prop::Distinct, columns: Columns::One(c), .. } => {
                // A query of its own: a streaming unique keeps memory to the distinct values.
                values.insert(key, Some(distinct_values(&lf, c)? as f64));
            }
            Need::Distinct(columns @ Columns::Pair { .. })
            | Need::Prop { prop: Prop::Distinct, columns: columns @ Columns::Pair { .. }, .. } => {
                values.insert(key, Some(distinct_positions(&lf, columns)? as f64));
            }
            Need::Prop { kind, columns, accuracy_m, prop, grid_m } => {
                let value = prop_value(
                    src,
                    &lf,
                    *kind,
                    columns,
                    *accuracy_m,
                    *prop,
                    *grid_m,
                    snaps,
                    &mut aggs,
                    &alias,
                    &mut cells,
                )?;
                match value {
                    PropValue::Ready(v) => {
                        values.insert(key, v);
                    }
                    PropValue::Deferred(p) => post.push((key, p)),
                }
            }
        }
    }
    if !aggs.is_empty() {
        let df = collect(lf.clone().select(aggs))?;
        for (key, p) in post {
            let v = match p {
                Post::Scalar(a) => scalar(&df, &a),
                Post::Positive(a) => Some(if scalar(&df, &a).unwrap_or(0.0) > 0.0 { 1.0 } else { 0.0 }),
                Post::Scaled(a, factor) => scalar(&df, &a).map(|v| v * factor),
                Post::Extent { lat_min, lat_max, lon_min, lon_max, planar } => {
                    match (scalar(&df, &lat_min), scalar(&df, &lat_max), scalar(&df, &lon_min), scalar(&df, &lon_max)) {
                        (Some(a), Some(b), Some(c), Some(d)) if planar => {
                            Some(((b - a).powi(2) + (d - c).powi(2)).sqrt() / 1000.0)
                        }
                        (Some(a), Some(b), Some(c), Some(d)) => Some(geo::distance_km(a, c, b, d)),
                        _ => None,
                    }
                }
                Post::Span(min, max) => match (scalar(&df, &min), scalar(&df, &max)) {
                    (Some(a), Some(b)) => Some((b - a) / 86_400.0),
                    _ => None,
                },
            };
            values.insert(key, v);
        }
    }
    Ok(values)
}

enum Post {
    Scalar(String),
    Positive(String),
    Scaled(String, f64),
    Extent { lat_min: String, lat_max: String, lon_min: String, lon_max: String, planar: bool },
    Span(String, String),
}

/// Occupied cells already computed in one pass, by point and grid (area and the
/// largest cluster share them).
type CellMemo = BTreeMap<(Columns, u64), Vec<(i64, i64)>>;

enum PropValue {
    Ready(Option<f64>),
    Deferred(Post),
}

#[allow(clippy::too_many_arguments)]
fn prop_value(
    src: &Source,
    lf: &LazyFrame,
    kind: TagKind,
    columns: &Columns,
    accuracy_m: Option<f64>,
    prop: Prop,
    grid_m: f64,
    snaps: &BTreeMap<Columns, Snap>,
    aggs: &mut Vec<Expr>,
    alias: &dyn Fn(&str) -> String,
    memo: &mut CellMemo,
) -> PolarsResult<PropValue> {
    let one = match columns {
        Columns::One(c) => Some(c.as_str()),
        Columns::Pair { .. } => None,
    };
    Ok(match (prop, one) {
        (Prop::ResolutionM, _) => {
            let snap = snaps.get(columns).copied().unwrap_or_default();
            let per_row = kernels::row_resolution(columns, src.text, snap, accuracy_m);
            // Resolutions come in few distinct steps: count rows per value (a streaming
            // group-by) and take the percentile from the counts; sort only when the
            // percentile's histogram bin holds several values.
            let hist = resolution_hist(lf, per_row.clone(), None)?;
            match hist.quantile(0.05) {
                Some((lo, hi)) if lo == hi => PropValue::Ready(Some(lo)),
                None => PropValue::Ready(None),
                Some(_) => {
                    aggs.push(per_row.quantile(lit(0.05), QuantileMethod::Lower).alias(alias("v").as_str()));
                    PropValue::Deferred(Post::Scalar(alias("v")))
                }
            }
        }
        (Prop::ExtentKm, None) => {
            let Columns::Pair { lat, lon, planar, .. } = columns else { unreachable!("pair checked above") };
            let ok = valid(columns);
            for (c, suffix) in [(lat, "lat"), (lon, "lon")] {
                aggs.push(coord(c).filter(ok.clone()).min().alias(alias(&format!("{suffix}_min")).as_str()));
                aggs.push(coord(c).filter(ok.clone()).max().alias(alias(&format!("{suffix}_max")).as_str()));
            }
            PropValue::Deferred(Post::Extent {
                lat_min: alias("lat_min"),
                lat_max: alias("lat_max"),
                lon_min: alias("lon_min"),
                lon_max: alias("lon_max"),
                planar: *planar,
            })
        }
        (Prop::AreaKm2 | Prop::ContiguousKm2, None) => {
            let key = (columns.clone(), grid_m.to_bits());
            if !memo.contains_key(&key) {
                memo.insert(key.clone(), occupied_cells(lf, columns, grid_m)?);
            }
            let cells = &memo[&key];
            let n = if prop == Prop::AreaKm2 { cells.len() } else { geo::largest_component(cells) };
            PropValue::Ready(Some(n as f64 * grid_m * grid_m / 1e6))
        }
        (Prop::SpacingM, None) => PropValue::Ready(spacing_m(lf, columns)?),
        (Prop::Min | Prop::Max, Some(c)) => {
            let e = if prop == Prop::Min { num(c).min() } else { num(c).max() };
            aggs.push(e.alias(alias("v").as_str()));
            PropValue::Deferred(Post::Scalar(alias("v")))
        }
        (Prop::Resolution, Some(c)) => {
            let steps = num(c).drop_nulls().unique().sort(SortOptions::default()).diff(lit(1), NullBehavior::Ignore);
            aggs.push(steps.clone().filter(steps.gt(lit(0.0))).min().alias(alias("v").as_str()));
            PropValue::Deferred(Post::Scaled(alias("v"), 1.0))
        }
        (Prop::ResolutionS | Prop::SpanDays, Some(c)) if kind == TagKind::Time => {
            let seconds = kernels::epoch_seconds(c);
            if prop == Prop::SpanDays {
                aggs.push(seconds.clone().min().alias(alias("min").as_str()));
                aggs.push(seconds.max().alias(alias("max").as_str()));
                PropValue::Deferred(Post::Span(alias("min"), alias("max")))
            } else {
                let steps =
                    seconds.drop_nulls().unique().sort(SortOptions::default()).diff(lit(1), NullBehavior::Ignore);
                aggs.push(steps.clone().filter(steps.gt(lit(0.0))).median().alias(alias("v").as_str()));
                PropValue::Deferred(Post::Scalar(alias("v")))
            }
        }
        _ => PropValue::Ready(None),
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

/// Distinct non-null values of one column, gathered as the rows stream past (memory
/// grows with the distinct values, not the rows).
fn distinct_values(lf: &LazyFrame, column: &str) -> PolarsResult<usize> {
    Ok(distinct_texts(lf, column)?.len())
}

/// The distinct non-null values of one column as text, gathered as the rows stream past.
pub(crate) fn distinct_texts(lf: &LazyFrame, column: &str) -> PolarsResult<kernels::MixSet<String>> {
    let set = std::sync::Arc::new(std::sync::Mutex::new(kernels::MixSet::default()));
    collect(lf.clone().select([kernels::gather_distinct(column, set.clone()).alias("n")]))?;
    let texts = std::mem::take(&mut *set.lock().map_err(|_| polars_err!(ComputeError: "value set poisoned"))?);
    Ok(texts)
}

pub(crate) fn distinct_positions(lf: &LazyFrame, columns: &Columns) -> PolarsResult<usize> {
    let Columns::Pair { lat, lon, .. } = columns else { return Ok(0) };
    let df = collect(
        lf.clone()
            .filter(valid(columns))
            .select([coord(lat).alias("a"), coord(lon).alias("b")])
            .unique(None, UniqueKeepStrategy::Any)
            .select([len().alias("n")]),
    )?;
    Ok(scalar(&df, "n").unwrap_or(0.0) as usize)
}

/// Distinct occupied cells of a point (or xy) tag on the coverage grid, sorted. The
/// cells are gathered as the rows stream past: memory grows with the cells, not the rows.
pub fn occupied_cells(lf: &LazyFrame, columns: &Columns, grid_m: f64) -> PolarsResult<Vec<(i64, i64)>> {
    if !matches!(columns, Columns::Pair { .. }) {
        return Ok(vec![]);
    }
    let set = std::sync::Arc::new(std::sync::Mutex::new(kernels::MixSet::default()));
    collect(
        lf.clone().filter(valid(columns)).select([kernels::gather_cells(columns, grid_m, set.clone()).alias("n")]),
    )?;
    let keys = std::mem::take(&mut *set.lock().map_err(|_| polars_err!(ComputeError: "cell set poisoned"))?);
    let mut cells: Vec<(i64, i64)> = keys.into_iter().map(kernels::unpack_cell).collect();
    cells.sort_unstable();
    Ok(cells)
}

/// Median distance between neighbouring distinct positions along each axis
/// (positions sharing a latitude, resp. a longitude); the coarser axis is the
/// spacing. `None` when the positions do not form rows or columns (scattered points:
/// fewer than 10 % of positions have a neighbour on the same line).
fn spacing_m(lf: &LazyFrame, columns: &Columns) -> PolarsResult<Option<f64>> {
    let Columns::Pair { lat, lon, planar, .. } = columns else { return Ok(None) };
    let points = lf
        .clone()
        .filter(valid(columns))
        .select([coord(lat).alias("a"), coord(lon).alias("b")])
        .unique(None, UniqueKeepStrategy::Any);
    let mut axes = Vec::new();
    for (line, along) in [("a", "b"), ("b", "a")] {
        let sorted = points.clone().sort([line, along], SortMultipleOptions::default());
        let step = col(along) - col(along).shift(lit(1));
        let same_line = col(line).eq(col(line).shift(lit(1)));
        let scale = if *planar {
            lit(1.0)
        } else if along == "b" {
            (col("a") * lit(std::f64::consts::PI / 180.0)).cos().abs() * lit(geo::M_PER_DEG)
        } else {
            lit(geo::M_PER_DEG)
        };
        let df = collect(sorted.select([
            (step * scale).filter(same_line.clone()).median().alias("median"),
            same_line.cast(DataType::UInt32).sum().alias("pairs"),
            len().alias("n"),
        ]))?;
        let pairs = scalar(&df, "pairs").unwrap_or(0.0);
        let n = scalar(&df, "n").unwrap_or(0.0);
        if n > 0.0 && pairs >= 0.1 * n {
            axes.extend(scalar(&df, "median"));
        }
    }
    Ok(axes.into_iter().reduce(f64::max))
}
