//! Elementwise kernels run inside polars queries: decimals carried, per-row
//! resolution, epoch seconds and grid cells. They call the pure functions in
//! `geo`, so the definitions tested there are the ones the scan uses.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};
use polars::prelude::*;

use super::geo;
use super::Snap;
use crate::tag::Columns;

/// A coordinate written as text: a decimal number (step 10^-decimals) or
/// degrees–minutes–seconds (step of the last unit), as `(degrees, step in degrees)`.
pub fn parse_coordinate(text: &str) -> Option<(f64, f64)> {
    if let Some((value, decimals)) = geo::fast_decimal(text) {
        return Some((value, 10f64.powi(-i32::from(decimals))));
    }
    let s = text.trim();
    if let Ok(value) = s.parse::<f64>() {
        let decimals = geo::decimals_text(s)?;
        return value.is_finite().then(|| (value, 10f64.powi(-i32::from(decimals))));
    }
    crate::source::values::parse_dms(s).ok().flatten()
}

/// Per-row coordinate values with the step of their last digit: text as written
/// (decimals, or the last unit of degrees–minutes–seconds), or binary floats.
fn values_with_steps(column: &Column, text: bool) -> PolarsResult<Vec<Option<(f64, f64)>>> {
    Ok(readings(column, text)?
        .into_iter()
        .map(|r| r.filter(|r| r.step.is_finite()).map(|r| (r.value, r.step)))
        .collect())
}

/// A coordinate column as numbers (see [`coord`]).
fn coordinates(column: &Column) -> PolarsResult<Series> {
    let s = column.as_materialized_series();
    if s.dtype() != &DataType::String {
        return s.cast(&DataType::Float64);
    }
    let out: Float64Chunked = s.str()?.iter().map(|v| parse_coordinate(v?).map(|(x, _)| x)).collect();
    Ok(out.with_name(column.name().clone()).into_series())
}

/// `f` of every value of a float column, in order (`None` for null): a column without
/// nulls is walked over its values alone, not zipped with its validity (the zipped
/// walk was a tenth of the position checks' samples at 20M rows).
fn map_floats<T>(ca: &Float64Chunked, mut f: impl FnMut(Option<f64>) -> T) -> Vec<T> {
    if ca.null_count() == 0 {
        let mut out = Vec::with_capacity(ca.len());
        for arr in ca.downcast_iter() {
            out.extend(arr.values().iter().map(|v| f(Some(*v))));
        }
        out
    } else {
        ca.iter().map(f).collect()
    }
}

/// Two float columns in row order, as far as both go, their chunks cut to a common
/// boundary: a stretch of rows without nulls in either goes to `dense` as two slices,
/// any other to `sparse` row by row. A batch of the streaming engine often comes in
/// several chunks, and the two axes need not be cut alike, so neither one chunk nor
/// the same cuts are required.
pub(crate) fn each_float_chunk<S>(
    ys: &Float64Chunked,
    xs: &Float64Chunked,
    state: &mut S,
    dense: impl Fn(&mut S, &[f64], &[f64]),
    sparse: impl Fn(&mut S, Option<f64>, Option<f64>),
) {
    let (ya, xa): (Vec<_>, Vec<_>) = (ys.downcast_iter().collect(), xs.downcast_iter().collect());
    let (mut i, mut j, mut oi, mut oj) = (0, 0, 0, 0);
    while i < ya.len() && j < xa.len() {
        let (y, x) = (ya[i], xa[j]);
        let len = (y.len() - oi).min(x.len() - oj);
        if len > 0 {
            if polars::polars_utils::index::NullCount::null_count(y) == 0
                && polars::polars_utils::index::NullCount::null_count(x) == 0
            {
                dense(state, &y.values()[oi..oi + len], &x.values()[oj..oj + len]);
            } else {
                let (y, x) = (y.clone().sliced(oi, len), x.clone().sliced(oj, len));
                for (a, b) in y.iter().zip(x.iter()) {
                    sparse(state, a.copied(), b.copied());
                }
            }
        }
        (oi, oj) = (oi + len, oj + len);
        if oi == y.len() {
            (i, oi) = (i + 1, 0);
        }
        if oj == x.len() {
            (j, oj) = (j + 1, 0);
        }
    }
}

/// A float column's values (a position's axis) when it is not text, cast to `f64`.
pub(crate) fn float_axis(column: &Column) -> PolarsResult<Option<Float64Chunked>> {
    let s = column.as_materialized_series();
    if s.dtype() == &DataType::String {
        return Ok(None);
    }
    Ok(Some(s.cast(&DataType::Float64)?.f64()?.clone()))
}

/// The step of a value's last digit for `decimals` decimals, as [`row_resolution`]
/// reads it.
pub(crate) fn decimal_step(decimals: u8) -> f64 {
    const STEPS: [f64; 18] = [
        1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15, 1e-16,
        1e-17,
    ];
    STEPS.get(usize::from(decimals)).copied().unwrap_or_else(|| 10f64.powi(-i32::from(decimals)))
}

/// Coordinates as numbers: numeric columns cast, text parsed as a decimal number or
/// degrees–minutes–seconds (null where it is neither).
pub fn coord(column: &str) -> Expr {
    col(column)
        .map(|c: Column| Ok(coordinates(&c)?.into_column()), |_, f| Ok(Field::new(f.name().clone(), DataType::Float64)))
}

/// 1 where a coordinate's text cannot be read (malformed degrees–minutes–seconds,
/// a decimal comma: [`crate::source::values::unreadable_coordinate`]), else 0: such
/// text is refused, never read as invalid.
pub fn unreadable_text(column: &str) -> Expr {
    col(column).map(
        |c: Column| {
            let s = c.as_materialized_series();
            let out: UInt32Chunked = if s.dtype() == &DataType::String {
                s.str()?
                    .iter()
                    .map(|v| {
                        Some(u32::from(v.is_some_and(|t| crate::source::values::unreadable_coordinate(t).is_some())))
                    })
                    .collect()
            } else {
                UInt32Chunked::full(c.name().clone(), 0, c.len())
            };
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::UInt32)),
    )
}

/// One axis of a position as numbers, with a flag for text that cannot be read
/// ([`crate::source::values::unreadable_coordinate`]).
pub(crate) fn axis_values(column: &Column) -> PolarsResult<Vec<(Option<f64>, bool)>> {
    let s = column.as_materialized_series();
    if s.dtype() == &DataType::String {
        return Ok(s
            .str()?
            .iter()
            .map(|v| match v {
                None => (None, false),
                // The common plain decimal without the step `parse_coordinate` adds.
                Some(t) => match geo::fast_decimal(t).map(|(x, _)| x).or_else(|| parse_coordinate(t).map(|(x, _)| x)) {
                    Some(x) => (Some(x), false),
                    None => (None, crate::source::values::unreadable_coordinate(t).is_some()),
                },
            })
            .collect());
    }
    Ok(map_floats(s.cast(&DataType::Float64)?.f64()?, |v| (v, false)))
}

/// Counts of the checks a position's values must pass, over every row: whether a
/// column is malformed, in metres, or holds the other axis (`scan::read`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub rows: u64,
    /// Text that cannot be read: digits that are neither a number nor well-formed
    /// degrees–minutes–seconds (`crate::source::values::unreadable_coordinate`).
    pub bad_lat: u64,
    pub bad_lon: u64,
    pub finite_lat: u64,
    pub finite_lon: u64,
    /// |value| > 1000: projected metres, not degrees.
    pub metres_lat: u64,
    pub metres_lon: u64,
    /// A "latitude" between 90 and 180: a longitude.
    pub over_lat: u64,
    /// A "longitude" above 90.
    pub over_lon: u64,
    /// Eastings more than 600 km from the false easting.
    pub off_zone: u64,
    /// Rows whose two axes are valid as [`crate::profile::valid`] reads them, and
    /// the range of those rows' values: what `has` and the extent of an unfiltered
    /// group read, so the metrics need not parse the axes again.
    pub valid: u64,
    pub lat_range: Option<(f64, f64)>,
    pub lon_range: Option<(f64, f64)>,
}

fn widen(range: Option<(f64, f64)>, other: Option<(f64, f64)>) -> Option<(f64, f64)> {
    match (range, other) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    }
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.rows += o.rows;
        self.bad_lat += o.bad_lat;
        self.bad_lon += o.bad_lon;
        self.finite_lat += o.finite_lat;
        self.finite_lon += o.finite_lon;
        self.metres_lat += o.metres_lat;
        self.metres_lon += o.metres_lon;
        self.over_lat += o.over_lat;
        self.over_lon += o.over_lon;
        self.off_zone += o.off_zone;
        self.valid += o.valid;
        self.lat_range = widen(self.lat_range, o.lat_range);
        self.lon_range = widen(self.lon_range, o.lon_range);
    }
}

/// Is a position valid as [`crate::profile::valid`] reads it: finite when planar,
/// else within ±90/±180?
pub(crate) fn valid_position(y: f64, x: f64, planar: bool) -> bool {
    if planar {
        y.is_finite() && x.is_finite()
    } else {
        (-90.0..=90.0).contains(&y) && (-180.0..=180.0).contains(&x)
    }
}

