//! Decide: turn a met (or nearly met) item into an outcome (DESIGN §5) — who must be
//! told, by when, under which mark — from the item, the pack and what contributors
//! declare in their manifests.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calendar::Calendar;
use crate::evaluate::{Evaluation, Evidence};
use crate::rules::{Item, Level, Pack, Track};
use crate::source::Manifest;

/// Outcomes, in DESIGN §5's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    CatalogMatch,
    HoldAndReport,
    Derived,
    Exposure,
    MustNotClassify,
    NearThreshold,
    ImportantData,
}

impl Outcome {
    pub fn holds(self) -> bool {
        !matches!(self, Outcome::MustNotClassify | Outcome::NearThreshold)
    }

    pub fn name(self) -> &'static str {
        match self {
            Outcome::CatalogMatch => "catalog_match",
            Outcome::HoldAndReport => "hold_and_report",
            Outcome::Derived => "derived",
            Outcome::Exposure => "exposure",
            Outcome::MustNotClassify => "must_not_classify",
            Outcome::NearThreshold => "near_threshold",
            Outcome::ImportantData => "important_data",
        }
    }
}

/// Mark of a Case-2 hold: not a secret until the authority decides.
pub const PROVISIONAL_MARK: &str = "待定密（先行保密）";
/// Addressee of suspected disclosures (Reg 61).
pub const SECRECY_ADMINISTRATION: &str = "国家保密行政管理部门";

/// How the datasets of a candidate are combined.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Combination {
    pub kind: String,
    pub keys: Vec<String>,
    /// How a join linked without equal keys (DESIGN §4a): `gazetteer` (region names and
    /// codes resolved to divisions), `name` (facility names normalised), `proximity`.
    pub via: Option<String>,
    /// Proximity joins: the distance within which rows linked, in metres.
    pub within_m: Option<u32>,
}

impl Combination {
    pub fn single() -> Self {
        Combination::new("single", vec![])
    }

    pub fn new(kind: &str, keys: Vec<String>) -> Self {
        Combination { kind: kind.into(), keys, via: None, within_m: None }
    }

    /// A join on `keys`, and how it linked when a key is a name or a region (names
    /// compare within a region block, so a join on both is a name link).
    pub fn join(pack: &crate::rules::Pack, keys: Vec<String>) -> Self {
        let kind = |k: &String| pack.tags.get(k).map(|t| t.kind);
        let via = if keys.iter().any(|k| kind(k) == Some(crate::rules::TagKind::Name)) {
            Some("name".to_string())
        } else if keys.iter().any(|k| kind(k) == Some(crate::rules::TagKind::Region)) {
            Some("gazetteer".to_string())
        } else {
            None
        };
        Combination { via, ..Combination::new("join", keys) }
    }

    /// Chinese words for how the datasets were combined.
    pub fn zh(&self, label: impl Fn(&str) -> String) -> String {
        let keys = || self.keys.iter().map(|k| label(k)).collect::<Vec<_>>().join("、");
        match (self.kind.as_str(), self.via.as_deref()) {
            ("join", Some("gazetteer")) => format!("按{}（经行政区划名称与代码对照）关联", keys()),
            ("join", Some("name")) => format!("按{}（名称归一后相同）关联", keys()),
            ("join", Some("proximity")) => {
                format!("按{}相距{}米以内的唯一对应关联", keys(), self.within_m.unwrap_or_default())
            }
            ("join", _) => format!("按{}关联", keys()),
            ("union", _) => "多次发布合并".to_string(),
            _ => "单一数据集".to_string(),
        }
    }

    /// English words for reports: `join on site`, `join on county via gazetteer`.
    pub fn en(&self) -> String {
        let mut s = match self.keys.as_slice() {
            [] => self.kind.clone(),
            keys => format!("{} on {}", self.kind, keys.join(", ")),
        };
        if let Some(via) = &self.via {
            s.push_str(&format!(" via {via}"));
        }
        if let Some(m) = self.within_m {
            s.push_str(&format!(" within {m} m"));
        }
        s
    }
}

/// A dataset contributing to a candidate, as decide needs to see it.
#[derive(Clone, Debug)]
pub struct Contributor<'a> {
    pub id: &'a str,
    pub sha256: &'a str,
    pub published: bool,
    pub manifest: Option<&'a Manifest>,
}

impl Contributor<'_> {
    fn is_published(&self) -> bool {
        self.published || self.manifest.is_some_and(|m| m.published.is_some())
    }
}

