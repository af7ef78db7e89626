//! Geometries as positions (DESIGN §3a): a table's geometry — declared by its format
//! (GeoJSON, Shapefile, GeoPackage, KML, GPX, GeoParquet) or found in a column's
//! values (WKT, WKB, GeoJSON objects) — becomes one row per vertex, with the
//! feature's attributes repeated and a hidden feature id, so every point metric
//! sees every vertex while `rows` counts features.

use polars::prelude::*;

use super::crs::Crs;
use super::values;

/// Hidden column holding each vertex row's feature (row) id: `rows` counts its
/// distinct values, so a LineString of 500 vertices is one row.
pub const FEATURE: &str = "__feature";

/// Coordinates of one axis of every vertex, as written (text) or as stored (doubles).
#[derive(Clone, Debug)]
pub enum Axis {
    Text(Vec<String>),
    Float(Vec<f64>),
}

impl Axis {
    fn len(&self) -> usize {
        match self {
            Axis::Text(v) => v.len(),
            Axis::Float(v) => v.len(),
        }
    }
}

/// The vertices of each row's geometry: row `r` has vertices `offsets[r]..offsets[r+1]`.
#[derive(Clone, Debug)]
pub struct Vertices {
    pub offsets: Vec<usize>,
    pub x: Axis,
    pub y: Axis,
}

impl Vertices {
    pub fn text() -> Self {
        Vertices { offsets: vec![0], x: Axis::Text(vec![]), y: Axis::Text(vec![]) }
    }

    pub fn float() -> Self {
        Vertices { offsets: vec![0], x: Axis::Float(vec![]), y: Axis::Float(vec![]) }
    }

    /// Close the current row (its vertices are those pushed since the last close).
    pub fn end_row(&mut self) {
        self.offsets.push(self.x.len());
    }

    pub fn push_text(&mut self, x: &str, y: &str) {
        if let (Axis::Text(xs), Axis::Text(ys)) = (&mut self.x, &mut self.y) {
            xs.push(x.to_string());
            ys.push(y.to_string());
        }
    }

    pub fn push_float(&mut self, x: f64, y: f64) {
        if let (Axis::Float(xs), Axis::Float(ys)) = (&mut self.x, &mut self.y) {
            xs.push(x);
            ys.push(y);
        }
    }

    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// A table's geometry, with the system its coordinates are in.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Name of the geometry column (`geometry` for declared ones).
    pub column: String,
    pub vertices: Vertices,
    pub crs: Crs,
    /// Declared by the format (not found in a column's values).
    pub declared: bool,
}

/// Where a frame's exploded geometry is: the vertex columns and how to read them.
#[derive(Clone, Debug, PartialEq)]
pub struct Exploded {
    pub column: String,
    /// Vertex columns: latitude (northing) and longitude (easting).
    pub lat: String,
    pub lon: String,
    /// Projected coordinates: the proj string to convert them with.
    pub projected: Option<String>,
    pub declared: bool,
}

/// Vertex column names of a geometry column.
pub fn vertex_columns(column: &str, projected: bool) -> (String, String) {
    if projected {
        (format!("{column}·y"), format!("{column}·x"))
    } else {
        (format!("{column}·lat"), format!("{column}·lon"))
    }
}

