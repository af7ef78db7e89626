//! Conditions of a rule-pack item: the `when` criteria and `where` row filters.
//!
//! A condition is parsed once, when the pack is loaded, into a typed form that
//! `evaluate` (criteria on metric values) and `profile` (row filters) consume.
//! Parsing is deliberately small: the whole vocabulary is DESIGN §2's metric table.

use std::fmt;

use serde::Serialize;

/// Comparison operator. Every threshold names one explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    pub fn compare(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Eq => value == threshold,
        }
    }

    /// True when a *larger* value moves towards meeting the condition.
    pub fn grows_towards(self) -> Option<bool> {
        match self {
            Op::Gt | Op::Ge => Some(true),
            Op::Lt | Op::Le => Some(false),
            Op::Eq => None,
        }
    }
}

/// A property of one tag, named after the tag: `position.resolution_m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Prop {
    ResolutionM,
    SpacingM,
    AreaKm2,
    ContiguousKm2,
    ExtentKm,
    Resolution,
    Min,
    Max,
    ResolutionS,
    SpanDays,
    Distinct,
}

impl Prop {
    pub const ALL: [Prop; 11] = [
        Prop::ResolutionM,
        Prop::SpacingM,
        Prop::AreaKm2,
        Prop::ContiguousKm2,
        Prop::ExtentKm,
        Prop::Resolution,
        Prop::Min,
        Prop::Max,
        Prop::ResolutionS,
        Prop::SpanDays,
        Prop::Distinct,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Prop::ResolutionM => "resolution_m",
            Prop::SpacingM => "spacing_m",
            Prop::AreaKm2 => "area_km2",
            Prop::ContiguousKm2 => "contiguous_km2",
            Prop::ExtentKm => "extent_km",
            Prop::Resolution => "resolution",
            Prop::Min => "min",
            Prop::Max => "max",
            Prop::ResolutionS => "resolution_s",
            Prop::SpanDays => "span_days",
            Prop::Distinct => "distinct",
        }
    }

    pub fn parse(name: &str) -> Option<Prop> {
        Prop::ALL.into_iter().find(|p| p.name() == name)
    }

    /// True when a smaller value means finer precision (so the metric can only
    /// get *finer* when datasets are combined, never coarser).
    pub fn is_precision(self) -> bool {
        matches!(self, Prop::ResolutionM | Prop::SpacingM | Prop::Resolution | Prop::ResolutionS)
    }
}

/// The left-hand side of a criterion: one metric.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Metric {
    Rows,
    Distinct { tag: String },
    Prop { tag: String, prop: Prop },
}

impl Metric {
    pub fn tags(&self) -> Vec<&str> {
        match self {
            Metric::Rows => vec![],
            Metric::Distinct { tag } | Metric::Prop { tag, .. } => vec![tag.as_str()],
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Rows => f.write_str("rows"),
            Metric::Distinct { tag } => write!(f, "distinct({tag})"),
            Metric::Prop { tag, prop } => write!(f, "{tag}.{}", prop.name()),
        }
    }
}

/// One `when` criterion.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Criterion {
    /// `has(a, b)`: every tag present with at least one non-null value.
    Has { tags: Vec<String> },
    /// `metric OP threshold`.
    Compare { metric: Metric, op: Op, threshold: f64 },
}

impl Criterion {
    pub fn tags(&self) -> Vec<&str> {
        match self {
            Criterion::Has { tags } => tags.iter().map(String::as_str).collect(),
            Criterion::Compare { metric, .. } => metric.tags(),
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Criterion::Has { tags } => write!(f, "has({})", tags.join(", ")),
            Criterion::Compare { metric, op, threshold } => {
                write!(f, "{metric} {} {}", op.as_str(), fmt_number(*threshold))
            }
        }
    }
}

/// Right-hand side of a `where` filter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Literal {
    Number(f64),
    Text(String),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Number(n) => f.write_str(&fmt_number(*n)),
            Literal::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

/// One `where` row filter: on a tag's values, or on a point tag's per-row resolution.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Filter {
    Value { tag: String, op: Op, value: Literal },
    RowResolution { tag: String, op: Op, threshold_m: f64 },
}

impl Filter {
    pub fn tag(&self) -> &str {
        match self {
            Filter::Value { tag, .. } | Filter::RowResolution { tag, .. } => tag,
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Value { tag, op, value } => write!(f, "{tag} {} {value}", op.as_str()),
            Filter::RowResolution { tag, op, threshold_m } => {
                write!(f, "{tag}.resolution_m {} {}", op.as_str(), fmt_number(*threshold_m))
            }
        }
    }
}

/// Numbers print without a trailing `.0`, so `distinct(site) >= 20` reads as written.
pub fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Why a condition did not parse; `offset` is a byte offset inside the condition text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

