//! Tagging: which columns of a dataset carry which pack tags. Manifest mappings
//! come first; otherwise tags are inferred from the packs' column names and
//! patterns, and every inference is recorded so the user can check it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rules::{Catalog, Pack, TagKind};
use crate::source::geometry::{pair_columns, Exploded, Order};
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
        /// Planar coordinates of a known projection (proj string): converted to
        /// longitude/latitude for cells and distances; resolution stays in metres.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        crs: Option<String>,
    },
}

impl Columns {
    pub fn names(&self) -> Vec<&str> {
        match self {
            Columns::One(c) => vec![c],
            Columns::Pair { lat, lon, .. } => vec![lat, lon],
        }
    }

    /// As shown in reports: `col`, `lat,lon`, or the one column a pair was read from
    /// (a geometry, `location`).
    pub fn label(&self) -> String {
        if let Columns::Pair { lat, lon, .. } = self {
            if let (Some((a, _)), Some((b, _))) = (lat.rsplit_once('·'), lon.rsplit_once('·')) {
                if a == b {
                    return a.to_string();
                }
            }
        }
        self.names().join(",")
    }

    /// A latitude/longitude (or projected) pair of coordinates.
    pub fn pair(lat: impl Into<String>, lon: impl Into<String>) -> Self {
        Columns::Pair { lat: lat.into(), lon: lon.into(), planar: false, crs: None }
    }

    /// Occupied cells are counted on the planar grid (metres with no known system).
    pub fn planar_cells(&self) -> bool {
        matches!(self, Columns::Pair { planar: true, crs: None, .. })
    }
}

/// How a binding was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    Manifest,
    Name,
    Pattern,
    /// A geometry (declared by the format, or found in a column's values).
    Geometry,
}

impl How {
    pub fn name(self) -> &'static str {
        match self {
            How::Manifest => "manifest",
            How::Name => "name",
            How::Pattern => "pattern",
            How::Geometry => "geometry",
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
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Inference {
    pub input: String,
    pub column: String,
    pub tag: String,
    pub how: How,
    /// What was read from the values (axes swapped, the order of a one-column pair).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Bindings of one dataset, per pack id then tag name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tagging {
    pub packs: BTreeMap<String, BTreeMap<String, Binding>>,
    /// One-column positions bound by some pack, with the order their values are in:
    /// their two parts become derived columns (see [`crate::source::geometry::pair_columns`]).
    pub derived: BTreeMap<String, Order>,
    /// Notes on bindings read from values, by column label.
    pub notes: BTreeMap<String, String>,
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
                    note: self.notes.get(&b.columns.label()).cloned(),
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

/// What tagging sees of a dataset: its columns, its geometry's vertex columns and its
/// one-column positions.
#[derive(Clone, Copy)]
pub struct Layout<'a> {
    pub columns: &'a [String],
    pub geometry: Option<&'a Exploded>,
    pub pairs: &'a BTreeMap<String, Option<Order>>,
}

impl<'a> Layout<'a> {
    /// A plain table: columns only.
    pub fn plain(columns: &'a [String]) -> Self {
        static NONE: std::sync::OnceLock<BTreeMap<String, Option<Order>>> = std::sync::OnceLock::new();
        Layout { columns, geometry: None, pairs: NONE.get_or_init(BTreeMap::new) }
    }
}

/// Bind columns to tags for every pack in the catalog.
pub fn tag(input: &str, layout: Layout, manifest: Option<&Manifest>, catalog: &Catalog) -> Result<Tagging, InputError> {
    let columns = layout.columns;
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
    let xy_crs = match manifest.and_then(|m| m.xy_crs) {
        None => None,
        Some(code) => match crate::crs::epsg(code) {
            Ok(crate::crs::Crs::Projected(proj)) => Some(proj),
            Ok(crate::crs::Crs::Geographic) => {
                return Err(InputError::new(
                    input,
                    "manifest",
                    format!("xy_crs EPSG:{code} is geographic (degrees), not projected"),
                ))
            }
            Err(e) => return Err(InputError::new(input, "manifest", format!("xy_crs: {e}"))),
        },
    };
    let mut tagging = Tagging::default();
    for pack in &catalog.packs {
        let context = Context {
            input,
            layout,
            present: &present,
            declared: &declared,
            claimed: &claimed,
            ignored: &ignored,
            accuracy_m,
            xy_crs: xy_crs.clone(),
        };
        let bindings = bind_pack(&context, pack, &mut tagging.derived)?;
        tagging.packs.insert(pack.id.clone(), bindings);
    }
    for (column, order) in &tagging.derived {
        tagging.notes.insert(column.clone(), format!("one-column positions, {} order", order.name()));
    }
    Ok(tagging)
}

struct Context<'a> {
    input: &'a str,
    layout: Layout<'a>,
    present: &'a BTreeMap<String, &'a String>,
    declared: &'a BTreeMap<String, Vec<(String, &'a str)>>,
    claimed: &'a BTreeSet<&'a str>,
    ignored: &'a BTreeSet<&'a str>,
    accuracy_m: Option<f64>,
    /// The manifest's `xy_crs`, as a proj string.
    xy_crs: Option<String>,
}