impl Tally {
    /// The checks of one batch of rows, from each axis' value and whether its text
    /// is malformed (see [`crate::profile::point_pass`]).
    pub(crate) fn of_rows(
        ys: &[(Option<f64>, bool)],
        xs: &[(Option<f64>, bool)],
        false_easting: Option<f64>,
        planar: bool,
    ) -> Tally {
        let mut t = Tally::counting(false_easting, planar);
        for (&(y, bad_y), &(x, bad_x)) in ys.iter().zip(xs) {
            t.add_row(y, bad_y, x, bad_x);
        }
        t.finish()
    }

    /// [`Tally::of_rows`] of two float columns, read in place (no value is malformed).
    pub(crate) fn of_floats(
        ys: &Float64Chunked,
        xs: &Float64Chunked,
        false_easting: Option<f64>,
        planar: bool,
    ) -> Tally {
        let mut t = Tally::counting(false_easting, planar);
        let dense = match (planar, false_easting) {
            (false, None) => Counting::add_dense::<false, false>,
            (false, Some(_)) => Counting::add_dense::<false, true>,
            (true, None) => Counting::add_dense::<true, false>,
            (true, Some(_)) => Counting::add_dense::<true, true>,
        };
        each_float_chunk(ys, xs, &mut t, dense, |t, y, x| t.add_row(y, false, x, false));
        t.finish()
    }

    fn counting(false_easting: Option<f64>, planar: bool) -> Counting {
        Counting {
            t: Tally::default(),
            lat_range: (f64::INFINITY, f64::NEG_INFINITY),
            lon_range: (f64::INFINITY, f64::NEG_INFINITY),
            false_easting,
            planar,
        }
    }

    /// Add this batch's counts to the dataset's.
    pub(crate) fn add_into(&self, into: &Mutex<Tally>) -> PolarsResult<()> {
        into.lock().map_err(|_| polars_err!(ComputeError: "position checks poisoned"))?.add(self);
        Ok(())
    }
}

/// A [`Tally`] being counted row by row.
struct Counting {
    t: Tally,
    lat_range: (f64, f64),
    lon_range: (f64, f64),
    false_easting: Option<f64>,
    planar: bool,
}

/// Rows [`Counting::add_dense`] takes at a time.
const LANES: usize = 4;

/// [`Counting::add_dense`]'s ranges and counts, per lane. The counts, in order: valid
/// positions, finite latitudes and longitudes, of those beyond 1 000 (metres), beyond
/// 90 (a latitude up to 180, a longitude), and eastings off the zone.
struct Lanes {
    lat_lo: [f64; LANES],
    lat_hi: [f64; LANES],
    lon_lo: [f64; LANES],
    lon_hi: [f64; LANES],
    counts: [[u64; LANES]; 8],
}

impl Lanes {
    #[inline(always)]
    fn add<const PLANAR: bool, const ZONE: bool>(&mut self, l: usize, y: f64, x: f64, x0: f64) {
        let (fy, fx) = (y.abs() < f64::INFINITY, x.abs() < f64::INFINITY);
        let ok = if PLANAR { fy & fx } else { (y >= -90.0) & (y <= 90.0) & (x >= -180.0) & (x <= 180.0) };
        self.lat_lo[l] = if ok & (y < self.lat_lo[l]) { y } else { self.lat_lo[l] };
        self.lat_hi[l] = if ok & (y > self.lat_hi[l]) { y } else { self.lat_hi[l] };
        self.lon_lo[l] = if ok & (x < self.lon_lo[l]) { x } else { self.lon_lo[l] };
        self.lon_hi[l] = if ok & (x > self.lon_hi[l]) { x } else { self.lon_hi[l] };
        let c = &mut self.counts;
        c[0][l] += u64::from(ok);
        c[1][l] += u64::from(fy);
        c[2][l] += u64::from(fx);
        c[3][l] += u64::from(fy & (y.abs() > 1000.0));
        c[4][l] += u64::from(fx & (x.abs() > 1000.0));
        c[5][l] += u64::from((y.abs() > 90.0) & (y.abs() <= 180.0));
        c[6][l] += u64::from(fx & (x.abs() > 90.0));
        if ZONE {
            c[7][l] += u64::from(fx & ((x - x0).abs() > 600_000.0));
        }
    }
}

/// `range` widened to `v` when `take`: by comparison, so that the loops below have
/// no branch (and of ±0, the first seen stays).
#[inline(always)]
fn widen_to(range: &mut (f64, f64), v: f64, take: bool) {
    range.0 = if take & (v < range.0) { v } else { range.0 };
    range.1 = if take & (v > range.1) { v } else { range.1 };
}

impl Counting {
    /// [`Counting::add_row`] of rows without nulls or malformed text, in a loop with no
    /// branch, so that it runs on vector lanes (a twentieth of a profile's samples
    /// went to the row-by-row checks). Rows are taken [`LANES`] at a time, each lane
    /// with ranges and counts of its own: one range widened row after row kept the
    /// loop to one row at a time (a comparison of floats is not reordered).
    fn add_dense<const PLANAR: bool, const ZONE: bool>(&mut self, ys: &[f64], xs: &[f64]) {
        let n = ys.len().min(xs.len());
        let (ys, xs) = (&ys[..n], &xs[..n]);
        let mut lanes = Lanes {
            lat_lo: [self.lat_range.0; LANES],
            lat_hi: [self.lat_range.1; LANES],
            lon_lo: [self.lon_range.0; LANES],
            lon_hi: [self.lon_range.1; LANES],
            counts: [[0; LANES]; 8],
        };
        let x0 = self.false_easting.unwrap_or(0.0);
        let (ys_by, xs_by) = (ys.chunks_exact(LANES), xs.chunks_exact(LANES));
        let (ys_rest, xs_rest) = (ys_by.remainder(), xs_by.remainder());
        for (cy, cx) in ys_by.zip(xs_by) {
            for l in 0..LANES {
                lanes.add::<PLANAR, ZONE>(l, cy[l], cx[l], x0);
            }
        }
        for (&y, &x) in ys_rest.iter().zip(xs_rest) {
            lanes.add::<PLANAR, ZONE>(0, y, x, x0);
        }
        // Each lane's bounds, lowest and highest apart: a lane that took no row still
        // holds the range it started from.
        let (mut lat, mut lon) = (self.lat_range, self.lon_range);
        for l in 0..LANES {
            lat = (if lanes.lat_lo[l] < lat.0 { lanes.lat_lo[l] } else { lat.0 }, lat.1);
            lat = (lat.0, if lanes.lat_hi[l] > lat.1 { lanes.lat_hi[l] } else { lat.1 });
            lon = (if lanes.lon_lo[l] < lon.0 { lanes.lon_lo[l] } else { lon.0 }, lon.1);
            lon = (lon.0, if lanes.lon_hi[l] > lon.1 { lanes.lon_hi[l] } else { lon.1 });
        }
        let [valid, finite_lat, finite_lon, metres_lat, metres_lon, over_lat, over_lon, off_zone] =
            lanes.counts.map(|c| c.iter().sum::<u64>());
        let t = &mut self.t;
        t.rows += n as u64;
        t.valid += valid;
        t.finite_lat += finite_lat;
        t.finite_lon += finite_lon;
        t.metres_lat += metres_lat;
        t.metres_lon += metres_lon;
        t.over_lat += over_lat;
        t.over_lon += over_lon;
        t.off_zone += off_zone;
        (self.lat_range, self.lon_range) = (lat, lon);
    }

    #[inline]
    fn add_row(&mut self, y: Option<f64>, bad_y: bool, x: Option<f64>, bad_x: bool) {
        let t = &mut self.t;
        t.rows += 1;
        t.bad_lat += u64::from(bad_y);
        t.bad_lon += u64::from(bad_x);
        if let (Some(y), Some(x)) = (y, x) {
            let ok = valid_position(y, x, self.planar);
            t.valid += u64::from(ok);
            widen_to(&mut self.lat_range, y, ok);
            widen_to(&mut self.lon_range, x, ok);
        }
        if let Some(y) = y.filter(|y| y.is_finite()) {
            t.finite_lat += 1;
            t.metres_lat += u64::from(y.abs() > 1000.0);
            t.over_lat += u64::from(y.abs() > 90.0 && y.abs() <= 180.0);
        }
        if let Some(x) = x.filter(|x| x.is_finite()) {
            t.finite_lon += 1;
            t.metres_lon += u64::from(x.abs() > 1000.0);
            t.over_lon += u64::from(x.abs() > 90.0);
            if let Some(x0) = self.false_easting {
                t.off_zone += u64::from((x - x0).abs() > 600_000.0);
            }
        }
    }

    fn finish(self) -> Tally {
        let mut t = self.t;
        if t.valid > 0 {
            (t.lat_range, t.lon_range) = (Some(self.lat_range), Some(self.lon_range));
        }
        t
    }
}

/// One axis of a text source as the position checks read it ([`axis_values`]),
/// from the readings [`readings`] already made of it, so the text is parsed once for
/// the checks and the snapping pass. A value with no reading is flagged when its
/// text cannot be read (`crate::source::values::unreadable_coordinate`).
pub(crate) fn checked_axis(column: &Column, readings: &[Option<Reading>]) -> PolarsResult<Vec<(Option<f64>, bool)>> {
    let series = column.as_materialized_series();
    if series.dtype() != &DataType::String {
        return Ok(readings.iter().map(|r| (r.map(|r| r.value), false)).collect());
    }
    Ok(series
        .str()?
        .iter()
        .zip(readings)
        .map(|(v, r)| match (v, r) {
            (_, Some(r)) => (Some(r.value), false),
            (None, None) => (None, false),
            (Some(t), None) => (None, crate::source::values::unreadable_coordinate(t).is_some()),
        })
        .collect())
}

