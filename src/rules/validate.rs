//! Raw pack → validated pack. Shape errors come from serde (first one only);
//! every semantic problem (unknown tag, metric, level, regex, …) is collected so a
//! pack author sees them all at once, each pointing at its line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use chrono::NaiveDate;
use miette::{NamedSource, SourceSpan};
use regex::Regex;
use toml::Spanned;

use super::condition::{self, Criterion, Filter, Metric};
use super::raw::{RawItem, RawPack, RawPeriod, RawTag, RawText};
use super::{Chinese, Item, Level, Pack, Period, Tag, TagKind, Track};

/// One problem in a pack, with where it is.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(code(mosaic::rules::invalid))]
pub struct Problem {
    pub message: String,
    #[source_code]
    src: NamedSource<Arc<String>>,
    #[label("{label}")]
    span: SourceSpan,
    label: String,
    /// 1-based line and column of the problem.
    pub line: usize,
    pub column: usize,
}

/// A pack that failed to load: every problem found, each with file, line, column.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("invalid rule pack {origin}: {}", summary(problems))]
#[diagnostic(code(mosaic::rules::invalid_pack), help("see `mosaic rules schema` for the pack format"))]
pub struct PackError {
    pub origin: String,
    #[related]
    pub problems: Vec<Problem>,
}

/// The headline names the file and how many problems it has; each problem is shown
/// once, below it, with its line, column and caret.
fn summary(problems: &[Problem]) -> String {
    match problems {
        [_] => "1 problem".to_string(),
        many => format!("{} problems", many.len()),
    }
}

struct Collector {
    origin: String,
    text: Arc<String>,
    problems: Vec<Problem>,
}

impl Collector {
    fn push(&mut self, span: Range<usize>, message: impl Into<String>, label: impl Into<String>) {
        let start = span.start.min(self.text.len());
        let (line, column) = line_col(&self.text, start);
        let len = span.end.saturating_sub(span.start).max(1).min(self.text.len().saturating_sub(start).max(1));
        self.problems.push(Problem {
            message: message.into(),
            src: NamedSource::new(self.origin.clone(), self.text.clone()),
            span: (start, len).into(),
            label: label.into(),
            line,
            column,
        });
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

pub fn parse(origin: &str, text: &str) -> Result<Pack, PackError> {
    let mut c = Collector { origin: origin.to_string(), text: Arc::new(text.to_string()), problems: vec![] };
    let raw: RawPack = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            c.push(span, e.message().trim().to_string(), "here");
            return Err(PackError { origin: c.origin, problems: c.problems });
        }
    };
    let pack = build(&mut c, raw);
    if c.problems.is_empty() {
        Ok(pack)
    } else {
        Err(PackError { origin: c.origin, problems: c.problems })
    }
}

fn build(c: &mut Collector, raw: RawPack) -> Pack {
    let h = raw.pack;
    let id = h.id.get_ref().clone();
    if !id.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_') || id.is_empty() {
        c.push(h.id.span(), format!("pack id `{id}` must be lowercase ASCII letters, digits, `-` or `_`"), "pack id");
    }
    let effective = h.effective.as_ref().and_then(|d| date(c, d));
    let expires = h.expires.as_ref().and_then(|d| date(c, d));
    let grid_m = h.grid_m.as_ref().map_or(50.0, |g| {
        if *g.get_ref() > 0.0 && g.get_ref().is_finite() {
            *g.get_ref()
        } else {
            c.push(g.span(), "grid_m must be a positive number of metres", "cell size");
            50.0
        }
    });
    let warn_at = h.warn_at.as_ref().map_or(0.8, |w| {
        if *w.get_ref() > 0.0 && *w.get_ref() < 1.0 {
            *w.get_ref()
        } else {
            c.push(w.span(), "warn_at must be between 0 and 1 (e.g. 0.8 warns at 80 % of a threshold)", "ratio");
            0.8
        }
    });

    let mut tags = BTreeMap::new();
    for (name, spanned) in &raw.tags {
        if let Some(tag) = build_tag(c, name, spanned) {
            tags.insert(name.clone(), tag);
        }
    }

    // Notices of a pack whose authority is Chinese are written in Chinese.
    let chinese = has_cjk(&h.authority);
    let mut seen = BTreeSet::new();
    let mut items = Vec::new();
    for item in &raw.items {
        if !seen.insert(item.id.get_ref().clone()) {
            c.push(item.id.span(), format!("duplicate item id `{}`", item.id.get_ref()), "defined again here");
        }
        if let Some(built) = build_item(c, item, &tags, h.deadline_working_days.unwrap_or(10), chinese) {
            items.push(built);
        }
    }
    if raw.items.is_empty() {
        c.push(h.id.span(), "a pack needs at least one [[item]]", "pack");
    }

    Pack {
        id,
        version: h.version,
        sha256: String::new(),
        source: c.origin.clone(),
        text: String::new(),
        effective,
        expires,
        name: h.name,
        authority: h.authority,
        co_authorities: h.co_authorities,
        data_security_authority: h.data_security_authority.unwrap_or_else(|| "国家网信办".to_string()),
        basis: h.basis,
        illustrative: h.illustrative,
        grid_m,
        warn_at,
        tags,
        items,
    }
}

