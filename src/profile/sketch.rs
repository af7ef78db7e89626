//! Mergeable sketches for profiles: a HyperLogLog for distinct counts beyond the
//! exact limit, a log-binned histogram for per-row resolution percentiles, and a
//! compact text encoding (base64 of little-endian words) for long number lists.
//!
//! Every merge here is a pure function of the union of the inputs' rows, so it is
//! associative and commutative (tested in `tests/profiles.rs`).

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `#[serde(with = "words")]`: a `Vec<u64>` as base64 of its little-endian bytes.
pub mod words {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = v.iter().flat_map(|w| w.to_le_bytes()).collect();
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = B64.decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        if bytes.len() % 8 != 0 {
            return Err(serde::de::Error::custom("word list length is not a multiple of 8 bytes"));
        }
        Ok(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect())
    }
}

/// `#[serde(with = "cells")]`: grid cells `(row, col)` as a base64 word list.
pub mod cells {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[(i64, i64)], s: S) -> Result<S::Ok, S::Error> {
        let flat: Vec<u64> = v.iter().flat_map(|(r, c)| [*r as u64, *c as u64]).collect();
        words::serialize(&flat, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(i64, i64)>, D::Error> {
        let flat = words::deserialize(d)?;
        if flat.len() % 2 != 0 {
            return Err(serde::de::Error::custom("cell list has an odd number of words"));
        }
        Ok(flat.chunks_exact(2).map(|p| (p[0] as i64, p[1] as i64)).collect())
    }
}

/// `#[serde(with = "shared_cells")]`: [`cells`] behind an `Arc`.
pub mod shared_cells {
    use super::*;
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(v: &Arc<Vec<(i64, i64)>>, s: S) -> Result<S::Ok, S::Error> {
        cells::serialize(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Vec<(i64, i64)>>, D::Error> {
        cells::deserialize(d).map(Arc::new)
    }
}

/// `#[serde(with = "floats")]`: an optional `Vec<f64>` as a base64 word list.
pub mod floats {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<f64>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(v) => words::serialize(&v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "words")] Vec<u64>);
        let v: Option<Wrapped> = Option::deserialize(d)?;
        Ok(v.map(|w| w.0.into_iter().map(f64::from_bits).collect()))
    }
}

/// Registers of the HyperLogLog: 2^P.
const P: u32 = 14;
const M: usize = 1 << P;

/// HyperLogLog with 2^14 one-byte registers (standard error 1.04/√m ≈ 0.81 %),
/// fed with the same 64-bit value hashes as the exact sets, so converting an exact
/// set to a sketch gives the same registers as sketching its rows directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hll {
    registers: Vec<u8>,
}

impl Default for Hll {
    fn default() -> Self {
        Hll { registers: vec![0; M] }
    }
}

impl Serialize for Hll {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.registers))
    }
}

impl<'de> Deserialize<'de> for Hll {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let registers = B64.decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        if registers.len() != M {
            return Err(serde::de::Error::custom(format!("a sketch has {M} registers, found {}", registers.len())));
        }
        Ok(Hll { registers })
    }
}

impl Hll {
    pub fn add(&mut self, hash: u64) {
        let index = (hash >> (64 - P)) as usize;
        let rest = (hash << P) | (1 << (P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if rank > self.registers[index] {
            self.registers[index] = rank;
        }
    }

    pub fn merge(&mut self, other: &Hll) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
    }

    /// Estimated distinct count (with the small-range correction).
    pub fn estimate(&self) -> f64 {
        let m = M as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self.registers.iter().map(|r| 2f64.powi(-i32::from(*r))).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|r| **r == 0).count();
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }

    /// Relative half-width of the reported band: three standard errors.
    pub fn band() -> f64 {
        3.0 * 1.04 / (M as f64).sqrt()
    }
}

/// Most distinct values kept exactly before a distinct count becomes a sketch.
pub const EXACT_LIMIT: usize = 1 << 16;

