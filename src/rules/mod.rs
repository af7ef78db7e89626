//! Rule packs: the first step of the flow. TOML packs are read with spans
//! (`raw`), validated into typed packs (`validate`), and gathered in a `Catalog`
//! together with the built-in packs embedded in the binary.

pub mod condition;
pub mod doc;
mod raw;
mod validate;
pub mod words;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use regex::Regex;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use condition::{Criterion, Filter, Literal, Metric, Op, Prop};
pub use validate::{line_col, PackError, Problem};

/// Packs shipped with mosaic, embedded so the binary runs anywhere.
pub const BUILTIN: &[(&str, &str)] = &[
    ("rules/surveying.toml", include_str!("../../rules/surveying.toml")),
    ("rules/energy.toml", include_str!("../../rules/energy.toml")),
    ("rules/remote-sensing.toml", include_str!("../../rules/remote-sensing.toml")),
    ("rules/vehicles.toml", include_str!("../../rules/vehicles.toml")),
    ("rules/health-genetics.toml", include_str!("../../rules/health-genetics.toml")),
    ("rules/meteorology-hydrology.toml", include_str!("../../rules/meteorology-hydrology.toml")),
    ("rules/science-technology.toml", include_str!("../../rules/science-technology.toml")),
];

/// Secrecy levels, ordered 秘密 < 机密 < 绝密 (Law Art 13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub enum Level {
    #[serde(rename = "秘密")]
    Secret,
    #[serde(rename = "机密")]
    Confidential,
    #[serde(rename = "绝密")]
    TopSecret,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "秘密" => Some(Level::Secret),
            "机密" => Some(Level::Confidential),
            "绝密" => Some(Level::TopSecret),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Secret => "秘密",
            Level::Confidential => "机密",
            Level::TopSecret => "绝密",
        }
    }

    /// Default period when none is stated (Law Art 20, DM25 Art 43).
    pub fn default_years(self) -> u32 {
        match self {
            Level::Secret => 10,
            Level::Confidential => 20,
            Level::TopSecret => 30,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 保密期限 (DM25 Art 32): a duration, a date, a condition, or 长期 where the catalog says so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Years(u32),
    Months(u32),
    Days(u32),
    Until(NaiveDate),
    Condition(String),
    LongTerm,
}

impl Period {
    /// The period as written in a mark or notice: `20年`, `2035年12月31日`, …
    pub fn label(&self) -> String {
        match self {
            Period::Years(n) => format!("{n}年"),
            Period::Months(n) => format!("{n}个月"),
            Period::Days(n) => format!("{n}天"),
            Period::Until(d) => d.format("%Y年%m月%d日").to_string(),
            Period::Condition(c) => c.clone(),
            Period::LongTerm => "长期".to_string(),
        }
    }

    /// DM25 Art 34 mark: 密级★保密期限 / 密级★解密时间 / 密级★解密条件.
    pub fn mark(&self, level: Level) -> String {
        match self {
            Period::Until(d) => format!("{level}★{}解密", d.format("%Y年%m月%d日")),
            _ => format!("{level}★{}", self.label()),
        }
    }

    /// Rough length in days, to compare periods (DM25 Art 31: longest wins).
    pub fn approx_days(&self, from: NaiveDate) -> i64 {
        match self {
            Period::Years(n) => i64::from(*n) * 365,
            Period::Months(n) => i64::from(*n) * 30,
            Period::Days(n) => i64::from(*n),
            Period::Until(d) => (*d - from).num_days(),
            Period::Condition(_) | Period::LongTerm => i64::MAX,
        }
    }
}

/// State-secret items (this law) and important data (data-security law) are separate tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    StateSecret,
    ImportantData,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagKind {
    Key,
    Point,
    Xy,
    Time,
    Measure,
    Category,
    Region,
    Name,
    Text,
}

impl TagKind {
    pub const ALL: [TagKind; 9] = [
        TagKind::Key,
        TagKind::Point,
        TagKind::Xy,
        TagKind::Time,
        TagKind::Measure,
        TagKind::Category,
        TagKind::Region,
        TagKind::Name,
        TagKind::Text,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TagKind::Key => "key",
            TagKind::Point => "point",
            TagKind::Xy => "xy",
            TagKind::Time => "time",
            TagKind::Measure => "measure",
            TagKind::Category => "category",
            TagKind::Region => "region",
            TagKind::Name => "name",
            TagKind::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<TagKind> {
        TagKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Point and xy tags bind two columns; every other kind binds one.
    pub fn is_spatial(self) -> bool {
        matches!(self, TagKind::Point | TagKind::Xy)
    }

    /// Properties (`tag.prop`) defined for this kind.
    pub fn props(self) -> &'static [Prop] {
        match self {
            TagKind::Point | TagKind::Xy => {
                &[Prop::ResolutionM, Prop::SpacingM, Prop::AreaKm2, Prop::ContiguousKm2, Prop::ExtentKm, Prop::Distinct]
            }
            TagKind::Measure => &[Prop::Resolution, Prop::Min, Prop::Max, Prop::Distinct],
            TagKind::Time => &[Prop::ResolutionS, Prop::SpanDays, Prop::Distinct],
            TagKind::Key | TagKind::Category | TagKind::Region | TagKind::Name | TagKind::Text => &[Prop::Distinct],
        }
    }
}

/// How a tag is recognised in a dataset's columns.
#[derive(Clone, Debug)]
pub struct Tag {
    pub name: String,
    pub kind: TagKind,
    /// Lower-cased column names (for point: lat names; for xy: y names).
    pub columns: Vec<String>,
    /// Second axis names (point: lon; xy: x).
    pub columns2: Vec<String>,
    pub pattern: Option<Regex>,
    pub crs: Option<String>,
    pub unit: Option<String>,
    /// What the tag means in Chinese (`厂站`), for sentences in notices and reports.
    pub label: Option<String>,
    /// Point tags: lower-cased names of one-column positions (`lng,lat` text).
    pub pair_columns: Vec<String>,
    /// Point tags: the order of one-column positions, when declared.
    pub order: Option<crate::crs::Order>,
    /// Point tags: projected northing and easting names, and their system.
    pub xy_columns: (Vec<String>, Vec<String>),
    pub xy_crs: Option<XyCrs>,
    /// Point tags: a declared geometry binds the tag.
    pub geometry: bool,
    /// How rows of two datasets link through this tag without a shared key (DESIGN §4a).
    pub link: Link,
}

/// Linkage settings of a tag (DESIGN §4a). Defaults link nothing beyond equal keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    /// Region tags: lower-cased columns naming a containing division.
    pub parent: Vec<String>,
    /// Name tags: suffixes stripped before comparing, normalised.
    pub strip_suffixes: Vec<String>,
    /// Name tags with fuzzy matching (`match = "jaro_winkler"`): the lowest score that links.
    pub min_score: Option<f64>,
    /// Name tags with fuzzy matching: the names matched in this scan (set by the scan
    /// before datasets are linked, read when their link values are computed).
    pub aliases: crate::normal::Aliases,
    /// Point tags: the distance within which a unique partner links.
    pub within_m: Option<f64>,
}

impl TagKind {
    /// Kinds whose values link datasets by equality (after resolution for regions and names).
    pub fn links_by_value(self) -> bool {
        matches!(self, TagKind::Key | TagKind::Region | TagKind::Name)
    }
}

/// The projected system of a point tag's x/y columns.
#[derive(Clone, Debug, PartialEq)]
pub struct XyCrs {
    pub epsg: u32,
    /// proj string converting it to longitude/latitude.
    pub proj: String,
}

/// An item's texts for officials, in Chinese: what notices, `hold show` and the
/// Chinese reports say (DESIGN §2 "Texts for people").
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Chinese {
    pub name: String,
    pub harm: String,
    pub remediation: String,
}

/// One catalog item after validation. `name`, `harm` and `remediation` are the
/// English (or only) texts; `zh` the Chinese ones.
#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub zh: Chinese,
    pub track: Track,
    pub catalog_match: bool,
    pub level: Option<Level>,
    pub period: Option<Period>,
    pub knowledge_scope: String,
    pub art13: String,
    pub harm: String,
    pub basis: Vec<String>,
    pub filters: Vec<Filter>,
    pub criteria: Vec<Criterion>,
    /// Source spans of the `when` criteria, parallel to `criteria` (for "threshold set here").
    pub criteria_lines: Vec<usize>,
    pub remediation: String,
    pub deadline_working_days: u32,
}