fn date(c: &mut Collector, d: &Spanned<String>) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(d.get_ref(), "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            c.push(d.span(), format!("`{}` is not a date (YYYY-MM-DD)", d.get_ref()), "date");
            None
        }
    }
}

fn lower(names: &[String]) -> Vec<String> {
    names.iter().map(|n| n.to_lowercase()).collect()
}

fn build_tag(c: &mut Collector, name: &str, spanned: &Spanned<RawTag>) -> Option<Tag> {
    let raw = spanned.get_ref();
    let Some(kind) = TagKind::parse(raw.kind.get_ref()) else {
        let known: Vec<_> = TagKind::ALL.iter().map(|k| k.name()).collect();
        c.push(
            raw.kind.span(),
            format!("unknown tag kind `{}`; known: {}", raw.kind.get_ref(), known.join(", ")),
            "kind",
        );
        return None;
    };
    let pattern = raw.pattern.as_ref().and_then(|p| match Regex::new(p.get_ref()) {
        Ok(re) => Some(re),
        Err(e) => {
            c.push(p.span(), format!("invalid regex in tag `{name}`: {e}"), "pattern");
            None
        }
    });
    let (columns, columns2) = match kind {
        TagKind::Point => (lower(&raw.lat), lower(&raw.lon)),
        TagKind::Xy => (lower(&raw.y), lower(&raw.x)),
        _ => (lower(&raw.columns), vec![]),
    };
    let pair_columns = if kind == TagKind::Point { lower(&raw.columns) } else { vec![] };
    let xy_columns = if kind == TagKind::Point { (lower(&raw.y), lower(&raw.x)) } else { (vec![], vec![]) };
    if kind == TagKind::Xy && (columns.is_empty() || columns2.is_empty()) {
        c.push(spanned.span(), format!("xy tag `{name}` needs `x` and `y` column names"), "tag");
    }
    if kind == TagKind::Point {
        if columns.is_empty() != columns2.is_empty() {
            c.push(spanned.span(), format!("point tag `{name}` needs both `lat` and `lon` column names"), "tag");
        }
        if xy_columns.0.is_empty() != xy_columns.1.is_empty() {
            c.push(spanned.span(), format!("point tag `{name}` needs both `x` and `y` column names"), "tag");
        }
        if !xy_columns.0.is_empty() && raw.xy_crs.is_none() {
            c.push(
                spanned.span(),
                format!(
                    "point tag `{name}` lists projected `x`/`y` columns without `xy_crs` (an EPSG code, e.g. 4527)"
                ),
                "tag",
            );
        }
        if columns.is_empty() && pair_columns.is_empty() && xy_columns.0.is_empty() && raw.geometry == Some(false) {
            c.push(
                spanned.span(),
                format!("point tag `{name}` binds nothing: give `lat`/`lon`, one-column `columns`, or `x`/`y` with `xy_crs`"),
                "tag",
            );
        }
    }
    let xy_crs = raw.xy_crs.as_ref().and_then(|code| {
        if kind != TagKind::Point {
            c.push(code.span(), "`xy_crs` is for point tags (an xy tag is planar with no known system)", "xy_crs");
            return None;
        }
        let epsg = u32::try_from(*code.get_ref()).unwrap_or(0);
        match crate::crs::epsg(epsg) {
            Ok(crate::crs::Crs::Projected(proj)) => Some(super::XyCrs { epsg, proj }),
            Ok(crate::crs::Crs::Geographic) => {
                c.push(
                    code.span(),
                    format!("EPSG:{epsg} is geographic (degrees): name its columns in `lat`/`lon`"),
                    "xy_crs",
                );
                None
            }
            Err(e) => {
                c.push(code.span(), e, "xy_crs");
                None
            }
        }
    });
    let label = raw.label.as_ref().and_then(|l| {
        let text = l.get_ref().trim();
        if text.is_empty() || text.chars().count() > 24 || text.chars().any(char::is_control) {
            c.push(l.span(), format!("the label of tag `{name}` must be one short line (1 to 24 characters)"), "label");
            return None;
        }
        Some(text.to_string())
    });
    let order = raw.order.as_ref().and_then(|o| match crate::crs::Order::parse(o.get_ref()) {
        Some(order) => Some(order),
        None => {
            c.push(o.span(), format!("unknown order `{}`; known: lonlat, latlon", o.get_ref()), "order");
            None
        }
    });
    if !kind.is_spatial() && columns.is_empty() && pattern.is_none() {
        c.push(spanned.span(), format!("tag `{name}` needs `columns` or `pattern`"), "tag");
    }
    if let Some(crs) = &raw.crs {
        if !["wgs84", "gcj02", "bd09", "cgcs2000"].contains(&crs.get_ref().as_str()) {
            c.push(crs.span(), format!("unknown crs `{}`; known: wgs84, gcj02, bd09, cgcs2000", crs.get_ref()), "crs");
        }
    }
    let link = build_link(c, name, kind, raw);
    Some(Tag {
        link,
        name: name.to_string(),
        kind,
        columns,
        columns2,
        pattern,
        crs: raw.crs.as_ref().map(|s| s.get_ref().clone()),
        unit: raw.unit.clone(),
        label,
        pair_columns,
        order,
        xy_columns,
        xy_crs,
        geometry: kind == TagKind::Point && raw.geometry != Some(false),
    })
}

