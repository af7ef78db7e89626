//! Mergeable metric states: what a profile keeps of one partition for each metric
//! an item needs, so that the metric of the whole dataset (or of a union of
//! releases) is computed from the parts without reading the data again.
//!
//! Counts, ranges, extents, cell sets and the resolution histogram merge exactly;
//! distinct counts are exact up to [`sketch::EXACT_LIMIT`] values and a HyperLogLog
//! beyond; lists of distinct values (measure and time steps, lattice spacing) are
//! exact up to [`VALUE_LIMIT`] and unknown beyond, which evaluation treats as a band
//! that straddles any threshold (fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::sketch::{self, Distinct, Hist};
use super::{collect, geo, kernels, Group, Need, Snap, Values};
use crate::profile::keys::hash_bytes;
use crate::rules::Prop;
use crate::tag::Columns;

/// Most distinct values (or positions) a value list keeps.
pub const VALUE_LIMIT: usize = 200_000;

/// Snapping facts of one axis (DESIGN §2): the most decimals a valid value carries
/// and which candidate steps of the lists for `k` and `k + 1` decimals every valid
/// value sits on, as `(list, index)` into [`geo::snap_candidates`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxisInfo {
    pub k: Option<u8>,
    pub fits: Vec<(u8, u8)>,
}

/// Whether every value of `rows` times `inverse` is within 1e-6 of an integer. The
/// loop has no branch and no early exit, so it runs on vector lanes (three candidates
/// fit every value of a 6-decimal column, 40M values each at 20M rows); a block with a
/// quotient past 2^51, where the two-addition rounding no longer holds, or a NaN, is
/// tested value by value with the standard rounding.
fn on_step(rows: std::ops::Range<usize>, inverse: f64, value: impl Fn(usize) -> f64) -> bool {
    use crate::decimals::{EXACT_BELOW, ROUNDER};
    let (mut off, mut big) = (false, false);
    for i in rows.clone() {
        let q = value(i) * inverse;
        let e = (q - ((q + ROUNDER) - ROUNDER)).abs();
        off |= !(e <= 1e-6);
        big |= !(q.abs() < EXACT_BELOW);
    }
    if big {
        return rows.into_iter().all(|i| {
            let q = value(i) * inverse;
            (q - q.round_ties_even()).abs() <= 1e-6
        });
    }
    !off
}

impl AxisInfo {
    /// Does every valid value sit on candidate `index` of list `list`? Values with at
    /// most `k` decimals sit on every candidate of the lists for `k + 2` decimals and
    /// finer (those steps divide 10^-k), so only two lists need measuring.
    fn fits(&self, list: u8, index: u8) -> bool {
        match self.k {
            None => true,
            Some(k) if list >= k + 2 => true,
            Some(k) if list >= k => self.fits.contains(&(list, index)),
            Some(_) => false,
        }
    }

    /// The facts of one part's valid values, as `(value, decimals)`: a candidate is
    /// tested on every value until one is off it (most are off at the first values).
    pub fn of_values(values: &[(f64, Option<u8>)]) -> AxisInfo {
        let k = values.iter().filter_map(|v| v.1).max();
        Self::fitting(k, values.len(), |i| values[i].0)
    }

    /// [`AxisInfo::of_values`] of valid values whose most decimals are `k`.
    pub fn of_axis(values: &[f64], k: Option<u8>) -> AxisInfo {
        Self::fitting(k, values.len(), |i| values[i])
    }

    /// The candidates every value sits on, tested a block of values at a time: the
    /// candidates off a block are dropped, and those that remain (on a 6-decimal
    /// column, a few steps of the finer list fit every value) read each block while
    /// it is in cache instead of walking all the values once each.
    fn fitting(k: Option<u8>, n: usize, value: impl Fn(usize) -> f64) -> AxisInfo {
        const BLOCK: usize = 256;
        let Some(k) = k else { return AxisInfo::default() };
        let mut alive: Vec<(u8, u8, f64)> = [k, k + 1]
            .into_iter()
            .flat_map(|list| {
                geo::snap_candidates(list)
                    .into_iter()
                    .enumerate()
                    .map(move |(index, step)| (list, index as u8, 1.0 / step))
            })
            .collect();
        let mut start = 0;
        while start < n && !alive.is_empty() {
            let end = (start + BLOCK).min(n);
            alive.retain(|&(_, _, inverse)| on_step(start..end, inverse, &value));
            start = end;
        }
        AxisInfo { k: Some(k), fits: alive.into_iter().map(|(list, index, _)| (list, index)).collect() }
    }

