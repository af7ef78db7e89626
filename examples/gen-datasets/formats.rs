//! `datasets/formats/`: the same holding register (24 ≥500 kV substations at 6
//! decimals) in every form real releases take (DESIGN §3a) — one-column positions,
//! WKT, GeoJSON, degrees–minutes–seconds, spreadsheets, Shapefile with a GBK table,
//! GeoPackage, KML/KMZ, GPX, GeoParquet, JSON records — plus near and cleared
//! variants, a GeoJSON route of LineStrings and CGCS2000 Gauss–Krüger deliverables.
//! Every file is written byte for byte the same on every run.

use std::fs;
use std::io::Write;
use std::path::Path;

use polars::io::parquet::write::KeyValueMetadata;
use polars::prelude::*;

use super::{round, substations, write_text, Rng};

type Row = (String, String, i64, String, f64, f64);

fn csv(rows: &[Row], header: &str, position: impl Fn(&Row) -> String) -> String {
    let mut s = format!("site_id,name,voltage_kv,facility_type,{header}\n");
    for r in rows {
        s += &format!("{},{},{},{},{}\n", r.0, r.1, r.2, r.3, position(r));
    }
    s
}

fn dms(value: f64, positive: char, negative: char, seconds_decimals: Option<usize>) -> String {
    let hemisphere = if value < 0.0 { negative } else { positive };
    match seconds_decimals {
        Some(d) => {
            let scale = 10f64.powi(d as i32);
            let tenths = (value.abs() * 3600.0 * scale).round();
            let degrees = (tenths / (3600.0 * scale)).floor();
            let minutes = ((tenths - degrees * 3600.0 * scale) / (60.0 * scale)).floor();
            let seconds = (tenths - degrees * 3600.0 * scale - minutes * 60.0 * scale) / scale;
            let width = if d > 0 { d + 3 } else { 2 };
            format!("{degrees}°{minutes:02}′{seconds:0width$.d$}″{hemisphere}")
        }
        None => {
            let minutes_total = (value.abs() * 60.0).round();
            format!("{}°{:02}′{hemisphere}", (minutes_total / 60.0).floor(), minutes_total % 60.0)
        }
    }
}

fn wkb_point(lon: f64, lat: f64) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend(1u32.to_le_bytes());
    b.extend(lon.to_le_bytes());
    b.extend(lat.to_le_bytes());
    b
}

fn feature_collection(features: &[String]) -> String {
    format!("{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n", features.join(",\n"))
}

fn point_feature(r: &Row) -> String {
    format!(
        "{{\"type\":\"Feature\",\"properties\":{{\"site_id\":\"{}\",\"name\":\"{}\",\"voltage_kv\":{},\"facility_type\":\"{}\"}},\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{:.6},{:.6}]}}}}",
        r.0, r.1, r.2, r.3, r.5, r.4
    )
}

/// A spreadsheet with a title row above the header, and an empty second sheet.
fn xlsx(path: &Path, rows: &[Row]) {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook};
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut book = Workbook::new();
    let when = ExcelDateTime::from_ymd(2026, 1, 1).unwrap();
    book.set_properties(&DocProperties::new().set_creation_datetime(&when));
    let sheet = book.add_worksheet();
    sheet.set_name("变电站").unwrap();
    sheet.write_string(0, 0, "某省500千伏及以上变电站一览表").unwrap();
    for (c, h) in ["site_id", "name", "voltage_kv", "facility_type", "lat", "lon"].iter().enumerate() {
        sheet.write_string(2, c as u16, *h).unwrap();
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 3 + i as u32;
        sheet.write_string(row, 0, &r.0).unwrap();
        sheet.write_string(row, 1, &r.1).unwrap();
        sheet.write_number(row, 2, r.2 as f64).unwrap();
        sheet.write_string(row, 3, &r.3).unwrap();
        sheet.write_number(row, 4, r.4).unwrap();
        sheet.write_number(row, 5, r.5).unwrap();
    }
    book.add_worksheet().set_name("说明").unwrap();
    book.save(path).unwrap();
}