/// Distinct values of a column: exact (sorted hashes) up to [`EXACT_LIMIT`], then a sketch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distinct {
    Exact(#[serde(with = "words")] Vec<u64>),
    Sketch(Hll),
}

impl Distinct {
    pub fn from_hashes(mut hashes: Vec<u64>) -> Self {
        hashes.sort_unstable();
        hashes.dedup();
        Distinct::Exact(hashes).limited()
    }

    /// The state of a set's members, given their hashes (distinct members, so hashes
    /// repeat only where two members share one): past [`EXACT_LIMIT`] the sketch is
    /// fed directly, without sorting them.
    pub fn of_set(hashes: Vec<u64>) -> Self {
        if hashes.len() <= EXACT_LIMIT {
            return Self::from_hashes(hashes);
        }
        let mut hll = Hll::default();
        hashes.iter().for_each(|x| hll.add(*x));
        Distinct::Sketch(hll)
    }

    fn limited(self) -> Self {
        match self {
            Distinct::Exact(h) if h.len() > EXACT_LIMIT => {
                let mut hll = Hll::default();
                h.iter().for_each(|x| hll.add(*x));
                Distinct::Sketch(hll)
            }
            other => other,
        }
    }

    pub fn merge(&self, other: &Distinct) -> Distinct {
        match (self, other) {
            (Distinct::Exact(a), Distinct::Exact(b)) => Distinct::Exact(union_sorted(a, b)).limited(),
            (Distinct::Sketch(a), Distinct::Sketch(b)) => {
                let mut h = a.clone();
                h.merge(b);
                Distinct::Sketch(h)
            }
            (Distinct::Sketch(s), Distinct::Exact(e)) | (Distinct::Exact(e), Distinct::Sketch(s)) => {
                let mut h = s.clone();
                e.iter().for_each(|x| h.add(*x));
                Distinct::Sketch(h)
            }
        }
    }

    /// The count, and the band around it when it is an estimate.
    pub fn count(&self) -> (f64, Option<(f64, f64)>) {
        match self {
            Distinct::Exact(h) => (h.len() as f64, None),
            Distinct::Sketch(h) => {
                let e = h.estimate();
                (e, Some((e * (1.0 - Hll::band()), e * (1.0 + Hll::band()))))
            }
        }
    }
}

/// Union of two sorted, deduplicated lists.
pub fn union_sorted<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Relative width of a histogram bin: values within 0.01 % share a bin.
const GAMMA: f64 = 1.0001;

/// One bin of a [`Hist`]: its row count and the smallest and largest value in it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub i: i64,
    pub n: u64,
    pub lo: f64,
    pub hi: f64,
}

/// The bin of a finite value: `⌊log_GAMMA v⌋`, every value ≤ 0 in one bin below all.
pub fn bin_index(v: f64) -> i64 {
    if v > 0.0 {
        (v.ln() / GAMMA.ln()).floor() as i64
    } else {
        i64::MIN
    }
}

/// A [`Hist`] being built as the rows stream past: rows per bin with the bin's
/// extremes, never a count per distinct value. Resolutions that vary with latitude
/// (a longitude step coarser than the latitude's, scaled by cos φ) have as many
/// values as latitudes, and counting each in a map missed the cache on every row
/// (20M rows: 5 % of a profile's samples); the bins of one dataset are a few hundred.
/// A value between the extremes already seen in one bin is in that bin (the index is
/// monotone in the value), so a run of near values takes no logarithm.
#[derive(Clone, Debug, Default)]
pub struct Bins {
    bins: std::collections::BTreeMap<i64, Bin>,
    last: Option<i64>,
}

/// Equal when the bins are (the last bin touched is not part of the value).
impl PartialEq for Bins {
    fn eq(&self, other: &Bins) -> bool {
        self.bins == other.bins
    }
}