    pub fn merge(&self, other: &AxisInfo) -> AxisInfo {
        let k = match (self.k, other.k) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut fits = Vec::new();
        if let Some(k) = k {
            for list in [k, k + 1] {
                for index in 0..geo::snap_candidates(list).len() as u8 {
                    if self.fits(list, index) && other.fits(list, index) {
                        fits.push((list, index));
                    }
                }
            }
        }
        AxisInfo { k, fits }
    }

    /// The column's snapping step: the coarsest candidate for its decimals that fits.
    pub fn snap(&self) -> Option<f64> {
        let k = self.k?;
        let steps = geo::snap_candidates(k);
        geo::coarsest(k, |i| self.fits(k, i as u8) && steps[i] >= geo::SNAP_FLOOR).map(|i| steps[i])
    }

    /// Steps that could be the snapping of a whole this axis is part of and change a
    /// row's resolution here (steps coarser than 10^-k, none below
    /// [`geo::SNAP_FLOOR`]).
    fn relevant(&self) -> Vec<f64> {
        let Some(k) = self.k else { return vec![] };
        let unit = 10f64.powi(-i32::from(k));
        let mut out: Vec<f64> = Vec::new();
        for list in [k, k + 1] {
            for (i, s) in geo::snap_candidates(list).into_iter().enumerate() {
                if s > unit * (1.0 + 1e-9)
                    && s >= geo::SNAP_FLOOR
                    && self.fits(list, i as u8)
                    && !out.iter().any(|x| same(*x, s))
                {
                    out.push(s);
                }
            }
        }
        out
    }

    /// The step of a whole's snapping `s` as it acts on this part: none when it is
    /// no coarser than every step this part carries.
    fn effective(&self, s: Option<f64>) -> Option<f64> {
        let (s, k) = (s?, self.k?);
        (s > 10f64.powi(-i32::from(k)) * (1.0 + 1e-9)).then_some(s)
    }
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Snapping facts of a point's two axes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapInfo {
    pub lat: AxisInfo,
    pub lon: AxisInfo,
}

impl SnapInfo {
    pub fn merge(&self, other: &SnapInfo) -> SnapInfo {
        SnapInfo { lat: self.lat.merge(&other.lat), lon: self.lon.merge(&other.lon) }
    }

    pub fn snap(&self) -> Snap {
        Snap { lat: self.lat.snap(), lon: self.lon.snap() }
    }

    /// Every snapping a whole containing this part could have that changes rows here.
    pub fn variants(&self) -> Vec<Snap> {
        let lats: Vec<Option<f64>> = std::iter::once(None).chain(self.lat.relevant().into_iter().map(Some)).collect();
        let lons: Vec<Option<f64>> = std::iter::once(None).chain(self.lon.relevant().into_iter().map(Some)).collect();
        lats.iter().flat_map(|a| lons.iter().map(move |b| Snap { lat: *a, lon: *b })).collect()
    }

    /// A whole's snapping as it acts on this part.
    pub fn effective(&self, whole: Snap) -> Snap {
        Snap { lat: self.lat.effective(whole.lat), lon: self.lon.effective(whole.lon) }
    }
}

/// Key of a variant: the snapping assumed for each point whose resolution a group uses.
pub fn variant_key(snaps: &[(Columns, Snap)]) -> String {
    let show = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{s:.1e}"));
    snaps.iter().map(|(c, s)| format!("{}={}/{}", c.label(), show(s.lat), show(s.lon))).collect::<Vec<_>>().join(";")
}

/// Points whose snapping a group's filters or needs depend on.
pub fn snapped_points(group: &Group) -> Vec<Columns> {
    let mut out: Vec<Columns> = Vec::new();
    let mut add = |c: &Columns| {
        if matches!(c, Columns::Pair { .. }) && !out.contains(c) {
            out.push(c.clone());
        }
    };
    for f in &group.filters {
        if let super::RowFilter::Resolution { columns, accuracy_m: None, .. } = f {
            add(columns);
        }
    }
    for n in &group.needs {
        if let Need::Prop { prop: Prop::ResolutionM, columns, accuracy_m: None, .. } = n {
            add(columns);
        }
    }
    out.sort();
    out
}

