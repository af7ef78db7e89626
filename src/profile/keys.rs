//! Key sets: which values of a key column a dataset holds, kept as 64-bit hashes so
//! that two datasets can be tested for a shared value without re-reading either.
//!
//! Overlap is decided in two stages. A bottom-k sample (the `K` smallest hashes, a
//! KMV/theta sketch) answers most pairs at once: a hash in both samples proves an
//! overlap, and two samples that hold their whole sets (at most `K` values each)
//! prove there is none. Only pairs the samples cannot settle — large sets with no
//! shared sampled hash — fall back to a merge of the full sorted hash lists, so a
//! small overlap between large tables is never missed (a compliance gate fails
//! closed; a sampled sketch alone would miss it).

use std::sync::{Arc, Mutex};

use polars::prelude::*;

use super::kernels::{self, WordSet};

/// The distinct values of a text expression over a frame, nulls and blanks left out.
pub fn distinct_text(lf: &LazyFrame, expr: Expr) -> PolarsResult<Vec<String>> {
    let df = lf
        .clone()
        .select([expr.alias("k")])
        .drop_nulls(None)
        .unique(None, UniqueKeepStrategy::Any)
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    Ok(df.column("k")?.str()?.iter().flatten().filter(|v| !v.trim().is_empty()).map(String::from).collect())
}

/// Size of the bottom-k sample.
pub const K: usize = 256;

/// Stable 64-bit hash of a key value (FNV-1a, then a splitmix64 finaliser so
/// that the low and high bits are equally mixed). Stable across runs and builds,
/// so key sets can be stored in profiles.
pub fn hash_key(value: &str) -> u64 {
    hash_bytes(value.trim().as_bytes())
}

/// The same hash over raw bytes (distinct values in profiles: nothing trimmed).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The distinct values of one key column, as sorted hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    hashes: Vec<u64>,
}

/// Which forms a key column's values take: 6-digit division codes, 12-digit codes,
/// Chinese text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeForms {
    pub six: bool,
    pub twelve: bool,
    pub names: bool,
}

impl CodeForms {
    /// Note the form of one value (trimmed, not blank).
    fn see(&mut self, v: &str) {
        // Division codes start with a province's two digits (11 Beijing … 82 Macao).
        let code = |len: usize| {
            v.len() == len
                && v.bytes().all(|b| b.is_ascii_digit())
                && v[..2].parse::<u8>().is_ok_and(|p| (11..=82).contains(&p))
        };
        if code(6) {
            self.six = true;
        } else if code(12) {
            self.twelve = true;
        } else if !v.is_ascii() && v.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
            self.names = true;
        }
    }

    fn add(&mut self, other: CodeForms) {
        self.six |= other.six;
        self.twelve |= other.twelve;
        self.names |= other.names;
    }

    /// Why the forms cannot be joined as written, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if self.six && self.twelve {
            Some("mixes 6-digit and 12-digit division codes")
        } else if (self.six || self.twelve) && self.names {
            Some("mixes division codes and names")
        } else {
            None
        }
    }
}

/// A key set and its values' forms, gathered by an aggregate expression as the rows
/// of a query stream past ([`KeySet::from_expr_with_forms`]); the expression can ride
/// on a query run for other ends (a dataset's metrics), so the rows are read once.
#[derive(Clone, Default)]
pub struct Gathering {
    set: Arc<WordSet>,
    forms: Arc<Mutex<CodeForms>>,
}

impl Gathering {
    /// The aggregate that gathers the values of a text expression (trimmed, nulls and
    /// blanks left out); its own value means nothing.
    pub fn expr(&self, expr: Expr) -> Expr {
        let this = self.clone();
        expr.cast(DataType::String)
            .map(
                move |c: Column| {
                    this.add(c.str()?)?;
                    Ok(kernels::gathered(c.name().clone(), 1))
                },
                |_, f| Ok(Field::new(f.name().clone(), DataType::UInt32)),
            )
            .sum()
    }

    /// Gather one batch's values.
    fn add(&self, ca: &StringChunked) -> PolarsResult<()> {
        let mut seen = CodeForms::default();
        let values = ca.iter().flatten().map(str::trim).filter(|v| !v.is_empty());
        self.set.insert_all(values.map(|v| {
            seen.see(v);
            hash_bytes(v.as_bytes())
        }))?;
        self.forms.lock().map_err(|_| polars_err!(ComputeError: "key forms poisoned"))?.add(seen);
        Ok(())
    }

    /// The set and forms gathered, leaving the gathering empty.
    pub fn finish(&self) -> PolarsResult<(KeySet, CodeForms)> {
        let forms =
            std::mem::take(&mut *self.forms.lock().map_err(|_| polars_err!(ComputeError: "key forms poisoned"))?);
        Ok((KeySet::from_hashes(self.set.take()?), forms))
    }
}

/// How an overlap question was settled (for `scan.stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The samples answered.
    Sketch,
    /// The full hash lists had to be merged.
    Exact,
}