/// One row per vertex (a row with no vertex kept once, with null coordinates): the
/// geometry column dropped, the vertex columns and the feature id added. `feature_base`
/// makes feature ids unique across a dataset's files.
pub fn explode(df: &DataFrame, geometry: Geometry, feature_base: u64) -> PolarsResult<(DataFrame, Exploded)> {
    let Geometry { column, vertices, crs, declared } = geometry;
    let rows = vertices.rows();
    if rows != df.height() {
        polars_bail!(ComputeError: "geometry has {rows} rows, the table {}", df.height());
    }
    let mut take: Vec<IdxSize> = Vec::with_capacity(vertices.x.len().max(rows));
    let mut source: Vec<Option<usize>> = Vec::with_capacity(take.capacity());
    for r in 0..rows {
        let (a, b) = (vertices.offsets[r], vertices.offsets[r + 1]);
        if a == b {
            take.push(r as IdxSize);
            source.push(None);
        }
        for v in a..b {
            take.push(r as IdxSize);
            source.push(Some(v));
        }
    }
    let projected = match &crs {
        Crs::Projected(p) => Some(p.clone()),
        Crs::Geographic => None,
    };
    let (lat_name, lon_name) = vertex_columns(&column, projected.is_some());
    let base = if df.get_column_names().iter().any(|n| n.as_str() == column) { df.drop(&column)? } else { df.clone() };
    // Points: one vertex per row, so rows are features already — the vertex columns
    // are added as they are, with no row copied and no feature id needed.
    if take.len() == rows && source.iter().all(Option::is_some) {
        let mut out = base;
        let whole = |axis: Axis, name: &str| -> Column {
            match axis {
                Axis::Text(v) => Column::new(name.into(), v),
                Axis::Float(v) => Column::new(name.into(), v),
            }
        };
        out.with_column(whole(vertices.y, &lat_name))?;
        out.with_column(whole(vertices.x, &lon_name))?;
        return Ok((out, Exploded { column, lat: lat_name, lon: lon_name, projected, declared }));
    }
    let idx = IdxCa::from_vec("".into(), take.clone());
    let mut out = base.take(&idx)?;
    let axis = |axis: &Axis, name: &str| -> Column {
        match axis {
            Axis::Text(v) => {
                let values: Vec<Option<&str>> = source.iter().map(|s| s.map(|i| v[i].as_str())).collect();
                Column::new(name.into(), values)
            }
            Axis::Float(v) => {
                let values: Vec<Option<f64>> = source.iter().map(|s| s.map(|i| v[i])).collect();
                Column::new(name.into(), values)
            }
        }
    };
    let features: Vec<u64> = take.iter().map(|r| feature_base + u64::from(*r)).collect();
    out.with_column(axis(&vertices.y, &lat_name))?;
    out.with_column(axis(&vertices.x, &lon_name))?;
    out.with_column(Column::new(FEATURE.into(), features))?;
    Ok((out, Exploded { column, lat: lat_name, lon: lon_name, projected, declared }))
}

/// What the values of a column look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    Wkt,
    Wkb,
    GeoJson,
    /// `lng,lat` or `lat,lng` text in one value.
    Pair,
    /// Degrees–minutes–seconds text.
    Dms,
    /// Numbers within ±90 carrying 3 or more decimals.
    Latitude,
    /// Numbers within ±180 (some beyond ±90) carrying 3 or more decimals.
    Longitude,
}

impl Form {
    pub fn is_geometry(self) -> bool {
        matches!(self, Form::Wkt | Form::Wkb | Form::GeoJson)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Form::Wkt => "WKT geometries",
            Form::Wkb => "WKB geometries",
            Form::GeoJson => "GeoJSON geometries",
            Form::Pair => "coordinate pairs in one value",
            Form::Dms => "degrees–minutes–seconds",
            Form::Latitude => "latitudes",
            Form::Longitude => "longitudes",
        }
    }
}

/// The form of a column from a sample of its non-null values: every sampled value must
/// have it (mixed columns have none).
pub fn sniff(column: &Column) -> Option<Form> {
    let series = column.as_materialized_series();
    match series.dtype() {
        DataType::String => {
            let values: Vec<&str> = series.str().ok()?.iter().flatten().filter(|v| !v.trim().is_empty()).collect();
            if values.is_empty() {
                return None;
            }
            // Geometries: most values suffice, so that a few garbage rows are refused by
            // name when the column is parsed instead of hiding the whole column.
            if mostly(&values, |v| values::looks_like_wkt(v)) {
                return Some(Form::Wkt);
            }
            if mostly(&values, |v| values::looks_like_geojson(v)) {
                return Some(Form::GeoJson);
            }
            if values.iter().all(|v| values::parse_pair(v).is_some()) {
                return Some(Form::Pair);
            }
            if values.iter().all(|v| v.trim().parse::<f64>().is_err())
                && values.iter().all(|v| matches!(values::parse_dms(v), Ok(Some(_))))
            {
                return Some(Form::Dms);
            }
            let numbers: Option<Vec<(f64, u8)>> = values
                .iter()
                .map(|v| {
                    let t = v.trim();
                    Some((t.parse::<f64>().ok()?, crate::decimals::decimals_text(t)?))
                })
                .collect();
            numbers.and_then(|n| coordinate_like(&n))
        }
        DataType::Binary => {
            let values: Vec<&[u8]> = series.binary().ok()?.iter().flatten().collect();
            (!values.is_empty() && mostly(&values, |v| values::looks_like_wkb(v))).then_some(Form::Wkb)
        }
        dt if dt.is_float() => {
            let floats = series.f64().ok()?;
            let mut run = crate::decimals::Run::default();
            let numbers: Vec<(f64, u8)> = floats.iter().flatten().filter_map(|x| Some((x, run.decimals(x)?))).collect();
            coordinate_like(&numbers)
        }
        _ => None,
    }
}

