//! Proximity links (DESIGN §4a): rows of two datasets whose positions lie within a
//! distance of each other, each row with a *unique* partner in range (ambiguous
//! pairs link nothing). Points are blocked by grid cells at least the distance wide,
//! so a point is compared only with the points of its own and the eight neighbouring
//! cells; the candidate pairs are counted per block before any is compared, and above
//! a cap the link is refused with the count (never an out-of-memory crash). GCJ-02
//! and BD-09 positions are converted to WGS-84 first: their offsets are hundreds of
//! metres.

use std::collections::HashMap;

use polars::prelude::*;

use super::view::{self, Part, View};
use crate::tag::Columns;

/// Candidate pairs compared at most (counted per block before comparing).
pub const MAX_CANDIDATE_PAIRS: u64 = 200_000_000;

const EARTH_M: f64 = 6_371_008.8;
/// Fewer metres than any degree of latitude or of longitude at the equator holds on
/// the sphere distances are measured on (111 195 m): cells and boxes sized with it are
/// at least the distance wide, so no pair in range is missed.
const M_PER_DEG: f64 = 110_000.0;

/// Great-circle distance in metres.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_M * h.sqrt().min(1.0).asin()
}

// GCJ-02 (the obfuscated datum of Chinese map services) and BD-09 (Baidu's), to WGS-84.
const GCJ_A: f64 = 6_378_245.0;
const GCJ_EE: f64 = 0.006_693_421_622_965_943;

fn outside_china(lat: f64, lon: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn gcj_offset(lat: f64, lon: f64) -> (f64, f64) {
    let (x, y) = (lon - 105.0, lat - 35.0);
    let pi = std::f64::consts::PI;
    let mut dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    dlat += (20.0 * (6.0 * x * pi).sin() + 20.0 * (2.0 * x * pi).sin()) * 2.0 / 3.0;
    dlat += (20.0 * (y * pi).sin() + 40.0 * (y / 3.0 * pi).sin()) * 2.0 / 3.0;
    dlat += (160.0 * (y / 12.0 * pi).sin() + 320.0 * (y * pi / 30.0).sin()) * 2.0 / 3.0;
    let mut dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    dlon += (20.0 * (6.0 * x * pi).sin() + 20.0 * (2.0 * x * pi).sin()) * 2.0 / 3.0;
    dlon += (20.0 * (x * pi).sin() + 40.0 * (x / 3.0 * pi).sin()) * 2.0 / 3.0;
    dlon += (150.0 * (x / 12.0 * pi).sin() + 300.0 * (x / 30.0 * pi).sin()) * 2.0 / 3.0;
    let rad = lat.to_radians();
    let magic = 1.0 - GCJ_EE * rad.sin() * rad.sin();
    let sq = magic.sqrt();
    let dlat = (dlat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sq) * pi);
    let dlon = (dlon * 180.0) / (GCJ_A / sq * rad.cos() * pi);
    (dlat, dlon)
}

/// WGS-84 → GCJ-02.
pub fn wgs_to_gcj(lat: f64, lon: f64) -> (f64, f64) {
    if outside_china(lat, lon) {
        return (lat, lon);
    }
    let (dlat, dlon) = gcj_offset(lat, lon);
    (lat + dlat, lon + dlon)
}

/// GCJ-02 → WGS-84, by fixed-point iteration (error below a centimetre).
pub fn gcj_to_wgs(lat: f64, lon: f64) -> (f64, f64) {
    if outside_china(lat, lon) {
        return (lat, lon);
    }
    let (mut wlat, mut wlon) = (lat, lon);
    for _ in 0..8 {
        let (glat, glon) = wgs_to_gcj(wlat, wlon);
        wlat -= glat - lat;
        wlon -= glon - lon;
    }
    (wlat, wlon)
}

/// BD-09 → WGS-84 (through GCJ-02).
pub fn bd_to_wgs(lat: f64, lon: f64) -> (f64, f64) {
    let x_pi = std::f64::consts::PI * 3000.0 / 180.0;
    let (x, y) = (lon - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.000_02 * (y * x_pi).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * x_pi).cos();
    gcj_to_wgs(z * theta.sin(), z * theta.cos())
}

/// A position in WGS-84 from one in `datum` (`gcj02`, `bd09`; anything else is taken as is).
pub fn to_wgs84(datum: Option<&str>, lat: f64, lon: f64) -> (f64, f64) {
    match datum {
        Some("gcj02") => gcj_to_wgs(lat, lon),
        Some("bd09") => bd_to_wgs(lat, lon),
        _ => (lat, lon),
    }
}

