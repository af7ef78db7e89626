//! A join member's distinct projected rows, gathered as its batches stream past
//! (`scan::pair` holds each side of a two-member join this way).
//!
//! polars' `unique` of 5M rows of (site, lat, lon) peaked at 591 MiB of heap to
//! hold 162 MiB of rows: it encodes every row into a key of its own and keeps a
//! table of those keys beside the rows. Here each distinct row is kept once, column
//! by column (texts as bytes in one buffer per shard, floats as words), and the
//! table holds only each row's number in its shard (and 32 bits of its hash beside
//! it); rows are hashed once, and compared value by value when two hashes meet, so
//! the result is exact.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use polars::prelude::*;

/// Shards of the set, each behind its own lock, so batches on two threads insert side
/// by side.
const SHARDS: usize = 16;

/// One column's distinct values of one shard: texts end to end in one buffer.
enum Store {
    Text { bytes: Vec<u8>, ends: Vec<u32>, valid: Vec<bool> },
    Float { values: Vec<f64>, valid: Vec<bool> },
}

type TextArray = <StringType as PolarsDataType>::Array;
type FloatArray = <Float64Type as PolarsDataType>::Array;

/// A batch's column, read by row.
enum Batch<'a> {
    Text(&'a TextArray),
    Float(&'a FloatArray),
}

/// One value as rows are hashed and compared by: a float by its bits, -0.0 as 0.0
/// and every NaN as one, as polars' `unique` compares them.
#[derive(PartialEq, Eq)]
enum Value<'a> {
    Null,
    Text(&'a [u8]),
    Float(u64),
}

fn float_value(x: f64) -> Value<'static> {
    Value::Float(if x.is_nan() { f64::NAN.to_bits() } else { (x + 0.0).to_bits() })
}

impl Batch<'_> {
    fn value(&self, row: usize) -> Value<'_> {
        match self {
            Batch::Text(a) => a.get(row).map_or(Value::Null, |t| Value::Text(t.as_bytes())),
            Batch::Float(a) => a.get(row).map_or(Value::Null, float_value),
        }
    }
}

impl Store {
    fn of(dtype: &DataType) -> Option<Store> {
        match dtype {
            DataType::String => Some(Store::Text { bytes: Vec::new(), ends: Vec::new(), valid: Vec::new() }),
            DataType::Float64 => Some(Store::Float { values: Vec::new(), valid: Vec::new() }),
            _ => None,
        }
    }

    fn text<'a>(bytes: &'a [u8], ends: &[u32], i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        &bytes[start..ends[i] as usize]
    }

    fn value(&self, i: usize) -> Value<'_> {
        match self {
            Store::Text { bytes, ends, valid } if valid[i] => Value::Text(Store::text(bytes, ends, i)),
            Store::Float { values, valid } if valid[i] => float_value(values[i]),
            _ => Value::Null,
        }
    }

    fn push(&mut self, value: Value) -> PolarsResult<()> {
        match (self, value) {
            (Store::Text { bytes, ends, valid }, value) => {
                if let Value::Text(t) = value {
                    bytes.extend_from_slice(t);
                }
                let end = u32::try_from(bytes.len())
                    .map_err(|_| polars_err!(ComputeError: "more than 4 GiB of distinct text in one shard"))?;
                ends.push(end);
                valid.push(value != Value::Null);
            }
            (Store::Float { values, valid }, value) => {
                values.push(match value {
                    Value::Float(bits) => f64::from_bits(bits),
                    _ => 0.0,
                });
                valid.push(value != Value::Null);
            }
        }
        Ok(())
    }
}

fn hash_values<'a>(state: &hashbrown::DefaultHashBuilder, values: impl Iterator<Item = Value<'a>>) -> u64 {
    let mut h = state.build_hasher();
    for v in values {
        match v {
            Value::Null => h.write_u8(0xff),
            Value::Text(t) => {
                h.write(t);
                h.write_usize(t.len());
            }
            Value::Float(bits) => h.write_u64(bits),
        }
    }
    h.finish()
}

/// The hash a shard's table places a row by: 32 bits of its hash, kept per row so
/// the table grows without hashing rows again from their values (which, reading
/// them back in random order, made gathering 5M rows half again as slow), in half
/// the room of the whole hash.
fn placed(short: u32) -> u64 {
    u64::from(short) << 32 | u64::from(short)
}

#[derive(Default)]
struct Shard {
    /// Each distinct row's number in `columns`.
    table: hashbrown::HashTable<u32>,
    /// Each distinct row's [`placed`] hash, as 32 bits.
    hashes: Vec<u32>,
    columns: Vec<Store>,
    /// Each distinct row's count of rows, when counting.
    counts: Vec<u64>,
}

/// The distinct rows of a frame of text and float columns, gathered batch by batch,
/// with the rows of each when counting.
pub struct RowSet {
    schema: Vec<(PlSmallStr, DataType)>,
    state: hashbrown::DefaultHashBuilder,
    shards: Vec<Mutex<Shard>>,
    counting: bool,
    /// Batches begun, so two threads' batches start at different shards.
    batches: std::sync::atomic::AtomicUsize,
}