fn zip_file(path: &Path, entries: &[(&str, &[u8], bool)]) {
    use ::zip::write::SimpleFileOptions;
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut zip = ::zip::ZipWriter::new(fs::File::create(path).unwrap());
    for (name, bytes, deflate) in entries {
        let method = if *deflate { ::zip::CompressionMethod::Deflated } else { ::zip::CompressionMethod::Stored };
        zip.start_file(*name, SimpleFileOptions::default().compression_method(method)).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn ods(path: &Path, rows: &[Row]) {
    let cell_s =
        |v: &str| format!("<table:table-cell office:value-type=\"string\"><text:p>{v}</text:p></table:table-cell>");
    let cell_f = |v: f64| {
        format!("<table:table-cell office:value-type=\"float\" office:value=\"{v}\"><text:p>{v}</text:p></table:table-cell>")
    };
    let mut body = String::from("<table:table-row>");
    for h in ["site_id", "name", "voltage_kv", "facility_type", "lat", "lon"] {
        body += &cell_s(h);
    }
    body += "</table:table-row>";
    for r in rows {
        body += &format!(
            "<table:table-row>{}{}{}{}{}{}</table:table-row>",
            cell_s(&r.0),
            cell_s(&r.1),
            cell_f(r.2 as f64),
            cell_s(&r.3),
            cell_f(r.4),
            cell_f(r.5)
        );
    }
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\"><office:body><office:spreadsheet><table:table table:name=\"变电站\">{body}</table:table></office:spreadsheet></office:body></office:document-content>"
    );
    let manifest = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\"><manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/><manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/></manifest:manifest>";
    zip_file(
        path,
        &[
            ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet", false),
            ("META-INF/manifest.xml", manifest.as_bytes(), true),
            ("content.xml", content.as_bytes(), true),
        ],
    );
}

/// A Shapefile of points with a GBK attribute table (Chinese field names, language
/// driver 0x4D, no `.cpg`) and a CGCS2000 `.prj`.
fn shapefile(dir: &Path, stem: &str, rows: &[Row]) {
    fs::create_dir_all(dir).unwrap();
    let n = rows.len();
    let header = |length_words: usize, bbox: [f64; 4]| {
        let mut h = Vec::new();
        h.extend(9994i32.to_be_bytes());
        h.extend([0u8; 20]);
        h.extend((length_words as i32).to_be_bytes());
        h.extend(1000i32.to_le_bytes());
        h.extend(1i32.to_le_bytes());
        for v in bbox {
            h.extend(v.to_le_bytes());
        }
        h.extend([0u8; 32]);
        h
    };
    let lons: Vec<f64> = rows.iter().map(|r| r.5).collect();
    let lats: Vec<f64> = rows.iter().map(|r| r.4).collect();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bbox = [min(&lons), min(&lats), max(&lons), max(&lats)];
    let mut shp = header(50 + n * 14, bbox);
    let mut shx = header(50 + n * 4, bbox);
    for (i, r) in rows.iter().enumerate() {
        shx.extend(((50 + i * 14) as i32).to_be_bytes());
        shx.extend(10i32.to_be_bytes());
        shp.extend((i as i32 + 1).to_be_bytes());
        shp.extend(10i32.to_be_bytes());
        shp.extend(1i32.to_le_bytes());
        shp.extend(r.5.to_le_bytes());
        shp.extend(r.4.to_le_bytes());
    }
    let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
    let fields: [(&str, u8, u8, u8); 4] =
        [("厂站编号", b'C', 24, 0), ("名称", b'C', 40, 0), ("电压等级", b'N', 6, 0), ("类型", b'C', 12, 0)];
    let record_len = 1 + fields.iter().map(|f| f.2 as usize).sum::<usize>();
    let header_len = 32 + 32 * fields.len() + 1;
    let mut dbf = vec![3u8, 126, 1, 1];
    dbf.extend((n as u32).to_le_bytes());
    dbf.extend((header_len as u16).to_le_bytes());
    dbf.extend((record_len as u16).to_le_bytes());
    dbf.extend([0u8; 17]);
    dbf.push(0x4D);
    dbf.extend([0u8; 2]);
    for (name, kind, len, dec) in fields {
        let mut d = [0u8; 32];
        let bytes = gbk(name);
        d[..bytes.len()].copy_from_slice(&bytes);
        d[11] = kind;
        d[16] = len;
        d[17] = dec;
        dbf.extend(d);
    }
    dbf.push(0x0D);
    for r in rows {
        dbf.push(b' ');
        for (value, (_, kind, len, _)) in [r.0.clone(), r.1.clone(), r.2.to_string(), r.3.clone()].iter().zip(fields) {
            let mut bytes = gbk(value);
            if kind == b'N' {
                let pad = (len as usize).saturating_sub(bytes.len());
                bytes = [vec![b' '; pad], bytes].concat();
            }
            bytes.resize(len as usize, b' ');
            dbf.extend(bytes);
        }
    }
    dbf.push(0x1A);
    let prj = r#"GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4490"]]"#;
    fs::write(dir.join(format!("{stem}.shp")), shp).unwrap();
    fs::write(dir.join(format!("{stem}.shx")), shx).unwrap();
    fs::write(dir.join(format!("{stem}.dbf")), dbf).unwrap();
    fs::write(dir.join(format!("{stem}.prj")), prj).unwrap();
}

fn gpkg(path: &Path, rows: &[Row]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = fs::remove_file(path);
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "PRAGMA application_id = 1196444487; PRAGMA user_version = 10300; PRAGMA journal_mode = DELETE;
         CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
           organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, 'GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]]', NULL);
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
           description TEXT DEFAULT '', last_change DATETIME NOT NULL, min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
           srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL);
         CREATE TABLE substations (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB, site_id TEXT, name TEXT, voltage_kv INTEGER, facility_type TEXT);
         INSERT INTO gpkg_contents VALUES ('substations', 'features', 'substations', '', '2026-01-01T00:00:00Z', NULL, NULL, NULL, NULL, 4326);
         INSERT INTO gpkg_geometry_columns VALUES ('substations', 'geom', 'POINT', 4326, 0, 0);",
    )
    .unwrap();
    for r in rows {
        let mut blob = b"GP\x00\x01".to_vec();
        blob.extend(4326i32.to_le_bytes());
        blob.extend(wkb_point(r.5, r.4));
        db.execute(
            "INSERT INTO substations (geom, site_id, name, voltage_kv, facility_type) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![blob, r.0, r.1, r.2, r.3],
        )
        .unwrap();
    }
}

