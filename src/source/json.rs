//! JSON readers: records (`.json`: an array of objects, or an object holding one
//! such array), NDJSON (one object a line) and GeoJSON (FeatureCollection, Feature,
//! bare geometry). Every value is kept as the text that was written, so a number's
//! decimals are counted as published; nested objects and arrays keep their JSON text
//! (a GeoJSON geometry there is found by its values like any other).

use std::collections::HashMap;

use polars::prelude::*;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::crs::{self, Crs};
use super::geometry::{Geometry, Vertices};
use super::values;
use super::{ReadError, Table};

/// Columns of text values, built record by record (keys in first-seen order).
#[derive(Default)]
pub struct Records {
    names: Vec<String>,
    index: HashMap<String, usize>,
    values: Vec<Vec<Option<String>>>,
    rows: usize,
}

impl Records {
    /// Add one record. A key that differs from an earlier one only in case is an error
    /// (which of the two a tag means would be ambiguous).
    pub fn push(&mut self, fields: Vec<(String, Option<String>)>) -> Result<(), ReadError> {
        for (key, value) in fields {
            let i = match self.index.get(&key) {
                Some(i) => *i,
                None => {
                    if let Some(other) = self.names.iter().find(|n| n.to_lowercase() == key.to_lowercase()) {
                        return Err(ReadError::new(
                            "duplicate-column",
                            format!("fields `{other}` and `{key}` differ only in case; rename one"),
                        ));
                    }
                    self.names.push(key.clone());
                    self.values.push(vec![None; self.rows]);
                    self.index.insert(key, self.names.len() - 1);
                    self.names.len() - 1
                }
            };
            let column = &mut self.values[i];
            if column.len() > self.rows {
                return Err(ReadError::new(
                    "duplicate-column",
                    format!("field `{}` appears twice in one record", self.names[i]),
                ));
            }
            column.push(value);
        }
        self.rows += 1;
        for column in &mut self.values {
            column.resize(self.rows, None);
        }
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn into_frame(self) -> PolarsResult<DataFrame> {
        let rows = self.rows;
        let columns: Vec<Column> =
            self.names.into_iter().zip(self.values).map(|(n, v)| Column::new(n.into(), v)).collect();
        if columns.is_empty() {
            return Ok(DataFrame::empty_with_height(rows));
        }
        DataFrame::new_infer_height(columns)
    }
}

/// A JSON value as text: strings unquoted, `null` as null, anything else as written.
pub fn raw_text(raw: &RawValue) -> Option<String> {
    let t = raw.get().trim();
    if t == "null" {
        None
    } else if t.starts_with('"') {
        serde_json::from_str::<String>(t).ok()
    } else {
        Some(t.to_string())
    }
}

/// An object's members in written order, values raw.
pub fn members(raw: &RawValue) -> Result<Vec<(String, &RawValue)>, String> {
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_map(Ordered).map_err(|e| e.to_string())
}

fn record(raw: &RawValue) -> Result<Vec<(String, Option<String>)>, String> {
    Ok(members(raw)?.into_iter().map(|(k, v)| (k, raw_text(v))).collect())
}

fn at_line(text: &str, e: &serde_json::Error) -> String {
    let _ = text;
    format!("line {}, column {}: {e}", e.line(), e.column())
}

/// Is this `.json` text a table (records or GeoJSON), as opposed to a document such
/// as a `datapackage.json` or a report: an array, GeoJSON, or an object with exactly
/// one array member? Text that does not parse counts as a table, so that reading it
/// reports the error.
pub fn is_table(text: &str) -> bool {
    let Ok(top) = serde_json::from_str::<&RawValue>(text) else { return true };
    if !top.get().trim_start().starts_with('{') {
        return true;
    }
    let Ok(fields) = members(top) else { return true };
    fields.iter().any(|(k, v)| k == "type" && is_geojson_type(v))
        || fields.iter().filter(|(_, v)| v.get().trim_start().starts_with('[')).count() == 1
}

/// `.json`: records, or GeoJSON when it holds a FeatureCollection, Feature or geometry.
pub fn read_json(text: &str) -> Result<Table, ReadError> {
    let top: &RawValue = serde_json::from_str(text).map_err(|e| ReadError::new("corrupt", at_line(text, &e)))?;
    let trimmed = top.get().trim_start();
    if trimmed.starts_with('{') {
        let fields = members(top).map_err(|e| ReadError::new("corrupt", e))?;
        if fields.iter().any(|(k, v)| k == "type" && is_geojson_type(v)) {
            return read_geojson_value(top);
        }
        let arrays: Vec<&RawValue> =
            fields.iter().filter(|(_, v)| v.get().trim_start().starts_with('[')).map(|(_, v)| *v).collect();
        return match arrays.as_slice() {
            [one] => records_of_array(one),
            [] => Err(ReadError::new("structure", "the JSON object holds no array of records")),
            _ => Err(ReadError::new(
                "structure",
                "the JSON object holds several arrays; mosaic reads one array of records (or GeoJSON)",
            )),
        };
    }
    if trimmed.starts_with('[') {
        return records_of_array(top);
    }
    Err(ReadError::new("structure", "JSON data must be an array of objects or an object holding one"))
}

fn is_geojson_type(v: &RawValue) -> bool {
    matches!(
        raw_text(v).as_deref(),
        Some(
            "FeatureCollection"
                | "Feature"
                | "Point"
                | "LineString"
                | "Polygon"
                | "MultiPoint"
                | "MultiLineString"
                | "MultiPolygon"
                | "GeometryCollection"
        )
    )
}

fn records_of_array(raw: &RawValue) -> Result<Table, ReadError> {
    let items: Vec<&RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| ReadError::new("corrupt", e.to_string()))?;
    let mut records = Records::default();
    for (i, item) in items.iter().enumerate() {
        if !item.get().trim_start().starts_with('{') {
            return Err(ReadError::new("structure", format!("record {}: not an object", i + 1)));
        }
        let fields = record(item).map_err(|e| ReadError::new("corrupt", format!("record {}: {e}", i + 1)))?;
        records.push(fields).map_err(|e| e.at(&format!("record {}", i + 1)))?;
    }
    table(records, None)
}

