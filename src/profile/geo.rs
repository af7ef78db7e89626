//! Geometry of precision: decimals carried, snapping steps, degrees to metres,
//! grid cells and their connected components. Pure functions, tested against
//! the shared resolution fixtures.

/// Metres per degree of latitude (and of longitude at the equator).
pub const M_PER_DEG: f64 = 111_320.0;

pub use crate::decimals::{decimals_f64, decimals_text, fast_decimal, MAX_DECIMALS};

/// Quantization step of one axis for a row: its decimals, or the column's coarser
/// snapping step when the whole column sits on one.
pub fn axis_step(decimals: u8, snap: Option<f64>) -> f64 {
    snapped_step(10f64.powi(-i32::from(decimals)), snap)
}

/// The step of one axis for a row: the step of its last digit, or the column's
/// coarser snapping step when the whole column sits on one.
pub fn snapped_step(step: f64, snap: Option<f64>) -> f64 {
    snap.map_or(step, |s| s.max(step))
}

/// A row's horizontal resolution in metres: the coarser of its two axes, the
/// longitude step shrinking with cos(latitude).
pub fn resolution_m(lat: f64, lat_step_deg: f64, lon_step_deg: f64) -> f64 {
    let y = lat_step_deg * M_PER_DEG;
    if lon_step_deg <= lat_step_deg {
        // |cos| ≤ 1: the longitude step is no coarser, whatever the latitude.
        return y;
    }
    let x = lon_step_deg * M_PER_DEG * lat.to_radians().cos().abs();
    y.max(x)
}

/// Snapping steps tried for a column whose finest values carry `decimals`: 2, 2.5, 5
/// times the decimal step and their tens (0.0005°, 0.25°, …), then 100 to 1000 times
/// it (coordinates rounded to 100 m and written as whole metres sit on a 100 m
/// lattice). The coarser steps come last so that a profile's `(list, index)` facts
/// keep their meaning; the column's step is the coarsest that fits, by value.
pub fn snap_candidates(decimals: u8) -> Vec<f64> {
    let unit = 10f64.powi(-i32::from(decimals));
    [50.0, 25.0, 20.0, 5.0, 2.5, 2.0, 1000.0, 500.0, 250.0, 200.0, 100.0].iter().map(|m| m * unit).collect()
}

/// Steps finer than this (degrees, or metres when planar) are never a column's
/// snapping: they change no resolution a rule can tell apart (1e-9° is 0.1 mm), and
/// past them a value's quotient by the step outgrows what a double can test, so
/// float noise (30.000146000000001) seemed to sit on dozens of steps near 1e-13° and
/// a profile kept a variant of its states for each (130 for 80 000 rows, 20 s).
pub const SNAP_FLOOR: f64 = 1e-9;

/// Index of the coarsest candidate for which `fits` holds.
pub fn coarsest(decimals: u8, fits: impl Fn(usize) -> bool) -> Option<usize> {
    snap_candidates(decimals)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| fits(*i))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// Is `x` a multiple of `step` (to float tolerance)?
pub fn is_multiple(x: f64, step: f64) -> bool {
    let q = x / step;
    (q - q.round()).abs() < 1e-6
}

/// Cell of a position on the coverage grid. Rows are latitude bands of `grid_m`;
/// within a band, columns are `grid_m` wide at the band's centre latitude, so the
/// grid is global and cells of different datasets line up. Indices are computed
/// by multiplying by the constant `M_PER_DEG / grid_m`, the definition polars uses too.
pub fn cell(lat: f64, lon: f64, grid_m: f64) -> (i64, i64) {
    let per_deg = M_PER_DEG / grid_m;
    let row = crate::decimals::floor(lat * per_deg);
    let centre = (row + 0.5) / per_deg;
    let col = crate::decimals::floor(lon * centre.to_radians().cos() * per_deg);
    (row as i64, col as i64)
}

/// [`cell`] over many positions on one grid: the cosine of each band's centre is kept
/// in a small table by band, since positions mostly fall in few bands (the same
/// arithmetic, so the same cells).
pub struct Cells {
    per_deg: f64,
    bands: Vec<(f64, f64)>,
}

impl Cells {
    const SLOTS: usize = 4096;

    pub fn new(grid_m: f64) -> Self {
        Cells { per_deg: M_PER_DEG / grid_m, bands: vec![(f64::NAN, 0.0); Self::SLOTS] }
    }