fn poisoned() -> PolarsError {
    polars_err!(ComputeError: "distinct row set poisoned")
}

impl RowSet {
    /// A set for rows of `schema`; `None` when a column is neither text nor a float
    /// (the caller then uses polars).
    pub fn new(schema: &Schema, counting: bool) -> Option<RowSet> {
        let columns: Vec<(PlSmallStr, DataType)> = schema.iter().map(|(n, d)| (n.clone(), d.clone())).collect();
        let shard = || -> Option<Mutex<Shard>> {
            let stores = columns.iter().map(|(_, d)| Store::of(d)).collect::<Option<Vec<_>>>()?;
            Some(Mutex::new(Shard { columns: stores, ..Default::default() }))
        };
        let shards = (0..SHARDS).map(|_| shard()).collect::<Option<Vec<_>>>()?;
        (!columns.is_empty()).then(|| RowSet {
            schema: columns,
            state: Default::default(),
            shards,
            counting,
            batches: Default::default(),
        })
    }

    /// Add a batch's rows (its columns in the set's order and dtypes).
    pub fn insert(&self, columns: &[Column]) -> PolarsResult<()> {
        let series: Vec<Series> = columns.iter().map(|c| c.as_materialized_series().rechunk()).collect::<Vec<_>>();
        let mut batch = Vec::with_capacity(series.len());
        for s in &series {
            batch.push(match s.dtype() {
                DataType::String => Batch::Text(s.str()?.downcast_as_array()),
                DataType::Float64 => Batch::Float(s.f64()?.downcast_as_array()),
                d => polars_bail!(ComputeError: "distinct rows of a {d} column"),
            });
        }
        let rows = series.first().map_or(0, |s| s.len());
        let mut by_shard: Vec<Vec<(u64, u32)>> =
            (0..SHARDS).map(|_| Vec::with_capacity(rows / SHARDS + rows / 64 + 16)).collect();
        for row in 0..rows {
            let h = hash_values(&self.state, batch.iter().map(|c| c.value(row)));
            by_shard[(h >> 32) as usize % SHARDS].push((h, row as u32));
        }
        let start = self.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 5 % SHARDS;
        for i in (0..SHARDS).map(|i| (i + start) % SHARDS) {
            if by_shard[i].is_empty() {
                continue;
            }
            let mut guard = self.shards[i].lock().map_err(|_| poisoned())?;
            let Shard { table, hashes, columns: stores, counts } = &mut *guard;
            for &(h, row) in &by_shard[i] {
                let (row, short) = (row as usize, h as u32);
                let h = placed(short);
                let same = |id: &u32| stores.iter().zip(&batch).all(|(s, c)| s.value(*id as usize) == c.value(row));
                if let Some(id) = table.find(h, same) {
                    if self.counting {
                        counts[*id as usize] += 1;
                    }
                    continue;
                }
                let id = u32::try_from(table.len())
                    .map_err(|_| polars_err!(ComputeError: "more than 2^32 distinct rows in one shard"))?;
                for (store, column) in stores.iter_mut().zip(&batch) {
                    store.push(column.value(row))?;
                }
                if self.counting {
                    counts.push(1);
                }
                hashes.push(short);
                table.insert_unique(h, id, |id| placed(hashes[*id as usize]));
            }
        }
        Ok(())
    }

    /// The distinct rows gathered, in no particular order, with their counts as a
    /// float column `counted` when counting; the set is left empty. Each column is
    /// built a chunk per shard, each store freed once its chunk is built.
    pub fn take(&self, counted: &str) -> PolarsResult<DataFrame> {
        let mut shards = Vec::with_capacity(SHARDS);
        let mut height = 0;
        for shard in &self.shards {
            let mut shard = std::mem::take(&mut *shard.lock().map_err(|_| poisoned())?);
            // A hash per distinct row; the table and hashes are not needed past here.
            height += shard.hashes.len();
            shard.table = hashbrown::HashTable::new();
            shard.hashes = Vec::new();
            shards.push(shard);
        }
        let mut out = Vec::with_capacity(self.schema.len() + 1);
        for (c, (name, dtype)) in self.schema.iter().enumerate() {
            let mut column = Series::new_empty(name.clone(), dtype);
            for shard in shards.iter_mut() {
                let store = std::mem::replace(&mut shard.columns[c], Store::Float { values: vec![], valid: vec![] });
                // Each chunk sized exactly (one array grown by doubling had held up to
                // twice the room).
                let chunk = match store {
                    Store::Text { bytes, ends, valid } => StringChunked::from_iter_options(
                        name.clone(),
                        // SAFETY: the bytes were copied from string values whole.
                        valid.iter().enumerate().map(|(i, v)| {
                            v.then(|| unsafe { std::str::from_utf8_unchecked(Store::text(&bytes, &ends, i)) })
                        }),
                    )
                    .into_series(),
                    Store::Float { values, valid } => Float64Chunked::from_iter_options(
                        name.clone(),
                        values.iter().zip(&valid).map(|(x, v)| v.then_some(*x)),
                    )
                    .into_series(),
                };
                column.append_owned(chunk)?;
            }
            out.push(column.into_column());
        }
        if self.counting {
            let counts = shards.iter().flat_map(|s| s.counts.iter().map(|n| *n as f64));
            out.push(Float64Chunked::from_iter_values(counted.into(), counts).into_column());
        }
        DataFrame::new(height, out)
    }
}

