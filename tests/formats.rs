//! Real releases (DESIGN §3a): the same register holds in every form a release takes,
//! a scan that reads nothing is never a pass, positions no pack binds are reported,
//! axes written the wrong way round are swapped back, and a verified fix on a
//! one-column position is written back as one column.

mod common;

use std::fs;

use serde_json::Value;

fn holds_with(dir: &str) -> Vec<String> {
    let (code, report) = common::json(&["scan", dir, "--format", "json", "--no-fix-search"]);
    assert_eq!(code, 1, "{dir}: {report}");
    report["findings"].as_array().unwrap().iter().map(|f| f["item"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_form_of_the_register_holds_like_its_lat_lon_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<(String, f64, f64)> =
        (0..30).map(|i| (format!("S{i:03}"), 30.1 + f64::from(i) * 0.0137, 114.2 + f64::from(i) * 0.0191)).collect();
    let write = |name: &str, header: &str, f: &dyn Fn(&(String, f64, f64)) -> String| {
        let mut s = format!("site_id,voltage_kv,{header}\n");
        for r in &rows {
            s += &format!("{},500,{}\n", r.0, f(r));
        }
        fs::write(tmp.path().join(name), s).unwrap();
    };
    write("latlon.csv", "lat,lon", &|r| format!("{:.6},{:.6}", r.1, r.2));
    write("location.csv", "location", &|r| format!("\"{:.6},{:.6}\"", r.2, r.1));
    write("wkt.csv", "geometry", &|r| format!("POINT ({:.6} {:.6})", r.2, r.1));
    write("swapped.csv", "lat,lon", &|r| format!("{:.6},{:.6}", r.2, r.1));
    let dms = |v: f64, h: char| {
        let t = (v * 36_000.0).round();
        let (d, m, s) = ((t / 36_000.0).floor(), ((t % 36_000.0) / 600.0).floor(), (t % 600.0) / 10.0);
        format!("{d}°{m:02}'{s:04.1}\"{h}")
    };
    write("dms.csv", "lat,lon", &|r| format!("{},{}", dms(r.1, 'N'), dms(r.2, 'E')));
    let features: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                r#"{{"type":"Feature","properties":{{"site_id":"{}","voltage_kv":500}},"geometry":{{"type":"Point","coordinates":[{:.6},{:.6}]}}}}"#,
                r.0, r.2, r.1
            )
        })
        .collect();
    fs::write(
        tmp.path().join("sites.geojson"),
        format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(",")),
    )
    .unwrap();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["site_id", "voltage_kv", "lat", "lon"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 1 + i as u32;
        sheet.write_string(row, 0, &r.0).unwrap();
        sheet.write_number(row, 1, 500.0).unwrap();
        sheet.write_number(row, 2, (r.1 * 1e6).round() / 1e6).unwrap();
        sheet.write_number(row, 3, (r.2 * 1e6).round() / 1e6).unwrap();
    }
    book.save(tmp.path().join("sites.xlsx")).unwrap();

    let want = holds_with(tmp.path().join("latlon.csv").to_str().unwrap());
    assert_eq!(want, vec!["energy.substation-locations".to_string()]);
    for name in ["location.csv", "wkt.csv", "swapped.csv", "dms.csv", "sites.geojson", "sites.xlsx"] {
        assert_eq!(holds_with(tmp.path().join(name).to_str().unwrap()), want, "{name}");
    }
    // The swap is reported where the tagging is.
    let (_, report) = common::json(&["scan", tmp.path().join("swapped.csv").to_str().unwrap(), "--format", "json"]);
    let notes: Vec<&Value> =
        report["scan"]["tagging"].as_array().unwrap().iter().filter(|t| t["note"].is_string()).collect();
    assert!(notes.iter().any(|t| t["note"].as_str().unwrap().contains("axes swapped")), "{report}");
}