/// Degrees of latitude and of longitude that span at least `within_m` metres anywhere
/// up to `max_abs_lat` (capped at 85°): the cell size of the grid, and the margin by
/// which two extents must approach each other for any pair between them to link.
pub fn degrees(within_m: f64, max_abs_lat: f64) -> (f64, f64) {
    let lat = max_abs_lat.abs().min(85.0);
    (within_m / M_PER_DEG, within_m / (M_PER_DEG * lat.to_radians().cos()))
}

/// Too many candidate pairs to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooMany(pub u64);

/// Pairs `(i, j)` of `a[i]` and `b[j]` within `within_m` metres, each the other's
/// only partner in range. `None` positions never link.
pub fn pairs(
    a: &[Option<(f64, f64)>],
    b: &[Option<(f64, f64)>],
    within_m: f64,
    cap: u64,
) -> Result<Vec<(usize, usize)>, TooMany> {
    let max_lat = a.iter().chain(b).flatten().map(|p| p.0.abs()).fold(0.0, f64::max);
    let (step_lat, step_lon) = degrees(within_m, max_lat);
    let cell = |p: (f64, f64)| ((p.0 / step_lat).floor() as i64, (p.1 / step_lon).floor() as i64);
    // b sorted by cell; each cell a range of the sorted list.
    let mut order: Vec<(i64, i64, usize)> =
        b.iter().enumerate().filter_map(|(j, p)| p.map(|p| (cell(p).0, cell(p).1, j))).collect();
    order.sort_unstable();
    let mut cells: HashMap<(i64, i64), (usize, usize)> = HashMap::new();
    for (k, &(y, x, _)) in order.iter().enumerate() {
        cells.entry((y, x)).and_modify(|r| r.1 = k + 1).or_insert((k, k + 1));
    }
    let around = |c: (i64, i64)| (-1..=1).flat_map(move |dy| (-1..=1).map(move |dx| (c.0 + dy, c.1 + dx)));
    // Count every block's candidate pairs before comparing any.
    let mut candidates: u64 = 0;
    for p in a.iter().flatten() {
        for c in around(cell(*p)) {
            if let Some(&(s, e)) = cells.get(&c) {
                candidates += (e - s) as u64;
            }
        }
    }
    if candidates > cap {
        return Err(TooMany(candidates));
    }
    // Every pair in range, found in parallel over chunks of `a`: a box in degrees
    // rejects most candidates before the great-circle distance is computed.
    let chunks: Vec<std::ops::Range<usize>> =
        (0..a.len()).step_by(65_536).map(|s| s..(s + 65_536).min(a.len())).collect();
    let in_range: Vec<Vec<(u32, u32)>> = crate::par::map(&chunks, |range| {
        let mut out = Vec::new();
        for i in range.clone() {
            let Some(p) = a[i] else { continue };
            for c in around(cell(p)) {
                let Some(&(s, e)) = cells.get(&c) else { continue };
                for &(_, _, j) in &order[s..e] {
                    let q = b[j].expect("only positions are in cells");
                    if (q.0 - p.0).abs() <= step_lat && (q.1 - p.1).abs() <= step_lon && distance_m(p, q) <= within_m {
                        out.push((i as u32, j as u32));
                    }
                }
            }
        }
        out
    });
    // A pair links only when each is the other's one partner in range.
    let mut partners_a = vec![0u32; a.len()];
    let mut partners_b = vec![0u32; b.len()];
    for &(i, j) in in_range.iter().flatten() {
        partners_a[i as usize] += 1;
        partners_b[j as usize] += 1;
    }
    Ok(in_range
        .into_iter()
        .flatten()
        .filter(|&(i, j)| partners_a[i as usize] == 1 && partners_b[j as usize] == 1)
        .map(|(i, j)| (i as usize, j as usize))
        .collect())
}

/// Positions (or values with their steps), `None` where there is none.
type Points = Vec<Option<(f64, f64)>>;