/// A coordinate's value, the decimals it carries (none for degrees–minutes–seconds)
/// and the step of its last digit (what [`row_resolution`] reads).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Reading {
    pub value: f64,
    pub decimals: Option<u8>,
    pub step: f64,
}

/// Per-row coordinate values (as [`coord`] reads them) with the decimals they carry
/// (text as written, none for degrees–minutes–seconds; binary floats by value) and
/// their steps (as [`row_resolution`] reads them), from one parse of each value.
pub(crate) fn readings(column: &Column, text: bool) -> PolarsResult<Vec<Option<Reading>>> {
    let series = column.as_materialized_series();
    if text && series.dtype() == &DataType::String {
        return Ok(series
            .str()?
            .iter()
            .map(|v| {
                let v = v?;
                if let Some((value, decimals)) = geo::fast_decimal(v) {
                    return Some(Reading { value, decimals: Some(decimals), step: decimal_step(decimals) });
                }
                let (value, step) = parse_coordinate(v)?;
                Some(Reading { value, decimals: geo::decimals_text(v), step })
            })
            .collect());
    }
    let floats = series.cast(&DataType::Float64)?;
    let mut run = crate::decimals::Run::default();
    Ok(map_floats(floats.f64()?, |v| {
        v.map(|value| {
            let decimals = run.decimals(value);
            Reading { value, decimals, step: decimals.map_or(f64::NAN, decimal_step) }
        })
    }))
}

fn float_field(_: &Schema, fields: &[Field]) -> PolarsResult<Field> {
    Ok(Field::new(fields[0].name().clone(), DataType::Float64))
}

/// Per-row horizontal resolution in metres (DESIGN §2): decimals or snapping step on
/// each axis, the coarser axis after converting longitude at the row's latitude.
/// A declared accuracy replaces it. Invalid coordinates give null.
pub fn row_resolution(columns: &Columns, text: bool, snap: Snap, accuracy_m: Option<f64>) -> Expr {
    let Columns::Pair { lat, lon, planar, .. } = columns.clone() else { return lit(NULL).cast(DataType::Float64) };
    if let Some(a) = accuracy_m {
        // The declared accuracy on every valid row: no step to read from the values.
        return when(super::valid(columns)).then(lit(a)).otherwise(lit(NULL).cast(DataType::Float64));
    }
    col(lat.as_str()).map_many(
        move |cols: &mut [Column]| {
            let ys = values_with_steps(&cols[0], text)?;
            let xs = values_with_steps(&cols[1], text)?;
            let out: Float64Chunked =
                ys.into_iter().zip(xs).map(|(y, x)| resolution_of(y?, x?, planar, snap)).collect();
            Ok(out.with_name(cols[0].name().clone()).into_column())
        },
        &[col(lon.as_str())],
        float_field,
    )
}

/// A row's resolution from each axis' value and step, under a point's snapping; none
/// outside ±90/±180 unless planar.
pub(crate) fn resolution_of(y: (f64, f64), x: (f64, f64), planar: bool, snap: Snap) -> Option<f64> {
    let ((yv, ystep), (xv, xstep)) = (y, x);
    if !planar && (yv.abs() > 90.0 || xv.abs() > 180.0) {
        return None;
    }
    let (ys, xs) = (geo::snapped_step(ystep, snap.lat), geo::snapped_step(xstep, snap.lon));
    Some(if planar { ys.max(xs) } else { geo::resolution_m(yv, ys, xs) })
}

/// Numbers as text in their shortest round-trip form (`30.1`, `116`), so a binary
/// float column can be combined with a text column and keep the decimals it carries
/// (the text kernel then counts exactly what [`geo::decimals_f64`] counts).
pub fn float_text(column: &str) -> Expr {
    col(column).map(
        |c: Column| {
            let s = c.as_materialized_series();
            if s.dtype() == &DataType::String {
                return Ok(c);
            }
            let floats = s.cast(&DataType::Float64)?;
            let out: StringChunked =
                floats.f64()?.iter().map(|v| v.filter(|x| x.is_finite()).map(|x| format!("{x}"))).collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::String)),
    )
}

/// `x` rounded to `k` decimals, half away from zero (a negative `k` to tens, hundreds,
/// … of units), by a true division by the power of ten: the double nearest the
/// rounded decimal, as its text reads back (never a multiplication by 10⁻ᵏ).
pub fn round_decimals(x: f64, k: i32) -> f64 {
    rounder(k)(x)
}

/// [`round_decimals`] to `k` decimals, its power of ten computed once.
pub fn rounder(k: i32) -> impl Fn(f64) -> f64 + Copy {
    let (scale, step) = if k >= 0 { (10f64.powi(k), 1.0) } else { (1.0, 10f64.powi(-k)) };
    move |x| if k >= 0 { (x * scale).round() / scale } else { (x / step).round() * step }
}

/// Coordinates rounded to `k` decimals (`k < 0`: to 10^-k units, for planar metres).
/// Text stays text, written with exactly `max(k, 0)` decimals; numbers stay numbers.
/// Rounding divides by the power of ten, so 39.91 stays 39.91 (DESIGN §10).
pub fn quantize(column: &str, k: i32) -> Expr {
    let round = rounder(k);
    col(column).map(
        move |c: Column| {
            let s = c.as_materialized_series();
            if s.dtype() == &DataType::String {
                let places = k.max(0) as usize;
                let out: StringChunked = s
                    .str()?
                    .iter()
                    .map(|v| {
                        let v = v?;
                        match parse_coordinate(v) {
                            Some((x, _)) => Some(format!("{:.places$}", round(x))),
                            None => Some(v.to_string()),
                        }
                    })
                    .collect();
                return Ok(out.with_name(c.name().clone()).into_column());
            }
            let floats = s.cast(&DataType::Float64)?;
            let out: Float64Chunked = floats.f64()?.iter().map(|v| v.map(round)).collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| {
            let dtype = if f.dtype() == &DataType::String { DataType::String } else { DataType::Float64 };
            Ok(Field::new(f.name().clone(), dtype))
        },
    )
}

/// Timestamps truncated to a multiple of `step_s` seconds, written as
/// `YYYY-MM-DD HH:MM:SS` (UTC) text.
pub fn coarsen_time(column: &str, step_s: f64) -> Expr {
    epoch_seconds(column).map(
        move |c: Column| {
            let out: StringChunked = c
                .as_materialized_series()
                .f64()?
                .iter()
                .map(|v| {
                    let t = (v? / step_s).floor() * step_s;
                    DateTime::from_timestamp(t as i64, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                })
                .collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::String)),
    )
}

/// The seconds since the epoch [`coarsen_time`]'s text is read back as (null where it
/// writes none), for judging a truncation without writing and parsing that text: a
/// 20M-row verification had spent most of its 17 s there.
pub fn coarsen_time_seconds(column: &str, step_s: f64) -> Expr {
    epoch_seconds(column).map(
        move |c: Column| {
            let out: Float64Chunked =
                c.as_materialized_series().f64()?.iter().map(|v| truncated_seconds(v?, step_s)).collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Float64)),
    )
}

/// `t` truncated to `step_s` as [`coarsen_time`] writes it and [`parse_time`] reads it
/// back: the whole seconds, for a year of four digits; other years go through the
/// text itself (signed years, read back or not as `parse_time` reads them).
fn truncated_seconds(t: f64, step_s: f64) -> Option<f64> {
    let t = (t / step_s).floor() * step_s;
    let date = DateTime::from_timestamp(t as i64, 0)?;
    if (1..=9999).contains(&date.year()) {
        return Some(t as i64 as f64);
    }
    parse_time(&date.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// Timestamps as seconds since the epoch, from datetime, date, numeric (seconds)
/// or text columns (ISO 8601 and common Chinese forms).
pub fn epoch_seconds(column: &str) -> Expr {
    col(column).map(
        |c: Column| {
            let s = c.as_materialized_series();
            let out: Float64Chunked = match s.dtype() {
                DataType::String => s.str()?.iter().map(|v| v.and_then(parse_time)).collect(),
                DataType::Date => {
                    s.cast(&DataType::Int32)?.i32()?.iter().map(|d| d.map(|d| f64::from(d) * 86_400.0)).collect()
                }
                DataType::Datetime(unit, _) => {
                    let per_second = match unit {
                        TimeUnit::Nanoseconds => 1e9,
                        TimeUnit::Microseconds => 1e6,
                        TimeUnit::Milliseconds => 1e3,
                    };
                    s.cast(&DataType::Int64)?.i64()?.iter().map(|v| v.map(|v| v as f64 / per_second)).collect()
                }
                _ => s.cast(&DataType::Float64)?.f64()?.iter().collect(),
            };
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Float64)),
    )
}

/// Parse a timestamp written as text; `None` when no known form matches.
pub fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some(t) = fast_time(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y%m%d%H%M%S",
        "%Y年%m月%d日 %H:%M:%S",
        "%Y年%m月%d日%H时%M分",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp() as f64 + f64::from(t.and_utc().timestamp_subsec_nanos()) / 1e9);
        }
    }
    for format in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, format) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp() as f64);
        }
    }
    None
}