/// A tag's linkage settings (DESIGN §4a), each checked against the tag's kind.
fn build_link(c: &mut Collector, name: &str, kind: TagKind, raw: &RawTag) -> super::Link {
    let mut link = super::Link::default();
    if !raw.parent.is_empty() && kind != TagKind::Region {
        c.push(raw.kind.span(), format!("`parent` is for region tags; `{name}` is a {} tag", kind.name()), "parent");
    }
    link.parent = lower(&raw.parent);
    if !raw.strip_suffixes.is_empty() && kind != TagKind::Name {
        c.push(raw.kind.span(), format!("`strip_suffixes` is for name tags; `{name}` is a {} tag", kind.name()), "tag");
    }
    for s in &raw.strip_suffixes {
        let n = crate::normal::normalise(s);
        if n.is_empty() || s.chars().any(char::is_control) {
            c.push(
                raw.kind.span(),
                format!("tag `{name}`: suffix `{}` is empty or holds control characters", s.escape_debug()),
                "tag",
            );
        } else {
            link.strip_suffixes.push(n);
        }
    }
    if let Some(m) = &raw.match_ {
        match m.get_ref().as_str() {
            _ if kind != TagKind::Name => {
                c.push(m.span(), format!("`match` is for name tags; `{name}` is a {} tag", kind.name()), "match")
            }
            "exact" => {}
            "jaro_winkler" => link.min_score = Some(0.92),
            other => c.push(m.span(), format!("unknown match `{other}`; known: exact, jaro_winkler"), "match"),
        }
    }
    if let Some(score) = &raw.min_score {
        let v = *score.get_ref();
        if link.min_score.is_none() {
            c.push(score.span(), "`min_score` needs `match = \"jaro_winkler\"`", "min_score");
        } else if !(0.8..=1.0).contains(&v) {
            c.push(
                score.span(),
                format!("min_score {v} is outside 0.8 to 1 (lower scores link different names)"),
                "min_score",
            );
        } else {
            link.min_score = Some(v);
        }
    }
    if let Some(d) = &raw.link_within_m {
        let v = *d.get_ref();
        if kind != TagKind::Point {
            c.push(
                d.span(),
                format!("`link_within_m` is for point tags; `{name}` is a {} tag", kind.name()),
                "link_within_m",
            );
        } else if !(v.is_finite() && (1.0..=100_000.0).contains(&v)) {
            c.push(d.span(), format!("link_within_m {v} must be between 1 m and 100 000 m (100 km)"), "link_within_m");
        } else {
            link.within_m = Some(v);
        }
    }
    link
}