    pub fn cell(&mut self, lat: f64, lon: f64) -> (i64, i64) {
        let row = crate::decimals::floor(lat * self.per_deg);
        let slot = (row as i64).rem_euclid(Self::SLOTS as i64) as usize;
        let cos = match self.bands[slot] {
            (r, cos) if r == row => cos,
            _ => {
                let centre = (row + 0.5) / self.per_deg;
                let cos = centre.to_radians().cos();
                self.bands[slot] = (row, cos);
                cos
            }
        };
        let col = crate::decimals::floor(lon * cos * self.per_deg);
        (row as i64, col as i64)
    }
}

/// Cell of a planar position in metres.
pub fn cell_planar(y: f64, x: f64, grid_m: f64) -> (i64, i64) {
    let per_m = 1.0 / grid_m;
    ((y * per_m).floor() as i64, (x * per_m).floor() as i64)
}

/// Size of the largest 8-connected component of `cells`. Neighbouring bands are
/// slightly sheared, so a cell touches columns col-1..=col+1 of the bands above and
/// below. Union-find over the cells sorted by (row, col): each cell is joined with its
/// left neighbour and, by a sweep of the band below, with the cells it touches there.
pub fn largest_component(cells: &[(i64, i64)]) -> usize {
    let mut sorted = cells.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            parent[x as usize] = parent[parent[x as usize] as usize];
            x = parent[x as usize];
        }
        x
    }
    let union = |parent: &mut Vec<u32>, a: usize, b: usize| {
        let (ra, rb) = (find(parent, a as u32), find(parent, b as u32));
        if ra != rb {
            parent[ra.max(rb) as usize] = ra.min(rb);
        }
    };
    // Start of each band in `sorted`.
    let mut band_start = 0;
    let mut prev_band: Option<(i64, usize, usize)> = None; // (row, start, end)
    while band_start < n {
        let row = sorted[band_start].0;
        let mut end = band_start;
        while end < n && sorted[end].0 == row {
            end += 1;
        }
        for i in band_start + 1..end {
            if sorted[i].1 == sorted[i - 1].1 + 1 {
                union(&mut parent, i, i - 1);
            }
        }
        if let Some((prow, ps, pe)) = prev_band {
            if prow == row - 1 {
                let mut j = ps;
                for i in band_start..end {
                    let c = sorted[i].1;
                    while j < pe && sorted[j].1 < c - 1 {
                        j += 1;
                    }
                    let mut k = j;
                    while k < pe && sorted[k].1 <= c + 1 {
                        union(&mut parent, i, k);
                        k += 1;
                    }
                }
            }
        }
        prev_band = Some((row, band_start, end));
        band_start = end;
    }
    let mut size = vec![0usize; n];
    for i in 0..n {
        let r = find(&mut parent, i as u32) as usize;
        size[r] += 1;
    }
    size.into_iter().max().unwrap_or(0)
}