/// Gather `lf`'s rows into a [`RowSet`] as its batches stream past; `None` when a
/// column is neither text nor a float.
fn gather(lf: LazyFrame, counting: bool, counted: &str) -> PolarsResult<Option<DataFrame>> {
    let schema = lf.clone().collect_schema()?;
    let Some(set) = RowSet::new(&schema, counting) else { return Ok(None) };
    let set = Arc::new(set);
    let names: Vec<PlSmallStr> = schema.iter_names().cloned().collect();
    let Some((first, rest)) = names.split_first() else { return Ok(None) };
    let into = set.clone();
    let gather = col(first.clone())
        .map_many(
            move |cols: &mut [Column]| {
                into.insert(cols)?;
                Ok(crate::profile::gathered(cols[0].name().clone(), 1))
            },
            &rest.iter().map(|n| col(n.clone())).collect::<Vec<_>>(),
            |_, f| Ok(Field::new(f[0].name().clone(), DataType::UInt32)),
        )
        .sum();
    crate::profile::collect(lf.select([gather.alias("n")]))?;
    set.take(counted).map(Some)
}

/// The distinct rows of `lf` (text and float columns), gathered as its batches
/// stream past; `None` when a column has another dtype.
pub fn distinct_rows(lf: LazyFrame) -> PolarsResult<Option<DataFrame>> {
    gather(lf, false, "")
}

/// The distinct rows of `lf` (text and float columns) with the rows of each as the
/// float column `counted`; `None` when a column has another dtype. polars'
/// `group_by(..).agg([len()])` of a held 5M-row side peaked 222 MiB above it, for
/// 100 000 keys.
pub fn counted_rows(lf: LazyFrame, counted: &str) -> PolarsResult<Option<DataFrame>> {
    gather(lf, true, counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows with repeats, nulls, -0.0 and NaN, in several batches: the set gives
    /// the rows polars' `unique` gives.
    #[test]
    fn the_set_gives_the_rows_unique_gives() {
        let n = 30_000usize;
        let site: Vec<Option<String>> =
            (0..n).map(|i| (i % 97 != 0).then(|| format!("site-{}{}", i % 1_013, "x".repeat(i % 17)))).collect();
        let lat: Vec<Option<f64>> = (0..n)
            .map(|i| match i % 211 {
                0 => None,
                1 => Some(-0.0),
                2 => Some(0.0),
                3 => Some(f64::NAN),
                _ => Some(30.0 + (i % 503) as f64 * 1e-4),
            })
            .collect();
        let df = DataFrame::new_infer_height(vec![Column::new("site".into(), site), Column::new("lat".into(), lat)])
            .unwrap();
        let lf = df.lazy();
        let ours = distinct_rows(lf.clone()).unwrap().unwrap();
        let theirs = lf.unique(None, UniqueKeepStrategy::Any).collect().unwrap();
        assert_eq!(ours.height(), theirs.height());
        let sorted = |df: DataFrame| {
            df.lazy()
                .with_column(col("lat").fill_nan(lit(f64::INFINITY)))
                .sort(["site", "lat"], SortMultipleOptions::default().with_nulls_last(true))
                .collect()
                .unwrap()
        };
        assert!(sorted(ours).equals_missing(&sorted(theirs)));
    }

    #[test]
    fn counted_rows_are_what_a_group_by_counts() {
        let n = 20_000usize;
        let key: Vec<Option<String>> = (0..n).map(|i| (i % 89 != 0).then(|| format!("k{}", (i * 7) % 1_201))).collect();
        let df = DataFrame::new_infer_height(vec![Column::new("key".into(), key)]).unwrap();
        let ours = counted_rows(df.clone().lazy(), "n").unwrap().unwrap();
        let theirs =
            df.lazy().group_by([col("key")]).agg([len().cast(DataType::Float64).alias("n")]).collect().unwrap();
        let sorted = |df: DataFrame| {
            df.lazy().sort(["key"], SortMultipleOptions::default().with_nulls_last(true)).collect().unwrap()
        };
        assert_eq!(ours.height(), 1_202);
        assert!(sorted(ours).equals_missing(&sorted(theirs)));
    }

    #[test]
    fn other_dtypes_are_left_to_polars() {
        let df = DataFrame::new_infer_height(vec![Column::new("n".into(), [1i64, 2, 2])]).unwrap();
        assert!(distinct_rows(df.lazy()).unwrap().is_none());
    }
}