fn kml(rows: &[Row]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document><name>变电站</name>\n");
    for r in rows {
        s += &format!(
            "<Placemark><name>{}</name><ExtendedData><Data name=\"site_id\"><value>{}</value></Data><Data name=\"voltage_kv\"><value>{}</value></Data></ExtendedData><Point><coordinates>{:.6},{:.6},0</coordinates></Point></Placemark>\n",
            r.1, r.0, r.2, r.5, r.4
        );
    }
    s + "</Document></kml>\n"
}

/// A pipeline traced over 160 km as LineString features of 400 vertices each.
fn route_geojson(rng: &mut Rng, points: usize, decimals: usize) -> String {
    let (lat0, lon0, km) = (36.2, 114.1, 160.0);
    let mut features = Vec::new();
    let mut coords = Vec::new();
    for i in 0..points {
        let t = i as f64 / (points - 1) as f64;
        let lat = lat0 + t * km / 111.32 * 0.6 + rng.range(-0.0004, 0.0004);
        let lon = lon0 + t * km / 90.0 * 0.8 + (t * 9.0).sin() * 0.05;
        coords.push(format!("[{lon:.decimals$},{lat:.decimals$}]"));
        if coords.len() == 400 || i + 1 == points {
            features.push(format!(
                "{{\"type\":\"Feature\",\"properties\":{{\"pipeline_id\":\"XQD-{:03}\",\"segment\":{}}},\"geometry\":{{\"type\":\"LineString\",\"coordinates\":[{}]}}}}",
                1 + features.len(),
                features.len() + 1,
                coords.join(",")
            ));
            // Segments join: the next one starts where this one ended.
            let last = coords.pop().unwrap_or_default();
            coords.clear();
            coords.push(last);
        }
    }
    feature_collection(&features)
}