impl Context<'_> {
    /// The projection of a point tag's x/y columns: the manifest's, else the tag's.
    fn projection(&self, tag: &crate::rules::Tag) -> Option<String> {
        self.xy_crs.clone().or_else(|| tag.xy_crs.as_ref().map(|x| x.proj.clone()))
    }

    fn error(&self, message: String) -> InputError {
        InputError::new(self.input, "manifest", message)
    }

    /// The binding of a one-column position: its derived columns, with the order
    /// declared (manifest or pack) or read from the values' ranges.
    fn one_column(
        &self,
        column: &str,
        declared: Option<Order>,
        derived: &mut BTreeMap<String, Order>,
    ) -> Result<Columns, InputError> {
        let order = match (declared, self.layout.pairs.get(column)) {
            (Some(o), _) => o,
            (None, Some(Some(o))) => *o,
            (None, Some(None)) => {
                return Err(InputError::new(
                    self.input,
                    "ambiguous-order",
                    format!(
                        "column `{column}` holds coordinate pairs whose order cannot be told from their values \
                         (both numbers lie within ±90); declare `order = \"lonlat\"` or `\"latlon\"` on the tag, \
                         or map it as `{column} = \"TAG.lonlat\"` in a manifest"
                    ),
                ))
            }
            (None, None) => {
                return Err(InputError::new(
                    self.input,
                    "not-positions",
                    format!("column `{column}` is bound to a point tag but its values are not coordinate pairs"),
                ))
            }
        };
        if let Some(previous) = derived.insert(column.to_string(), order) {
            if previous != order {
                return Err(InputError::new(
                    self.input,
                    "ambiguous-order",
                    format!(
                        "column `{column}` is read as both lonlat and latlon by different packs; declare one order"
                    ),
                ));
            }
        }
        let (lat, lon) = pair_columns(column);
        Ok(Columns::pair(lat, lon))
    }

    fn geometry(&self) -> Option<Columns> {
        let g = self.layout.geometry?;
        Some(Columns::Pair {
            lat: g.lat.clone(),
            lon: g.lon.clone(),
            planar: g.projected.is_some(),
            crs: g.projected.clone(),
        })
    }
}