/// The most common form of a timestamp as text, `YYYY-MM-DD HH:MM:SS` (or with a `T`,
/// and a fraction of up to nine digits), without an offset, read in one pass over
/// the bytes: the value [`parse_time`]'s formats give it (a unit test checks this on
/// random text). `None` for anything else, which the formats then read: a 5M-row
/// CSV's times had spent a second in them.
fn fast_time(b: &[u8]) -> Option<f64> {
    if b.len() < 19 || !matches!(b[10], b' ' | b'T') || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20..b.len())? * 10i64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (civil_from_days' inverse).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds as f64 + nanos as f64 / 1e9)
}

/// Offset that makes a cell index non-negative in 32 bits.
const CELL_BIAS: i64 = 1 << 31;

/// Gather the occupied cells of a point's valid rows (valid as
/// [`crate::profile::valid`] reads them) into `into` as the rows stream past; the
/// expression's value is 0. Each position's cell on the coverage grid (see
/// `geo::cell`) is one 64-bit key: row and column packed into 32 bits each. Planar
/// metres with a known projection are converted to degrees first, so their cells line
/// up with every other dataset's; planar metres with none use a metre grid. One walk
/// per batch parses, checks and keys each row and inserts the key (only the distinct
/// cells are kept): `when(valid).then(key)` had built a mask, a key column and its
/// validity bitmap per batch, over a third of the exact cells' samples at 20M rows.
pub fn gather_valid_cells(columns: &Columns, grid_m: f64, into: Arc<WordSet>) -> Expr {
    let point = columns.clone();
    on_pairs(columns, move |ys, xs, _| {
        let mut keyer = CellKeyer::new(&point, grid_m)?;
        if ys.null_count() == 0 && xs.null_count() == 0 {
            into.insert_all(ys.into_no_null_iter().zip(xs.into_no_null_iter()).filter_map(|(y, x)| keyer.key(y, x)))
        } else {
            into.insert_all(ys.iter().zip(xs.iter()).filter_map(|(y, x)| keyer.key(y?, x?)))
        }
    })
}

/// The key of a valid position in a [`PairSet`]: both axes' bits, a zero's sign
/// dropped (`-0.0` is the place `0.0` is, as a query's `unique` has it), each mapped
/// so that the keys' unsigned order is the positions' order by latitude, then
/// longitude ([`f64::total_cmp`]): sorting keys sorts positions.
pub fn position_key(y: f64, x: f64) -> u128 {
    (u128::from(ordered_bits(y + 0.0)) << 64) | u128::from(ordered_bits(x + 0.0))
}

/// The position of a [`position_key`].
pub fn position_of(key: u128) -> (f64, f64) {
    (from_ordered_bits((key >> 64) as u64), from_ordered_bits(key as u64))
}

/// A float's bits, mapped so that unsigned order is [`f64::total_cmp`] order.
pub fn ordered_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The float of [`ordered_bits`].
pub fn from_ordered_bits(o: u64) -> f64 {
    f64::from_bits(if o >> 63 == 1 { o & !(1 << 63) } else { !o })
}

/// Gather the distinct valid positions of a point (as [`crate::profile::valid`] reads
/// validity, on the values as written: no conversion between systems) into `into`, as
/// the rows stream past: memory grows with the distinct positions, not the rows (a
/// query's `unique` of the two columns had held 2 GB at 20M rows).
pub fn gather_positions(columns: &Columns, into: Arc<PairSet>) -> Expr {
    on_pairs(columns, move |ys, xs, planar| {
        let valid = |&(y, x): &(f64, f64)| valid_position(y, x, planar);
        if ys.null_count() == 0 && xs.null_count() == 0 {
            into.insert_all(ys.into_no_null_iter().zip(xs.into_no_null_iter()).filter(valid))
        } else {
            into.insert_all(ys.iter().zip(xs.iter()).filter_map(|(y, x)| Some((y?, x?))).filter(valid))
        }
    })
}

/// An expression that hands each batch of a point's two axes, as numbers, to `f`
/// (with whether the point is planar) and yields nothing of its own: what `f`
/// gathers into shared state is the result.
fn on_pairs(
    columns: &Columns,
    f: impl Fn(&Float64Chunked, &Float64Chunked, bool) -> PolarsResult<()> + Send + Sync + 'static,
) -> Expr {
    let Columns::Pair { lat, lon, planar, .. } = columns.clone() else { return lit(0u32) };
    col(lat.as_str())
        .map_many(
            move |cols: &mut [Column]| {
                let (ys, xs) = (coordinates(&cols[0])?, coordinates(&cols[1])?);
                f(ys.f64()?, xs.f64()?, planar)?;
                Ok(gathered(cols[0].name().clone(), 1))
            },
            &[col(lon.as_str())],
            |_, f| Ok(Field::new(f[0].name().clone(), DataType::UInt32)),
        )
        .sum()
}

/// Gather the distinct finite values of a numeric expression into `into`, as
/// [`ordered_bits`] (a zero's sign dropped), as the rows stream past: a query's
/// `unique` and `sort` of a 20M-row column had held 1.1–1.4 GB.
pub fn gather_values(values: Expr, into: Arc<WordSet>) -> Expr {
    values
        .map(
            move |c: Column| {
                let values = c.as_materialized_series().cast(&DataType::Float64)?;
                let finite = values.f64()?.iter().flatten().filter(|v| v.is_finite());
                into.insert_all(finite.map(|v| ordered_bits(v + 0.0)))?;
                Ok(gathered(c.name().clone(), 1))
            },
            |_, f| Ok(Field::new(f.name().clone(), DataType::UInt32)),
        )
        .sum()
}

/// The values a [`gather_values`] set holds, ascending, leaving it empty.
pub fn sorted_values(set: &WordSet) -> PolarsResult<Vec<f64>> {
    let mut keys = set.take()?;
    keys.sort_unstable();
    Ok(keys.into_iter().map(from_ordered_bits).collect())
}

/// The cell key of a point's valid positions on one grid: `None` for a row that is
/// not valid as [`crate::profile::valid`] reads it (within ±90/±180, or finite when
/// planar); a projected point is converted to degrees first.
pub(crate) struct CellKeyer {
    planar: bool,
    grid_m: f64,
    convert: Option<crate::crs::ToDegrees>,
    cells: geo::Cells,
}

impl CellKeyer {
    pub(crate) fn new(columns: &Columns, grid_m: f64) -> PolarsResult<CellKeyer> {
        let (planar, crs) = match columns {
            Columns::Pair { planar, crs, .. } => (*planar, crs.as_deref()),
            Columns::One(_) => (false, None),
        };
        let convert = match crs {
            Some(proj) => Some(crate::crs::ToDegrees::new(proj).map_err(|e| polars_err!(ComputeError: "{e}"))?),
            None => None,
        };
        Ok(CellKeyer { planar, grid_m, convert, cells: geo::Cells::new(grid_m) })
    }

    pub(crate) fn key(&mut self, y: f64, x: f64) -> Option<u64> {
        if !valid_position(y, x, self.planar) {
            return None;
        }
        let (r, c) = match &self.convert {
            Some(to) => {
                let (lon, lat) = to.convert(x, y)?;
                self.cells.cell(lat, lon)
            }
            None if self.planar => geo::cell_planar(y, x, self.grid_m),
            None => self.cells.cell(y, x),
        };
        pack_cell(r, c)
    }
}

/// Insert the cells of one batch's rows, given as each axis' value (the position
/// checks' values), into `into`.
pub(crate) fn insert_cells(
    ys: &[(Option<f64>, bool)],
    xs: &[(Option<f64>, bool)],
    keyer: &mut CellKeyer,
    into: &WordSet,
) -> PolarsResult<()> {
    into.insert_all(ys.iter().zip(xs).filter_map(|((y, _), (x, _))| keyer.key((*y)?, (*x)?)))
}

/// What an expression that gathers into shared state (a set, counts, a tally)
/// returns for a batch: `len` zeros, which the query drops.
pub fn gathered(name: PlSmallStr, len: usize) -> Column {
    Column::new_scalar(name, Scalar::new(DataType::UInt32, AnyValue::UInt32(0)), len)
}

/// A fast hasher for the gathering sets: FNV-1a over bytes, splitmix64 over words
/// (the sets hold keys from data, not from an adversary who could choose collisions;
/// a collision only costs time, never a wrong count).
#[derive(Default, Clone, Copy)]
pub struct Mix(u64);

impl std::hash::Hasher for Mix {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = self.0.rotate_left(5) ^ i;
    }
}

/// A key a [`KeySet`] holds: 64-bit cell keys, or 128-bit positions (both axes'
/// bits). `EMPTY` marks an empty slot; the key equal to it is kept beside the table.
pub trait SetKey: Copy + Eq + Default {
    const EMPTY: Self;
    fn hash(self) -> u64;
}

impl SetKey for u64 {
    const EMPTY: u64 = u64::MAX;
    fn hash(self) -> u64 {
        use std::hash::BuildHasher;
        std::hash::BuildHasherDefault::<Mix>::default().hash_one(self)
    }
}