/// Does the text hold Chinese characters?
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch) || ('\u{3400}'..='\u{4dbf}').contains(&ch))
}

/// Brackets, quotes and tags left open or closed twice in a text for officials.
fn unbalanced(s: &str) -> Option<String> {
    let pairs =
        [('(', ')'), ('（', '）'), ('[', ']'), ('【', '】'), ('《', '》'), ('「', '」'), ('“', '”'), ('{', '}')];
    let mut stack: Vec<char> = Vec::new();
    for ch in s.chars() {
        if let Some((open, _)) = pairs.iter().find(|(_, close)| *close == ch) {
            if stack.pop() != Some(*open) {
                return Some(format!("`{ch}` closes nothing"));
            }
        } else if pairs.iter().any(|(open, _)| *open == ch) {
            stack.push(ch);
        }
    }
    if let Some(open) = stack.pop() {
        return Some(format!("`{open}` is never closed"));
    }
    // Tags: every `<b>` needs its `</b>` (`<br/>` closes itself).
    let mut open: BTreeMap<String, i32> = BTreeMap::new();
    let tags = Regex::new(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^<>]*?(/?)>").ok()?;
    for cap in tags.captures_iter(s) {
        if &cap[3] == "/" {
            continue;
        }
        *open.entry(cap[2].to_ascii_lowercase()).or_default() += if &cap[1] == "/" { -1 } else { 1 };
    }
    open.into_iter().find(|(_, n)| *n != 0).map(|(tag, _)| format!("the markup tag `<{tag}>` is not balanced"))
}

/// An item's text: the English (or only) form and the Chinese one. A plain string in
/// Chinese serves both; `chinese` packs (their authority is Chinese) need a Chinese
/// form, which must be clean text (no control characters, balanced brackets).
fn text(
    c: &mut Collector,
    id: &Spanned<String>,
    field: &str,
    raw: Option<&Spanned<RawText>>,
    chinese: bool,
) -> (String, String) {
    let Some(raw) = raw else {
        c.push(id.span(), format!("item `{}` needs a non-empty `{field}`", id.get_ref()), "item");
        return (String::new(), String::new());
    };
    let id = id.get_ref();
    let (en, zh) = match raw.get_ref() {
        RawText::Plain(s) => (s.clone(), has_cjk(s).then(|| s.clone())),
        RawText::Languages(l) => (l.en.clone().or_else(|| l.zh.clone()).unwrap_or_default(), l.zh.clone()),
    };
    if en.trim().is_empty() {
        c.push(raw.span(), format!("item `{id}` needs a non-empty `{field}`"), "item");
    }
    match &zh {
        Some(z) if z.chars().any(char::is_control) => {
            c.push(raw.span(), format!("the Chinese `{field}` of `{id}` holds a control character"), field.to_string())
        }
        Some(z) => {
            if let Some(why) = unbalanced(z) {
                c.push(raw.span(), format!("the Chinese `{field}` of `{id}`: {why}"), field.to_string());
            }
        }
        None if chinese => c.push(
            raw.span(),
            format!(
                "item `{id}` needs a Chinese `{field}` (`{field} = {{ zh = \"…\", en = \"…\" }}`): its notices go to a Chinese authority"
            ),
            field.to_string(),
        ),
        None => {}
    }
    let zh = zh.unwrap_or_else(|| en.clone());
    (en, zh)
}

