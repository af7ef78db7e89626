//! The pack format as written: serde structs with spans kept for validation.
//!
//! Unknown keys are rejected here (serde `deny_unknown_fields`); the semantic checks
//! (tags, metrics, levels) happen in `validate`, which collects every problem.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A rule pack: one domain's catalog of tags and sensitive items.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPack {
    pub pack: RawHeader,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawTag>")]
    pub tags: BTreeMap<String, Spanned<RawTag>>,
    #[serde(default, rename = "item")]
    pub items: Vec<RawItem>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    /// Stable lowercase id, e.g. `energy`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Version recorded in every finding; a new version re-evaluates held findings.
    pub version: String,
    /// First day the pack applies (YYYY-MM-DD).
    #[schemars(with = "Option<String>")]
    pub effective: Option<Spanned<String>>,
    /// Last day the pack applies (YYYY-MM-DD).
    #[schemars(with = "Option<String>")]
    pub expires: Option<Spanned<String>>,
    pub name: String,
    /// Central organ in charge of the sector: the Case-2 addressee.
    pub authority: String,
    #[serde(default)]
    pub co_authorities: Vec<String>,
    /// Data-security authority for `track = "important_data"` items.
    pub data_security_authority: Option<String>,
    /// Legal basis, with article numbers.
    #[serde(default)]
    pub basis: Vec<String>,
    /// True when thresholds are examples rather than a published catalog.
    #[serde(default)]
    pub illustrative: bool,
    /// Cell size in metres for coverage metrics (default 50).
    #[schemars(with = "Option<f64>")]
    pub grid_m: Option<Spanned<f64>>,
    /// Near-threshold warning ratio in (0, 1) (default 0.8).
    #[schemars(with = "Option<f64>")]
    pub warn_at: Option<Spanned<f64>>,
    /// Deadline for Case-2 reports in working days (default 10, Reg 25).
    pub deadline_working_days: Option<u32>,
}

/// What a column means: `key | point | xy | time | measure | category | region | name | text`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTag {
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// Column names, matched case-insensitively (point tags: columns holding both
    /// coordinates in one value, `lng,lat` text).
    #[serde(default)]
    pub columns: Vec<String>,
    /// Regex on column names.
    #[schemars(with = "Option<String>")]
    pub pattern: Option<Spanned<String>>,
    /// Latitude column names (point tags).
    #[serde(default)]
    pub lat: Vec<String>,
    /// Longitude column names (point tags).
    #[serde(default)]
    pub lon: Vec<String>,
    /// Easting column names in metres (xy tags; point tags with `xy_crs`).
    #[serde(default)]
    pub x: Vec<String>,
    /// Northing column names in metres (xy tags; point tags with `xy_crs`).
    #[serde(default)]
    pub y: Vec<String>,
    /// EPSG code of projected x/y columns on a point tag: CGCS2000 Gauss–Krüger zones
    /// (4491–4554, zone-prefixed eastings included), 3857, UTM (326xx, 327xx).
    #[schemars(with = "Option<u32>")]
    pub xy_crs: Option<Spanned<i64>>,
    /// Order of one-column positions named in `columns` (point tags): `lonlat` or
    /// `latlon`; when absent it is read from value ranges where they are unambiguous.
    #[schemars(with = "Option<String>")]
    pub order: Option<Spanned<String>>,
    /// A declared geometry (GeoJSON, Shapefile, WKT …) binds this point tag (default true).
    pub geometry: Option<bool>,
    /// Datum: wgs84 | gcj02 | bd09 | cgcs2000 (resolution does not depend on it).
    #[schemars(with = "Option<String>")]
    pub crs: Option<Spanned<String>>,
    /// Unit of a measure.
    pub unit: Option<String>,
    /// What the tag means, in Chinese, for notices and reports (`厂站`, `坐标`).
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    /// Region tags: columns naming a division that contains this one (`province`,
    /// `省份`); an ambiguous name resolves only within its parent.
    #[serde(default)]
    pub parent: Vec<String>,
    /// Name tags: suffixes stripped before names are compared (`变电站`, `站`), while at
    /// least two characters remain.
    #[serde(default)]
    pub strip_suffixes: Vec<String>,
    /// Name tags: `exact` (default) or `jaro_winkler` (fuzzy, opt-in: names that are each
    /// other's one best match above `min_score` link; the lowest score is evidence).
    #[serde(rename = "match")]
    #[schemars(with = "Option<String>")]
    pub match_: Option<Spanned<String>>,
    /// Name tags with fuzzy matching: the lowest Jaro–Winkler score that links (0.8 to 1, default 0.92).
    #[schemars(with = "Option<f64>")]
    pub min_score: Option<Spanned<f64>>,
    /// Point tags: link rows of two datasets whose positions lie within this many metres
    /// of each other (a unique partner only), 1 m to 100 km.
    #[schemars(with = "Option<f64>")]
    pub link_within_m: Option<Spanned<f64>>,
}

/// A text for people: a plain string, or one per language (`{ zh = "…", en = "…" }`).
/// Notices go to Chinese authorities and use `zh`; English reports use `en`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawText {
    Plain(String),
    Languages(RawLanguages),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLanguages {
    pub zh: Option<String>,
    pub en: Option<String>,
}

/// Period as written: `{ years = 20 }`, `{ until = "2035-12-31" }`, `{ condition = "…" }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPeriod {
    pub years: Option<u32>,
    pub months: Option<u32>,
    pub days: Option<u32>,
    pub until: Option<String>,
    pub condition: Option<String>,
    /// 长期: only where the catalog says so (DM25 Art 32).
    #[serde(default)]
    pub long_term: bool,
}

/// One catalog item: a combination of tags and thresholds that is sensitive.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawItem {
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    #[schemars(with = "RawText")]
    pub name: Spanned<RawText>,
    /// `state_secret` (default) or `important_data`.
    #[schemars(with = "Option<String>")]
    pub track: Option<Spanned<String>>,
    /// True: a catalog item covers this (Case 1); false: Art 35 Case 2.
    #[serde(default)]
    pub catalog_match: bool,
    /// 秘密 | 机密 | 绝密 (proposed level for Case 2).
    #[schemars(with = "Option<String>")]
    pub level: Option<Spanned<String>>,
    #[schemars(with = "Option<RawPeriod>")]
    pub period: Option<Spanned<RawPeriod>>,
    pub knowledge_scope: Option<String>,
    /// Which Law Art 13 field the harm falls under.
    pub art13: Option<String>,
    #[schemars(with = "Option<RawText>")]
    pub harm: Option<Spanned<RawText>>,
    /// Item-specific legal basis.
    #[serde(default)]
    pub basis: Vec<String>,
    /// Row filters applied before metrics.
    #[serde(default, rename = "where")]
    #[schemars(with = "Vec<String>")]
    pub filters: Vec<Spanned<String>>,
    /// Criteria, all of which must hold.
    #[schemars(with = "Vec<String>")]
    pub when: Vec<Spanned<String>>,
    #[schemars(with = "Option<RawText>")]
    pub remediation: Option<Spanned<RawText>>,
    /// Deadline override in working days.
    pub deadline_working_days: Option<u32>,
}