impl KeySet {
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut hashes: Vec<u64> = values.into_iter().filter(|v| !v.trim().is_empty()).map(hash_key).collect();
        hashes.sort_unstable();
        hashes.dedup();
        KeySet { hashes }
    }

    /// From hashes already computed with [`hash_key`] (a profile's key counts).
    pub fn from_hashes(mut hashes: Vec<u64>) -> Self {
        hashes.sort_unstable();
        hashes.dedup();
        KeySet { hashes }
    }

    /// Distinct values of `column` in a frame (cast to text, blanks ignored).
    pub fn from_frame(lf: &LazyFrame, column: &str) -> PolarsResult<Self> {
        Self::from_expr(lf, col(column).cast(DataType::String))
    }

    /// Distinct values of a text expression over a frame (blanks and nulls ignored).
    pub fn from_expr(lf: &LazyFrame, expr: Expr) -> PolarsResult<Self> {
        Ok(Self::from_expr_with_forms(lf, expr)?.0)
    }

    /// The same, and which forms of division codes the values take (a key column
    /// mixing 6- and 12-digit codes, or codes and names, would link equal divisions
    /// only in part). The values are hashed as the rows stream past, into a set of
    /// 64-bit words: the distinct texts themselves are never held (a 20M-row key
    /// column of a scan with published data: 0.58 s and 618 MiB of heap as a
    /// query's `unique` of the texts).
    pub fn from_expr_with_forms(lf: &LazyFrame, expr: Expr) -> PolarsResult<(Self, CodeForms)> {
        let gathering = Gathering::default();
        lf.clone().select([gathering.expr(expr).alias("k")]).collect_with_engine(Engine::Streaming)?;
        gathering.finish()
    }

    /// The distinct values' hashes, sorted.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// [`KeySet::hashes`], the set given up for them.
    pub fn into_hashes(self) -> Vec<u64> {
        self.hashes
    }

    /// The values of several sets together (the releases of one table).
    pub fn union<'a>(sets: impl IntoIterator<Item = &'a KeySet>) -> Self {
        Self::from_hashes(sets.into_iter().flat_map(|s| s.hashes.iter().copied()).collect())
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The bottom-k sample: the sorted list's first `K` hashes.
    fn sample(&self) -> &[u64] {
        &self.hashes[..self.hashes.len().min(K)]
    }

    /// Do the two sets share a value? Exact up to 64-bit hash collisions.
    pub fn overlaps(&self, other: &KeySet) -> (bool, Settled) {
        let (a, b) = (self.sample(), other.sample());
        if sorted_intersect(a, b) {
            return (true, Settled::Sketch);
        }
        if self.hashes.len() <= K && other.hashes.len() <= K {
            return (false, Settled::Sketch);
        }
        // Hashes beyond the smaller sample's largest value that the other sample
        // did not reach: only a merge of the full lists can tell.
        (sorted_intersect(&self.hashes, &other.hashes), Settled::Exact)
    }
}

fn sorted_intersect(a: &[u64], b: &[u64]) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.is_empty() {
        return false;
    }
    // Gallop through the larger list when sizes differ a lot.
    if large.len() > 8 * small.len() {
        return small.iter().any(|h| large.binary_search(h).is_ok());
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(range: std::ops::Range<u32>) -> KeySet {
        let values: Vec<String> = range.map(|i| format!("S{i:06}")).collect();
        KeySet::from_values(values.iter().map(String::as_str))
    }

    #[test]
    fn small_sets_are_settled_by_the_samples() {
        assert_eq!(set(0..100).overlaps(&set(100..200)), (false, Settled::Sketch));
        assert_eq!(set(0..100).overlaps(&set(99..200)), (true, Settled::Sketch));
    }

    #[test]
    fn one_shared_value_between_large_sets_is_found() {
        // Samples of 256 out of 50 000 almost never contain the one shared value.
        let a = set(0..50_000);
        let b = set(49_999..100_000);
        assert_eq!(a.overlaps(&b).0, true);
        assert_eq!(a.overlaps(&set(50_000..100_000)), (false, Settled::Exact));
    }

    /// Hashing a frame's values as they stream past gives the set of their distinct
    /// texts, on text and on numbers, in batches, and notes the forms they take.
    #[test]
    fn a_frame_s_key_set_is_the_set_of_its_texts() {
        let texts: Vec<Option<String>> = (0..30_000)
            .map(|i| match i % 7 {
                0 => None,
                1 => Some("  ".to_string()),
                2 => Some(format!(" S{:05} ", i % 5_000)),
                _ => Some(format!("S{:05}", i % 5_000)),
            })
            .collect();
        let df = df!("k" => &texts, "n" => (0..30_000i64).map(|i| i % 977).collect::<Vec<_>>()).unwrap();
        let batches = df.slice(0, 10_000).vstack(&df.slice(10_000, 20_000)).unwrap();
        let (set, forms) = KeySet::from_expr_with_forms(&batches.lazy(), col("k")).unwrap();
        let expected = KeySet::from_values(texts.iter().flatten().map(String::as_str));
        assert_eq!(set, expected);
        assert_eq!(set.len(), 5_000);
        assert_eq!(forms, CodeForms::default());
        let numbers = KeySet::from_expr(&df.clone().lazy(), col("n")).unwrap();
        let written: Vec<String> = (0..977).map(|i| i.to_string()).collect();
        assert_eq!(numbers, KeySet::from_values(written.iter().map(String::as_str)));

        let codes = df!("k" => ["110101", " 110102 ", "110101001001", "朝阳区", "S1"]).unwrap().lazy();
        let (_, forms) = KeySet::from_expr_with_forms(&codes, col("k")).unwrap();
        assert_eq!(forms, CodeForms { six: true, twelve: true, names: true });
        assert_eq!(forms.problem(), Some("mixes 6-digit and 12-digit division codes"));
        let (_, forms) =
            KeySet::from_expr_with_forms(&codes.filter(col("k").str().len_chars().lt(lit(12))), col("k")).unwrap();
        assert_eq!(forms, CodeForms { six: true, twelve: false, names: true });
        assert_eq!(forms.problem(), Some("mixes division codes and names"));
    }

    #[test]
    fn values_are_trimmed_and_blanks_ignored() {
        let a = KeySet::from_values([" 1001", "1002", ""]);
        assert_eq!(a.len(), 2);
        assert!(a.overlaps(&KeySet::from_values(["1001 "])).0);
        assert_eq!(hash_key("1001"), hash_key(" 1001 "));
    }
}
