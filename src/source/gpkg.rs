//! GeoPackages (`.gpkg`, an SQLite database): each feature or attribute table listed
//! in `gpkg_contents` is a dataset (`file.gpkg#table`). Geometry blobs are the
//! GeoPackage header and WKB; the table's `srs_id` gives its coordinate system.

use std::path::Path;

use polars::prelude::*;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::crs::{self, Crs};
use super::geometry::{Geometry, Vertices};
use super::values;
use super::{ReadError, Table};

fn connect(path: &Path) -> Result<Connection, ReadError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| ReadError::new("corrupt", format!("not a readable GeoPackage: {e}")))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map_err(|e| ReadError::new("corrupt", format!("not a readable GeoPackage: {e}")))?;
    Ok(conn)
}

fn sql(e: rusqlite::Error) -> ReadError {
    ReadError::new("corrupt", format!("GeoPackage: {e}"))
}

/// The data tables of a GeoPackage (features and attributes), in name order.
pub fn tables(path: &Path) -> Result<Vec<String>, ReadError> {
    let conn = connect(path)?;
    let mut stmt = conn
        .prepare(
            "SELECT table_name FROM gpkg_contents WHERE data_type IN ('features', 'attributes') ORDER BY table_name",
        )
        .map_err(|e| ReadError::new("corrupt", format!("not a GeoPackage (no gpkg_contents): {e}")))?;
    let names =
        stmt.query_map([], |r| r.get::<_, String>(0)).map_err(sql)?.collect::<Result<Vec<_>, _>>().map_err(sql)?;
    Ok(names)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The coordinate system of a GeoPackage `srs_id`.
fn srs(conn: &Connection, srs_id: i64) -> Result<Crs, ReadError> {
    if srs_id <= 0 {
        return Ok(Crs::Geographic); // undefined Cartesian/geographic: treated as degrees, checked by range
    }
    let (org, code, definition): (String, i64, String) = conn
        .query_row(
            "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?1",
            [srs_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| ReadError::new("crs", format!("srs_id {srs_id} is not in gpkg_spatial_ref_sys: {e}")))?;
    if org.eq_ignore_ascii_case("EPSG") {
        if let Ok(crs) = crs::epsg(code as u32) {
            return Ok(crs);
        }
    }
    crs::from_prj(&definition).map_err(|e| ReadError::new("crs", format!("srs_id {srs_id} ({org}:{code}): {e}")))
}

/// Read one table.
pub fn read(path: &Path, table: &str) -> Result<Table, ReadError> {
    let conn = connect(path)?;
    let geometry: Option<(String, i64)> = conn
        .query_row("SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?1", [table], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ok();
    let crs = match &geometry {
        Some((_, srs_id)) => srs(&conn, *srs_id)?,
        None => Crs::Geographic,
    };
    let mut stmt = conn.prepare(&format!("SELECT * FROM {}", quoted(table))).map_err(sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let geometry_index = geometry.as_ref().and_then(|(g, _)| names.iter().position(|n| n.eq_ignore_ascii_case(g)));
    let mut text: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    let mut numbers: Vec<Vec<Option<f64>>> = vec![Vec::new(); names.len()];
    let mut numeric = vec![true; names.len()];
    let mut vertices = Vertices::float();
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut row_number = 0;
    while let Some(row) = rows.next().map_err(sql)? {
        row_number += 1;
        for (i, column) in names.iter().enumerate() {
            let value = row.get_ref(i).map_err(sql)?;
            if Some(i) == geometry_index {
                if let ValueRef::Blob(blob) = value {
                    let found = values::parse_gpkg(blob)
                        .map_err(|e| ReadError::new("geometry", format!("table `{table}`, row {row_number}: {e}")))?;
                    found.into_iter().for_each(|(x, y)| vertices.push_float(x, y));
                }
                continue;
            }
            let (t, n) = match value {
                ValueRef::Null => (None, None),
                ValueRef::Integer(i) => (Some(i.to_string()), Some(i as f64)),
                ValueRef::Real(f) => (Some(format!("{f}")), Some(f)),
                ValueRef::Text(b) => {
                    numeric[i] = false;
                    (Some(String::from_utf8_lossy(b).into_owned()), None)
                }
                ValueRef::Blob(_) => {
                    numeric[i] = false;
                    let _ = column;
                    (None, None)
                }
            };
            text[i].push(t);
            numbers[i].push(n);
        }
        vertices.end_row();
    }
    let mut columns = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if Some(i) == geometry_index {
            continue;
        }
        columns.push(if numeric[i] {
            Column::new(name.as_str().into(), std::mem::take(&mut numbers[i]))
        } else {
            Column::new(name.as_str().into(), std::mem::take(&mut text[i]))
        });
    }
    let df = if columns.is_empty() {
        DataFrame::empty_with_height(row_number)
    } else {
        DataFrame::new_infer_height(columns).map_err(|e| ReadError::new("corrupt", e.to_string()))?
    };
    let geometry = geometry_index.map(|_| Geometry { column: "geometry".into(), vertices, crs, declared: true });
    Ok(Table { df, geometry })
}