/// A finding, before rendering.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub outcome: Outcome,
    pub pack: String,
    pub item: String,
    pub item_name: String,
    pub level: Option<Level>,
    pub period: Option<String>,
    pub mark: Option<String>,
    pub datasets: Vec<String>,
    pub combination: Combination,
    pub evidence: Vec<Evidence>,
    pub addressee: Option<String>,
    pub deadline: Option<NaiveDate>,
    pub remediation: String,
    /// The item's name and remediation in Chinese (the evidence carries its own words).
    pub zh: crate::rules::Chinese,
    /// How the datasets combine, in Chinese with the pack's labels (`按厂站关联`).
    pub zh_combination: String,
    /// The smallest change found that clears the finding, verified by re-evaluation.
    pub fix: Option<Fix>,
    /// A recorded determination of this very finding (same id: same pack, item and
    /// input content), from the ledger. `not_secret` means it no longer holds.
    pub determination: Option<Determined>,
    /// Where the finding stands in the ledger (`scan --ledger`).
    pub status: Option<Status>,
    /// Occupied cells of the finding's point tag, for the HTML report's picture
    /// (computed only when that report is asked for; never in JSON).
    #[serde(skip)]
    pub coverage: Option<Coverage>,
}

/// An authority's decision on a finding, as the ledger recorded it (DM25 Art 30).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Determined {
    pub hold: i64,
    /// `secret | not_secret`.
    pub decision: String,
    pub mark: Option<String>,
    pub basis: String,
    pub decided: String,
}

/// Occupied cells of a point tag on a grid of `grid_m` metres (row, column).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Coverage {
    pub tag: String,
    pub grid_m: f64,
    /// Planar (xy) cells; otherwise the global grid, whose columns narrow with latitude.
    pub planar: bool,
    pub cells: Vec<(i64, i64)>,
}

/// Kinds of change, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Round,
    CoarsenTime,
    SplitRelease,
    DropColumn,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Round => "round",
            Action::CoarsenTime => "coarsen_time",
            Action::SplitRelease => "split_release",
            Action::DropColumn => "drop_column",
        }
    }
}

/// A verified remediation: what to change in which datasets, and the evidence after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub action: Action,
    /// One sentence a user can act on.
    pub change: String,
    /// Datasets to change (or, for `split_release`, to keep apart from the rest).
    pub datasets: Vec<String>,
    /// Their columns that change.
    pub columns: Vec<String>,
    pub tag: Option<String>,
    /// Decimals kept (`round`) or seconds truncated to (`coarsen_time`).
    pub value: Option<f64>,
    /// The item's criteria evaluated on the changed data.
    pub evidence: Vec<Evidence>,
}

/// Where a finding stands in the ledger (DESIGN §8): every output shows it so, and
/// the verdict counts it so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Held and awaiting the authority (reported or not).
    Open,
    /// Another unit proposed a level: protected at the highest proposed (Reg 26).
    Disputed,
    /// Determined a state secret: still held, under its DM25 Art 34 mark.
    DeterminedSecret,
    /// Determined not secret: no longer held.
    DeterminedNotSecret,
    /// Determined not secret (or released by hand) and its data recorded as released.
    Released,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Disputed => "disputed",
            Status::DeterminedSecret => "determined_secret",
            Status::DeterminedNotSecret => "determined_not_secret",
            Status::Released => "released",
        }
    }

    /// A finding with this status no longer holds its data.
    pub fn cleared(self) -> bool {
        matches!(self, Status::DeterminedNotSecret | Status::Released)
    }
}

impl Finding {
    /// Held unless the outcome never holds, or the authority determined this exact
    /// finding not secret (its status says so).
    pub fn holds(&self) -> bool {
        self.outcome.holds()
            && !self.status.is_some_and(Status::cleared)
            && !self.determination.as_ref().is_some_and(|d| d.decision == "not_secret")
    }

    /// Shown as determined rather than as a hold or a warning.
    pub fn determined(&self) -> bool {
        self.outcome.holds() && !self.holds()
    }
}