/// CGCS2000 3° Gauss–Krüger (zone 39, prefixed eastings) control points: northing `X坐标`,
/// easting `Y坐标`, in metres at `decimals`, or rounded to `round_m`.
fn gauss_kruger(rng: &mut Rng, n: usize, decimals: usize, round_m: Option<f64>) -> String {
    let mut s = String::from("设施编号,名称,X坐标,Y坐标\n");
    for i in 0..n {
        let (mut north, mut east) = (3_400_000.0 + rng.range(0.0, 40_000.0), 39_480_000.0 + rng.range(0.0, 40_000.0));
        if let Some(step) = round_m {
            north = (north / step).round() * step;
            east = (east / step).round() * step;
        }
        s += &format!("GK{:05},控制点{},{north:.decimals$},{east:.decimals$}\n", 100 + i * 3, i + 1);
    }
    s
}

fn gpx(rng: &mut Rng, n: usize) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"survey\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n");
    for i in 0..n {
        let lat = 31.0 + rng.range(0.0, 1.5);
        let lon = 104.0 + rng.range(0.0, 1.5);
        s += &format!(
            "<wpt lat=\"{lat:.6}\" lon=\"{lon:.6}\"><ele>{:.1}</ele><time>2026-03-{:02}T08:{:02}:00Z</time><name>SC{:05}</name></wpt>\n",
            480.0 + rng.range(0.0, 60.0),
            1 + i % 28,
            i % 60,
            4000 + i * 11
        );
    }
    s + "</gpx>\n"
}

fn geoparquet(path: &Path, rows: &[Row]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let wkb: Vec<Vec<u8>> = rows.iter().map(|r| wkb_point(r.5, r.4)).collect();
    let mut df = df!(
        "site_id" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "name" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        "voltage_kv" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "facility_type" => rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>(),
    )
    .unwrap();
    df.with_column(Column::new("geometry".into(), wkb.iter().map(|b| b.as_slice()).collect::<Vec<&[u8]>>())).unwrap();
    let geo = r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Point"]}}}"#;
    let metadata = KeyValueMetadata::from_static(vec![("geo".to_string(), geo.to_string())]);
    ParquetWriter::new(fs::File::create(path).unwrap())
        .with_key_value_metadata(Some(metadata))
        .finish(&mut df)
        .unwrap();
}