fn build_item(
    c: &mut Collector,
    raw: &RawItem,
    tags: &BTreeMap<String, Tag>,
    default_deadline: u32,
    chinese: bool,
) -> Option<Item> {
    let id = raw.id.get_ref().clone();
    let track = match raw.track.as_ref().map(|t| t.get_ref().as_str()) {
        None | Some("state_secret") => Track::StateSecret,
        Some("important_data") => Track::ImportantData,
        Some(other) => {
            let span = raw.track.as_ref().map_or(raw.id.span(), Spanned::span);
            c.push(span, format!("unknown track `{other}`; known: state_secret, important_data"), "track");
            Track::StateSecret
        }
    };
    let level = match &raw.level {
        Some(l) => match Level::parse(l.get_ref()) {
            Some(level) => Some(level),
            None => {
                c.push(l.span(), format!("unknown level `{}`; known: 秘密, 机密, 绝密", l.get_ref()), "level");
                None
            }
        },
        None if track == Track::StateSecret => {
            c.push(raw.id.span(), format!("item `{id}` needs a `level` (秘密 | 机密 | 绝密)"), "item");
            None
        }
        None => None,
    };
    if track == Track::ImportantData && raw.catalog_match {
        c.push(raw.id.span(), "an important_data item cannot be a catalog_match (it is never a state secret)", "item");
    }
    let period = match &raw.period {
        Some(p) => period(c, p),
        None => level.map(|l| Period::Years(l.default_years())),
    };
    let (name, zh_name) = text(c, &raw.id, "name", Some(&raw.name), chinese);
    let (harm, zh_harm) = text(c, &raw.id, "harm", raw.harm.as_ref(), chinese);
    let (remediation, zh_remediation) = text(c, &raw.id, "remediation", raw.remediation.as_ref(), chinese);
    if raw.when.is_empty() {
        c.push(raw.id.span(), format!("item `{id}` needs at least one `when` criterion"), "item");
    }

    let mut filters = Vec::new();
    for f in &raw.filters {
        match condition::parse_filter(f.get_ref()) {
            Ok(filter) => {
                check_filter(c, f, &filter, tags);
                filters.push(filter);
            }
            Err(e) => push_condition_error(c, f, &e),
        }
    }
    let mut criteria = Vec::new();
    let mut criteria_lines = Vec::new();
    for w in &raw.when {
        match condition::parse_criterion(w.get_ref()) {
            Ok(criterion) => {
                check_criterion(c, w, &criterion, tags);
                criteria_lines.push(line_col(&c.text, w.span().start).0);
                criteria.push(criterion);
            }
            Err(e) => push_condition_error(c, w, &e),
        }
    }

    Some(Item {
        id,
        name,
        zh: Chinese { name: zh_name, harm: zh_harm, remediation: zh_remediation },
        track,
        catalog_match: raw.catalog_match,
        level,
        period,
        knowledge_scope: raw.knowledge_scope.clone().unwrap_or_default(),
        art13: raw.art13.clone().unwrap_or_default(),
        harm,
        basis: raw.basis.clone(),
        filters,
        criteria,
        criteria_lines,
        remediation,
        deadline_working_days: raw.deadline_working_days.unwrap_or(default_deadline),
    })
}