/// Stable id: hash of pack, item and the sorted content hashes of the inputs.
pub fn finding_id(pack: &str, item: &str, shas: &[&str]) -> String {
    let mut sorted: Vec<&str> = shas.to_vec();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    h.update(pack.as_bytes());
    h.update(b"\0");
    h.update(item.as_bytes());
    for s in sorted {
        h.update(b"\0");
        h.update(s.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// Everything decide needs besides the item.
pub struct Context<'a> {
    pub today: NaiveDate,
    pub calendar: &'a Calendar,
}

/// The finding for an evaluated item, or `None` when it is neither met nor near.
pub fn decide(
    pack: &Pack,
    item: &Item,
    evaluation: &Evaluation,
    contributors: &[Contributor],
    combination: Combination,
    ctx: &Context,
) -> Option<Finding> {
    if !evaluation.met && !evaluation.near {
        return None;
    }
    let mut datasets: Vec<String> = contributors.iter().map(|c| c.id.to_string()).collect();
    datasets.sort();
    let shas: Vec<&str> = contributors.iter().map(|c| c.sha256).collect();
    let zh_combination = combination.zh(|k| pack.label(k).to_string());
    let mut finding = Finding {
        id: finding_id(&pack.id, &item.id, &shas),
        outcome: Outcome::NearThreshold,
        pack: pack.id.clone(),
        item: item.id.clone(),
        item_name: item.name.clone(),
        level: item.level,
        period: item.period.as_ref().map(|p| p.label()),
        mark: None,
        datasets,
        combination,
        evidence: evaluation.evidence.clone(),
        addressee: None,
        deadline: None,
        remediation: item.remediation.clone(),
        zh: item.zh.clone(),
        zh_combination,
        fix: None,
        determination: None,
        status: None,
        coverage: None,
    };
    if !evaluation.met {
        return Some(finding);
    }
    let deadline = ctx.calendar.add_working_days(ctx.today, item.deadline_working_days);
    let derived: Vec<_> =
        contributors.iter().filter_map(|c| c.manifest.and_then(|m| m.derived_from.as_ref())).collect();
    let claim = contributors.iter().find_map(|c| c.manifest.and_then(|m| m.public_interest.as_ref()));

    if item.track == Track::ImportantData {
        finding.outcome = Outcome::ImportantData;
        finding.level = None;
        finding.period = None;
        finding.addressee = Some(pack.data_security_authority.clone());
        finding.deadline = Some(deadline);
    } else if let Some(source) = derived.iter().max_by_key(|d| d.level()) {
        // Reg 18: the derived data inherits the source's mark; several sources → highest (Art 31).
        finding.outcome = Outcome::Derived;
        finding.level = source.level().or(item.level);
        finding.period = source.mark.split_once('★').map(|(_, p)| p.to_string()).or(finding.period);
        finding.mark = Some(source.mark.clone());
        finding.addressee = Some(pack.authority.clone());
        finding.deadline = Some(deadline);
    } else if let Some(claim) = claim {
        // DM25 Art 29: recorded with the criterion, never held or marked.
        finding.outcome = Outcome::MustNotClassify;
        finding.evidence.push(Evidence {
            condition: format!("public_interest: {claim}"),
            value: None,
            holds: true,
            band: None,
            words: format!("数据提供方主张应当公开：{claim}"),
        });
    } else if contributors.iter().all(Contributor::is_published) {
        finding.outcome = Outcome::Exposure;
        finding.mark = Some(PROVISIONAL_MARK.to_string());
        finding.addressee = Some(SECRECY_ADMINISTRATION.to_string());
        finding.deadline = ctx.today.checked_add_days(Days::new(1));
    } else if item.catalog_match {
        finding.outcome = Outcome::CatalogMatch;
        finding.mark = match (item.level, &item.period) {
            (Some(level), Some(period)) => Some(period.mark(level)),
            _ => None,
        };
        finding.addressee = Some(pack.authority.clone());
        finding.deadline = Some(deadline);
    } else {
        finding.outcome = Outcome::HoldAndReport;
        finding.mark = Some(PROVISIONAL_MARK.to_string());
        finding.addressee = Some(pack.authority.clone());
        finding.deadline = Some(deadline);
    }
    Some(finding)
}

/// A hold past its deadline without a determination (`scan --ledger`), as reports
/// list it (findings JSON v1 `overdue`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverdueV1 {
    pub hold: i64,
    pub finding: String,
    pub addressee: String,
    /// YYYY-MM-DD, passed.
    pub deadline: String,
    /// `open | reported`: whether a notice was sent.
    pub state: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_do_not_depend_on_input_order() {
        assert_eq!(finding_id("p", "i", &["b", "a"]), finding_id("p", "i", &["a", "b"]));
        assert_ne!(finding_id("p", "i", &["a"]), finding_id("p", "j", &["a"]));
        assert_eq!(finding_id("p", "i", &["a"]).len(), 16);
    }
}
