//! Criteria and outcomes in Chinese words, for the people who decide: notices,
//! `hold show` and the Chinese reports say "坐标精度约 0.111 米，细于 50 米的门槛",
//! never `position.resolution_m < 50`. Tags appear as the pack's label for them.

use super::condition::{Criterion, Metric, Op, Prop};
use super::Pack;

/// An outcome in words (DESIGN §5); JSON keeps the id.
pub fn outcome(id: &str) -> &'static str {
    match id {
        "catalog_match" => "属于保密事项范围",
        "hold_and_report" => "先行保密并报告",
        "derived" => "派生定密",
        "exposure" => "可能泄密，24小时内报告",
        "must_not_classify" => "不得定密",
        "near_threshold" => "接近门槛",
        "important_data" => "重要数据",
        _ => "待定",
    }
}

/// A unit in Chinese where it has a common Chinese name.
fn unit(u: &str) -> String {
    match u {
        "m" => "米".into(),
        "km" => "公里".into(),
        "km2" => "平方公里".into(),
        "kV" | "kv" => "千伏".into(),
        "s" => "秒".into(),
        "h" => "小时".into(),
        "d" | "days" => "天".into(),
        other => other.into(),
    }
}

/// A number as people read it: three significant digits, no trailing zeros.
pub fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// What a metric measures, its unit, and whether smaller means finer (precision).
fn metric(pack: &Pack, m: &Metric) -> (String, String, bool) {
    match m {
        Metric::Rows => ("记录".into(), "条".into(), false),
        Metric::Distinct { tag } => (format!("不同{}", pack.label(tag)), "个".into(), false),
        Metric::Prop { tag, prop } => {
            let label = pack.label(tag);
            let measure_unit = || pack.tags.get(tag).and_then(|t| t.unit.clone()).map(|u| unit(&u)).unwrap_or_default();
            match prop {
                Prop::ResolutionM => (format!("{label}精度约"), "米".into(), true),
                Prop::SpacingM => (format!("{label}格网间距约"), "米".into(), true),
                Prop::AreaKm2 => (format!("{label}覆盖面积"), "平方公里".into(), false),
                Prop::ContiguousKm2 => (format!("{label}最大连片覆盖"), "平方公里".into(), false),
                Prop::ExtentKm => (format!("{label}分布范围跨度"), "公里".into(), false),
                Prop::Resolution => (format!("{label}最小间隔"), measure_unit(), true),
                Prop::Min => (format!("{label}最小值"), measure_unit(), false),
                Prop::Max => (format!("{label}最大值"), measure_unit(), false),
                Prop::ResolutionS => (format!("{label}时间间隔"), "秒".into(), true),
                Prop::SpanDays => (format!("{label}时间跨度"), "天".into(), false),
                Prop::Distinct => (format!("不同{label}"), "个".into(), false),
            }
        }
    }
}

fn verb(op: Op, finer: bool) -> &'static str {
    match (op, finer) {
        (Op::Lt, true) => "细于",
        (Op::Le, true) => "不粗于",
        (Op::Gt, true) => "粗于",
        (Op::Ge, true) => "不细于",
        (Op::Lt, false) => "低于",
        (Op::Le, false) => "不超过",
        (Op::Gt, false) => "超过",
        (Op::Ge, false) => "达到",
        (Op::Eq, _) => "等于",
    }
}

/// A criterion and its measured value as a sentence.
pub fn criterion(pack: &Pack, c: &Criterion, value: Option<f64>, holds: bool) -> String {
    match c {
        Criterion::Has { tags } => {
            let names: Vec<String> = tags.iter().map(|t| pack.label(t)).collect();
            if holds {
                format!("同时含有{}", names.join("、"))
            } else {
                format!("未同时含有{}", names.join("、"))
            }
        }
        Criterion::Compare { metric: m, op, threshold } => {
            let (what, unit, finer) = metric(pack, m);
            let threshold = format!("{} {unit}", number(*threshold)).trim_end().to_string();
            let v = verb(*op, finer);
            match value {
                None => format!("{what}无法测得（没有有效数据），{v} {threshold}的门槛不成立"),
                Some(x) => {
                    let measured = format!("{} {unit}", number(x)).trim_end().to_string();
                    if holds {
                        format!("{what} {measured}，{v} {threshold}的门槛")
                    } else {
                        format!("{what} {measured}，未{v} {threshold}的门槛")
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::condition::parse_criterion;
    use crate::rules::Catalog;

    #[test]
    fn criteria_read_as_sentences() {
        let catalog = Catalog::load(&[], false).unwrap();
        let energy = catalog.packs.iter().find(|p| p.id == "energy").unwrap();
        let c = parse_criterion("position.resolution_m < 50").unwrap();
        assert_eq!(criterion(energy, &c, Some(0.11132), true), "坐标精度约 0.111 米，细于 50 米的门槛");
        let c = parse_criterion("distinct(site) >= 20").unwrap();
        assert_eq!(criterion(energy, &c, Some(17.0), false), "不同厂站 17 个，未达到 20 个的门槛");
        assert_eq!(number(28.34), "28.3");
        assert_eq!(number(0.001), "0.001");
        assert_eq!(number(1200.0), "1200");
        assert_eq!(outcome("hold_and_report"), "先行保密并报告");
    }
}