impl Item {
    /// Tags an item needs: every tag named in `where` or `when`.
    pub fn required_tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> =
            self.filters.iter().map(Filter::tag).chain(self.criteria.iter().flat_map(Criterion::tags)).collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }
}

/// A validated pack.
#[derive(Clone, Debug)]
pub struct Pack {
    pub id: String,
    pub version: String,
    pub sha256: String,
    pub source: String,
    /// The pack's TOML as read: what a sandbox child parses the same pack from
    /// (`scan::child`).
    pub text: String,
    pub effective: Option<NaiveDate>,
    pub expires: Option<NaiveDate>,
    pub name: String,
    pub authority: String,
    pub co_authorities: Vec<String>,
    pub data_security_authority: String,
    pub basis: Vec<String>,
    pub illustrative: bool,
    pub grid_m: f64,
    pub warn_at: f64,
    pub tags: BTreeMap<String, Tag>,
    pub items: Vec<Item>,
}

impl Pack {
    /// Point tags that link by proximity, with their distance in metres.
    pub fn proximity_links(&self) -> Vec<(String, f64)> {
        self.tags.iter().filter_map(|(n, t)| t.link.within_m.map(|d| (n.clone(), d))).collect()
    }

    /// Tags of kind `key`: identifiers.
    pub fn key_tags(&self) -> std::collections::BTreeSet<String> {
        self.tags.iter().filter(|(_, t)| t.kind == TagKind::Key).map(|(n, _)| n.clone()).collect()
    }
}