impl SetKey for u128 {
    const EMPTY: u128 = u128::MAX;
    fn hash(self) -> u64 {
        // Each half through the mixer: a plain xor of the halves would send the
        // positions of a regular lattice to few hashes.
        (((self >> 64) as u64).hash() ^ (self as u64)).hash()
    }
}

/// Distinct keys gathered by several threads at once, in shards by hash. Each key is
/// hashed once: the hash that picks its shard also places it in the shard's table.
#[derive(Default)]
pub struct KeySet<K: SetKey> {
    shards: [Mutex<KeyTable<K>>; SHARDS],
    /// Batches begun, so two threads' batches start at different shards.
    batches: std::sync::atomic::AtomicUsize,
}

/// Distinct cells (64-bit keys).
pub type WordSet = KeySet<u64>;

/// Distinct valid positions of one point tag, gathered in 8 bytes each where that
/// loses nothing: a position whose axes are both whole multiples of a decimal step
/// (10⁻⁷ of a degree, or 10⁻³ of a metre on a planar system: every coordinate written
/// with at most that many decimals, as text or as a stored float's shortest form),
/// within 2³¹ steps of the first position gathered, is kept as its two multiples'
/// offsets from that position's, each biased into 32 bits, the latitude's above the
/// longitude's ([`Grid`]); any other as its [`position_key`]. A position is kept on
/// the grid only when its key read back gives its very bits, so each position has
/// one form and the two sets never hold one position twice. 20M distinct positions
/// took 817 MiB of heap as 16-byte keys alone.
pub struct PairSet {
    /// Multiples of the step per unit: 10⁷, or 10³ when planar.
    scale: f64,
    /// The grid, once the first position fixed its origin.
    grid_of: std::sync::OnceLock<Grid>,
    grid: KeySet<u64>,
    other: KeySet<u128>,
}

/// A decimal grid of positions as a [`PairSet`] keeps them: the step's multiples per
/// unit and the multiples of the origin (whole numbers), in the key's order of axes.
#[derive(Clone, Copy, Debug)]
pub struct Grid {
    scale: f64,
    origin: [f64; 2],
}

impl Grid {
    /// The 32-bit offset of `v` (a zero's sign dropped) on the axis of `origin`,
    /// when `v` reads back from it bit for bit.
    #[inline]
    fn offset(v: f64, scale: f64, origin: f64) -> Option<u64> {
        let d = (v * scale).round() - origin;
        if !(d.abs() < 2_147_483_648.0) {
            return None;
        }
        let half = (d as i64 + (1 << 31)) as u64;
        (Self::axis(half, scale, origin) == v).then_some(half)
    }

    #[inline]
    fn axis(half: u64, scale: f64, origin: f64) -> f64 {
        (origin + (half as i64 - (1 << 31)) as f64) / scale + 0.0
    }

    /// The key of `(y, x)`, when both are on the grid.
    #[inline]
    fn key(&self, y: f64, x: f64) -> Option<u64> {
        Some((Self::offset(y, self.scale, self.origin[0])? << 32) | Self::offset(x, self.scale, self.origin[1])?)
    }

    /// The position of a key, its two halves read as (high, low).
    #[inline]
    pub fn position(&self, key: u64) -> (f64, f64) {
        (Self::axis(key >> 32, self.scale, self.origin[0]), Self::axis(key & 0xFFFF_FFFF, self.scale, self.origin[1]))
    }

    /// The grid of keys whose halves are swapped.
    pub fn swapped(self) -> Grid {
        Grid { origin: [self.origin[1], self.origin[0]], ..self }
    }
}

/// The sorted keys of a [`PairSet`], for [`crate::profile::state::spacing_of`].
pub enum SortedPositions {
    /// Every position on the grid.
    Grid(Vec<u64>, Grid),
    /// As [`position_key`]s.
    Exact(Vec<u128>),
}

impl PairSet {
    /// An empty set for the positions of `columns` (planar or not).
    pub fn for_columns(columns: &Columns) -> PairSet {
        let planar = matches!(columns, Columns::Pair { planar: true, .. });
        PairSet {
            scale: if planar { 1e3 } else { 1e7 },
            grid_of: std::sync::OnceLock::new(),
            grid: KeySet::default(),
            other: KeySet::default(),
        }
    }

    /// Add valid positions `(latitude, longitude)`.
    pub(crate) fn insert_all(&self, points: impl Iterator<Item = (f64, f64)>) -> PolarsResult<()> {
        let mut points = points.map(|(y, x)| (y + 0.0, x + 0.0)).peekable();
        let Some(&(y0, x0)) = points.peek() else { return Ok(()) };
        let scale = self.scale;
        let grid = *self.grid_of.get_or_init(|| Grid { scale, origin: [(y0 * scale).round(), (x0 * scale).round()] });
        let mut other = Vec::new();
        self.grid.insert_all(points.filter_map(|(y, x)| {
            let key = grid.key(y, x);
            if key.is_none() {
                other.push(position_key(y, x));
            }
            key
        }))?;
        if !other.is_empty() {
            self.other.insert_all(other.into_iter())?;
        }
        Ok(())
    }

    /// How many positions were gathered.
    pub fn len(&self) -> PolarsResult<usize> {
        Ok(self.grid.len()? + self.other.len()?)
    }

    /// `f` of each position gathered, in no particular order, leaving the set empty.
    pub fn drain<T>(&self, f: impl Fn((f64, f64)) -> T) -> PolarsResult<Vec<T>> {
        let mut out = match self.grid_of.get() {
            Some(grid) => self.grid.drain(|k| f(grid.position(k)))?,
            None => Vec::new(),
        };
        out.extend(self.other.drain(|k| f(position_of(k)))?);
        Ok(out)
    }

    /// The positions gathered as [`position_key`]s, ascending, leaving the set empty.
    pub fn sorted_keys(&self) -> PolarsResult<Vec<u128>> {
        let mut keys = self.drain(|(y, x)| position_key(y, x))?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// The positions gathered, ascending by latitude then longitude, in 8 bytes each
    /// when all are on the grid, leaving the set empty.
    pub fn sorted(&self) -> PolarsResult<SortedPositions> {
        match self.grid_of.get() {
            Some(grid) if self.other.len()? == 0 => {
                let mut keys = self.grid.take()?;
                keys.sort_unstable();
                Ok(SortedPositions::Grid(keys, *grid))
            }
            _ => Ok(SortedPositions::Exact(self.sorted_keys()?)),
        }
    }
}

/// An open-addressing table of keys, probed linearly from the low bits of each key's
/// hash, the slot of a key a few places ahead prefetched: a set of a million cells is
/// larger than the CPU's caches, and with hashbrown's table the write of each new key
/// waited on memory (two fifths of the time of gathering cells).
#[derive(Default)]
struct KeyTable<K> {
    /// Keys, `K::EMPTY` where none; a power of two long, or empty.
    slots: Vec<K>,
    len: usize,
    /// The key equal to `K::EMPTY` was inserted.
    has_empty: bool,
}

impl<K: SetKey> KeyTable<K> {
    /// Keys prefetched ahead of the one inserted.
    const AHEAD: usize = 16;

    /// Room for `more` keys at a load of at most 0.7.
    fn reserve(&mut self, more: usize) {
        let needed = self.len + more;
        if needed * 10 <= self.slots.len() * 7 {
            return;
        }
        let size = (needed * 10 / 7 + 1).next_power_of_two().max(1024);
        let old = std::mem::replace(&mut self.slots, vec![K::EMPTY; size]);
        self.len = 0;
        for key in old.into_iter().filter(|k| *k != K::EMPTY) {
            self.place(key.hash(), key);
        }
    }

    /// Insert `key` (hashed to `hash`); the table has room.
    #[inline]
    fn place(&mut self, hash: u64, key: K) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == key {
                return;
            }
            if slot == K::EMPTY {
                self.slots[i] = key;
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn insert_all(&mut self, keys: &[(u64, K)]) {
        self.reserve(keys.len());
        let mask = self.slots.len() - 1;
        for (n, &(hash, key)) in keys.iter().enumerate() {
            if let Some(&(ahead, _)) = keys.get(n + Self::AHEAD) {
                prefetch(&self.slots[ahead as usize & mask]);
            }
            if key == K::EMPTY {
                self.has_empty = true;
            } else {
                self.place(hash, key);
            }
        }
    }

    fn keys(&self) -> impl Iterator<Item = K> + '_ {
        let empty = self.has_empty.then_some(K::EMPTY);
        self.slots.iter().copied().filter(|k| *k != K::EMPTY).chain(empty)
    }