/// Great-circle distance in km (haversine, mean earth radius).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371.008_8 * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_decimals_agree_with_the_standard_parser() {
        let mut next = crate::decimals::xorshift(0x2545_f491_4f6c_dd1du64);
        for _ in 0..200_000 {
            let digits = 1 + next() % 15;
            let mut text = String::new();
            if next() % 3 == 0 {
                text.push('-');
            }
            let point = next() % (digits + 1);
            for i in 0..digits {
                if i == point && i > 0 {
                    text.push('.');
                }
                text.push(char::from(b'0' + (next() % 10) as u8));
            }
            let (value, decimals) = fast_decimal(&text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(value.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
            let written = text.split_once('.').map_or(0, |(_, f)| f.len());
            assert_eq!(usize::from(decimals), written.min(usize::from(MAX_DECIMALS)), "{text}");
        }
        for (text, expected) in [
            ("30.0", Some((30.0, 1))),
            (" +116 ", Some((116.0, 0))),
            (".5", Some((0.5, 1))),
            ("\u{3000}1.5\t", Some((1.5, 1))),
        ] {
            assert_eq!(fast_decimal(text), expected);
        }
        // More than 15 digits, of which at most 15 after the leading zeros.
        for (text, decimals) in [("0.0000000000000001234", 15), ("-00000000000000001.5", 1), ("0000000000000000", 0)] {
            assert_eq!(fast_decimal(text), Some((text.parse().unwrap(), decimals)), "{text}");
        }
        for text in ["1e5", "inf", "NaN", "-", ".", "30°12'", "1.2.3", "", "1234567890.1234567", "1234567890123456"] {
            assert_eq!(fast_decimal(text), None, "{text}");
        }
    }

    /// DESIGN §2 cases in ../shared/fixtures/resolution.csv, copied here so the
    /// crate's tests do not depend on files outside it.
    const FIXTURE: &str = include_str!("../../tests/fixtures/resolution.csv");

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 0.01
    }

    #[test]
    fn resolution_fixture_text_and_float() {
        let mut rows = 0;
        for line in FIXTURE.lines().skip(1) {
            let f: Vec<&str> = line.splitn(5, ',').collect();
            let (lat, lon) = (f[0], f[1]);
            let want_text: f64 = f[2].parse().unwrap();
            let want_float: f64 = f[3].parse().unwrap();
            let lat_v: f64 = lat.parse().unwrap();
            let text = resolution_m(
                lat_v,
                axis_step(decimals_text(lat).unwrap(), None),
                axis_step(decimals_text(lon).unwrap(), None),
            );
            assert!(close(text, want_text), "{line}: text {text} vs {want_text}");
            let lon_v: f64 = lon.parse().unwrap();
            let float = resolution_m(
                lat_v,
                axis_step(decimals_f64(lat_v).unwrap(), None),
                axis_step(decimals_f64(lon_v).unwrap(), None),
            );
            assert!(close(float, want_float), "{line}: float {float} vs {want_float}");
            rows += 1;
        }
        assert_eq!(rows, 10);
    }

    #[test]
    fn six_decimal_values_are_never_misread() {
        // The scalar-division trap: every 6-decimal value must read as ≤ 6 decimals.
        let mut worst = 0;
        for i in 0..200_000u32 {
            let text = format!("30.{:06}", i * 5 + 1);
            let x: f64 = text.parse().unwrap();
            worst = worst.max(decimals_f64(x).unwrap());
            assert_eq!(decimals_f64(x), decimals_text(text.trim_end_matches('0')), "{text}");
        }
        assert_eq!(worst, 6);
    }

    #[test]
    fn snapping_steps() {
        assert!(is_multiple(30.1235, 0.0005));
        assert!(!is_multiple(30.1234, 0.0005));
        assert!(is_multiple(114.75, 0.25));
        assert_eq!(axis_step(4, Some(0.0005)), 0.0005);
        assert_eq!(axis_step(1, Some(0.0005)), 0.1);
        let c = snap_candidates(4);
        assert!(c.iter().any(|s| (s - 0.0005).abs() < 1e-12));
        assert!(c.iter().all(|s| *s > 0.00015));
        // A column on a 100 m lattice written as whole metres: 100, not 50.
        let on = |step: f64| [3_400_100.0, 3_400_300.0, 3_401_000.0].iter().all(|x| is_multiple(*x, step));
        assert_eq!(coarsest(0, |i| on(snap_candidates(0)[i])).map(|i| snap_candidates(0)[i]), Some(100.0));
    }

    #[test]
    fn cells_and_components() {
        // 50 m cells: points 30 m apart share or touch cells; 1 km away is separate.
        let a = cell(30.0, 114.0, 50.0);
        let b = cell(30.0003, 114.0, 50.0);
        assert!((a.0 - b.0).abs() <= 1);
        let cells = vec![(0, 0), (0, 1), (1, 2), (5, 5), (6, 6), (7, 7), (8, 8)];
        assert_eq!(largest_component(&cells), 4);
        assert_eq!(largest_component(&[]), 0);
    }

    /// The definition, by breadth-first search over a set.
    fn naive_component(cells: &[(i64, i64)]) -> usize {
        let set: std::collections::HashSet<(i64, i64)> = cells.iter().copied().collect();
        let mut seen = std::collections::HashSet::new();
        let mut best = 0;
        for &start in &set {
            if !seen.insert(start) {
                continue;
            }
            let (mut stack, mut size) = (vec![start], 0);
            while let Some((r, c)) = stack.pop() {
                size += 1;
                for dr in -1..=1 {
                    for dc in -1..=1 {
                        let next = (r + dr, c + dc);
                        if set.contains(&next) && seen.insert(next) {
                            stack.push(next);
                        }
                    }
                }
            }
            best = best.max(size);
        }
        best
    }

    #[test]
    fn union_find_components_match_the_definition() {
        let mut state = 0x853c_49e6_748f_ea9b_u64;
        for round in 0..300 {
            let n = 1 + round % 120;
            let side = 3 + (round % 17) as u64;
            let cells: Vec<(i64, i64)> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state % side) as i64 - 2, ((state >> 32) % side) as i64 - 2)
                })
                .collect();
            assert_eq!(largest_component(&cells), naive_component(&cells), "{cells:?}");
        }
    }

    #[test]
    fn distances() {
        let d = distance_km(39.9042, 116.4074, 31.2304, 121.4737);
        assert!((d - 1067.0).abs() < 5.0, "{d}");
    }
}