/// The geometry form of a column's values, if they are geometries: what [`sniff`]
/// says when it says a geometry, without the number and position checks every file
/// of a lake would otherwise pay for.
pub fn sniff_geometry(column: &Column) -> Option<Form> {
    match column.dtype() {
        DataType::String | DataType::Binary => sniff(column).filter(|f| f.is_geometry()),
        _ => None,
    }
}

/// At least four in five values have the property (stops once more than a fifth fail).
fn mostly<T>(values: &[T], f: impl Fn(&T) -> bool) -> bool {
    let allowed = values.len() / 5;
    let mut failed = 0;
    for v in values {
        if !f(v) {
            failed += 1;
            if failed > allowed {
                return false;
            }
        }
    }
    true
}

/// Numbers that look like latitudes or longitudes: within range, most carrying ≥ 3 decimals.
fn coordinate_like(numbers: &[(f64, u8)]) -> Option<Form> {
    if numbers.len() < 2 {
        return None;
    }
    let precise = numbers.iter().filter(|(_, d)| *d >= 3).count();
    if precise * 2 < numbers.len() {
        return None;
    }
    let max = numbers.iter().map(|(x, _)| x.abs()).fold(0.0, f64::max);
    if max <= 90.0 {
        Some(Form::Latitude)
    } else if max <= 180.0 {
        Some(Form::Longitude)
    } else {
        None
    }
}

/// Parse every row of a geometry-valued column into vertices; the first row that is
/// not a geometry is an error naming it (1-based data row).
pub fn parse_column(column: &Column, form: Form) -> Result<Vertices, String> {
    let series = column.as_materialized_series();
    let name = column.name();
    let bad = |row: usize, e: String| format!("column `{name}`, row {}: {e}", row + 1);
    match form {
        Form::Wkb => {
            let mut out = Vertices::float();
            for (row, v) in series.binary().map_err(|e| e.to_string())?.iter().enumerate() {
                if let Some(bytes) = v {
                    for (x, y) in values::parse_wkb(bytes).map_err(|e| bad(row, e))? {
                        out.push_float(x, y);
                    }
                }
                out.end_row();
            }
            Ok(out)
        }
        Form::Wkt | Form::GeoJson => {
            let mut out = Vertices::text();
            for (row, v) in series.str().map_err(|e| e.to_string())?.iter().enumerate() {
                if let Some(text) = v.filter(|t| !t.trim().is_empty()) {
                    let vertices =
                        if form == Form::Wkt { values::parse_wkt(text) } else { values::parse_geojson(text) };
                    for (x, y) in vertices.map_err(|e| bad(row, e))? {
                        out.push_text(x, y);
                    }
                }
                out.end_row();
            }
            Ok(out)
        }
        _ => Err(format!("column `{name}` does not hold geometries")),
    }
}

pub use crate::crs::Order;

/// The order of a one-column position from its values' ranges: `Ok(Some)` only when
/// unambiguous (one part exceeds ±90 in some row, the other never does).
pub fn pair_order(column: &Column) -> Result<Option<Order>, String> {
    let series = column.as_materialized_series();
    let (mut first_max, mut second_max) = (0.0f64, 0.0f64);
    for v in series.str().map_err(|e| e.to_string())?.iter().flatten() {
        if let Some((a, b)) = values::parse_pair(v) {
            first_max = first_max.max(a.parse::<f64>().unwrap_or(0.0).abs());
            second_max = second_max.max(b.parse::<f64>().unwrap_or(0.0).abs());
        }
    }
    Ok(match (first_max > 90.0, second_max > 90.0) {
        (true, false) => Some(Order::LonLat),
        (false, true) => Some(Order::LatLon),
        _ => None,
    })
}

/// Part `index` (0 or 1) of a one-column position, as written.
pub fn pair_part(column: &str, index: usize) -> Expr {
    col(column).map(
        move |c: Column| {
            let out: StringChunked = c
                .as_materialized_series()
                .cast(&DataType::String)?
                .str()?
                .iter()
                .map(|v| values::parse_pair(v?).map(|(a, b)| if index == 0 { a } else { b }))
                .collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::String)),
    )
}