    fn count(&self) -> usize {
        self.len + usize::from(self.has_empty)
    }
}

/// Ask the CPU to bring `slot`'s cache line in (a hint; nothing elsewhere).
#[inline(always)]
fn prefetch<K>(slot: &K) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and cannot fault; the address is a live slot.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((slot as *const K).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

impl<K: SetKey> KeySet<K> {
    pub(crate) fn insert_all(&self, keys: impl Iterator<Item = K>) -> PolarsResult<()> {
        // Room for a batch's keys spread evenly, so the lists rarely grow.
        let even = keys.size_hint().1.unwrap_or(0).min(1 << 24) / SHARDS;
        let mut by_shard: Vec<Vec<(u64, K)>> = (0..SHARDS).map(|_| Vec::with_capacity(even + even / 8 + 16)).collect();
        for k in keys {
            let h = k.hash();
            by_shard[shard_of(h)].push((h, k));
        }
        let start = self.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 5 % SHARDS;
        for i in (0..SHARDS).map(|i| (i + start) % SHARDS) {
            if !by_shard[i].is_empty() {
                self.shard(i)?.insert_all(&by_shard[i]);
            }
        }
        Ok(())
    }

    fn shard(&self, i: usize) -> PolarsResult<std::sync::MutexGuard<'_, KeyTable<K>>> {
        self.shards[i].lock().map_err(|_| polars_err!(ComputeError: "gathered key set poisoned"))
    }

    /// The keys gathered so far, in no particular order.
    pub fn keys(&self) -> PolarsResult<Vec<K>> {
        let mut out = Vec::new();
        for i in 0..SHARDS {
            out.extend(self.shard(i)?.keys());
        }
        Ok(out)
    }

    /// How many keys were gathered.
    pub fn len(&self) -> PolarsResult<usize> {
        (0..SHARDS).map(|i| Ok(self.shard(i)?.count())).sum()
    }

    /// The keys gathered so far, in no particular order, leaving the set empty.
    pub fn take(&self) -> PolarsResult<Vec<K>> {
        self.drain(|k| k)
    }

    /// `f` of each key gathered so far, in no particular order, leaving the set empty:
    /// each shard's table is freed once its keys are out.
    pub fn drain<T>(&self, f: impl Fn(K) -> T) -> PolarsResult<Vec<T>> {
        let mut out = Vec::with_capacity(self.len()?);
        for i in 0..SHARDS {
            out.extend(std::mem::take(&mut *self.shard(i)?).keys().map(&f));
        }
        Ok(out)
    }
}

/// Rows per distinct value (by its bits) of a float expression, as the rows stream past.
/// Rows per resolution, in a histogram's bins ([`super::sketch::Bins`]).
pub type Counts = super::sketch::Bins;

/// Count each value into `into`; runs of one value (resolutions mostly repeat) are
/// counted once.
pub(crate) fn add_counts(into: &Mutex<Counts>, values: impl Iterator<Item = f64>) -> PolarsResult<()> {
    let mut local = Counts::default();
    let mut run: Option<(u64, u64)> = None;
    for bits in values.map(f64::to_bits) {
        match &mut run {
            Some((v, n)) if *v == bits => *n += 1,
            _ => {
                if let Some((v, n)) = run.replace((bits, 1)) {
                    local.add(f64::from_bits(v), n);
                }
            }
        }
    }
    if let Some((v, n)) = run {
        local.add(f64::from_bits(v), n);
    }
    into.lock().map_err(|_| polars_err!(ComputeError: "counts poisoned"))?.merge_from(&local);
    Ok(())
}

/// Count the rows of each distinct non-null value of `values` into `into`.
pub fn gather_counts(values: Expr, into: Arc<Mutex<Counts>>) -> Expr {
    values
        .map(
            move |c: Column| {
                let values = c.as_materialized_series().cast(&DataType::Float64)?;
                add_counts(&into, values.f64()?.iter().flatten())?;
                Ok(gathered(c.name().clone(), c.len()))
            },
            |_, f| Ok(Field::new(f.name().clone(), DataType::UInt32)),
        )
        .sum()
}

/// Count the rows per resolution of `columns` into `into`: `per_row` (the
/// [`row_resolution`] of the columns) counted as the rows stream past, or with a
/// declared accuracy on a point, its valid rows ([`gather_accuracy`]).
pub fn gather_resolutions(columns: &Columns, per_row: Expr, accuracy_m: Option<f64>, into: Arc<Mutex<Counts>>) -> Expr {
    match (accuracy_m, columns) {
        (Some(a), Columns::Pair { .. }) => gather_accuracy(columns, a, into),
        _ => gather_counts(per_row, into),
    }
}

/// Count a batch's valid positions of a point (as [`crate::profile::valid`] reads
/// validity) into `into` as rows of resolution `accuracy_m`: a declared accuracy is
/// every valid row's resolution, so no column of it is built (the rounded positions
/// of a fix's trial, where the mask and the column were a tenth of the pass).
fn gather_accuracy(columns: &Columns, accuracy_m: f64, into: Arc<Mutex<Counts>>) -> Expr {
    on_pairs(columns, move |ys, xs, planar| {
        let valid =
            |(y, x): (Option<f64>, Option<f64>)| matches!((y, x), (Some(y), Some(x)) if valid_position(y, x, planar));
        let n = ys.iter().zip(xs.iter()).filter(|p| valid(*p)).count();
        if n > 0 {
            into.lock().map_err(|_| polars_err!(ComputeError: "counts poisoned"))?.add(accuracy_m, n as u64);
        }
        Ok(())
    })
}

/// Distinct texts gathered by several threads at once. A text of up to 15 bytes
/// (most keys: codes, names, ids) is kept as one 16-byte word ([`short_key`]) in a
/// [`KeySet`], the table the cells and positions are gathered in (sharded by hash,
/// each shard behind its own lock, its slots prefetched ahead of each insert; with a
/// hash table of its own the lookups waited on memory: 20M rows of 100 000 sites,
/// a tenth of a profile's samples). Longer texts are kept whole in shards of their
/// own, each value hashed once.
#[derive(Default)]
pub struct TextSet {
    short: KeySet<u128>,
    long: [Mutex<hashbrown::HashTable<(u64, String)>>; SHARDS],
}

/// Shards of the gathering sets.
const SHARDS: usize = 16;

/// The shard of a hash: bits from its middle, since a table takes a value's slot from
/// the low bits. Sharding by the top bits had left each shard's hashbrown tags only
/// three bits to differ by, so most probes compared the values themselves.
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// A text of at most 15 bytes as one word: its bytes from the lowest, its length in
/// the top byte, so two texts have the same word exactly when they are equal.
fn short_key(v: &str) -> Option<u128> {
    let b = v.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut word = [0u8; 16];
    word[..b.len()].copy_from_slice(b);
    word[15] = b.len() as u8;
    Some(u128::from_le_bytes(word))
}

#[cfg(test)]
fn short_text(word: u128) -> String {
    let bytes = word.to_le_bytes();
    let len = usize::from(bytes[15]).min(15);
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

/// The [`short_key`] word of a text of at most 12 bytes, from its Arrow string view
/// (the length in the low four bytes, then the bytes inline): no copy of the bytes,
/// whose variable-length copy into a word was the costliest step of gathering
/// distinct keys (20M rows: a quarter of the samples of `insert_all`). Bytes past the
/// length are masked, whatever a writer of the view left there.
#[inline]
fn inline_word(view: u128) -> u128 {
    let len = (view as u32).min(12);
    let bytes = (view >> 32) & ((1u128 << (8 * len)) - 1);
    bytes | (u128::from(len) << 120)
}

/// The word of a short text ([`short_key`]); a longer one is put in `long`, for
/// [`TextSet::insert_long`].
fn word_or_long<'a>(text: &'a str, long: &mut Vec<&'a str>) -> Option<u128> {
    let word = short_key(text);
    if word.is_none() {
        long.push(text);
    }
    word
}

impl TextSet {
    fn insert_all<'a>(&self, values: impl Iterator<Item = &'a str>) -> PolarsResult<()> {
        let mut long = Vec::new();
        self.short.insert_all(values.filter_map(|v| word_or_long(v, &mut long)))?;
        self.insert_long(&long)
    }

    /// [`TextSet::insert_all`] of a string column's non-null values, short ones taken
    /// from their views ([`inline_word`]).
    fn insert_strings(&self, ca: &StringChunked) -> PolarsResult<()> {
        if cfg!(target_endian = "big") {
            return self.insert_all(ca.iter().flatten());
        }
        let mut long = Vec::new();
        for arr in ca.downcast_iter() {
            let buffers = arr.data_buffers();
            self.short.insert_all(arr.non_null_views_iter().filter_map(|view| {
                if view.length <= 12 {
                    return Some(inline_word(view.as_u128()));
                }
                // SAFETY: a view of this array points into its buffers, at UTF-8 text
                // (a string array's values).
                let text = unsafe { std::str::from_utf8_unchecked(view.get_slice_unchecked(buffers)) };
                word_or_long(text, &mut long)
            }))?;
        }
        self.insert_long(&long)
    }

