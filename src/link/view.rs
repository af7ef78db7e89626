//! Views: the polars frame of a combination, with its tags bound to canonical
//! columns so the profile and evaluate steps run on it exactly as on one dataset.
//!
//! Every tag becomes a column named after it (`site`, `voltage_kv`) or, for
//! coordinates, `tag.lat`/`tag.lon` (`tag.y`/`tag.x` planar). Types are made
//! uniform across members: keys, categories, regions and text as strings; measures
//! as floats; times as epoch seconds; coordinates as floats, or as text in their
//! shortest form when any member wrote them as text (so decimals carried are counted
//! the same way for every member).

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::profile::{epoch_seconds, float_text};
use crate::rules::{Tag, TagKind};
use crate::tag::{Binding, Columns};

pub type Bindings = BTreeMap<String, Binding>;

/// One member of a combination: a dataset's frame and its bindings for the pack.
#[derive(Clone, Copy)]
pub struct Part<'a> {
    pub lf: &'a LazyFrame,
    pub dtypes: &'a [(String, DataType)],
    pub bindings: &'a Bindings,
    /// The pack's tags: how region and name tags link (DESIGN §4a).
    pub tags: &'a BTreeMap<String, Tag>,
}

impl Part<'_> {
    /// The values this member links on through `tag` (region names resolved to codes,
    /// facility names normalised, keys as written), with an id of the expression.
    pub fn link_value(&self, tag: &str) -> Option<(String, Expr)> {
        let b = self.bindings.get(tag)?;
        crate::link::names::link_of(self.tags.get(tag)?, b, self.dtypes.iter().map(|(n, _)| n.as_str()))
    }

    fn is_text(&self, column: &str) -> bool {
        self.dtypes.iter().any(|(n, t)| n == column && *t == DataType::String)
    }

    fn binds_text(&self, tag: &str) -> bool {
        self.bindings.get(tag).is_some_and(|b| b.columns.names().iter().any(|c| self.is_text(c)))
    }
}

/// A combination's frame and bindings. `origin` says which member supplied each tag.
pub struct View {
    pub lf: LazyFrame,
    pub bindings: Bindings,
    pub origin: BTreeMap<String, usize>,
}

/// The canonical columns of a tag in a view.
pub fn canonical(tag: &str, columns: &Columns) -> Columns {
    match columns {
        Columns::One(_) => Columns::One(tag.to_string()),
        Columns::Pair { planar: false, .. } => Columns::pair(format!("{tag}.lat"), format!("{tag}.lon")),
        Columns::Pair { planar: true, crs, .. } => {
            Columns::Pair { lat: format!("{tag}.y"), lon: format!("{tag}.x"), planar: true, crs: crs.clone() }
        }
    }
}

/// Expressions selecting `tag` from a part under its canonical name(s).
fn project(part: &Part, tag: &str, coordinates_as_text: bool) -> Vec<Expr> {
    let b = &part.bindings[tag];
    let target = canonical(tag, &b.columns);
    match (&b.columns, &target) {
        (Columns::One(c), Columns::One(t)) => vec![match b.kind {
            TagKind::Measure => col(c.as_str()).cast(DataType::Float64).alias(t.as_str()),
            TagKind::Time => epoch_seconds(c).alias(t.as_str()),
            _ => col(c.as_str()).cast(DataType::String).alias(t.as_str()),
        }],
        (Columns::Pair { lat, lon, .. }, Columns::Pair { lat: tlat, lon: tlon, .. }) => [(lat, tlat), (lon, tlon)]
            .into_iter()
            .map(|(c, t)| {
                if coordinates_as_text {
                    float_text(c).alias(t.as_str())
                } else {
                    col(c.as_str()).cast(DataType::Float64).alias(t.as_str())
                }
            })
            .collect(),
        _ => unreachable!("canonical keeps the shape of the columns"),
    }
}

fn bind(tag: &str, b: &Binding, accuracy_m: Option<f64>) -> Binding {
    Binding { kind: b.kind, columns: canonical(tag, &b.columns), how: b.how, accuracy_m }
}

/// Largest join evaluated, in rows. Above it the combination is reported as not
/// evaluated (an error, so the scan is incomplete, never a silent pass).
pub const MAX_JOIN_ROWS: u64 = 50_000_000;

/// Rows an inner join on `keys` would give, from per-key counts of both sides
/// (computed without building the join).
pub fn joined_rows(acc: &LazyFrame, next: &LazyFrame, keys: &[String]) -> PolarsResult<u64> {
    let by: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let counts =
        |lf: &LazyFrame, name: &str| lf.clone().group_by(by.clone()).agg([len().cast(DataType::Float64).alias(name)]);
    let df = counts(acc, "__a")
        .join(counts(next, "__b"), by.clone(), by.clone(), JoinArgs::new(JoinType::Inner))
        .select([(col("__a") * col("__b")).sum().alias("n")])
        .collect()?;
    let n = df.column("n")?.f64()?.get(0).unwrap_or(0.0);
    Ok(n.max(0.0) as u64)
}