impl ParseError {
    fn at(offset: usize, message: impl Into<String>) -> Self {
        ParseError { offset, message: message.into() }
    }
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Result<(), ParseError> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(ParseError::at(self.pos, format!("expected `{s}`")))
        }
    }

    /// A tag or metric name: letters (any script), digits, `_` and `-`.
    fn ident(&mut self) -> Result<(usize, &'a str), ParseError> {
        self.skip_ws();
        let start = self.pos;
        for c in self.rest().chars() {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        if self.pos == start {
            return Err(ParseError::at(start, "expected a name"));
        }
        Ok((start, &self.text[start..self.pos]))
    }

    fn op(&mut self) -> Result<Op, ParseError> {
        self.skip_ws();
        for (s, op) in [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("<", Op::Lt), (">", Op::Gt)] {
            if self.rest().starts_with(s) {
                self.pos += s.len();
                return Ok(op);
            }
        }
        let found: String = self.rest().chars().take(2).collect();
        Err(ParseError::at(self.pos, format!("expected an operator (<, <=, >, >=, ==), found `{found}`")))
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        self.skip_ws();
        let start = self.pos;
        for c in self.rest().chars() {
            if c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '+' | 'e' | 'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let raw: String = self.text[start..self.pos].chars().filter(|c| *c != '_').collect();
        match raw.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(ParseError::at(start, "expected a number")),
        }
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        self.skip_ws();
        if let Some(quote) = self.rest().chars().next().filter(|c| *c == '"' || *c == '\'') {
            let start = self.pos;
            self.pos += 1;
            let Some(len) = self.rest().find(quote) else {
                return Err(ParseError::at(start, "unterminated string"));
            };
            let text = self.rest()[..len].to_string();
            self.pos += len + 1;
            return Ok(Literal::Text(text));
        }
        self.number().map(Literal::Number)
    }

    fn end(&mut self) -> Result<(), ParseError> {
        self.skip_ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(ParseError::at(self.pos, format!("unexpected `{}`", self.rest())))
        }
    }
}

/// Parse a `when` criterion such as `has(site, position)`, `distinct(site) >= 20`,
/// `rows > 100000` or `position.resolution_m < 50`.
pub fn parse_criterion(text: &str) -> Result<Criterion, ParseError> {
    let mut c = Cursor::new(text);
    let (start, name) = c.ident()?;
    let criterion = match name {
        "has" => {
            c.expect("(")?;
            let mut tags = vec![c.ident()?.1.to_string()];
            while c.eat(",") {
                tags.push(c.ident()?.1.to_string());
            }
            c.expect(")")?;
            Criterion::Has { tags }
        }
        "rows" => Criterion::Compare { metric: Metric::Rows, op: c.op()?, threshold: c.number()? },
        "distinct" => {
            c.expect("(")?;
            let tag = c.ident()?.1.to_string();
            c.expect(")")?;
            Criterion::Compare { metric: Metric::Distinct { tag }, op: c.op()?, threshold: c.number()? }
        }
        tag => {
            if !c.eat(".") {
                return Err(ParseError::at(
                    start,
                    format!("`{tag}` is not a metric: write `rows`, `distinct(tag)`, `has(tag, …)` or `tag.property`"),
                ));
            }
            let (prop_at, prop_name) = c.ident()?;
            let prop = Prop::parse(prop_name).ok_or_else(|| {
                ParseError::at(prop_at, format!("unknown metric `{prop_name}`; known: {}", known_props()))
            })?;
            Criterion::Compare {
                metric: Metric::Prop { tag: tag.to_string(), prop },
                op: c.op()?,
                threshold: c.number()?,
            }
        }
    };
    c.end()?;
    Ok(criterion)
}

/// Parse a `where` filter: `voltage_kv >= 500`, `kind == "substation"`,
/// or `position.resolution_m < 50` (per-row resolution).
pub fn parse_filter(text: &str) -> Result<Filter, ParseError> {
    let mut c = Cursor::new(text);
    let (_, tag) = c.ident()?;
    let filter = if c.eat(".") {
        let (prop_at, prop) = c.ident()?;
        if prop != "resolution_m" {
            return Err(ParseError::at(
                prop_at,
                format!("`{prop}` cannot filter rows; only `resolution_m` is defined per row"),
            ));
        }
        Filter::RowResolution { tag: tag.to_string(), op: c.op()?, threshold_m: c.number()? }
    } else {
        Filter::Value { tag: tag.to_string(), op: c.op()?, value: c.literal()? }
    };
    c.end()?;
    Ok(filter)
}

fn known_props() -> String {
    Prop::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_criterion_form() {
        assert_eq!(
            parse_criterion("has(site, position)").unwrap(),
            Criterion::Has { tags: vec!["site".into(), "position".into()] }
        );
        assert_eq!(
            parse_criterion("distinct(site) >= 20").unwrap(),
            Criterion::Compare { metric: Metric::Distinct { tag: "site".into() }, op: Op::Ge, threshold: 20.0 }
        );
        assert_eq!(
            parse_criterion("rows > 100_000").unwrap(),
            Criterion::Compare { metric: Metric::Rows, op: Op::Gt, threshold: 100_000.0 }
        );
        assert_eq!(
            parse_criterion("position.resolution_m<50").unwrap(),
            Criterion::Compare {
                metric: Metric::Prop { tag: "position".into(), prop: Prop::ResolutionM },
                op: Op::Lt,
                threshold: 50.0
            }
        );
    }

    #[test]
    fn display_round_trips() {
        for text in ["has(a, b)", "distinct(site) >= 20", "position.contiguous_km2 > 25", "rows <= 0.5"] {
            assert_eq!(parse_criterion(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn rejects_unknown_metric_and_operator_with_offset() {
        let e = parse_criterion("position.resolutoin_m < 50").unwrap_err();
        assert_eq!(e.offset, 9);
        assert!(e.message.contains("unknown metric"));
        let e = parse_criterion("rows => 5").unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("operator"));
        assert!(parse_criterion("rows > 5 extra").is_err());
        assert!(parse_criterion("rows > abc").is_err());
    }

    #[test]
    fn parses_filters() {
        assert_eq!(
            parse_filter("voltage_kv >= 500").unwrap(),
            Filter::Value { tag: "voltage_kv".into(), op: Op::Ge, value: Literal::Number(500.0) }
        );
        assert_eq!(
            parse_filter("kind == '变电站'").unwrap(),
            Filter::Value { tag: "kind".into(), op: Op::Eq, value: Literal::Text("变电站".into()) }
        );
        assert!(matches!(parse_filter("position.resolution_m < 50").unwrap(), Filter::RowResolution { .. }));
        assert!(parse_filter("position.area_km2 < 50").is_err());
    }
}