#[test]
fn a_scan_that_reads_nothing_is_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("README.md"), "# notes\n").unwrap();
    fs::write(tmp.path().join("map.png"), [0x89u8, b'P', b'N', b'G']).unwrap();
    let (code, report) = common::json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!((code, report["verdict"].as_str()), (3, Some("incomplete")), "{report}");
    assert_eq!(report["scan"]["skipped"].as_array().unwrap().len(), 2);
    let text = common::run(&["scan", tmp.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("nothing was evaluated"));
    // A known data format mosaic cannot read is an error, not a skip.
    fs::write(tmp.path().join("survey.mdb"), b"\0\x01\0\0Standard Jet DB").unwrap();
    let (code, report) = common::json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["errors"][0]["input"], "survey.mdb");
    assert_eq!(report["errors"][0]["kind"], "unsupported-format");
}

#[test]
fn positions_no_pack_binds_are_listed_and_strict_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut csv = String::from("plot,where,y,x\n");
    for i in 0..40 {
        let v = f64::from(i);
        csv += &format!(
            "P{i},\"{:.5},{:.5}\",{:.5},{:.5}\n",
            114.2 + v * 0.01,
            30.1 + v * 0.01,
            30.1 + v * 0.01,
            114.2 + v * 0.01
        );
    }
    let path = tmp.path().join("plots.csv");
    fs::write(&path, csv).unwrap();
    let (code, report) = common::json(&["scan", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{report}");
    let unbound = report["scan"]["unbound"].as_array().unwrap();
    let columns: Vec<&str> = unbound.iter().map(|u| u["columns"].as_str().unwrap()).collect();
    assert!(columns.contains(&"where"), "{unbound:?}");
    assert!(columns.iter().any(|c| c.contains('x') && c.contains('y')), "{unbound:?}");
    let text = String::from_utf8_lossy(&common::run(&["scan", path.to_str().unwrap()]).stdout).to_string();
    assert!(text.contains("looks like positions, not bound"), "{text}");
    let (code, report) = common::json(&["scan", path.to_str().unwrap(), "--format", "json", "--strict"]);
    assert_eq!((code, report["verdict"].as_str()), (3, Some("incomplete")), "{report}");
    assert!(report["errors"].as_array().unwrap().iter().all(|e| e["kind"] == "unbound"));
}

#[test]
fn a_fix_on_a_one_column_position_is_written_back_as_one_column() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fixed");
    let (code, report) =
        common::json(&["scan", "datasets/formats/location-hold", "--format", "json", "--fix", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{report}");
    let fixed = fs::read_to_string(out.join("substations.csv")).unwrap();
    let header = fixed.lines().next().unwrap();
    assert_eq!(header, "site_id,name,voltage_kv,facility_type,location", "{fixed}");
    assert!(fixed.lines().nth(1).unwrap().contains(".") && !fixed.contains('·'), "{fixed}");
    let (code, report) = common::json(&["scan", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "the fixed copy is clean: {report}");
}

#[test]
fn the_findings_schema_documents_the_new_fields() {
    let out = common::run(&["schema", "findings"]);
    let schema = String::from_utf8_lossy(&out.stdout).to_string();
    for field in ["unbound", "looks_like", "note", "status", "overdue", "zh", "criteria", "fixed"] {
        assert!(schema.contains(field), "{field} in {schema}");
    }
}

#[test]
fn a_projected_geoparquet_is_read_in_its_declared_system() {
    use polars::io::parquet::write::KeyValueMetadata;
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    // 60 control points in CGCS2000 3° zone 39 (EPSG:4527), millimetre eastings/northings.
    let mut ids = Vec::new();
    let mut wkb = Vec::new();
    for i in 0..60 {
        let (x, y) = (39_500_000.0 + f64::from(i) * 731.123, 3_400_000.0 + f64::from(i) * 517.457);
        let mut b = vec![1u8];
        b.extend(1u32.to_le_bytes());
        b.extend(f64::to_le_bytes(x));
        b.extend(f64::to_le_bytes(y));
        ids.push(format!("GK{i:03}"));
        wkb.push(b);
    }
    let mut df = df!("facility_id" => ids).unwrap();
    df.with_column(Column::new("geometry".into(), wkb.iter().map(|b| b.as_slice()).collect::<Vec<&[u8]>>())).unwrap();
    let write = |name: &str, geo: &str, df: &mut DataFrame| {
        let metadata = KeyValueMetadata::from_static(vec![("geo".to_string(), geo.to_string())]);
        let file = fs::File::create(tmp.path().join(name)).unwrap();
        ParquetWriter::new(file).with_key_value_metadata(Some(metadata)).finish(df).unwrap();
    };
    let declared = r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","crs":{"id":{"authority":"EPSG","code":4527}}}}}"#;
    write("declared.parquet", declared, &mut df);
    let (code, report) =
        common::json(&["scan", tmp.path().join("declared.parquet").to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["findings"][0]["item"], "surveying.facility-positions", "{report}");
    // Without the system, metres in degree positions are refused, never passed.
    let bare = r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB"}}}"#;
    write("bare.parquet", bare, &mut df);
    let (code, report) = common::json(&["scan", tmp.path().join("bare.parquet").to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["errors"][0]["kind"], "coordinates", "{report}");
}

fn parquet_bytes(df: &mut polars::prelude::DataFrame) -> Vec<u8> {
    use polars::prelude::*;
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).finish(df).unwrap();
    buf
}

fn evidence_of(report: &Value) -> Vec<(String, String, Value)> {
    let mut out: Vec<(String, String, Value)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["item"].as_str().unwrap().into(), f["outcome"].as_str().unwrap().into(), f["evidence"].clone()))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// A table of many small Parquet partitions (a lake's daily files) is read once into
/// memory and judged like the same rows in one file: same items, outcomes, evidence.
#[test]
fn a_table_of_partitions_is_judged_like_one_file() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let csv = common::root().join("datasets/energy/substations-hold/substations.csv");
    let df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv))
        .unwrap()
        .finish()
        .unwrap();
    let one = tmp.path().join("one");
    fs::create_dir_all(&one).unwrap();
    fs::write(one.join("substations.parquet"), parquet_bytes(&mut df.clone())).unwrap();
    let lake = tmp.path().join("lake/substations");
    for part in 0..df.height() {
        let dir = lake.join(format!("part={part:03}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("data.parquet"), parquet_bytes(&mut df.slice(part as i64, 1))).unwrap();
    }
    let (code_one, whole) = common::json(&["scan", one.to_str().unwrap(), "--format", "json", "--no-fix-search"]);
    let lake_dir = tmp.path().join("lake");
    let (code_lake, parts) = common::json(&["scan", lake_dir.to_str().unwrap(), "--format", "json", "--no-fix-search"]);
    assert_eq!((code_one, code_lake), (1, 1), "{parts}");
    assert_eq!(parts["scan"]["inputs"].as_array().unwrap().len(), 1, "{parts}");
    assert_eq!(parts["scan"]["inputs"][0]["rows"], whole["scan"]["inputs"][0]["rows"]);
    assert!(!evidence_of(&whole).is_empty());
    assert_eq!(evidence_of(&parts), evidence_of(&whole));
}

/// A text delimited by `;`, `|` or tab, declared in its manifest, is judged like the
/// same rows delimited by commas: without quotes (the one parse), with quoted fields
/// (polars' reader), and transcoded from GB18030. The same text
/// without its manifest is refused as `delimiter`, never read as one column.
#[test]
fn a_declared_delimiter_is_read_like_a_comma() {
    let tmp = tempfile::tempdir().unwrap();
    let original = fs::read_to_string(common::root().join("datasets/energy/substations-hold/substations.csv")).unwrap();
    let base = tmp.path().join("comma");
    fs::create_dir_all(&base).unwrap();
    fs::write(base.join("substations.csv"), &original).unwrap();
    let scan =
        |dir: &std::path::Path| common::json(&["scan", dir.to_str().unwrap(), "--format", "json", "--no-fix-search"]);
    let (code, want) = scan(&base);
    assert_eq!(code, 1, "{want}");
    assert!(!evidence_of(&want).is_empty());
    let redelimit = |sep: &str, quote_first: bool| -> String {
        let mut out = String::new();
        for (i, line) in original.lines().enumerate() {
            let mut fields: Vec<String> = line.split(',').map(String::from).collect();
            assert!(!line.contains('"') && !fields.iter().any(|f| f.contains(sep)));
            if quote_first && i > 0 {
                fields[1] = format!("\"{}\"", fields[1]);
            }
            out += &fields.join(sep);
            out += "\n";
        }
        out
    };
    let cases: [(&str, &str, bool, bool); 4] =
        [(";", ";", false, false), ("|", "|", true, false), ("\t", "tab", false, false), (";", ";", false, true)];
    for (sep, declared, quoted, gb18030) in cases {
        let dir = tmp.path().join(format!("{declared}-{quoted}-{gb18030}"));
        fs::create_dir_all(&dir).unwrap();
        let text = redelimit(sep, quoted);
        let bytes = if gb18030 { encoding_rs::GB18030.encode(&text).0.into_owned() } else { text.into_bytes() };
        fs::write(dir.join("substations.csv"), bytes).unwrap();
        let encoding = if gb18030 { "encoding = \"gb18030\"\n" } else { "" };
        let manifest = format!("{encoding}delimiter = \"{declared}\"\n");
        fs::write(dir.join("substations.csv.mosaic.toml"), manifest).unwrap();
        let (code, got) = scan(&dir);
        assert_eq!(code, 1, "{declared}: {got}");
        assert_eq!(got["scan"]["inputs"][0]["rows"], want["scan"]["inputs"][0]["rows"], "{declared}");
        assert_eq!(evidence_of(&got), evidence_of(&want), "{declared}, quoted {quoted}, gb18030 {gb18030}");
        fs::remove_file(dir.join("substations.csv.mosaic.toml")).unwrap();
        let (code, refused) = scan(&dir);
        assert_eq!(code, 3, "{declared} without its manifest: {refused}");
        assert_eq!(refused["errors"][0]["kind"], "delimiter", "{refused}");
        assert!(refused["errors"][0]["message"].as_str().unwrap().contains("delimiter = "), "{refused}");
    }
}

/// `--fix` writes a remediated copy with the owner's manifest beside it (the column
/// mapping kept; the encoding and delimiter dropped, the copy being UTF-8 with
/// commas) and re-scans it: no error, and the copy scans clean on its own.
#[test]
fn a_fixed_copy_keeps_its_manifest_and_scans_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let original = fs::read_to_string(common::root().join("datasets/energy/substations-hold/substations.csv")).unwrap();
    let mut lines = original.lines();
    let header = lines.next().unwrap().replace("site_id", "k").replace("voltage_kv", "v");
    let header = header.replace("lat", "col_a").replace("lon", "col_b");
    let text: String = std::iter::once(header.as_str()).chain(lines).map(|l| l.replace(',', ";") + "\n").collect();
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("sites.csv"), encoding_rs::GB18030.encode(&text).0).unwrap();
    let manifest = "encoding = \"gb18030\"\ndelimiter = \";\"\n[columns]\nk = \"site\"\nv = \"voltage_kv\"\n\
                    col_a = \"position.lat\"\ncol_b = \"position.lon\"\n";
    fs::write(data.join("sites.csv.mosaic.toml"), manifest).unwrap();
    let out = tmp.path().join("fixed");
    let (code, report) =
        common::json(&["scan", data.to_str().unwrap(), "--format", "json", "--fix", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["errors"], serde_json::json!([]), "the copy re-scanned: {report}");
    let fix = &report["findings"][0]["fix"];
    assert_eq!(fix["action"], "round", "{report}");
    assert_eq!(report["scan"]["fixed"][0]["input"], "sites.csv", "{report}");
    assert_eq!(report["scan"]["fixed"][0]["path"], out.join("sites.csv").display().to_string());
    let copied = fs::read_to_string(out.join("sites.csv.mosaic.toml")).unwrap();
    assert!(copied.contains("col_a = \"position.lat\""), "{copied}");
    assert!(!copied.contains("delimiter") && !copied.contains("encoding"), "{copied}");
    assert!(fs::read_to_string(out.join("sites.csv")).unwrap().starts_with("k,"));
    let (code, again) = common::json(&["scan", out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["scan"]["inputs"][0]["rows"], report["scan"]["inputs"][0]["rows"]);
    // Without the manifest the copy's positions would not be bound at all.
    let tagging = again["scan"]["tagging"].as_array().unwrap();
    assert!(tagging.iter().any(|t| t["column"] == "col_a,col_b" && t["how"] == "manifest"), "{again}");
}

/// The rows of a lake's small partitions come back from the sandbox children that
/// decoded them; each row still carries its own file's partition value (files of
/// different lengths, the key only in the directory names), so a count over that key
/// equals the count over the same rows written to one file with the key as a column.
#[test]
fn kept_partition_rows_carry_their_own_partition_values() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("pack.toml");
    fs::write(
        &pack,
        "[pack]\nid = \"p\"\nversion = \"1\"\nname = \"p\"\nauthority = \"a\"\n\n[tags.site]\nkind = \"key\"\ncolumns = [\"station\"]\n\n[tags.pos]\nkind = \"point\"\nlat = [\"lat\"]\nlon = [\"lon\"]\n\n[[item]]\nid = \"p.stations\"\nname = \"n\"\nlevel = \"秘密\"\nharm = \"h\"\nremediation = \"r\"\nwhen = [\"has(site, pos)\", \"distinct(site) >= 3\", \"rows >= 1\"]\n\n[[item]]\nid = \"p.one\"\nname = \"n\"\nlevel = \"秘密\"\nharm = \"h\"\nremediation = \"r\"\nwhere = [\"site == 'S00'\"]\nwhen = [\"has(site, pos)\", \"rows >= 1\"]\n",
    )
    .unwrap();
    let (mut stations, mut lats, mut lons) = (Vec::new(), Vec::new(), Vec::new());
    let lake = tmp.path().join("lake/readings");
    // 40 partitions (more than one child's batch is not needed: the order within one
    // matters), rows per file 1..=7, station = the partition value.
    for part in 0..40u32 {
        let n = 1 + (part * 5) % 7;
        let lat: Vec<f64> = (0..n).map(|i| 30.0 + f64::from(part) * 0.01 + f64::from(i) * 0.0001).collect();
        let lon: Vec<f64> = lat.iter().map(|x| x + 84.0).collect();
        let dir = lake.join(format!("station=S{:02}", part % 13));
        let dir = dir.join(format!("day={part:02}"));
        fs::create_dir_all(&dir).unwrap();
        let mut df = df!("lat" => &lat, "lon" => &lon).unwrap();
        fs::write(dir.join("part-0.parquet"), parquet_bytes(&mut df)).unwrap();
        stations.extend((0..n).map(|_| format!("S{:02}", part % 13)));
        lats.extend(lat);
        lons.extend(lon);
    }
    let one = tmp.path().join("one");
    fs::create_dir_all(&one).unwrap();
    let mut df = df!("station" => &stations, "lat" => &lats, "lon" => &lons).unwrap();
    fs::write(one.join("readings.parquet"), parquet_bytes(&mut df)).unwrap();
    let args = |dir: &std::path::Path| {
        common::json(&[
            "scan",
            dir.to_str().unwrap(),
            "--rules",
            pack.to_str().unwrap(),
            "--no-builtin",
            "--format",
            "json",
            "--no-fix-search",
        ])
    };
    let (code_one, whole) = args(&one);
    let (code_lake, parts) = args(&tmp.path().join("lake"));
    assert_eq!((code_one, code_lake), (1, 1), "{parts}");
    assert_eq!(parts["scan"]["inputs"][0]["rows"], Value::from(stations.len()), "{parts}");
    let found = evidence_of(&parts);
    let value = |item: &str, condition: &str| {
        let (_, _, evidence) = found.iter().find(|(i, _, _)| i == item).unwrap_or_else(|| panic!("{found:?}"));
        let row = evidence.as_array().unwrap().iter().find(|c| c["condition"] == condition).cloned();
        row.map(|c| c["value"].clone())
    };
    assert_eq!(value("p.stations", "distinct(site) >= 3"), Some(Value::from(13.0)), "{found:?}");
    let s00 = stations.iter().filter(|s| *s == "S00").count();
    assert_eq!(value("p.one", "rows >= 1"), Some(Value::from(s00 as f64)), "{found:?}");
    assert_eq!(found, evidence_of(&whole));
}

/// The sandbox child tells the parent which partitions hold no geometry, so most are
/// not read twice to look; a later partition whose text column holds WKT is still
/// found, and the table refused by that file's name, never read as plain text.
#[test]
fn a_geometry_in_a_later_partition_is_not_passed_over() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("routes");
    for day in 0..40 {
        let shape: Vec<String> = (0..5)
            .map(|i| if day == 33 { format!("POINT (114.{day:02}{i}123 30.{i}45678)") } else { format!("segment {i}") })
            .collect();
        let mut df =
            df!("route_id" => (0..5).map(|i| format!("R{day}-{i}")).collect::<Vec<_>>(), "shape" => shape).unwrap();
        let dir = table.join(format!("day={day:02}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("part-0.parquet"), parquet_bytes(&mut df)).unwrap();
    }
    let (code, report) = common::json(&["scan", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 3, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["input"] == "routes" && e["message"].as_str().unwrap().contains("day=33")),
        "the partition holding geometries is named: {errors:?}"
    );
}

/// The content hash of a file large enough to be hashed on a thread of its own
/// (beside the sandbox's decode or the text's checks, and the scan's passes) is the
/// sha256 of its bytes, in a scan alone, in a scan with another dataset and in a
/// profile: a Parquet file and a CSV file.
#[test]
fn the_content_hash_of_a_large_file_is_its_sha256() {
    use polars::prelude::*;
    let n = 80_000;
    // Six decimals, as positions are published.
    let round = |v: f64| (v * 1e6).round() / 1e6;
    let mut df = df!(
        "lat" => (0..n).map(|i| round(30.0 + (i as f64 * 7.3e-5) % 1.0)).collect::<Vec<_>>(),
        "lon" => (0..n).map(|i| round(114.0 + (i as f64 * 3.1e-5) % 1.0)).collect::<Vec<_>>(),
    )
    .unwrap();
    let mut parquet = Vec::new();
    ParquetWriter::new(&mut parquet).with_compression(ParquetCompression::Uncompressed).finish(&mut df).unwrap();
    content_hash_is_sha256("sites.parquet", &parquet);
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv).finish(&mut df).unwrap();
    content_hash_is_sha256("sites.csv", &csv);
}

fn content_hash_is_sha256(name: &str, bytes: &[u8]) {
    use sha2::Digest;
    assert!(bytes.len() > 1 << 20, "over the size hashed inline: {}", bytes.len());
    let want = hex::encode(sha2::Sha256::digest(bytes));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join(name), bytes).unwrap();
    let digest_of = |report: &Value| {
        let inputs = report["scan"]["inputs"].as_array().unwrap();
        let input = inputs.iter().find(|i| i["id"] == name).unwrap_or_else(|| panic!("{report}"));
        input["sha256"].as_str().unwrap().to_string()
    };
    let (_, alone) = common::json(&["scan", data.to_str().unwrap(), "--format", "json"]);
    assert_eq!(digest_of(&alone), want, "{name} alone");
    fs::write(data.join("other.ndjson"), "{\"lat\": 30.5, \"lon\": 114.5}\n").unwrap();
    let (_, together) = common::json(&["scan", data.to_str().unwrap(), "--format", "json"]);
    assert_eq!(digest_of(&together), want, "{name} with another dataset");
    let profile = tmp.path().join("sites.json");
    let out = common::run(&["profile", data.join(name).to_str().unwrap(), "-o", profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let profile: Value = serde_json::from_str(&fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(profile["dataset"]["sha256"], Value::from(want.clone()), "{name} profile");
    assert_eq!(profile["dataset"]["parts"], serde_json::json!([want]), "{name} profile parts");
}