pub fn all(root: &Path, rng: &mut Rng) {
    let rows = substations(rng, 24, 10, 6);
    let near = substations(rng, 17, 12, 6);
    let cleared: Vec<Row> =
        rows.iter().map(|r| (r.0.clone(), r.1.clone(), r.2, r.3.clone(), round(r.4, 2), round(r.5, 2))).collect();

    // One-column positions: `lng,lat` as map APIs write them, and `lat,lng` read by ranges.
    write_text(
        &root.join("location-hold/substations.csv"),
        &csv(&rows, "location", |r| format!("\"{:.6},{:.6}\"", r.5, r.4)),
    );
    write_text(
        &root.join("latlng-hold/substations.csv"),
        &csv(&rows, "坐标", |r| format!("\"{:.6},{:.6}\"", r.4, r.5)),
    );
    // WKT geometry values in a CSV column.
    write_text(
        &root.join("wkt-hold/substations.csv"),
        &csv(&rows, "geometry", |r| format!("POINT ({:.6} {:.6})", r.5, r.4)),
    );
    // Degrees–minutes–seconds: 0.1″ (≈3.1 m) holds, whole minutes (≈1.85 km) clear.
    write_text(
        &root.join("dms-hold/substations.csv"),
        &csv(&rows, "lat,lon", |r| format!("{},{}", dms(r.4, 'N', 'S', Some(1)), dms(r.5, 'E', 'W', Some(1)))),
    );
    write_text(
        &root.join("dms-cleared/substations.csv"),
        &csv(&rows, "lat,lon", |r| format!("{},{}", dms(r.4, 'N', 'S', None), dms(r.5, 'E', 'W', None))),
    );
    // GeoJSON: points, and a pipeline route as LineStrings.
    let features: Vec<String> = rows.iter().map(point_feature).collect();
    write_text(&root.join("geojson-hold/substations.geojson"), &feature_collection(&features));
    write_text(&root.join("geojson-route-hold/pipeline.geojson"), &route_geojson(rng, 1200, 5));
    write_text(&root.join("geojson-route-cleared/pipeline.geojson"), &route_geojson(rng, 1200, 2));
    // JSON records and NDJSON with GeoJSON geometry objects.
    let records: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"site_id\":\"{}\",\"name\":\"{}\",\"voltage_kv\":{},\"lat\":{:.6},\"lon\":{:.6}}}",
                r.0, r.1, r.2, r.4, r.5
            )
        })
        .collect();
    write_text(
        &root.join("json-hold/substations.json"),
        &format!("{{\"total\":{},\"data\":[\n{}\n]}}\n", rows.len(), records.join(",\n")),
    );
    let lines: String = rows
        .iter()
        .map(|r| format!("{{\"site_id\":\"{}\",\"voltage_kv\":{},\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{:.6},{:.6}]}}}}\n", r.0, r.2, r.5, r.4))
        .collect();
    write_text(&root.join("ndjson-geometry-hold/substations.ndjson"), &lines);
    // Spreadsheets: hold, near (17 sites), cleared (2 decimals); ODS.
    xlsx(&root.join("xlsx-hold/substations.xlsx"), &rows);
    xlsx(&root.join("xlsx-near/substations.xlsx"), &near);
    xlsx(&root.join("xlsx-cleared/substations.xlsx"), &cleared);
    ods(&root.join("ods-hold/substations.ods"), &rows);
    // Declared geometries.
    shapefile(&root.join("shapefile-gbk-hold"), "变电站", &rows);
    gpkg(&root.join("gpkg-hold/substations.gpkg"), &rows);
    write_text(&root.join("kml-hold/substations.kml"), &kml(&rows));
    zip_file(&root.join("kmz-hold/substations.kmz"), &[("doc.kml", kml(&rows).as_bytes(), true)]);
    geoparquet(&root.join("geoparquet-hold/substations.parquet"), &rows);
    // GPX waypoints of 60 surveyed facilities; the manifest says the names are their ids.
    write_text(&root.join("gpx-hold/survey.gpx"), &gpx(rng, 60));
    write_text(&root.join("gpx-hold/survey.gpx.mosaic.toml"), "[columns]\nname = \"facility\"\n");
    // CGCS2000 Gauss–Krüger deliverables: millimetres hold; rounded to 100 m they clear.
    write_text(&root.join("gauss-kruger-hold/控制点.csv"), &gauss_kruger(rng, 60, 3, None));
    write_text(&root.join("gauss-kruger-cleared/控制点.csv"), &gauss_kruger(rng, 60, 0, Some(100.0)));
}

/// `n` substations (a quarter ≥ 500 kV) at 6 decimals in CSV, Parquet, GeoParquet,
/// GeoJSON, Shapefile and xlsx: the same points in each, for the format benchmark.
pub fn bench(dir: &Path, n: usize, rng: &mut Rng) {
    fs::create_dir_all(dir).unwrap();
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let v = if i % 4 == 0 { 500 } else { 220 };
            (
                format!("S{i:07}"),
                format!("站{i}"),
                v,
                "变电站".to_string(),
                round(28.0 + rng.range(0.0, 8.0), 6),
                round(110.0 + rng.range(0.0, 10.0), 6),
            )
        })
        .collect();
    write_text(&dir.join("points.csv"), &csv(&rows, "lat,lon", |r| format!("{:.6},{:.6}", r.4, r.5)));
    super::write_parquet(&dir.join("points.parquet"), &mut super::substations_df(&rows));
    geoparquet(&dir.join("points-geo.parquet"), &rows);
    let features: Vec<String> = rows.iter().map(point_feature).collect();
    write_text(&dir.join("points.geojson"), &feature_collection(&features));
    shapefile(&dir.join("shp"), "points", &rows);
    xlsx(&dir.join("points.xlsx"), &rows);
}