/// Two coordinate columns written back as one `a,b` text column.
pub fn pair_join(first: &str, second: &str) -> Expr {
    col(first).map_many(
        |cols: &mut [Column]| {
            let a = cols[0].as_materialized_series().cast(&DataType::String)?;
            let b = cols[1].as_materialized_series().cast(&DataType::String)?;
            let out: StringChunked =
                a.str()?.iter().zip(b.str()?.iter()).map(|(x, y)| Some(format!("{},{}", x?, y?))).collect();
            Ok(out.with_name(cols[0].name().clone()).into_column())
        },
        &[col(second)],
        |_, f| Ok(Field::new(f[0].name().clone(), DataType::String)),
    )
}

/// Derived column names of a one-column position.
pub fn pair_columns(column: &str) -> (String, String) {
    (format!("{column}·lat"), format!("{column}·lon"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explodes_lines_into_vertex_rows() {
        let df = df!("name" => ["a", "b", "c"], "geometry" => ["x", "y", "z"]).unwrap();
        let mut v = Vertices::text();
        v.push_text("114.1", "30.1");
        v.push_text("114.2", "30.2");
        v.end_row();
        v.end_row(); // empty geometry: kept once, null position
        v.push_text("114.3", "30.3");
        v.end_row();
        let geometry = Geometry { column: "geometry".into(), vertices: v, crs: Crs::Geographic, declared: true };
        let (out, exploded) = explode(&df, geometry, 0).unwrap();
        assert_eq!(out.height(), 4);
        assert_eq!(exploded.lat, "geometry·lat");
        let features: Vec<u64> = out.column(FEATURE).unwrap().u64().unwrap().into_no_null_iter().collect();
        assert_eq!(features, vec![0, 0, 1, 2]);
        let lat = out.column("geometry·lat").unwrap().str().unwrap().clone();
        assert_eq!(lat.get(1), Some("30.2"));
        assert_eq!(lat.get(2), None);
        assert!(out.column("geometry").is_err());
    }

    #[test]
    fn points_keep_their_rows_without_a_feature_id() {
        let df = df!("name" => ["a", "b"]).unwrap();
        let mut v = Vertices::float();
        for (x, y) in [(114.1, 30.1), (114.2, 30.2)] {
            v.push_float(x, y);
            v.end_row();
        }
        let geometry = Geometry { column: "geometry".into(), vertices: v, crs: Crs::Geographic, declared: true };
        let (out, _) = explode(&df, geometry, 0).unwrap();
        assert_eq!(out.height(), 2);
        assert!(out.column(FEATURE).is_err());
        assert_eq!(out.column("geometry·lon").unwrap().f64().unwrap().get(1), Some(114.2));
    }

    #[test]
    fn sniffs_forms() {
        let s = |v: &[&str]| sniff(&Column::new("c".into(), v.to_vec()));
        assert_eq!(s(&["POINT (1 2)", "LINESTRING (1 2, 3 4)"]), Some(Form::Wkt));
        assert_eq!(s(&["114.123,30.456", "114.5,30.1"]), Some(Form::Pair));
        assert_eq!(s(&["30°17'58.2\"N", "30°18'01.0\"N"]), Some(Form::Dms));
        assert_eq!(s(&["30.123456", "31.5"]), Some(Form::Latitude));
        assert_eq!(s(&["114.123456", "31.5"]), Some(Form::Longitude));
        assert_eq!(s(&["12", "13"]), None);
        assert_eq!(s(&["hello", "POINT (1 2)"]), None);
        assert_eq!(s(&["POINT (1 2)", "POINT (3 4)", "POINT (5 6)", "POINT (7 8)", "n/a"]), Some(Form::Wkt));
    }

    #[test]
    fn pair_order_only_when_unambiguous() {
        let c = |v: &[&str]| pair_order(&Column::new("c".into(), v.to_vec())).unwrap();
        assert_eq!(c(&["114.1,30.1", "115,31"]), Some(Order::LonLat));
        assert_eq!(c(&["30.1,114.1"]), Some(Order::LatLon));
        assert_eq!(c(&["30.1,60.1"]), None);
        assert_eq!(Order::parse("lng,lat"), Some(Order::LonLat));
    }
}