impl Pack {
    /// The Chinese label of a tag, else its name.
    pub fn label(&self, tag: &str) -> String {
        self.tags.get(tag).and_then(|t| t.label.clone()).unwrap_or_else(|| tag.to_string())
    }

    /// Parse and validate one pack's text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Pack, PackError> {
        let mut pack = validate::parse(origin, text)?;
        pack.sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        pack.text = text.to_string();
        Ok(pack)
    }

    /// A pack outside its `effective`/`expires` dates is not applied.
    pub fn in_force(&self, today: NaiveDate) -> bool {
        self.effective.is_none_or(|d| d <= today) && self.expires.is_none_or(|d| today <= d)
    }
}

/// Every pack in use, sorted by id.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub packs: Vec<Pack>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CatalogError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pack(#[from] PackError),
    #[error("cannot read rule pack {path}: {source}")]
    #[diagnostic(code(mosaic::rules::io))]
    Io { path: PathBuf, source: std::io::Error },
    #[error("no rule pack found at {0} (expected a .toml file or a directory of them)")]
    #[diagnostic(code(mosaic::rules::not_found))]
    NotFound(PathBuf),
    #[error("no rule packs in use: --no-builtin was given without --rules")]
    #[diagnostic(code(mosaic::rules::empty))]
    Empty,
}

impl Catalog {
    /// Built-in packs (unless `no_builtin`) plus packs from each path; a pack with a
    /// built-in's id replaces it. Every pack is validated; all errors are returned.
    pub fn load(paths: &[PathBuf], no_builtin: bool) -> Result<Catalog, Vec<CatalogError>> {
        let mut packs: BTreeMap<String, Pack> = BTreeMap::new();
        let mut errors = Vec::new();
        if !no_builtin {
            for (origin, text) in BUILTIN {
                match Pack::parse(origin, text) {
                    Ok(p) => {
                        packs.insert(p.id.clone(), p);
                    }
                    Err(e) => errors.push(e.into()),
                }
            }
        }
        for path in paths {
            match pack_files(path) {
                Ok(files) => {
                    for file in files {
                        match std::fs::read_to_string(&file) {
                            Ok(text) => match Pack::parse(&file.display().to_string(), &text) {
                                Ok(p) => {
                                    packs.insert(p.id.clone(), p);
                                }
                                Err(e) => errors.push(e.into()),
                            },
                            Err(source) => errors.push(CatalogError::Io { path: file, source }),
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if packs.is_empty() {
            return Err(vec![CatalogError::Empty]);
        }
        Ok(Catalog { packs: packs.into_values().collect() })
    }

    /// Each pack as `(origin, text)`: what a sandbox child parses the same packs from.
    pub fn texts(&self) -> Vec<(String, String)> {
        self.packs.iter().map(|p| (p.source.clone(), p.text.clone())).collect()
    }

    /// The packs [`Catalog::texts`] gave, parsed again; `None` if one does not parse.
    pub fn from_texts(texts: &[(String, String)]) -> Option<Catalog> {
        let packs = texts.iter().map(|(origin, text)| Pack::parse(origin, text).ok()).collect::<Option<_>>()?;
        Some(Catalog { packs })
    }

    pub fn item(&self, id: &str) -> Option<(&Pack, &Item)> {
        self.packs.iter().find_map(|p| p.items.iter().find(|i| i.id == id).map(|i| (p, i)))
    }
}

/// The `.toml` files a `--rules` path names: the file itself, or a directory's
/// `*.toml` files (sorted, not recursive).
pub fn pack_files(path: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if path.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(|source| CatalogError::Io { path: path.to_path_buf(), source })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .filter(|p| !p.to_string_lossy().ends_with(".mosaic.toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(CatalogError::NotFound(path.to_path_buf()));
        }
        return Ok(files);
    }
    Err(CatalogError::NotFound(path.to_path_buf()))
}

/// JSON Schema of the pack format (`mosaic rules schema`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawPack)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_packs_validate() {
        let catalog = Catalog::load(&[], false).expect("built-in packs are valid");
        assert!(catalog.packs.len() >= 2);
        for pack in &catalog.packs {
            assert_eq!(pack.sha256.len(), 64);
            assert!(!pack.items.is_empty(), "{} has items", pack.id);
        }
    }

    #[test]
    fn marks_follow_dm25_art34() {
        assert_eq!(Period::Years(20).mark(Level::Confidential), "机密★20年");
        let until = Period::Until(NaiveDate::from_ymd_opt(2035, 12, 31).unwrap());
        assert_eq!(until.mark(Level::Secret), "秘密★2035年12月31日解密");
        assert_eq!(Period::Condition("工程竣工后".into()).mark(Level::Secret), "秘密★工程竣工后");
        assert!(Level::Secret < Level::Confidential && Level::Confidential < Level::TopSecret);
    }
}