    fn insert_long(&self, values: &[&str]) -> PolarsResult<()> {
        use std::hash::BuildHasher;
        let mut by_shard: Vec<Vec<(u64, &str)>> = vec![Vec::new(); SHARDS];
        for v in values {
            let h = std::hash::BuildHasherDefault::<Mix>::default().hash_one(v);
            by_shard[shard_of(h)].push((h, v));
        }
        for (i, batch) in by_shard.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
            let mut shard = self.long[i].lock().map_err(|_| polars_err!(ComputeError: "value set poisoned"))?;
            for &(h, v) in batch {
                if shard.find(h, |(k, s)| *k == h && s == v).is_none() {
                    shard.insert_unique(h, (h, v.to_string()), |(k, _)| *k);
                }
            }
        }
        Ok(())
    }

    pub fn len(&self) -> PolarsResult<usize> {
        let mut n = self.short.len()?;
        for shard in &self.long {
            n += shard.lock().map_err(|_| polars_err!(ComputeError: "value set poisoned"))?.len();
        }
        Ok(n)
    }

    /// The profile hash ([`crate::profile::keys::hash_bytes`]) of each value, in no
    /// particular order, without making a string of each.
    pub fn hashes(&self) -> PolarsResult<Vec<u64>> {
        let hash = |word: u128| {
            let bytes = word.to_le_bytes();
            crate::profile::keys::hash_bytes(&bytes[..usize::from(bytes[15]).min(15)])
        };
        let mut out: Vec<u64> = self.short.keys()?.into_iter().map(hash).collect();
        for shard in &self.long {
            let shard = shard.lock().map_err(|_| polars_err!(ComputeError: "value set poisoned"))?;
            out.extend(shard.iter().map(|(_, v)| crate::profile::keys::hash_bytes(v.as_bytes())));
        }
        Ok(out)
    }

    /// The values, in no particular order.
    #[cfg(test)]
    pub fn values(&self) -> PolarsResult<Vec<String>> {
        let mut out: Vec<String> = self.short.keys()?.into_iter().map(short_text).collect();
        for shard in &self.long {
            let shard = shard.lock().map_err(|_| polars_err!(ComputeError: "value set poisoned"))?;
            out.extend(shard.iter().map(|(_, v)| v.clone()));
        }
        Ok(out)
    }
}

/// Gather the distinct values of a column (as text) into `into` as the rows stream past.
pub fn gather_distinct(column: &str, into: Arc<TextSet>) -> Expr {
    col(column)
        .cast(DataType::String)
        .map(
            move |c: Column| {
                into.insert_strings(c.str()?)?;
                Ok(gathered(c.name().clone(), c.len()))
            },
            |_, f| Ok(Field::new(f.name().clone(), DataType::UInt32)),
        )
        .sum()
}

/// `(row, col)` as a key; `None` outside ±2^31 (a grid far finer than any pack's).
pub fn pack_cell(r: i64, c: i64) -> Option<u64> {
    let (r, c) = (r.checked_add(CELL_BIAS)?, c.checked_add(CELL_BIAS)?);
    ((0..1 << 32).contains(&r) && (0..1 << 32).contains(&c)).then_some(((r as u64) << 32) | c as u64)
}