/// One metric's mergeable state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Rows, or rows with a valid value (`has`).
    Count {
        n: u64,
    },
    Distinct {
        distinct: Distinct,
    },
    /// Per-row horizontal resolution.
    Hist {
        hist: Hist,
    },
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    Extent {
        lat: [Option<f64>; 2],
        lon: [Option<f64>; 2],
        planar: bool,
    },
    /// Occupied cells, sorted (shared by the area and the largest cluster of one
    /// point and grid).
    Cells {
        #[serde(with = "sketch::shared_cells")]
        cells: Arc<Vec<(i64, i64)>>,
    },
    /// Sorted distinct values; `None` past [`VALUE_LIMIT`].
    Values {
        #[serde(with = "sketch::floats")]
        values: Option<Vec<f64>>,
    },
    /// Sorted distinct positions, flattened `lat, lon`; `None` past [`VALUE_LIMIT`].
    Points {
        #[serde(with = "sketch::floats")]
        points: Option<Vec<f64>>,
    },
    /// The metric is undefined for this kind of tag.
    Undefined,
}

fn opt(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    }
}

fn sorted_union(a: &Option<Vec<f64>>, b: &Option<Vec<f64>>, width: usize) -> Option<Vec<f64>> {
    let (a, b) = (a.as_ref()?, b.as_ref()?);
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    let key = |v: &[f64], i: usize| -> Vec<u64> { v[i..i + width].iter().map(|x| ordered(*x)).collect() };
    while i < a.len() && j < b.len() {
        match key(a, i).cmp(&key(b, j)) {
            std::cmp::Ordering::Less => {
                out.extend_from_slice(&a[i..i + width]);
                i += width;
            }
            std::cmp::Ordering::Greater => {
                out.extend_from_slice(&b[j..j + width]);
                j += width;
            }
            std::cmp::Ordering::Equal => {
                out.extend_from_slice(&a[i..i + width]);
                i += width;
                j += width;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    (out.len() / width <= VALUE_LIMIT).then_some(out)
}

/// Total order of floats as unsigned integers (negative values first).
use kernels::ordered_bits as ordered;

impl State {
    /// The state of the union of two parts' rows.
    pub fn merge(&self, other: &State) -> Option<State> {
        Some(match (self, other) {
            (State::Count { n: a }, State::Count { n: b }) => State::Count { n: a + b },
            (State::Distinct { distinct: a }, State::Distinct { distinct: b }) => {
                State::Distinct { distinct: a.merge(b) }
            }
            (State::Hist { hist: a }, State::Hist { hist: b }) => State::Hist { hist: a.merge(b) },
            (State::Range { min: a0, max: a1 }, State::Range { min: b0, max: b1 }) => {
                State::Range { min: opt(*a0, *b0, f64::min), max: opt(*a1, *b1, f64::max) }
            }
            (State::Extent { lat: a, lon: b, planar }, State::Extent { lat: c, lon: d, .. }) => State::Extent {
                lat: [opt(a[0], c[0], f64::min), opt(a[1], c[1], f64::max)],
                lon: [opt(b[0], d[0], f64::min), opt(b[1], d[1], f64::max)],
                planar: *planar,
            },
            (State::Cells { cells: a }, State::Cells { cells: b }) => {
                State::Cells { cells: Arc::new(sketch::union_sorted(a, b)) }
            }
            (State::Values { values: a }, State::Values { values: b }) => {
                State::Values { values: sorted_union(a, b, 1) }
            }
            (State::Points { points: a }, State::Points { points: b }) => {
                State::Points { points: sorted_union(a, b, 2) }
            }
            (State::Undefined, State::Undefined) => State::Undefined,
            _ => return None,
        })
    }

    /// The metric `need` asks for, with a band when it is an estimate.
    pub fn estimate(&self, need: &Need) -> Estimate {
        let exact = |v: Option<f64>| Estimate { value: v, band: None };
        let prop = match need {
            Need::Prop { prop, .. } => Some(*prop),
            _ => None,
        };
        match self {
            State::Count { n } if matches!(need, Need::Has(_)) => exact(Some(if *n > 0 { 1.0 } else { 0.0 })),
            State::Count { n } => exact(Some(*n as f64)),
            State::Distinct { distinct } => {
                let (v, band) = distinct.count();
                Estimate { value: Some(v), band }
            }
            State::Hist { hist } => match hist.quantile(0.05) {
                Some((lo, hi)) if lo == hi => exact(Some(lo)),
                Some((lo, hi)) => Estimate { value: Some(lo), band: Some((lo, hi)) },
                None => exact(None),
            },
            State::Range { min, max } => match prop {
                Some(Prop::Min) => exact(*min),
                Some(Prop::Max) => exact(*max),
                Some(Prop::SpanDays) => exact(min.zip(*max).map(|(a, b)| (b - a) / 86_400.0)),
                _ => exact(None),
            },
            State::Extent { lat, lon, planar } => {
                let range = |r: &[Option<f64>; 2]| r[0].zip(r[1]);
                exact(super::extent_km(range(lat), range(lon), *planar))
            }
            State::Cells { cells } => {
                let Need::Prop { grid_m, .. } = need else { return exact(None) };
                let n = if prop == Some(Prop::ContiguousKm2) { geo::largest_component(cells) } else { cells.len() };
                exact(Some(n as f64 * grid_m * grid_m / 1e6))
            }
            State::Values { values: None } | State::Points { points: None } => Estimate::unknown(),
            State::Values { values: Some(v) } => exact(prop.and_then(|p| value_steps(v, p))),
            State::Points { points: Some(p) } => {
                let planar = matches!(need, Need::Prop { columns: Columns::Pair { planar: true, .. }, .. });
                exact(spacing(p, planar))
            }
            State::Undefined => exact(None),
        }
    }
}

/// A metric value, and the interval it lies in when it is an estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: Option<f64>,
    pub band: Option<(f64, f64)>,
}

impl Estimate {
    /// Not known at all: a band over every value.
    pub fn unknown() -> Self {
        Estimate { value: None, band: Some((0.0, f64::INFINITY)) }
    }
}

/// The values and bands of `needs` read from their states: how `check` reads a
/// profile, and how a scan reads what its pass measured ([`Measured::values`]). A need
/// without a state has no value.
pub fn read(needs: &[Need], states: &BTreeMap<String, State>) -> (Values, BTreeMap<String, (f64, f64)>) {
    let mut values = Values::new();
    let mut bands = BTreeMap::new();
    for need in needs {
        let key = need.key();
        let e = states.get(&key).map_or(Estimate { value: None, band: None }, |s| s.estimate(need));
        values.insert(key.clone(), e.value);
        if let Some(b) = e.band {
            bands.insert(key, b);
        }
    }
    (values, bands)
}

/// What one pass over a dataset's rows measured of a group's needs (DESIGN §10): the
/// mergeable state of each need, which `profile` stores and `check` reads, and, for a
/// state that is an estimate (a sketch of distinct values, a list past
/// [`VALUE_LIMIT`], a percentile between the extremes of a histogram bin), the exact
/// value the pass read from the same rows, which lies in the state's band. A scan's
/// values are these states read as `check` reads them, made exact inside their bands.
/// The sketch of a set past [`sketch::EXACT_LIMIT`] is made only when the states are
/// taken to be stored ([`Measured::into_states`]): a scan reads the set's exact count.
#[derive(Default)]
pub struct Measured {
    pub(crate) states: BTreeMap<String, State>,
    pub(crate) exact: Values,
    /// Sets past the exact limit, by need key, to be sketched if stored.
    pub(crate) unsketched: Vec<(String, DistinctSet)>,
}

/// The distinct values or positions a query gathered for a distinct count.
pub(crate) enum DistinctSet {
    Texts(Arc<kernels::TextSet>),
    Positions(Arc<kernels::PairSet>),
}

impl DistinctSet {
    pub(crate) fn len(&self) -> PolarsResult<usize> {
        match self {
            DistinctSet::Texts(set) => set.len(),
            DistinctSet::Positions(set) => set.len(),
        }
    }

    /// The profile hash of each member, in no particular order.
    fn hashes(&self) -> PolarsResult<Vec<u64>> {
        match self {
            DistinctSet::Texts(set) => set.hashes(),
            DistinctSet::Positions(set) => set.drain(position_hash),
        }
    }

    /// Its state: the members' hashes up to [`sketch::EXACT_LIMIT`], a sketch beyond.
    pub(crate) fn state(&self) -> PolarsResult<State> {
        Ok(State::Distinct { distinct: Distinct::of_set(self.hashes()?) })
    }
}

impl Measured {
    /// The values of `needs`: each state's reading, or the exact value the pass read
    /// where the state is an estimate.
    pub fn values(&self, needs: &[Need]) -> Values {
        let (mut values, _) = read(needs, &self.states);
        for (key, v) in &self.exact {
            if let Some(slot) = values.get_mut(key) {
                *slot = *v;
            }
        }
        values
    }

    /// The needs of `needs` whose value would be a band the pass left unresolved
    /// (none, when every estimate was read exactly).
    pub fn banded(&self, needs: &[Need]) -> Vec<String> {
        read(needs, &self.states).1.into_keys().filter(|k| !self.exact.contains_key(k)).collect()
    }

    /// The states as a profile stores them, each set past the exact limit sketched.
    pub fn into_states(mut self) -> PolarsResult<BTreeMap<String, State>> {
        for (key, set) in self.unsketched {
            self.states.insert(key, set.state()?);
        }
        Ok(self.states)
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    // The middle value in place, the values before it all lower (no full sort).
    let (below, &mut mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    Some(if n % 2 == 1 { mid } else { (below.iter().copied().max_by(f64::total_cmp)? + mid) / 2.0 })
}

/// Lattice spacing from a profile's sorted distinct positions, as the scan's
/// `profile::spacing_m` computes it.
fn spacing(flat: &[f64], planar: bool) -> Option<f64> {
    let mut keys: Vec<u128> = flat.chunks_exact(2).map(|p| kernels::position_key(p[0], p[1])).collect();
    keys.sort_unstable();
    spacing_of(kernels::SortedPositions::Exact(keys), planar)
}

/// Median distance between neighbouring distinct positions along each axis
/// (positions sharing a latitude, resp. a longitude); the coarser axis is the
/// spacing. `None` when the positions do not form rows or columns (scattered points:
/// fewer than 10 % of positions have a neighbour on the same line). The positions
/// come sorted by latitude then longitude; for the second axis their keys' halves
/// are swapped and sorted again.
pub(crate) fn spacing_of(positions: kernels::SortedPositions, planar: bool) -> Option<f64> {
    match positions {
        kernels::SortedPositions::Grid(mut keys, grid) => {
            let swapped = grid.swapped();
            let position = |k, swap: bool| if swap { swapped.position(k) } else { grid.position(k) };
            spacing_of_keys(&mut keys, |k| k.rotate_left(32), position, planar)
        }
        kernels::SortedPositions::Exact(mut keys) => {
            spacing_of_keys(&mut keys, |k| k.rotate_left(64), |k, _| kernels::position_of(k), planar)
        }
    }
}

/// [`spacing_of`] on keys sorted as positions, `swap` exchanging a key's axes and
/// `position` reading a key's (first, second) axis, told whether they are swapped.
fn spacing_of_keys<K: Ord + Copy>(
    keys: &mut [K],
    swap: impl Fn(K) -> K,
    position: impl Fn(K, bool) -> (f64, f64),
    planar: bool,
) -> Option<f64> {
    let n = keys.len() as f64;
    let mut axes = Vec::new();
    // One list of steps for both axes, as long as it can get: growing it, and a second
    // one, cost a fifth of a 20M-position spacing in fresh pages.
    let mut steps = Vec::with_capacity(keys.len());
    for along_lon in [true, false] {
        if !along_lon {
            keys.iter_mut().for_each(|k| *k = swap(*k));
            keys.sort_unstable();
        }
        steps.clear();
        for w in keys.windows(2) {
            // (line, along) of each position: (lat, lon), then (lon, lat).
            let ((line, along), (prev_line, prev_along)) = (position(w[1], !along_lon), position(w[0], !along_lon));
            if line != prev_line {
                continue;
            }
            let scale = if planar {
                1.0
            } else if along_lon {
                (line * (std::f64::consts::PI / 180.0)).cos().abs() * geo::M_PER_DEG
            } else {
                geo::M_PER_DEG
            };
            steps.push((along - prev_along) * scale);
        }
        if n > 0.0 && steps.len() as f64 >= 0.1 * n {
            axes.extend(median(&mut steps));
        }
    }
    axes.into_iter().reduce(f64::max)
}

/// Distinct valid positions of a point, gathered as the rows stream past.
pub(crate) fn distinct_points(lf: &LazyFrame, columns: &Columns) -> PolarsResult<Arc<kernels::PairSet>> {
    let set = Arc::new(kernels::PairSet::for_columns(columns));
    collect(lf.clone().select([kernels::gather_positions(columns, set.clone()).alias("n")]))?;
    Ok(set)
}

/// The hash of a distinct position in a profile: its latitude's and longitude's
/// bits, in that order.
pub(crate) fn position_hash((y, x): (f64, f64)) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&y.to_bits().to_le_bytes());
    bytes[8..].copy_from_slice(&x.to_bits().to_le_bytes());
    hash_bytes(&bytes)
}

/// The smallest step between distinct values (`resolution`), or the median step
/// (`resolution_s`), from the values ascending: one function for the scan and for
/// `check` of a profile's values.
pub(crate) fn value_steps(sorted: &[f64], prop: Prop) -> Option<f64> {
    let mut steps: Vec<f64> = sorted.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).collect();
    match prop {
        Prop::Resolution => steps.iter().copied().reduce(f64::min),
        Prop::ResolutionS => median(&mut steps),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spacing of positions gathered in 8-byte keys is the spacing of the same
    /// positions as exact keys, on a degree lattice and on a planar one, with every
    /// position on the decimal grid and with some off it (more decimals than the grid
    /// holds, beyond its range, a negative zero).
    #[test]
    fn spacing_in_short_keys_is_spacing_in_exact_keys() {
        let mut next = crate::decimals::xorshift(11);
        for (planar, origin, step, k) in [(false, (30.0, 114.0), 0.0025, 4), (true, (3_400_000.0, 500_000.0), 30.0, 0)]
        {
            let columns = Columns::Pair { lat: "y".into(), lon: "x".into(), planar, crs: None };
            let round = |v: f64| (v * 10f64.powi(k)).round() / 10f64.powi(k);
            let mut points: Vec<(f64, f64)> = (0..4_000)
                .map(|_| {
                    let (i, j) = ((next() % 120) as f64, (next() % 90) as f64);
                    (round(origin.0 + i * step), round(origin.1 + j * step))
                })
                .collect();
            for off_grid in [false, true] {
                if off_grid {
                    let odd = if planar { 1e12 + 0.5 } else { origin.0 + 1.234_567_891 };
                    points.extend([(odd, origin.1), (origin.0, origin.1 + step * 1e-9), (-0.0, origin.1)]);
                }
                let set = kernels::PairSet::for_columns(&columns);
                for chunk in points.chunks(777) {
                    set.insert_all(chunk.iter().copied()).unwrap();
                }
                let sorted = set.sorted().unwrap();
                assert_eq!(matches!(sorted, kernels::SortedPositions::Grid(..)), !off_grid);
                let mut flat: Vec<u128> = points.iter().map(|&(y, x)| kernels::position_key(y, x)).collect();
                flat.sort_unstable();
                flat.dedup();
                let flat: Vec<f64> = flat.iter().flat_map(|k| <[f64; 2]>::from(kernels::position_of(*k))).collect();
                let want = spacing(&flat, planar);
                assert!(want.is_some_and(|s| s > 0.0), "{want:?}");
                assert_eq!(spacing_of(sorted, planar), want, "planar {planar}, off the grid {off_grid}");
            }
        }
    }

    /// The branch-free test of a block gives what testing each value with the
    /// standard rounding gives: values on and off steps, quotients past 2^51 and 2^52
    /// (where the two-addition rounding no longer holds), NaN and ±inf.
    #[test]
    fn a_block_is_on_a_step_exactly_when_each_value_is() {
        let mut next = crate::decimals::xorshift(5);
        let by_value = |values: &[f64], inverse: f64| {
            values.iter().all(|v| {
                let q = v * inverse;
                (q - q.round_ties_even()).abs() <= 1e-6
            })
        };
        let steps = [5e-7, 2.5e-6, 1e-3, 0.25, 100.0, 1e-9];
        let (mut on, mut off) = (0, 0);
        for _ in 0..3000 {
            let r = next();
            let step = steps[r as usize % steps.len()];
            let len = 1 + (r >> 8) as usize % 40;
            let mut values: Vec<f64> = (0..len)
                .map(|_| {
                    let m = (next() >> 40) as f64;
                    crate::decimals::round_even(m * step / step) * step
                })
                .collect();
            match (r >> 20) % 7 {
                0 => values[len / 2] += step * 0.37,
                1 => values[len / 2] = (2f64.powi(52) + ((r >> 40) % 1001) as f64) * step,
                5 => values[len / 2] = (2f64.powi(51) + ((r >> 40) % 1001) as f64 + 0.5) * step,
                2 => values[len / 2] = 5.0e15,
                3 => values[len / 2] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][(r >> 30) as usize % 3],
                _ => {}
            }
            let inverse = 1.0 / step;
            let want = by_value(&values, inverse);
            assert_eq!(on_step(0..len, inverse, |i| values[i]), want, "{values:?} / {step}");
            if want {
                on += 1;
            } else {
                off += 1;
            }
        }
        assert!(on > 500 && off > 500, "{on} on, {off} off");
    }
}