/// Each value of a coordinate column as a number and the step of its last written
/// digit: text parsed as written (decimal degrees or degrees–minutes–seconds),
/// numbers in their shortest form.
fn values(s: &Series) -> PolarsResult<Points> {
    if s.dtype() == &DataType::String {
        return Ok(s.str()?.iter().map(|v| crate::profile::parse_coordinate(v?)).collect());
    }
    let floats = s.cast(&DataType::Float64)?;
    Ok(floats
        .f64()?
        .iter()
        .map(|v| {
            let x = v?;
            let text = format!("{x}");
            let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
            Some((x, 10f64.powi(-(decimals as i32))))
        })
        .collect())
}

/// Median step of the last written digit: the finer side of a link keeps its position.
fn median_step(v: &[Option<(f64, f64)>]) -> f64 {
    let mut steps: Vec<f64> = v.iter().flatten().map(|p| p.1).filter(|s| s.is_finite()).collect();
    if steps.is_empty() {
        return f64::INFINITY;
    }
    steps.sort_by(f64::total_cmp);
    steps[steps.len() / 2]
}

/// Each row's position in WGS-84 (`None`: missing or not a position), whether any row
/// wrote something in the columns at all, and the median step of the latitudes.
fn positions(df: &DataFrame, lat: &str, lon: &str, datum: Option<&str>) -> PolarsResult<(Points, bool, f64)> {
    let la = values(df.column(lat)?.as_materialized_series())?;
    let lo = values(df.column(lon)?.as_materialized_series())?;
    let written = df.column(lat)?.null_count() < df.height() || df.column(lon)?.null_count() < df.height();
    let step = median_step(&la);
    let points = la
        .iter()
        .zip(&lo)
        .map(|(a, o)| match (a, o) {
            (Some((a, _)), Some((o, _))) if a.is_finite() && o.is_finite() && a.abs() <= 90.0 && o.abs() <= 180.0 => {
                Some(to_wgs84(datum, *a, *o))
            }
            _ => None,
        })
        .collect();
    Ok((points, written, step))
}

/// What a proximity link gave: the joined view (the finer position kept; its origin
/// says which member gave it) and how many rows linked.
pub struct Linked {
    pub view: View,
    pub rows: usize,
}