fn period(c: &mut Collector, p: &Spanned<RawPeriod>) -> Option<Period> {
    let r = p.get_ref();
    let mut forms = Vec::new();
    if let Some(n) = r.years {
        forms.push(Period::Years(n));
    }
    if let Some(n) = r.months {
        forms.push(Period::Months(n));
    }
    if let Some(n) = r.days {
        forms.push(Period::Days(n));
    }
    if let Some(d) = &r.until {
        match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) => forms.push(Period::Until(date)),
            Err(_) => c.push(p.span(), format!("period until `{d}` is not a date (YYYY-MM-DD)"), "period"),
        }
    }
    if let Some(cond) = &r.condition {
        forms.push(Period::Condition(cond.clone()));
    }
    if r.long_term {
        forms.push(Period::LongTerm);
    }
    if forms.len() != 1 {
        c.push(
            p.span(),
            "a period is exactly one of { years }, { months }, { days }, { until }, { condition } or { long_term = true }",
            "period",
        );
        return None;
    }
    forms.pop()
}

fn push_condition_error(c: &mut Collector, s: &Spanned<String>, e: &condition::ParseError) {
    // +1 skips the opening quote of the TOML string (basic or literal string).
    let start = s.span().start + 1 + e.offset;
    c.push(start..start + 1, format!("in `{}`: {}", s.get_ref(), e.message), "here");
}

fn unknown_tag(c: &mut Collector, s: &Spanned<String>, tag: &str, tags: &BTreeMap<String, Tag>) {
    let known: Vec<_> = tags.keys().map(String::as_str).collect();
    let at = s.get_ref().find(tag).unwrap_or(0);
    let start = s.span().start + 1 + at;
    c.push(
        start..start + tag.len(),
        format!("unknown tag `{tag}` in `{}`; this pack defines: {}", s.get_ref(), known.join(", ")),
        "not a tag of this pack",
    );
}

fn check_criterion(c: &mut Collector, s: &Spanned<String>, criterion: &Criterion, tags: &BTreeMap<String, Tag>) {
    match criterion {
        Criterion::Has { tags: names } => {
            for name in names {
                if !tags.contains_key(name) {
                    unknown_tag(c, s, name, tags);
                }
            }
        }
        Criterion::Compare { metric, .. } => match metric {
            Metric::Rows => {}
            Metric::Distinct { tag } => {
                if !tags.contains_key(tag) {
                    unknown_tag(c, s, tag, tags);
                }
            }
            Metric::Prop { tag, prop } => match tags.get(tag) {
                None => unknown_tag(c, s, tag, tags),
                Some(t) if !t.kind.props().contains(prop) => {
                    let known: Vec<_> = t.kind.props().iter().map(|p| p.name()).collect();
                    let start = s.span().start + 1 + s.get_ref().find(prop.name()).unwrap_or(0);
                    c.push(
                        start..start + prop.name().len(),
                        format!(
                            "`{}` is not defined for {} tag `{tag}`; it has: {}",
                            prop.name(),
                            t.kind.name(),
                            known.join(", ")
                        ),
                        "metric",
                    );
                }
                Some(_) => {}
            },
        },
    }
}