fn table(records: Records, geometry: Option<Geometry>) -> Result<Table, ReadError> {
    let df = records.into_frame().map_err(|e| ReadError::new("corrupt", e.to_string()))?;
    Ok(Table { df, geometry })
}

/// `.ndjson`/`.jsonl`: one object a line; blank lines are skipped.
pub fn read_ndjson(text: &str) -> Result<Table, ReadError> {
    let mut records = Records::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw: &RawValue =
            serde_json::from_str(line).map_err(|e| ReadError::new("corrupt", format!("line {}: {e}", i + 1)))?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(ReadError::new("structure", format!("line {}: not a JSON object", i + 1)));
        }
        let fields = record(raw).map_err(|e| ReadError::new("corrupt", format!("line {}: {e}", i + 1)))?;
        records.push(fields).map_err(|e| e.at(&format!("line {}", i + 1)))?;
    }
    table(records, None)
}

/// `.geojson`.
pub fn read_geojson(text: &str) -> Result<Table, ReadError> {
    let top: &RawValue = serde_json::from_str(text).map_err(|e| ReadError::new("corrupt", at_line(text, &e)))?;
    read_geojson_value(top)
}

#[derive(serde::Deserialize)]
struct Feature<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow)]
    geometry: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct Collection<'a> {
    #[serde(borrow)]
    features: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    crs: Option<&'a RawValue>,
}