/// Link two members through point tag `tag` within `within_m` metres. `datums` are
/// the members' datums. An error when no member has a valid position, or when the
/// candidate pairs exceed [`MAX_CANDIDATE_PAIRS`].
pub fn join(
    parts: &[Part; 2],
    names: [&str; 2],
    tag: &str,
    within_m: f64,
    datums: [Option<&str>; 2],
) -> PolarsResult<Linked> {
    let pair = view::pair(parts, &[tag.to_string()]);
    let Some(Columns::Pair { lat, lon, .. }) = pair.bindings.get(tag).map(|b| b.columns.clone()) else {
        polars_bail!(ComputeError: "`{tag}` is not a point tag with latitude and longitude");
    };
    let [a, b] = pair.sides;
    let (a, b) = (view::distinct(a)?, view::distinct(b)?);
    let ((pa, wa, sa), (pb, wb, sb)) = (positions(&a, &lat, &lon, datums[0])?, positions(&b, &lat, &lon, datums[1])?);
    for (i, (p, written)) in [(&pa, wa), (&pb, wb)].into_iter().enumerate() {
        // Positions written but none readable cannot be linked: say so, never pass.
        // (No rows, or empty columns, simply link nothing.)
        if written && p.iter().all(Option::is_none) {
            polars_bail!(ComputeError:
                "`{tag}` links by proximity but {} has no valid position (latitude −90…90, longitude −180…180)", names[i]);
        }
    }
    let found = pairs(&pa, &pb, within_m, MAX_CANDIDATE_PAIRS).map_err(|TooMany(n)| {
        polars_err!(ComputeError:
            "linking by `{tag}` within {within_m} m would compare {n} candidate pairs (more than {MAX_CANDIDATE_PAIRS}); \
             not evaluated — lower `link_within_m` or scan the datasets in parts")
    })?;
    let finer = usize::from(sb < sa);
    let ia = IdxCa::from_vec("a".into(), found.iter().map(|p| p.0 as IdxSize).collect());
    let ib = IdxCa::from_vec("b".into(), found.iter().map(|p| p.1 as IdxSize).collect());
    let (mut ta, mut tb) = (a.take(&ia)?, b.take(&ib)?);
    // Columns both sides project: the position from the finer side, the rest from the first.
    let shared: Vec<String> =
        tb.get_column_names().iter().filter(|n| ta.column(n).is_ok()).map(|n| n.to_string()).collect();
    for name in shared {
        let is_position = name == lat || name == lon;
        if is_position && finer == 1 {
            ta = ta.drop(&name)?;
        } else {
            tb = tb.drop(&name)?;
        }
    }
    let joined = ta.hstack(tb.columns())?;
    let mut origin = pair.origin;
    origin.insert(tag.to_string(), finer);
    let mut bindings = pair.bindings;
    if let Some(b) = bindings.get_mut(tag) {
        b.accuracy_m = parts[finer].bindings.get(tag).and_then(|b| b.accuracy_m);
    }
    Ok(Linked { rows: found.len(), view: View { lf: joined.lazy(), bindings, origin } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unique_partners_link() {
        let a = vec![Some((30.0, 108.0)), Some((31.0, 109.0)), None];
        // Near a[0] one point; near a[1] two points (ambiguous): a[1] links nothing.
        let b = vec![Some((30.001, 108.001)), Some((31.001, 109.0)), Some((30.999, 109.0)), Some((40.0, 100.0))];
        assert_eq!(pairs(&a, &b, 2000.0, u64::MAX).unwrap(), vec![(0, 0)]);
        // Two rows of a near one point of b: that point pins neither.
        let a2 = vec![Some((30.0, 108.0)), Some((30.002, 108.0))];
        assert_eq!(pairs(&a2, &b[..1], 2000.0, u64::MAX).unwrap(), vec![]);
    }

    #[test]
    fn candidates_are_counted_before_comparing() {
        let a: Vec<_> = (0..100).map(|i| Some((30.0 + i as f64 * 1e-5, 108.0))).collect();
        assert_eq!(pairs(&a, &a, 1000.0, 5000), Err(TooMany(10_000)));
    }

    #[test]
    fn pairs_across_cell_borders_within_the_distance_link() {
        // 1.9 km apart across any cell border.
        let a = vec![Some((29.9999, 108.0))];
        let b = vec![Some((30.0170, 108.0))];
        assert_eq!(pairs(&a, &b, 2000.0, u64::MAX).unwrap(), vec![(0, 0)]);
        assert_eq!(pairs(&a, &b, 1500.0, u64::MAX).unwrap(), vec![]);
    }

    #[test]
    fn the_grid_finds_exactly_what_comparing_every_pair_finds() {
        let mut state = 7u64;
        let mut unit = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for (lat0, spread) in [(30.0, 0.2), (60.0, 0.3), (-45.0, 0.1)] {
            let mut point = || Some((lat0 + spread * unit(), 100.0 + spread * unit()));
            let a: Vec<_> = (0..300).map(|_| point()).collect();
            let b: Vec<_> = (0..300).map(|_| point()).collect();
            for within in [300.0, 1000.0, 2500.0] {
                let mut count_a = vec![0; a.len()];
                let mut count_b = vec![0; b.len()];
                let mut all = Vec::new();
                for (i, p) in a.iter().enumerate() {
                    for (j, q) in b.iter().enumerate() {
                        if distance_m(p.unwrap(), q.unwrap()) <= within {
                            count_a[i] += 1;
                            count_b[j] += 1;
                            all.push((i, j));
                        }
                    }
                }
                let want: Vec<_> = all.into_iter().filter(|&(i, j)| count_a[i] == 1 && count_b[j] == 1).collect();
                let mut got = pairs(&a, &b, within, u64::MAX).unwrap();
                got.sort_unstable();
                assert_eq!(got, want, "lat {lat0}, within {within}");
            }
        }
    }

    #[test]
    fn gcj02_and_bd09_return_to_wgs84() {
        let (lat, lon) = (30.2995, 108.0390);
        let (glat, glon) = wgs_to_gcj(lat, lon);
        assert!(distance_m((lat, lon), (glat, glon)) > 100.0, "GCJ-02 moves points hundreds of metres");
        let back = gcj_to_wgs(glat, glon);
        assert!(distance_m((lat, lon), back) < 0.05);
        let x_pi = std::f64::consts::PI * 3000.0 / 180.0;
        let z = (glon * glon + glat * glat).sqrt() + 0.000_02 * (glat * x_pi).sin();
        let theta = glat.atan2(glon) + 0.000_003 * (glon * x_pi).cos();
        let (blat, blon) = (z * theta.sin() + 0.006, z * theta.cos() + 0.0065);
        assert!(distance_m((lat, lon), bd_to_wgs(blat, blon)) < 1.0);
    }
}
