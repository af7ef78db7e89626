//! Report: render a scan result. The findings JSON v1 structs here are the versioned
//! output contract (DESIGN §6), separate from domain types; every list is sorted
//! before writing, so the same inputs and clock give the same bytes.

mod github;
pub mod html;
mod junit;
mod sarif;
mod text;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules::Catalog;
use crate::scan::{ScanResult, Verdict};

pub const SCHEMA: &str = "mosaic/findings/v1";

/// Output formats of `scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Html,
    /// JUnit XML: a failure per hold, an error per unreadable input.
    Junit,
    /// GitHub Actions annotations.
    Github,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsV1 {
    pub schema: String,
    pub tool: ToolV1,
    pub scan: ScanV1,
    /// `pass | warn | hold | incomplete`.
    pub verdict: String,
    pub findings: Vec<FindingV1>,
    /// Holds whose deadline passed without a determination (`scan --ledger`; Reg 25):
    /// send the authority a reminder (`mosaic notice render ID --reminder`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overdue: Vec<OverdueV1>,
    pub errors: Vec<ErrorV1>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolV1 {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanV1 {
    /// RFC 3339; pinned by `SOURCE_DATE_EPOCH` for reproducible output.
    pub started: String,
    pub packs: Vec<PackV1>,
    pub inputs: Vec<InputV1>,
    pub tagging: Vec<TaggingV1>,
    pub skipped: Vec<String>,
    /// Columns whose values look like positions (WKT, `lng,lat` text, degrees–minutes–
    /// seconds, latitude/longitude numbers) that no pack binds: map them in a manifest.
    /// With `--strict` they make the scan incomplete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unbound: Vec<UnboundV1>,
    /// Remediated copies `--fix DIR` wrote (each re-scanned in place of its input; a
    /// copy that does not clear its hold is an error of kind `fix`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed: Vec<FixedV1>,
    pub stats: StatsV1,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedV1 {
    /// The input the copy remediates.
    pub input: String,
    /// Where the copy was written.
    pub path: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnboundV1 {
    pub input: String,
    /// The column, or columns (comma-separated) that look like a latitude/longitude pair.
    pub columns: String,
    pub looks_like: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackV1 {
    pub id: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputV1 {
    pub id: String,
    pub path: String,
    pub sha256: String,
    pub rows: u64,
    pub tags: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaggingV1 {
    pub input: String,
    pub column: String,
    pub tag: String,
    /// `manifest | name | pattern | geometry`.
    pub how: String,
    /// What was read from the values: axes swapped, the order of a one-column pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsV1 {
    pub candidates: u64,
    pub pruned: u64,
    pub joined: u64,
    pub evaluated: u64,
    /// `scan --incremental`: files profiled in this scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiled: Option<u64>,
    /// `scan --incremental`: files whose cached profile was reused (content unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingV1 {
    pub id: String,
    pub outcome: String,
    pub pack: String,
    pub item: String,
    pub item_name: String,
    pub level: Option<String>,
    pub period: Option<String>,
    pub mark: Option<String>,
    pub datasets: Vec<String>,
    pub combination: CombinationV1,
    pub evidence: Vec<EvidenceV1>,
    pub addressee: Option<String>,
    /// YYYY-MM-DD.
    pub deadline: Option<String>,
    pub remediation: String,
    /// The smallest change found that clears the finding, verified by evaluating the
    /// item again on the changed data (held findings only; absent when none was found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixV1>,
    /// The authority's recorded decision on this very finding (`scan --ledger`); a
    /// `not_secret` determination means it does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub determination: Option<DeterminationV1>,
    /// Where the finding stands in the ledger (`scan --ledger`): `open | disputed |
    /// determined_secret | determined_not_secret | released`. `determined_not_secret`
    /// and `released` findings do not hold and do not warn; the others hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The finding in Chinese words, for the people who decide (notices, `hold show`,
    /// `--lang zh`): item name, outcome, each criterion as a sentence, remediation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zh: Option<ChineseV1>,
}

pub use crate::decide::OverdueV1;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChineseV1 {
    pub item_name: String,
    pub outcome: String,
    /// How the datasets combine, with the pack's labels for key tags.
    pub combination: String,
    /// One sentence per `evidence` entry, in the same order.
    pub criteria: Vec<String>,
    pub remediation: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeterminationV1 {
    pub hold: i64,
    /// `secret | not_secret`.
    pub decision: String,
    pub mark: Option<String>,
    pub basis: String,
    pub decided: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixV1 {
    /// `round | coarsen_time | split_release | drop_column`.
    pub action: String,
    pub change: String,
    pub datasets: Vec<String>,
    pub columns: Vec<String>,
    pub tag: Option<String>,
    pub value: Option<f64>,
    pub evidence: Vec<EvidenceV1>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CombinationV1 {
    /// `single | join | union`.
    pub kind: String,
    pub keys: Vec<String>,
    /// How a join linked without equal keys: `gazetteer | name | proximity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Proximity joins: the linking distance in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_m: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceV1 {
    pub condition: String,
    pub value: Option<f64>,
    pub holds: bool,
    /// Present when the value is an estimate (`check` on profiles: a sketch, or a
    /// bound on a join): the interval it lies in. The criterion holds if any value in
    /// the interval meets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate: Option<[f64; 2]>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorV1 {
    pub input: String,
    pub kind: String,
    pub message: String,
}

pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Hold => "hold",
        Verdict::Incomplete => "incomplete",
    }
}

/// The v1 document of a scan.
pub fn findings_v1(result: &ScanResult) -> FindingsV1 {
    FindingsV1 {
        schema: SCHEMA.into(),
        tool: ToolV1 { name: "mosaic".into(), version: env!("CARGO_PKG_VERSION").into() },
        scan: ScanV1 {
            started: result.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            packs: result
                .packs
                .iter()
                .map(|p| PackV1 { id: p.id.clone(), version: p.version.clone(), sha256: p.sha256.clone() })
                .collect(),
            inputs: result
                .inputs
                .iter()
                .map(|i| InputV1 {
                    id: i.id.clone(),
                    path: i.path.clone(),
                    sha256: i.sha256.clone(),
                    rows: i.rows,
                    tags: i.tags.clone(),
                })
                .collect(),
            tagging: result
                .tagging
                .iter()
                .map(|t| TaggingV1 {
                    input: t.input.clone(),
                    column: t.column.clone(),
                    tag: t.tag.clone(),
                    how: t.how.name().into(),
                    note: t.note.clone(),
                })
                .collect(),
            skipped: result.skipped.clone(),
            unbound: result
                .unbound
                .iter()
                .map(|u| UnboundV1 {
                    input: u.input.clone(),
                    columns: u.columns.clone(),
                    looks_like: u.looks_like.clone(),
                })
                .collect(),
            fixed: result
                .fixed
                .iter()
                .map(|(input, path)| FixedV1 { input: input.clone(), path: path.display().to_string() })
                .collect(),
            stats: StatsV1 {
                candidates: result.stats.candidates,
                pruned: result.stats.pruned,
                joined: result.stats.joined,
                evaluated: result.stats.evaluated,
                profiled: result.stats.profiled,
                reused: result.stats.reused,
            },
        },
        verdict: verdict_name(result.verdict()).into(),
        findings: result
            .findings
            .iter()
            .map(|f| FindingV1 {
                id: f.id.clone(),
                outcome: f.outcome.name().into(),
                pack: f.pack.clone(),
                item: f.item.clone(),
                item_name: f.item_name.clone(),
                level: f.level.map(|l| l.as_str().to_string()),
                period: f.period.clone(),
                mark: f.mark.clone(),
                datasets: f.datasets.clone(),
                combination: CombinationV1 {
                    kind: f.combination.kind.clone(),
                    keys: f.combination.keys.clone(),
                    via: f.combination.via.clone(),
                    within_m: f.combination.within_m,
                },
                evidence: evidence_v1(&f.evidence),
                addressee: f.addressee.clone(),
                deadline: f.deadline.map(|d| d.format("%Y-%m-%d").to_string()),
                remediation: f.remediation.clone(),
                fix: f.fix.as_ref().map(|x| FixV1 {
                    action: x.action.name().into(),
                    change: x.change.clone(),
                    datasets: x.datasets.clone(),
                    columns: x.columns.clone(),
                    tag: x.tag.clone(),
                    value: x.value,
                    evidence: evidence_v1(&x.evidence),
                }),
                zh: Some(ChineseV1 {
                    item_name: f.zh.name.clone(),
                    outcome: crate::rules::words::outcome(f.outcome.name()).to_string(),
                    combination: f.zh_combination.clone(),
                    criteria: f.evidence.iter().map(|e| e.words.clone()).collect(),
                    remediation: f.zh.remediation.clone(),
                }),
                status: f.status.map(|s| s.name().to_string()),
                determination: f.determination.as_ref().map(|d| DeterminationV1 {
                    hold: d.hold,
                    decision: d.decision.clone(),
                    mark: d.mark.clone(),
                    basis: d.basis.clone(),
                    decided: d.decided.clone(),
                }),
            })
            .collect(),
        overdue: result.overdue.clone(),
        errors: result
            .errors
            .iter()
            .map(|e| ErrorV1 { input: e.input.clone(), kind: e.kind.clone(), message: e.message.clone() })
            .collect(),
    }
}

fn evidence_v1(evidence: &[crate::evaluate::Evidence]) -> Vec<EvidenceV1> {
    evidence
        .iter()
        .map(|e| EvidenceV1 { condition: e.condition.clone(), value: e.value, holds: e.holds, approximate: e.band })
        .collect()
}

/// JSON Schema of findings v1 (`mosaic schema findings`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(FindingsV1)).unwrap_or_default()
}

/// Language of the reports meant for people (text, HTML); notices are always Chinese.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// From the locale: Chinese when `LC_ALL`, `LC_MESSAGES` or `LANG` (the first set)
    /// is a Chinese locale, else English.
    pub fn from_env() -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        if locale.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// Render a scan result in `format`. `color` applies to text only; `lang` to text and HTML.
pub fn render(result: &ScanResult, catalog: &Catalog, format: Format, color: bool, lang: Lang) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&findings_v1(result)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Sarif => sarif::render(result, catalog),
        Format::Junit => junit::render(result, catalog),
        Format::Github => github::render(result),
        Format::Text => text::render(result, color, lang),
        Format::Html => html::render(result, lang),
    }
}

/// Escape text for HTML content and attributes.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
