//! Joins of two datasets judged from per-key counts, never built (DESIGN §10: "a
//! join's scale metrics never need the joined rows materialised").
//!
//! A joined row is a pair (a, b) with equal keys, a passing the item's filters on
//! the first member's columns and b those on the second's. So: rows = Σ over keys of
//! the two sides' filtered row counts; a metric on one side's tags is that metric on
//! the side's filtered rows whose key the other side has (a semi-join — sets, cells,
//! extents and ranges do not depend on how often a row repeats); and the resolution
//! percentile, which counts rows, weights each row by the other side's rows per key.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::assess::Task;
use crate::evaluate::{self, Evaluation};
use crate::link::distinct;
use crate::link::view::{self, Pair};
use crate::profile::{self, Group, Need, RowFilter, Snap, Source, Values};
use crate::rules::Prop;
use crate::tag::Columns;

const WEIGHT: &str = "__rows_of_other_side";

fn names(lf: &LazyFrame) -> PolarsResult<Vec<String>> {
    Ok(lf.clone().collect_schema()?.iter_names().map(|n| n.to_string()).collect())
}

fn columns_of_filter(f: &RowFilter) -> Vec<String> {
    match f {
        RowFilter::Value { column, .. } => vec![column.clone()],
        RowFilter::Resolution { columns, .. } => columns.names().iter().map(|c| c.to_string()).collect(),
    }
}

fn columns_of_need(n: &Need) -> Vec<String> {
    match n {
        Need::Rows => vec![],
        Need::Has(c) | Need::Distinct(c) | Need::Prop { columns: c, .. } => {
            c.names().iter().map(|c| c.to_string()).collect()
        }
    }
}

/// Compute each side's distinct projected rows once (every metric reads them again),
/// never the join: memory is bounded by the members, not by their product.
pub fn hold(pair: Pair) -> PolarsResult<Pair> {
    let _t = crate::trace::span(|| "join members' distinct rows".to_string());
    let [a, b] = pair.sides;
    let (a, b) = (view::distinct(a)?.lazy(), view::distinct(b)?.lazy());
    Ok(Pair { sides: [a, b], ..pair })
}

/// Judge every task on the pair (its sides held, see [`hold`]).
pub fn assess(pair: &Pair, tasks: &[Task]) -> PolarsResult<Vec<Option<Evaluation>>> {
    let _t = crate::trace::span(|| "join from per-key counts".to_string());
    let cols = [names(&pair.sides[0])?, names(&pair.sides[1])?];
    let on: Vec<Expr> = pair.keys.iter().map(|k| col(k.as_str())).collect();
    let side_of = |c: &[String]| usize::from(!c.iter().all(|x| cols[0].contains(x)));
    // A side's rows per key, gathered from its held rows (a polars group-by had held
    // 222 MiB above a 5M-row side for 100 000 keys); a side no filter narrows keeps
    // its counts for every task.
    let counts = |lf: &LazyFrame| -> PolarsResult<LazyFrame> {
        let keys = lf.clone().select(on.clone());
        Ok(match distinct::counted_rows(keys.clone(), WEIGHT)? {
            Some(df) => df.lazy(),
            None => keys.group_by(on.clone()).agg([len().cast(DataType::Float64).alias(WEIGHT)]),
        })
    };
    let whole = [counts(&pair.sides[0])?, counts(&pair.sides[1])?];
    // The table is built on the other side's counts, one row per key.
    let semi = |mine: &LazyFrame, other: LazyFrame| -> LazyFrame {
        let args = JoinArgs::new(JoinType::Inner).with_build_side(Some(JoinBuildSide::ForceRight));
        mine.clone().join(other, on.clone(), on.clone(), args)
    };
    // Snapping is a property of the joined rows, before any item's filters.
    let unfiltered = [semi(&pair.sides[0], whole[1].clone()), semi(&pair.sides[1], whole[0].clone())];
    let mut snaps: BTreeMap<Columns, Snap> = BTreeMap::new();
    for b in pair.bindings.values().filter(|b| b.kind.is_spatial()) {
        let side = side_of(&b.columns.names().iter().map(|c| c.to_string()).collect::<Vec<_>>());
        let _t = crate::trace::span(|| format!("snapping of side {side}"));
        snaps.insert(
            b.columns.clone(),
            profile::snapping(&Source { lf: &unfiltered[side], text: true, memo: None }, &b.columns)?,
        );
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let Some(group) = evaluate::plan(task.pack, task.item, &pair.bindings) else {
            out.push(None);
            continue;
        };
        let mut sides = [pair.sides[0].clone(), pair.sides[1].clone()];
        let mut narrowed = [false, false];
        for f in &group.filters {
            let cs = columns_of_filter(f);
            // A filter on a join key holds on both sides alike.
            for (i, side) in sides.iter_mut().enumerate() {
                if cs.iter().all(|c| cols[i].contains(c)) {
                    narrowed[i] = true;
                    *side = profile::filtered(
                        &Source { lf: side, text: true, memo: None },
                        &Group { filters: vec![f.clone()], needs: vec![] },
                        &snaps,
                    );
                }
            }
        }
        let counted = |i: usize| if narrowed[i] { counts(&sides[i]) } else { Ok(whole[i].clone()) };
        let joined = [semi(&sides[0], counted(1)?), semi(&sides[1], counted(0)?)];
        let mut values = Values::new();
        let mut per_side: [Vec<Need>; 2] = [vec![], vec![]];
        for need in &group.needs {
            match need {
                Need::Rows => {
                    let _t = crate::trace::span(|| "joined rows".to_string());
                    let df = profile::collect(joined[0].clone().select([col(WEIGHT).sum().alias("n")]))?;
                    values.insert(need.key(), Some(profile::scalar(&df, "n").unwrap_or(0.0)));
                }
                Need::Prop { prop: Prop::ResolutionM, columns, accuracy_m, .. } => {
                    let side = side_of(&columns_of_need(need));
                    let snap = snaps.get(columns).copied().unwrap_or_default();
                    let per_row = profile::row_resolution(columns, true, snap, *accuracy_m);
                    let hist = profile::resolution_hist(&joined[side], per_row, Some(WEIGHT))?;
                    // The bin's low end when it holds several values: finer, so fail closed.
                    values.insert(need.key(), hist.quantile(0.05).map(|(lo, _)| lo));
                }
                _ => per_side[side_of(&columns_of_need(need))].push(need.clone()),
            }
        }
        for (side, needs) in per_side.into_iter().enumerate() {
            if needs.is_empty() {
                continue;
            }
            let _t = crate::trace::span(|| format!("{} metric(s) of side {side}", needs.len()));
            let src = Source { lf: &joined[side], text: true, memo: None };
            values.extend(profile::compute(&src, &Group { filters: vec![], needs }, &snaps)?);
        }
        out.push(Some(evaluate::judge(task.pack, task.item, &pair.bindings, &values)));
    }
    Ok(out)
}
