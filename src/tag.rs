//! Tagging: which columns of a dataset carry which pack tags. Manifest mappings
//! come first; otherwise tags are inferred from the packs' column names and
//! patterns, and every inference is recorded so the user can check it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rules::{Catalog, Pack, TagKind};
use crate::source::{InputError, Manifest};

/// The column(s) a tag is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Columns {
    One(String),
    /// Point (`lat`, `lon`) or planar xy (`y`, `x`) coordinates.
    Pair {
        lat: String,
        lon: String,
        planar: bool,
    },
}

impl Columns {
    pub fn names(&self) -> Vec<&str> {
        match self {
            Columns::One(c) => vec![c],
            Columns::Pair { lat, lon, .. } => vec![lat, lon],
        }
    }

    /// As shown in reports: `col` or `lat,lon`.
    pub fn label(&self) -> String {
        self.names().join(",")
    }
}

/// How a binding was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    Manifest,
    Name,
    Pattern,
}

impl How {
    pub fn name(self) -> &'static str {
        match self {
            How::Manifest => "manifest",
            How::Name => "name",
            How::Pattern => "pattern",
        }
    }
}

/// One tag bound in one dataset for one pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub kind: TagKind,
    pub columns: Columns,
    pub how: How,
    /// Declared accuracy (manifest `accuracy_m`), replacing resolution from decimals.
    pub accuracy_m: Option<f64>,
}

/// A line of the report's `tagging` section.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Inference {
    pub input: String,
    pub column: String,
    pub tag: String,
    pub how: How,
}

/// Bindings of one dataset, per pack id then tag name.
#[derive(Clone, Debug, Default)]
pub struct Tagging {
    pub packs: BTreeMap<String, BTreeMap<String, Binding>>,
}

impl Tagging {
    /// Report view: each (column, tag, how) once, however many packs share it.
    pub fn inferences(&self, input: &str) -> Vec<Inference> {
        let mut seen = BTreeSet::new();
        for bindings in self.packs.values() {
            for (tag, b) in bindings {
                seen.insert(Inference {
                    input: input.to_string(),
                    column: b.columns.label(),
                    tag: tag.clone(),
                    how: b.how,
                });
            }
        }
        seen.into_iter().collect()
    }

    /// `{"tag": "column"}` for the report's `inputs[].tags`.
    pub fn tag_columns(&self) -> BTreeMap<String, String> {
        self.packs.values().flat_map(|b| b.iter().map(|(t, b)| (t.clone(), b.columns.label()))).collect()
    }
}

/// Bind columns to tags for every pack in the catalog.
pub fn tag(
    input: &str,
    columns: &[String],
    manifest: Option<&Manifest>,
    catalog: &Catalog,
) -> Result<Tagging, InputError> {
    let present: BTreeMap<String, &String> = columns.iter().map(|c| (c.to_lowercase(), c)).collect();
    let mut declared: BTreeMap<String, Vec<(String, &str)>> = BTreeMap::new();
    let mut claimed: BTreeSet<&str> = BTreeSet::new();
    let mut ignored: BTreeSet<&str> = BTreeSet::new();
    let accuracy_m = manifest.and_then(|m| m.accuracy_m);
    if let Some(m) = manifest {
        for (column, target) in &m.columns {
            let Some(actual) = columns.iter().find(|c| *c == column || c.to_lowercase() == column.to_lowercase())
            else {
                return Err(InputError::new(
                    input,
                    "manifest",
                    format!("manifest maps column `{column}` to `{target}`, but the dataset has no such column (columns: {})", columns.join(", ")),
                ));
            };
            let (tag, axis) = target.split_once('.').unwrap_or((target.as_str(), ""));
            declared.entry(tag.to_string()).or_default().push((axis.to_string(), actual.as_str()));
            claimed.insert(actual.as_str());
        }
        for column in &m.ignore {
            ignored.insert(column.as_str());
        }
    }
    let mut tagging = Tagging::default();
    for pack in &catalog.packs {
        let bindings = bind_pack(input, pack, &present, &declared, &claimed, &ignored, accuracy_m)?;
        tagging.packs.insert(pack.id.clone(), bindings);
    }
    Ok(tagging)
}