pub fn unpack_cell(key: u64) -> (i64, i64) {
    ((key >> 32) as i64 - CELL_BIAS, (key & 0xffff_ffff) as i64 - CELL_BIAS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A declared accuracy counts what the column of per-row resolutions counts: the
    /// accuracy once per valid row, none for a null, NaN or out-of-range axis, on
    /// degrees and on planar values, as numbers and as text.
    #[test]
    fn a_declared_accuracy_counts_the_valid_rows() {
        let lat = [Some(30.5), None, Some(f64::NAN), Some(95.0), Some(-90.0), Some(30.1), Some(1e7)];
        let lon = [Some(114.0), Some(114.0), Some(114.0), Some(114.0), Some(180.0), None, Some(2e6)];
        for planar in [false, true] {
            for text in [false, true] {
                let columns = Columns::Pair { lat: "lat".into(), lon: "lon".into(), planar, crs: None };
                let df = if text {
                    let t = |v: &[Option<f64>]| v.iter().map(|x| x.map(|x| format!("{x}"))).collect::<Vec<_>>();
                    df!("lat" => t(&lat), "lon" => t(&lon)).unwrap()
                } else {
                    df!("lat" => &lat, "lon" => &lon).unwrap()
                };
                let count = |fast: bool| {
                    let counts = Arc::new(Mutex::new(Counts::default()));
                    let per_row = row_resolution(&columns, text, Snap::default(), Some(12.5));
                    let e = if fast {
                        gather_resolutions(&columns, per_row, Some(12.5), counts.clone())
                    } else {
                        gather_counts(per_row, counts.clone())
                    };
                    df.clone().lazy().select([e]).collect().unwrap();
                    let bins = counts.lock().unwrap().clone();
                    bins
                };
                let (fast, slow) = (count(true), count(false));
                assert_eq!(fast, slow, "planar {planar}, text {text}");
                let mut want = Counts::default();
                want.add(12.5, if planar { 4 } else { 2 });
                assert_eq!(fast, want, "planar {planar}, text {text}");
            }
        }
    }

    /// Keys in repeated batches, through many growths of each shard's table, with the
    /// key the tables mark empty slots by: each kept once, none lost.
    #[test]
    fn a_word_set_keeps_each_key_once() {
        let set = WordSet::default();
        let mut all = std::collections::BTreeSet::new();
        for batch in 0..40u64 {
            let keys: Vec<u64> = (0..5_000u64)
                .map(|i| match i % 1_000 {
                    0 => u64::MAX,
                    1 => 0,
                    _ => (i * 2_654_435_761 + batch * 7_919) % 150_001,
                })
                .collect();
            all.extend(keys.iter().copied());
            set.insert_all(keys.into_iter()).unwrap();
        }
        let mut got = set.keys().unwrap();
        got.sort_unstable();
        assert_eq!(got, all.iter().copied().collect::<Vec<_>>());
        let mut taken = set.take().unwrap();
        taken.sort_unstable();
        assert_eq!(taken, got);
        assert!(set.keys().unwrap().is_empty());
    }

    #[test]
    fn decimal_steps_are_the_powers_of_ten() {
        for d in 0..=20u8 {
            assert_eq!(decimal_step(d), 10f64.powi(-i32::from(d)), "{d} decimals");
        }
    }

    #[test]
    fn text_set_counts_and_returns_each_distinct_value_once() {
        // Short values (kept as words) and long ones, at the 15/16-byte boundary, the
        // empty text, texts that differ only by length or trailing NULs, multi-byte
        // UTF-8, each inserted many times across batches.
        let base = [
            "",
            "a",
            "a\0",
            "a\0\0",
            "S000001",
            "S000002",
            "东城区",
            "123456789012345",
            "1234567890123456",
            "1234567890123457",
            "a very long value of forty or more bytes, 0",
            "a very long value of forty or more bytes, 1",
        ];
        let set = TextSet::default();
        for round in 0..5 {
            let batch: Vec<&str> = base.iter().cycle().skip(round).take(base.len() * 3).copied().collect();
            set.insert_all(batch.into_iter()).unwrap();
        }
        assert_eq!(set.len().unwrap(), base.len());
        let mut got = set.values().unwrap();
        got.sort();
        let mut want: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
    }

    /// A string column's values taken from their views give the set their texts
    /// give: every length around the 12-byte inline limit and the 15-byte word limit,
    /// nulls, trailing NULs, multi-byte UTF-8, sliced and several-chunk columns.
    #[test]
    fn text_set_from_views_equals_text_set_from_texts() {
        let mut next = crate::decimals::xorshift(7);
        let alphabet: Vec<char> = "ab\0东Z9".chars().collect();
        let values: Vec<Option<String>> = (0..4000)
            .map(|_| {
                let r = next();
                (r % 11 != 0).then(|| {
                    let len = (r >> 8) % 19;
                    (0..len).map(|j| alphabet[((r >> (16 + j % 40)) as usize + j as usize) % alphabet.len()]).collect()
                })
            })
            .collect();
        let mut ca: StringChunked = values.iter().map(|v| v.as_deref()).collect();
        ca.append(&values.iter().rev().map(|v| v.as_deref()).collect::<StringChunked>()).unwrap();
        for column in [ca.clone(), ca.slice(37, 5000)] {
            let (by_view, by_text) = (TextSet::default(), TextSet::default());
            by_view.insert_strings(&column).unwrap();
            by_text.insert_all(column.iter().flatten()).unwrap();
            let (mut a, mut b) = (by_view.values().unwrap(), by_text.values().unwrap());
            a.sort();
            b.sort();
            assert_eq!(a, b);
            assert!(a.len() > 100, "{}", a.len());
        }
    }

    /// The cells gathered are those of the rows `valid` keeps: out of range, null and
    /// NaN rows give none, with and without nulls in the batch (two walks).
    #[test]
    fn valid_cells_are_the_cells_of_valid_rows() {
        let columns = Columns::Pair { lat: "lat".into(), lon: "lon".into(), planar: false, crs: None };
        let lat = [Some(30.0), Some(95.0), Some(f64::NAN), Some(30.0004), Some(-89.9), Some(31.5), None];
        let lon = [Some(114.0), Some(114.0), Some(114.0), Some(114.0), Some(181.0), Some(-179.99), Some(114.0)];
        let mut cells = geo::Cells::new(50.0);
        let mut want: Vec<u64> = [(30.0, 114.0), (30.0004, 114.0), (31.5, -179.99)]
            .iter()
            .filter_map(|&(y, x)| {
                let (r, c) = cells.cell(y, x);
                pack_cell(r, c)
            })
            .collect();
        want.sort_unstable();
        want.dedup();
        for rows in [lat.len(), lat.len() - 1] {
            let df = df!("lat" => &lat[..rows], "lon" => &lon[..rows]).unwrap();
            let set = Arc::new(WordSet::default());
            df.lazy().select([gather_valid_cells(&columns, 50.0, set.clone())]).collect().unwrap();
            let mut got = set.keys().unwrap();
            got.sort_unstable();
            assert_eq!(got, want, "{rows} rows");
        }
    }

    /// The distinct positions gathered are those a query's `unique` of the valid rows
    /// finds (which keeps `-0.0` or `0.0` for the one place), over many batches and through many growths of the
    /// tables, in degrees and planar; text coordinates are parsed as the metrics parse
    /// them.
    #[test]
    fn gathered_positions_are_the_distinct_valid_positions() {
        let mut next = crate::decimals::xorshift(0x5eed_0f_9051_7105);
        let n = 120_000;
        let lat: Vec<Option<f64>> = (0..n)
            .map(|i| match next() % 97 {
                0 => None,
                1 => Some(f64::NAN),
                2 => Some(95.0),
                3 => Some(-0.0),
                4 => Some(0.0),
                _ => Some((next() % 400) as f64 * 0.25 - 50.0 + f64::from(i % 3) * 1e-7),
            })
            .collect();
        let lon: Vec<Option<f64>> =
            (0..n).map(|_| (next() % 89 != 0).then(|| (next() % 300) as f64 * 0.5 - 75.0)).collect();
        for planar in [false, true] {
            let columns = Columns::Pair { lat: "lat".into(), lon: "lon".into(), planar, crs: None };
            let df = df!("lat" => &lat, "lon" => &lon).unwrap();
            let want = df
                .clone()
                .lazy()
                .filter(crate::profile::valid(&columns))
                .select([col("lat"), col("lon")])
                .unique(None, UniqueKeepStrategy::Any)
                .collect()
                .unwrap();
            let mut want: Vec<(u64, u64)> = want["lat"]
                .f64()
                .unwrap()
                .into_no_null_iter()
                .zip(want["lon"].f64().unwrap().into_no_null_iter())
                .map(|(y, x)| ((y + 0.0).to_bits(), (x + 0.0).to_bits()))
                .collect();
            want.sort_unstable();
            let set = Arc::new(PairSet::for_columns(&columns));
            let batches: Vec<DataFrame> = (0..n).step_by(7_000).map(|i| df.slice(i as i64, 7_000)).collect();
            for batch in batches {
                batch.lazy().select([gather_positions(&columns, set.clone())]).collect().unwrap();
            }
            let n = set.len().unwrap();
            let mut got: Vec<(u64, u64)> = set.drain(|(y, x)| (y.to_bits(), x.to_bits())).unwrap();
            got.sort_unstable();
            assert_eq!(n, got.len());
            assert_eq!(got, want, "planar {planar}");
            assert!(got.len() > 10_000, "{}", got.len());
        }
        // Text coordinates, as the metrics read them (degrees–minutes–seconds too).
        let columns = Columns::Pair { lat: "lat".into(), lon: "lon".into(), planar: false, crs: None };
        let df = df!("lat" => ["30.5", "30°30'0\"N", "x", "30.50"], "lon" => ["114", "114", "114", "114.0"]).unwrap();
        let set = Arc::new(PairSet::for_columns(&columns));
        df.lazy().select([gather_positions(&columns, set.clone())]).collect().unwrap();
        assert_eq!(set.sorted_keys().unwrap(), vec![position_key(30.5, 114.0)]);
    }

    /// The values gathered are a query's distinct finite values, ascending (a zero's
    /// sign aside), over batches, with nulls, NaN and infinities left out.
    #[test]
    fn gathered_values_are_the_distinct_finite_values() {
        let mut next = crate::decimals::xorshift(0x00c0_ffee_d15c_0123);
        let values: Vec<Option<f64>> = (0..60_000)
            .map(|_| match next() % 101 {
                0 => None,
                1 => Some(f64::NAN),
                2 => Some(f64::INFINITY),
                3 => Some(-0.0),
                4 => Some(0.0),
                _ => Some((next() % 30_000) as f64 * 0.001 - 12.0),
            })
            .collect();
        let df = df!("v" => &values).unwrap();
        let set = Arc::new(WordSet::default());
        for i in (0..values.len()).step_by(6_000) {
            df.slice(i as i64, 6_000).lazy().select([gather_values(col("v"), set.clone())]).collect().unwrap();
        }
        let got = sorted_values(&set).unwrap();
        let mut want: Vec<f64> = values.iter().flatten().filter(|v| v.is_finite()).map(|v| v + 0.0).collect();
        want.sort_by(f64::total_cmp);
        want.dedup();
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert!(got.len() > 20_000 && set.len().unwrap() == 0);
    }

    #[test]
    fn cell_keys_round_trip() {
        for (r, c) in [(0, 0), (-1, 5), (1_000_000, -2_000_000), (i32::MAX as i64, i32::MIN as i64)] {
            assert_eq!(unpack_cell(pack_cell(r, c).unwrap()), (r, c));
        }
        assert_eq!(pack_cell(1 << 40, 0), None);
    }

    /// A truncation judged on numbers is the truncation written as text and read
    /// back, for every step, from datetimes, text and numbers, years 1 to beyond 9999
    /// and before the epoch included.
    #[test]
    fn truncated_seconds_are_the_written_text_read_back() {
        let mut next = crate::decimals::xorshift(0x7135_0fa1_1b0c_4e2d);
        let seconds: Vec<Option<f64>> = (0..20_000)
            .map(|i| match i % 50 {
                0 => None,
                1 => Some(253_402_300_799.0 + (next() % 200_000) as f64), // around 9999-12-31
                2 => Some(-62_135_596_800.0 - (next() % 200_000) as f64 + 100_000.0), // around year 1
                3 => Some(1e18),
                _ => Some((next() % 4_000_000_000) as f64 - 1_000_000_000.0 + (next() % 1000) as f64 / 1000.0),
            })
            .collect();
        let text: Vec<Option<String>> = seconds
            .iter()
            .map(|s| DateTime::from_timestamp((*s)? as i64, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()))
            .collect();
        let millis: Vec<Option<i64>> = seconds.iter().map(|s| s.map(|s| (s * 1000.0) as i64)).collect();
        let df = df!("n" => &seconds, "t" => &text, "ms" => &millis).unwrap();
        let df =
            df.lazy().with_column(col("ms").cast(DataType::Datetime(TimeUnit::Milliseconds, None))).collect().unwrap();
        for step in [60.0, 3_600.0, 86_400.0] {
            for c in ["n", "t", "ms"] {
                let out = df
                    .clone()
                    .lazy()
                    .with_column(coarsen_time(c, step).alias("written"))
                    .select([epoch_seconds("written").alias("a"), coarsen_time_seconds(c, step).alias("b")])
                    .collect()
                    .unwrap();
                let (a, b) = (out["a"].f64().unwrap(), out["b"].f64().unwrap());
                let differ: Vec<_> = a.iter().zip(b.iter()).filter(|(x, y)| x != y).take(3).collect();
                assert!(differ.is_empty(), "{c} {step}: {differ:?}");
                assert!(b.null_count() > 0 && b.null_count() < b.len() / 10, "{c} {step}: {}", b.null_count());
            }
        }
    }

    /// The fast path reads what the formats read: random timestamps in the common
    /// form (fractions, leap days, impossible dates and times, stray characters)
    /// give the value of the formats alone.
    #[test]
    fn the_fast_time_form_reads_what_the_formats_read() {
        let slow = |s: &str| -> Option<f64> {
            for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
                    return Some(
                        t.and_utc().timestamp() as f64 + f64::from(t.and_utc().timestamp_subsec_nanos()) / 1e9,
                    );
                }
            }
            None
        };
        let mut next = crate::decimals::xorshift(0x71de_5eed_2026_1202);
        let mut checked = 0;
        for i in 0..300_000 {
            let (y, mo, d) = (next() % 10_000, 1 + next() % 13, 1 + next() % 31);
            let (h, mi, s) = (next() % 25, next() % 61, next() % 61);
            let sep = if next() % 2 == 0 { ' ' } else { 'T' };
            let fraction = match next() % 4 {
                0 => String::new(),
                1 => format!(".{}", next() % 1000),
                2 => format!(".{:09}", next() % 1_000_000_000),
                _ => format!(".{:010}", next() % 10_000_000_000),
            };
            let mut text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{fraction}");
            if i % 97 == 0 {
                text.replace_range(3..4, "x");
            }
            let fast = fast_time(text.as_bytes());
            if fast.is_some() {
                checked += 1;
                assert_eq!(fast, slow(&text), "{text}");
            }
            if let Some(v) = slow(&text) {
                assert_eq!(parse_time(&text), Some(v), "{text}");
            }
        }
        assert!(checked > 100_000, "{checked}");
        assert_eq!(fast_time(b"2024-02-29 23:59:59.5"), Some(1_709_251_199.5));
        assert_eq!(fast_time(b"2023-02-29 00:00:00"), None);
    }

    #[test]
    fn parses_common_time_forms() {
        assert_eq!(parse_time("1970-01-02"), Some(86_400.0));
        assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60.0));
        assert_eq!(parse_time("1970-01-01 01:00:00"), Some(3_600.0));
        assert_eq!(parse_time("1970年01月02日"), Some(86_400.0));
        assert_eq!(parse_time("yesterday"), None);
    }
}