fn check_filter(c: &mut Collector, s: &Spanned<String>, filter: &Filter, tags: &BTreeMap<String, Tag>) {
    let Some(tag) = tags.get(filter.tag()) else {
        unknown_tag(c, s, filter.tag(), tags);
        return;
    };
    match filter {
        Filter::RowResolution { .. } if !tag.kind.is_spatial() => {
            c.push(s.span(), format!("`{}` is not a point or xy tag", tag.name), "filter");
        }
        Filter::Value { .. } if tag.kind.is_spatial() => {
            c.push(
                s.span(),
                format!("`{}` is a {} tag; filter on `{}.resolution_m`", tag.name, tag.kind.name(), tag.name),
                "filter",
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_texts_are_required_and_clean() {
        let english = GOOD.replace("name = { zh = \"站点\", en = \"Sites\" }", "name = \"Sites\"");
        let err = parse("demo.toml", &english).unwrap_err();
        assert!(err.problems[0].message.contains("needs a Chinese `name`"), "{}", err.problems[0].message);
        assert_eq!(err.problems[0].line, 19);
        let control = GOOD.replace("位置精确。", "位置\\u0007精确。");
        assert!(parse("demo.toml", &control).unwrap_err().problems[0].message.contains("control character"));
        let unbalanced = GOOD.replace("取整。", "取整（到三位。");
        assert!(parse("demo.toml", &unbalanced).unwrap_err().problems[0].message.contains("never closed"));
        let markup = GOOD.replace("取整。", "<b>取整。");
        assert!(parse("demo.toml", &markup).unwrap_err().problems[0].message.contains("<b>"));
        let long = GOOD.replace(
            "kind = \"key\"",
            "kind = \"key\"\nlabel = \"一个非常非常非常非常非常非常非常非常非常非常非常非常长的标签\"",
        );
        assert!(parse("demo.toml", &long).unwrap_err().problems[0].message.contains("one short line"));
        let foreign = GOOD
            .replace("国家测试局", "Test Office")
            .replace("name = { zh = \"站点\", en = \"Sites\" }", "name = \"Sites\"");
        assert!(parse("demo.toml", &foreign).is_ok(), "a pack for a non-Chinese authority needs no Chinese texts");
    }

    const GOOD: &str = r#"
[pack]
id = "demo"
version = "1"
name = "Demo"
authority = "国家测试局"

[tags.site]
kind = "key"
columns = ["site_id"]

[tags.position]
kind = "point"
lat = ["lat"]
lon = ["lon"]

[[item]]
id = "demo.sites"
name = { zh = "站点", en = "Sites" }
level = "秘密"
harm = "位置精确。"
remediation = "取整。"
when = ["has(site, position)", "distinct(site) >= 2"]
"#;

    #[test]
    fn valid_pack_gets_default_period_and_grid() {
        let pack = parse("demo.toml", GOOD).unwrap();
        assert_eq!(pack.items[0].period, Some(Period::Years(10)));
        assert_eq!(pack.grid_m, 50.0);
        assert_eq!(pack.warn_at, 0.8);
        assert_eq!(pack.items[0].criteria_lines, vec![23, 23]);
    }

    #[test]
    fn unknown_tag_points_at_line_and_column() {
        let bad = GOOD.replace("distinct(site) >= 2", "distinct(sight) >= 2");
        let err = parse("demo.toml", &bad).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        let p = &err.problems[0];
        assert!(p.message.contains("unknown tag `sight`"), "{}", p.message);
        assert_eq!(p.line, 23);
        let line = bad.lines().nth(22).unwrap();
        assert_eq!(line.chars().skip(p.column - 1).take(5).collect::<String>(), "sight");
    }

    #[test]
    fn collects_every_semantic_problem() {
        let bad = GOOD
            .replace("level = \"秘密\"", "level = \"内部\"")
            .replace("kind = \"key\"", "kind = \"keys\"")
            .replace("distinct(site) >= 2", "position.volume > 2");
        let err = parse("demo.toml", &bad).unwrap_err();
        let messages: Vec<_> = err.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("unknown level `内部`")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("unknown tag kind `keys`")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("unknown metric `volume`")), "{messages:?}");
    }

    #[test]
    fn unknown_key_is_rejected_with_span() {
        let bad = GOOD.replace("harm = \"位置精确。\"", "harm = \"位置精确。\"\nharms = \"x\"");
        let err = parse("demo.toml", &bad).unwrap_err();
        assert!(err.problems[0].message.contains("unknown field `harms`"), "{}", err.problems[0].message);
        assert_eq!(err.problems[0].line, 22);
    }

    #[test]
    fn duplicate_items_and_bad_regex_are_errors() {
        let dup = format!("{GOOD}\n[[item]]\nid = \"demo.sites\"\nname = \"站\"\nlevel = \"秘密\"\nharm = \"害\"\nremediation = \"改\"\nwhen = [\"rows > 1\"]\n");
        let err = parse("demo.toml", &dup).unwrap_err();
        assert!(err.problems.iter().any(|p| p.message.contains("duplicate item id")));
        let bad_re = GOOD.replace("columns = [\"site_id\"]", "columns = [\"site_id\"]\npattern = \"(unclosed\"");
        let err = parse("demo.toml", &bad_re).unwrap_err();
        assert!(err.problems.iter().any(|p| p.message.contains("invalid regex")));
    }
}