fn bind_pack(
    input: &str,
    pack: &Pack,
    present: &BTreeMap<String, &String>,
    declared: &BTreeMap<String, Vec<(String, &str)>>,
    claimed: &BTreeSet<&str>,
    ignored: &BTreeSet<&str>,
    accuracy_m: Option<f64>,
) -> Result<BTreeMap<String, Binding>, InputError> {
    let mut bindings = BTreeMap::new();
    let mut used: BTreeSet<String> = claimed.iter().map(|c| c.to_string()).collect();
    used.extend(ignored.iter().map(|c| c.to_string()));
    let accuracy = |kind: TagKind| if kind.is_spatial() { accuracy_m } else { None };

    for (name, tag) in &pack.tags {
        if let Some(axes) = declared.get(name) {
            let columns = if tag.kind.is_spatial() {
                let (first, second) = if tag.kind == TagKind::Point { ("lat", "lon") } else { ("y", "x") };
                let find = |axis: &str| axes.iter().find(|(a, _)| a == axis).map(|(_, c)| c.to_string());
                match (find(first), find(second)) {
                    (Some(lat), Some(lon)) => Columns::Pair { lat, lon, planar: tag.kind == TagKind::Xy },
                    _ => {
                        return Err(InputError::new(
                            input,
                            "manifest",
                            format!(
                                "{} tag `{name}` needs both `{name}.{first}` and `{name}.{second}` in the manifest",
                                tag.kind.name()
                            ),
                        ))
                    }
                }
            } else {
                Columns::One(axes[0].1.to_string())
            };
            bindings.insert(
                name.clone(),
                Binding { kind: tag.kind, columns, how: How::Manifest, accuracy_m: accuracy(tag.kind) },
            );
        }
    }

    let free = |lower: &str, used: &BTreeSet<String>| -> Option<String> {
        present.get(lower).filter(|c| !used.contains(c.as_str())).map(|c| c.to_string())
    };
    // Name matches first (exact, case-insensitive), then patterns.
    for (name, tag) in &pack.tags {
        if bindings.contains_key(name) {
            continue;
        }
        let binding = if tag.kind.is_spatial() {
            let lat = tag.columns.iter().find_map(|c| free(c, &used));
            let lon = tag.columns2.iter().find_map(|c| free(c, &used));
            lat.zip(lon).map(|(lat, lon)| Columns::Pair { lat, lon, planar: tag.kind == TagKind::Xy })
        } else {
            tag.columns.iter().find_map(|c| free(c, &used)).map(Columns::One)
        };
        if let Some(columns) = binding {
            used.extend(columns.names().iter().map(|c| c.to_string()));
            bindings.insert(
                name.clone(),
                Binding { kind: tag.kind, columns, how: How::Name, accuracy_m: accuracy(tag.kind) },
            );
        }
    }
    for (name, tag) in &pack.tags {
        if bindings.contains_key(name) || tag.kind.is_spatial() {
            continue;
        }
        let Some(re) = &tag.pattern else { continue };
        let hit = present.values().find(|c| !used.contains(c.as_str()) && re.is_match(c)).map(|c| c.to_string());
        if let Some(column) = hit {
            used.insert(column.clone());
            bindings.insert(
                name.clone(),
                Binding { kind: tag.kind, columns: Columns::One(column), how: How::Pattern, accuracy_m: None },
            );
        }
    }
    Ok(bindings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Pack;

    fn catalog() -> Catalog {
        let pack = Pack::parse(
            "t.toml",
            r#"
[pack]
id = "t"
version = "1"
name = "T"
authority = "A"
[tags.site]
kind = "key"
columns = ["site_id", "厂站编号"]
pattern = "(?i)^station_?code$"
[tags.position]
kind = "point"
lat = ["lat", "纬度"]
lon = ["lon", "经度"]
[[item]]
id = "t.x"
name = "x"
level = "秘密"
harm = "h"
remediation = "r"
when = ["has(site, position)"]
"#,
        )
        .unwrap();
        Catalog { packs: vec![pack] }
    }

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn infers_by_name_case_insensitively_and_by_pattern() {
        let t = tag("d", &cols(&["Station_Code", "纬度", "经度", "LAT_x"]), None, &catalog()).unwrap();
        let b = &t.packs["t"];
        assert_eq!(b["site"].columns, Columns::One("Station_Code".into()));
        assert_eq!(b["site"].how, How::Pattern);
        assert_eq!(b["position"].columns, Columns::Pair { lat: "纬度".into(), lon: "经度".into(), planar: false });
        assert_eq!(b["position"].how, How::Name);
        assert_eq!(t.inferences("d").len(), 2);
    }

    #[test]
    fn manifest_wins_and_missing_columns_are_errors() {
        let mut m = Manifest::default();
        m.columns.insert("code".into(), "site".into());
        m.columns.insert("y".into(), "position.lat".into());
        m.columns.insert("x".into(), "position.lon".into());
        let t = tag("d", &cols(&["code", "site_id", "y", "x"]), Some(&m), &catalog()).unwrap();
        assert_eq!(t.packs["t"]["site"].columns, Columns::One("code".into()));
        assert_eq!(t.packs["t"]["site"].how, How::Manifest);
        m.columns.insert("nope".into(), "site".into());
        let err = tag("d", &cols(&["code", "y", "x"]), Some(&m), &catalog()).unwrap_err();
        assert!(err.message.contains("`nope`"), "{}", err.message);
    }
}