impl Bins {
    /// Count `n` rows of value `v`; non-finite values and `n == 0` are left out.
    #[inline]
    pub fn add(&mut self, v: f64, n: u64) {
        if !v.is_finite() || n == 0 {
            return;
        }
        if let Some(bin) = self.last.and_then(|i| self.bins.get_mut(&i)).filter(|b| b.lo <= v && v <= b.hi) {
            bin.n += n;
            return;
        }
        let i = bin_index(v);
        let bin = self.bins.entry(i).or_insert(Bin { i, n: 0, lo: v, hi: v });
        bin.n += n;
        bin.lo = bin.lo.min(v);
        bin.hi = bin.hi.max(v);
        self.last = Some(i);
    }

    /// Add every bin of `other`.
    pub fn merge_from(&mut self, other: &Bins) {
        for b in other.bins.values() {
            self.bins
                .entry(b.i)
                .and_modify(|x| {
                    x.n += b.n;
                    x.lo = x.lo.min(b.lo);
                    x.hi = x.hi.max(b.hi);
                })
                .or_insert(*b);
        }
    }

    pub fn into_hist(self) -> Hist {
        Hist { bins: self.bins.into_values().collect() }
    }
}

/// Distribution of a positive per-row value (resolution in metres) in log bins with
/// their exact extremes: a percentile is exact when its bin holds one value (the
/// usual case: resolutions come in few distinct steps), else known to within the bin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hist {
    pub bins: Vec<Bin>,
}

impl Hist {
    /// From `(value, rows)` pairs.
    pub fn from_counts(counts: impl IntoIterator<Item = (f64, u64)>) -> Self {
        let mut bins = Bins::default();
        for (v, n) in counts {
            bins.add(v, n);
        }
        bins.into_hist()
    }

    pub fn merge(&self, other: &Hist) -> Hist {
        let both = self.bins.iter().chain(&other.bins);
        let mut bins: std::collections::BTreeMap<i64, Bin> = Default::default();
        for b in both {
            bins.entry(b.i)
                .and_modify(|x| {
                    x.n += b.n;
                    x.lo = x.lo.min(b.lo);
                    x.hi = x.hi.max(b.hi);
                })
                .or_insert(*b);
        }
        Hist { bins: bins.into_values().collect() }
    }

    /// The `q` quantile by the "lower" rule (the value at rank ⌊q·(n−1)⌋), as the
    /// bin's `(lo, hi)`: equal when exact.
    pub fn quantile(&self, q: f64) -> Option<(f64, f64)> {
        let n: u64 = self.bins.iter().map(|b| b.n).sum();
        if n == 0 {
            return None;
        }
        let rank = ((n - 1) as f64 * q).floor() as u64;
        let mut seen = 0;
        for b in &self.bins {
            seen += b.n;
            if seen > rank {
                return Some((b.lo, b.hi));
            }
        }
        None
    }