fn bind_pack(
    cx: &Context,
    pack: &Pack,
    derived: &mut BTreeMap<String, Order>,
) -> Result<BTreeMap<String, Binding>, InputError> {
    let mut bindings = BTreeMap::new();
    let mut used: BTreeSet<String> = cx.claimed.iter().map(|c| c.to_string()).collect();
    used.extend(cx.ignored.iter().map(|c| c.to_string()));
    let accuracy = |kind: TagKind| if kind.is_spatial() { cx.accuracy_m } else { None };

    for (name, tag) in &pack.tags {
        let Some(axes) = cx.declared.get(name) else { continue };
        let find = |axis: &str| axes.iter().find(|(a, _)| a == axis).map(|(_, c)| c.to_string());
        let columns = match tag.kind {
            TagKind::Point => {
                if let (Some(lat), Some(lon)) = (find("lat"), find("lon")) {
                    Columns::pair(lat, lon)
                } else if let (Some(y), Some(x)) = (find("y"), find("x")) {
                    let Some(proj) = cx.projection(tag) else {
                        return Err(cx.error(format!(
                            "the manifest maps projected `{name}.x`/`{name}.y`, but neither it nor point tag `{name}` \
                             declares `xy_crs` (an EPSG code)"
                        )));
                    };
                    Columns::Pair { lat: y, lon: x, planar: true, crs: Some(proj) }
                } else if let Some((axis, column)) =
                    axes.iter().find(|(a, _)| a.is_empty() || Order::parse(a).is_some())
                {
                    let is_geometry = cx.layout.geometry.is_some_and(|g| g.column == *column);
                    match cx.geometry().filter(|_| is_geometry) {
                        Some(g) => g,
                        None => cx.one_column(column, Order::parse(axis).or(tag.order), derived)?,
                    }
                } else {
                    return Err(cx.error(format!(
                        "point tag `{name}` needs `{name}.lat` and `{name}.lon` (or `{name}.x`/`{name}.y`, or one column as `{name}`) in the manifest"
                    )));
                }
            }
            TagKind::Xy => match (find("y"), find("x")) {
                (Some(y), Some(x)) => Columns::Pair { lat: y, lon: x, planar: true, crs: None },
                _ => {
                    return Err(
                        cx.error(format!("xy tag `{name}` needs both `{name}.y` and `{name}.x` in the manifest"))
                    )
                }
            },
            _ => Columns::One(axes[0].1.to_string()),
        };
        bindings.insert(
            name.clone(),
            Binding { kind: tag.kind, columns, how: How::Manifest, accuracy_m: accuracy(tag.kind) },
        );
    }

    let free = |lower: &str, used: &BTreeSet<String>| -> Option<String> {
        cx.present.get(lower).filter(|c| !used.contains(c.as_str())).map(|c| c.to_string())
    };
    // A geometry binds every point tag first: it is unambiguously a position.
    if let Some(geometry) = cx.geometry() {
        for (name, tag) in &pack.tags {
            if tag.kind == TagKind::Point && tag.geometry && !bindings.contains_key(name) {
                bindings.insert(
                    name.clone(),
                    Binding {
                        kind: tag.kind,
                        columns: geometry.clone(),
                        how: How::Geometry,
                        accuracy_m: accuracy(tag.kind),
                    },
                );
            }
        }
    }
    // Name matches first (exact, case-insensitive), then patterns.
    for (name, tag) in &pack.tags {
        if bindings.contains_key(name) {
            continue;
        }
        let binding = match tag.kind {
            TagKind::Point | TagKind::Xy => {
                let lat = tag.columns.iter().find_map(|c| free(c, &used));
                let lon = tag.columns2.iter().find_map(|c| free(c, &used));
                let planar = tag.kind == TagKind::Xy;
                let mut found = lat.zip(lon).map(|(lat, lon)| Columns::Pair { lat, lon, planar, crs: None });
                if found.is_none() && tag.kind == TagKind::Point {
                    let one = tag
                        .pair_columns
                        .iter()
                        .filter_map(|c| free(c, &used))
                        .find(|c| cx.layout.pairs.contains_key(c));
                    if let Some(column) = one {
                        found = Some(cx.one_column(&column, tag.order, derived)?);
                        used.insert(column);
                    }
                }
                if found.is_none() {
                    if let Some(proj) = cx.projection(tag) {
                        let y = tag.xy_columns.0.iter().find_map(|c| free(c, &used));
                        let x = tag.xy_columns.1.iter().find_map(|c| free(c, &used));
                        found = y.zip(x).map(|(lat, lon)| Columns::Pair { lat, lon, planar: true, crs: Some(proj) });
                    }
                }
                found
            }
            _ => tag.columns.iter().find_map(|c| free(c, &used)).map(Columns::One),
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
        let hit = cx.present.values().find(|c| !used.contains(c.as_str()) && re.is_match(c)).map(|c| c.to_string());
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
        let names = cols(&["Station_Code", "纬度", "经度", "LAT_x"]);
        let t = tag("d", Layout::plain(&names), None, &catalog()).unwrap();
        let b = &t.packs["t"];
        assert_eq!(b["site"].columns, Columns::One("Station_Code".into()));
        assert_eq!(b["site"].how, How::Pattern);
        assert_eq!(b["position"].columns, Columns::pair("纬度", "经度"));
        assert_eq!(b["position"].how, How::Name);
        assert_eq!(t.inferences("d").len(), 2);
    }

    #[test]
    fn manifest_wins_and_missing_columns_are_errors() {
        let mut m = Manifest::default();
        m.columns.insert("code".into(), "site".into());
        m.columns.insert("y".into(), "position.lat".into());
        m.columns.insert("x".into(), "position.lon".into());
        let names = cols(&["code", "site_id", "y", "x"]);
        let t = tag("d", Layout::plain(&names), Some(&m), &catalog()).unwrap();
        assert_eq!(t.packs["t"]["site"].columns, Columns::One("code".into()));
        assert_eq!(t.packs["t"]["site"].how, How::Manifest);
        m.columns.insert("nope".into(), "site".into());
        let names = cols(&["code", "y", "x"]);
        let err = tag("d", Layout::plain(&names), Some(&m), &catalog()).unwrap_err();
        assert!(err.message.contains("`nope`"), "{}", err.message);
    }
}