/// Inner join of `parts` in the given order: part 0 first, then each `(part, keys)`
/// joined on its key tags. A tag bound in several members is taken from the first
/// in join order (the keys, equal after the join, are kept once). Each member's
/// projected rows are made distinct first (repeated rows add nothing but size), and
/// every step's size is computed from per-key counts before it is built: a join
/// larger than [`MAX_JOIN_ROWS`] is an error naming its size.
pub fn join(parts: &[Part], steps: &[(usize, Vec<String>)]) -> PolarsResult<View> {
    let mut bindings = Bindings::new();
    let mut origin = BTreeMap::new();
    let mut lf: Option<LazyFrame> = None;
    let linking: Vec<String> = steps.iter().flat_map(|(_, k)| k.iter().cloned()).collect();
    for (part_index, keys) in steps {
        let selected = member(parts, *part_index, keys, &linking, &mut bindings, &mut origin)
            .unique(None, UniqueKeepStrategy::Any);
        lf = Some(match lf {
            None => selected,
            Some(acc) => {
                let rows = joined_rows(&acc, &selected, keys)?;
                if rows > MAX_JOIN_ROWS {
                    polars_bail!(ComputeError:
                        "the join on {} would have {rows} rows (more than {MAX_JOIN_ROWS}); not evaluated — \
                         a key tag with few distinct values (a region or a category tagged as a key?) links \
                         almost every row; tag it as a category or region instead", keys.join(", "));
                }
                let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
                acc.join(selected, on.clone(), on, JoinArgs::new(JoinType::Inner))
            }
        });
    }
    Ok(View { lf: lf.unwrap_or_default(), bindings, origin })
}

/// One join member's projected rows: its tags not yet bound by an earlier member,
/// and the join keys (repeated rows are the caller's to drop: they add nothing but
/// size).
fn member(
    parts: &[Part],
    part_index: usize,
    keys: &[String],
    linking: &[String],
    bindings: &mut Bindings,
    origin: &mut BTreeMap<String, usize>,
) -> LazyFrame {
    let part = &parts[part_index];
    let mut exprs = Vec::new();
    for (tag, b) in part.bindings {
        let is_join_key = keys.contains(tag);
        if bindings.contains_key(tag) && !is_join_key {
            continue;
        }
        // A region or name some step joins on is projected resolved in every member,
        // whichever member binds it first.
        match part.link_value(tag).filter(|_| linking.contains(tag) && b.kind != TagKind::Key) {
            Some((_, linked)) => exprs.push(linked.alias(tag.as_str())),
            None => exprs.extend(project(part, tag, part.binds_text(tag))),
        }
        if !bindings.contains_key(tag) {
            bindings.insert(tag.clone(), bind(tag, b, b.accuracy_m));
            origin.insert(tag.clone(), part_index);
        }
    }
    // Rows whose link value did not resolve link nothing.
    let linked =
        keys.iter().filter(|k| part.bindings.get(*k).is_some_and(|b| !b.kind.is_spatial())).map(|k| k.as_str());
    part.lf.clone().select(exprs).drop_nulls(Some(cols(linked)))
}

/// A member's distinct rows ([`Pair::sides`]), gathered as they stream past
/// ([`super::distinct`]); by polars' `unique` when a column is neither text nor a float.
pub fn distinct(side: LazyFrame) -> PolarsResult<DataFrame> {
    match super::distinct::distinct_rows(side.clone())? {
        Some(df) => Ok(df),
        None => crate::profile::collect(side.unique(None, UniqueKeepStrategy::Any)),
    }
}

/// A join of two members kept apart: each side's projected rows, for judging the
/// join from per-key counts without building it (`scan::pair`), once made distinct
/// ([`distinct`]).
pub struct Pair {
    pub sides: [LazyFrame; 2],
    pub keys: Vec<String>,
    pub bindings: Bindings,
    pub origin: BTreeMap<String, usize>,
}

/// The two members of `parts` joined on `keys`, not joined yet.
pub fn pair(parts: &[Part], keys: &[String]) -> Pair {
    let mut bindings = Bindings::new();
    let mut origin = BTreeMap::new();
    let a = member(parts, 0, keys, keys, &mut bindings, &mut origin);
    let b = member(parts, 1, keys, keys, &mut bindings, &mut origin);
    Pair { sides: [a, b], keys: keys.to_vec(), bindings, origin }
}

/// Union of parts with the same tag set (releases of one table), all rows together.
pub fn union(parts: &[Part]) -> PolarsResult<View> {
    let first = parts.first().ok_or_else(|| polars_err!(NoData: "a union needs at least one part"))?;
    let mut bindings = Bindings::new();
    let mut origin = BTreeMap::new();
    for (tag, b) in first.bindings {
        // A declared accuracy applies to the union only if every release declares one.
        let declared: Option<Vec<f64>> = parts.iter().map(|p| p.bindings.get(tag).and_then(|b| b.accuracy_m)).collect();
        let accuracy_m = declared.and_then(|v| v.into_iter().reduce(f64::min));
        bindings.insert(tag.clone(), bind(tag, b, accuracy_m));
        origin.insert(tag.clone(), 0);
    }
    let mut frames = Vec::new();
    for part in parts {
        let mut exprs = Vec::new();
        for tag in bindings.keys() {
            if !part.bindings.contains_key(tag) {
                polars_bail!(SchemaMismatch: "releases of a union must bind the same tags (`{tag}` missing)");
            }
            let as_text = bindings[tag].kind.is_spatial() && parts.iter().any(|p| p.binds_text(tag));
            exprs.extend(project(part, tag, as_text));
        }
        frames.push(part.lf.clone().select(exprs));
    }
    let lf = concat(frames, UnionArgs::default())?;
    Ok(View { lf, bindings, origin })
}