fn read_geojson_value(top: &RawValue) -> Result<Table, ReadError> {
    let corrupt = |e: String| ReadError::new("corrupt", e);
    let head: Feature = serde_json::from_str(top.get()).map_err(|e| corrupt(e.to_string()))?;
    let kind = head.kind.clone().unwrap_or_default();
    let (features, crs_member): (Vec<&RawValue>, Option<&RawValue>) = match kind.as_str() {
        "FeatureCollection" => {
            let c: Collection = serde_json::from_str(top.get()).map_err(|e| corrupt(e.to_string()))?;
            (c.features.ok_or_else(|| corrupt("a FeatureCollection without `features`".into()))?, c.crs)
        }
        "Feature" => (vec![top], None),
        _ => {
            // A bare geometry: one feature without properties.
            let mut vertices = Vertices::text();
            let found = values::parse_geojson(top.get()).map_err(|e| ReadError::new("geometry", e))?;
            found.iter().for_each(|(x, y)| vertices.push_text(x, y));
            vertices.end_row();
            let mut records = Records::default();
            records.push(vec![]).map_err(|e| e.at("geometry"))?;
            let geometry = Geometry { column: "geometry".into(), vertices, crs: Crs::Geographic, declared: true };
            return table(records, Some(geometry));
        }
    };
    let crs = match crs_member {
        None => Crs::Geographic,
        Some(raw) => named_crs(raw).map_err(|e| ReadError::new("crs", e))?,
    };
    let mut records = Records::default();
    let mut vertices = Vertices::text();
    for (i, raw) in features.iter().enumerate() {
        let at = |e: String| ReadError::new("geometry", format!("feature {}: {e}", i + 1));
        let f: Feature = serde_json::from_str(raw.get()).map_err(|e| at(e.to_string()))?;
        if f.kind.as_deref() != Some("Feature") {
            return Err(at("not a Feature".into()));
        }
        let mut fields = match f.properties {
            Some(p) if p.get().trim() != "null" => record(p).map_err(at)?,
            _ => vec![],
        };
        if let Some(id) = f.id {
            if !fields.iter().any(|(k, _)| k == "id") {
                fields.insert(0, ("id".to_string(), raw_text(id)));
            }
        }
        records.push(fields).map_err(|e| e.at(&format!("feature {}", i + 1)))?;
        if let Some(g) = f.geometry {
            let mut found = Vec::new();
            values::geojson_vertices(g, &mut found, 0).map_err(at)?;
            found.iter().for_each(|(x, y)| vertices.push_text(x, y));
        }
        vertices.end_row();
    }
    let geometry = Geometry { column: "geometry".into(), vertices, crs, declared: true };
    table(records, Some(geometry))
}

/// The old GeoJSON `crs` member: `{"type": "name", "properties": {"name": "EPSG:4547"}}`.
fn named_crs(raw: &RawValue) -> Result<Crs, String> {
    let v: serde_json::Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let name = v.pointer("/properties/name").and_then(|n| n.as_str()).unwrap_or("");
    if name.is_empty() || name.contains("CRS84") {
        return Ok(Crs::Geographic);
    }
    let code = name.rsplit([':', '/']).find(|p| !p.is_empty()).and_then(|c| c.parse::<u32>().ok());
    match code {
        Some(code) => crs::epsg(code),
        None => Err(format!("unknown coordinate system `{name}` in the GeoJSON `crs` member")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_numbers_as_written() {
        let t = read_json(
            r#"{"data": [{"site": "A", "lat": 30.10, "lon": 114.123456}, {"site": "B", "extra": {"a": 1}}]}"#,
        )
        .unwrap();
        assert_eq!(t.df.height(), 2);
        assert_eq!(t.df.column("lat").unwrap().str().unwrap().get(0), Some("30.10"));
        assert_eq!(t.df.column("lat").unwrap().str().unwrap().get(1), None);
        assert_eq!(t.df.column("extra").unwrap().str().unwrap().get(1), Some(r#"{"a": 1}"#));
        assert!(read_json("[1, 2]").is_err());
        assert!(read_json(r#"[{"a": 1, "A": 2}]"#).unwrap_err().kind == "duplicate-column");
    }

    #[test]
    fn geojson_features_are_rows_with_vertices() {
        let text = r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "甲", "kv": 500}, "geometry": {"type": "Point", "coordinates": [114.123456, 30.654321]}},
            {"type": "Feature", "properties": {"name": "乙"}, "geometry": {"type": "LineString", "coordinates": [[114.1, 30.1], [114.2, 30.2]]}},
            {"type": "Feature", "properties": null, "geometry": null}]}"#;
        let t = read_geojson(text).unwrap();
        assert_eq!(t.df.height(), 3);
        let g = t.geometry.unwrap();
        assert_eq!(g.vertices.offsets, vec![0, 1, 3, 3]);
        let bad = text.replace("LineString", "Curve");
        assert!(read_geojson(&bad).unwrap_err().message.contains("feature 2"));
    }

    #[test]
    fn ndjson_lines_name_the_bad_line() {
        let t = read_ndjson("{\"a\": 1.50}\n\n{\"a\": 2}\n").unwrap();
        assert_eq!(t.df.column("a").unwrap().str().unwrap().get(0), Some("1.50"));
        assert!(read_ndjson("{\"a\": 1}\n{oops}\n").unwrap_err().message.starts_with("line 2"));
    }
}