    pub fn range(&self) -> Option<(f64, f64)> {
        Some((self.bins.first()?.lo, self.bins.last()?.hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::keys::hash_key;

    #[test]
    fn hll_is_within_its_band() {
        for n in [1_000u64, 100_000, 1_000_000] {
            let mut h = Hll::default();
            (0..n).for_each(|i| h.add(hash_key(&format!("S{i}"))));
            let e = h.estimate();
            let err = (e - n as f64).abs() / n as f64;
            assert!(err < Hll::band(), "n={n} estimate={e}");
        }
    }

    #[test]
    fn distinct_turns_into_a_sketch_past_the_limit_and_merges_alike() {
        let hashes: Vec<u64> = (0..(EXACT_LIMIT as u64 + 10)).map(|i| hash_key(&i.to_string())).collect();
        let whole = Distinct::from_hashes(hashes.clone());
        assert!(matches!(whole, Distinct::Sketch(_)));
        let (a, b) = hashes.split_at(40_000);
        let merged = Distinct::from_hashes(a.to_vec()).merge(&Distinct::from_hashes(b.to_vec()));
        assert_eq!(merged, whole);
    }

    #[test]
    fn histogram_quantile_is_exact_for_few_values() {
        let h = Hist::from_counts([(0.111, 5), (1.11, 90), (11.1, 5)]);
        assert_eq!(h.quantile(0.05), Some((0.111, 0.111)));
        let h = Hist::from_counts([(0.111, 4), (1.11, 96)]);
        assert_eq!(h.quantile(0.05), Some((1.11, 1.11)));
        let merged = Hist::from_counts([(0.111, 4)]).merge(&Hist::from_counts([(1.11, 96)]));
        assert_eq!(merged, h);
    }

    /// Bins built row by row (runs, values near each other, other bins in between,
    /// zero and negative values, NaN and ±inf, split into parts merged later) are the
    /// bins of the exact counts per value, built by the definition.
    #[test]
    fn bins_built_row_by_row_are_the_bins_of_the_counts() {
        let mut next = crate::decimals::xorshift(11);
        let mut rows = Vec::new();
        for _ in 0..60_000 {
            let r = next();
            rows.push(match r % 7 {
                0 => 0.11132,
                1 => 1.1132,
                2 => 0.9640 * (0.86 + (r >> 20) as f64 / (1u64 << 44) as f64 * 0.01),
                3 => 0.11132 * (1.0 + ((r >> 30) % 5) as f64 * 1e-5),
                4 => [0.0, -2.5, f64::NAN, f64::INFINITY, 1e-300][(r >> 8) as usize % 5],
                _ => 0.11132 * (r >> 40) as f64,
            });
        }
        let mut exact: std::collections::BTreeMap<u64, u64> = Default::default();
        for v in rows.iter().filter(|v| v.is_finite()) {
            *exact.entry(v.to_bits()).or_default() += 1;
        }
        let mut want: std::collections::BTreeMap<i64, Bin> = Default::default();
        for (bits, n) in exact {
            let v = f64::from_bits(bits);
            let i = if v > 0.0 { (v.ln() / GAMMA.ln()).floor() as i64 } else { i64::MIN };
            let bin = want.entry(i).or_insert(Bin { i, n: 0, lo: v, hi: v });
            bin.n += n;
            bin.lo = bin.lo.min(v);
            bin.hi = bin.hi.max(v);
        }
        let want = Hist { bins: want.into_values().collect() };
        let (mut whole, mut parts) = (Bins::default(), Bins::default());
        for part in rows.chunks(777) {
            let mut bins = Bins::default();
            for v in part {
                whole.add(*v, 1);
                bins.add(*v, 1);
            }
            parts.merge_from(&bins);
        }
        assert!(want.bins.len() > 100, "{}", want.bins.len());
        assert_eq!(whole.clone().into_hist(), want);
        assert_eq!(parts.into_hist(), want);
        assert_eq!(Hist::from_counts(rows.iter().map(|v| (*v, 1))), want);
    }

    #[test]
    fn encodings_round_trip() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "cells")]
            c: Vec<(i64, i64)>,
            #[serde(with = "floats")]
            f: Option<Vec<f64>>,
        }
        let t = T { c: vec![(-3, 7), (i64::MAX, i64::MIN)], f: Some(vec![0.1, -2.5]) };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
    }

    /// Values read back from a profile's JSON (through a `Value`, as `Profile::read`
    /// reads it) are the values written, bit for bit: a threshold compared with a
    /// value read back must see the value the scan saw (serde_json's
    /// `float_roundtrip`; without it `0.11131999999999999` read back as `0.11132`).
    #[test]
    fn floats_read_back_bit_for_bit() {
        let mut next = crate::decimals::xorshift(0x0f10_a7b1_75fe_ed01);
        let mut values = vec![0.11131999999999999, 1.1132000000000002, 111.32000000000001, 5e-324, f64::MAX];
        for _ in 0..200_000 {
            let r = next();
            values.push(match r % 3 {
                0 => f64::from_bits(next()),
                1 => (next() % 1_000_000_000) as f64 / 1e9 * 111.32,
                _ => (next() % 100_000_000) as f64 * 1e-7 + 30.0,
            });
        }
        values.retain(|v| v.is_finite());
        let json = serde_json::to_string(&values).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let back: Vec<f64> = serde_json::from_value(value).unwrap();
        let differ = values.iter().zip(&back).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differ, 0, "of {}", values.len());
    }
}
