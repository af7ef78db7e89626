//! Evaluate: an item's criteria against a candidate's metric values. Planning
//! (which metrics an item needs on which columns) and judging (does each criterion
//! hold, is the item met or near) are plain functions; nothing here opens files.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::profile::{Group, Need, RowFilter, Values};
use crate::rules::{Criterion, Filter, Item, Metric, Op, Pack, Prop};
use crate::tag::{Binding, Columns};

/// One criterion's outcome, as reported.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Evidence {
    pub condition: String,
    pub value: Option<f64>,
    pub holds: bool,
    /// The interval the value lies in when it is an estimate (a sketch, or a bound
    /// on a join judged from profiles); the criterion holds if any value in it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<[f64; 2]>,
    /// The criterion and its value in Chinese words, for notices and Chinese reports.
    #[serde(skip)]
    pub words: String,
}

/// Estimated metrics: `Need::key` → the interval the value lies in.
pub type Bands = BTreeMap<String, (f64, f64)>;

/// An item judged on one candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub met: bool,
    /// Not met, but every failing criterion is within the pack's `warn_at` of its threshold.
    pub near: bool,
    pub evidence: Vec<Evidence>,
}

/// What an item needs of a candidate, or `None` if the candidate lacks one of its tags
/// (then the item does not apply: no finding, no error).
pub fn plan(pack: &Pack, item: &Item, bindings: &BTreeMap<String, Binding>) -> Option<Group> {
    if item.required_tags().iter().any(|t| !bindings.contains_key(*t)) {
        return None;
    }
    Some(plan_partial(pack, item, bindings))
}

/// The part of an item's plan a dataset can compute with the tags it has: filters and
/// metrics on its tags only (what a join member contributes; `plan` when it has all).
pub fn plan_partial(pack: &Pack, item: &Item, bindings: &BTreeMap<String, Binding>) -> Group {
    let filters = item
        .filters
        .iter()
        .filter(|f| bindings.contains_key(f.tag()))
        .map(|f| match f {
            Filter::Value { tag, op, value } => {
                let column = bindings[tag].columns.names()[0].to_string();
                RowFilter::Value { column, op: *op, value: value.clone() }
            }
            Filter::RowResolution { tag, op, threshold_m } => {
                let b = &bindings[tag];
                RowFilter::Resolution {
                    columns: b.columns.clone(),
                    accuracy_m: b.accuracy_m,
                    op: *op,
                    threshold_m: *threshold_m,
                }
            }
        })
        .collect();
    let needs = item.criteria.iter().flat_map(|c| needs(pack, c, bindings)).collect();
    Group { filters, needs }
}

fn needs(pack: &Pack, criterion: &Criterion, bindings: &BTreeMap<String, Binding>) -> Vec<Need> {
    match criterion {
        Criterion::Has { tags } => {
            tags.iter().filter_map(|t| bindings.get(t)).map(|b| Need::Has(b.columns.clone())).collect()
        }
        Criterion::Compare { metric, .. } => {
            if metric.tags().iter().all(|t| bindings.contains_key(*t)) {
                vec![need(pack, metric, bindings)]
            } else {
                vec![]
            }
        }
    }
}

pub(crate) fn need(pack: &Pack, metric: &Metric, bindings: &BTreeMap<String, Binding>) -> Need {
    match metric {
        Metric::Rows => Need::Rows,
        Metric::Distinct { tag } => Need::Distinct(bindings[tag].columns.clone()),
        Metric::Prop { tag, prop: Prop::Distinct } => Need::Distinct(bindings[tag].columns.clone()),
        Metric::Prop { tag, prop } => {
            let b = &bindings[tag];
            Need::Prop {
                kind: b.kind,
                columns: b.columns.clone(),
                accuracy_m: b.accuracy_m,
                prop: *prop,
                grid_m: pack.grid_m,
            }
        }
    }
}

fn near(criterion: &Criterion, value: Option<f64>, warn_at: f64) -> bool {
    let (Criterion::Compare { op, threshold, .. }, Some(v)) = (criterion, value) else { return false };
    match op.grows_towards() {
        Some(true) => v >= threshold * warn_at,
        Some(false) => v <= threshold / warn_at,
        None => false,
    }
}

/// Judge an item against the values computed for its plan.
pub fn judge(pack: &Pack, item: &Item, bindings: &BTreeMap<String, Binding>, values: &Values) -> Evaluation {
    judge_banded(pack, item, bindings, values, &Bands::new())
}

/// Judge with estimates: a criterion whose value is known only to lie in a band holds
/// if any value in the band meets it (an error band straddling a threshold counts as
/// met: fail closed).
pub fn judge_banded(
    pack: &Pack,
    item: &Item,
    bindings: &BTreeMap<String, Binding>,
    values: &Values,
    bands: &Bands,
) -> Evaluation {
    let mut evidence = Vec::new();
    let mut met = true;
    let mut near_all = true;
    for criterion in &item.criteria {
        let (value, holds, band) = match criterion {
            Criterion::Has { tags } => {
                let present = tags
                    .iter()
                    .all(|t| values.get(&Need::Has(bindings[t].columns.clone()).key()).copied().flatten() == Some(1.0));
                (Some(if present { 1.0 } else { 0.0 }), present, None)
            }
            Criterion::Compare { metric, op, threshold } => {
                let key = need(pack, metric, bindings).key();
                let value = values.get(&key).copied().flatten();
                match bands.get(&key) {
                    Some(&(lo, hi)) => {
                        let t = *threshold;
                        let holds = op.compare(lo, t) || op.compare(hi, t) || (lo <= t && t <= hi && *op == Op::Eq);
                        (value, holds, Some([round_sig(lo), round_sig(hi)]))
                    }
                    None => (value, value.is_some_and(|v| op.compare(v, *threshold)), None),
                }
            }
        };
        if !holds {
            met = false;
            near_all &= near(criterion, value, pack.warn_at);
        }
        let words = crate::rules::words::criterion(pack, criterion, value.map(round_sig), holds);
        evidence.push(Evidence { condition: criterion.to_string(), value: value.map(round_sig), holds, band, words });
    }
    Evaluation { met, near: !met && near_all, evidence }
}

/// Values reported with 6 significant digits, so floating noise never changes output bytes.
pub fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 6 - v.abs().log10().floor() as i32 - 1;
    if digits <= 0 {
        let scale = 10f64.powi(-digits);
        return (v / scale).round() * scale;
    }
    let scale = 10f64.powi(digits.min(15));
    (v * scale).round() / scale
}

/// Columns a candidate's point tags use, for computing snapping once per point.
pub fn point_columns(bindings: &BTreeMap<String, Binding>) -> Vec<Columns> {
    bindings.values().filter(|b| b.kind.is_spatial()).map(|b| b.columns.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_six_significant_digits() {
        assert_eq!(round_sig(0.111_319_999_9), 0.11132);
        assert_eq!(round_sig(28.000_000_001), 28.0);
        assert_eq!(round_sig(1_234_567.0), 1_234_570.0);
    }

    #[test]
    fn near_respects_direction() {
        use crate::rules::condition::parse_criterion;
        let ge = parse_criterion("distinct(site) >= 20").unwrap();
        assert!(near(&ge, Some(16.0), 0.8));
        assert!(!near(&ge, Some(15.0), 0.8));
        let lt = parse_criterion("position.resolution_m < 50").unwrap();
        assert!(near(&lt, Some(62.0), 0.8));
        assert!(!near(&lt, Some(63.0), 0.8));
        assert!(!near(&lt, None, 0.8));
    }
}
