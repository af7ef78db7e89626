//! The bad-input corpus: every hostile or malformed input gives a clear message
//! naming it and the documented exit code, never a panic, and the other inputs are
//! still evaluated. Text cases are committed in `tests/bad-inputs/`; binary ones are
//! generated here.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::Value;

/// What a case must give.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// An error for this input, of one of these kinds (exit 3).
    Error(&'static [&'static str]),
    /// Valid, if odd: evaluated without error (exit 0).
    Evaluated,
}

struct Case {
    /// Input id as the report names it.
    id: String,
    /// Files to place (name → bytes); manifests included.
    files: Vec<(PathBuf, Vec<u8>)>,
    want: Want,
}

fn parquet(df: &mut DataFrame) -> Vec<u8> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).with_compression(ParquetCompression::Uncompressed).finish(df).unwrap();
    buf
}

fn good_parquet() -> Vec<u8> {
    let mut df = df!(
        "site_id" => ["S1", "S2", "S3"],
        "voltage_kv" => [500i64, 500, 220],
        "lat" => [30.123456, 30.223456, 30.323456],
        "lon" => [114.123456, 114.223456, 114.323456],
    )
    .unwrap();
    parquet(&mut df)
}

fn committed(name: &str, want: Want) -> Case {
    let dir = common::root().join("tests/bad-inputs");
    let mut files = vec![(PathBuf::from(name), fs::read(dir.join(name)).unwrap())];
    let manifest = format!("{name}.mosaic.toml");
    if dir.join(&manifest).exists() {
        files.push((PathBuf::from(&manifest), fs::read(dir.join(&manifest)).unwrap()));
    }
    Case { id: name.to_string(), files, want }
}

fn generated(name: &str, bytes: Vec<u8>, want: Want) -> Case {
    Case { id: name.to_string(), files: vec![(PathBuf::from(name), bytes)], want }
}

const CORRUPT: &[&str] = &["corrupt", "reader-panic"];

fn xlsx() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["site_id", "lat", "lon"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..200u32 {
        sheet.write_string(r, 0, format!("S{r}")).unwrap();
        sheet.write_number(r, 1, 30.0 + f64::from(r) * 1e-4).unwrap();
        sheet.write_number(r, 2, 114.0 + f64::from(r) * 1e-4).unwrap();
    }
    book.save_to_buffer().unwrap()
}

/// A `.shp` of `n` points.
fn shp(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; 100];
    b[..4].copy_from_slice(&9994i32.to_be_bytes());
    b[28..32].copy_from_slice(&1000i32.to_le_bytes());
    b[32..36].copy_from_slice(&1i32.to_le_bytes());
    for i in 0..n {
        b.extend((i as i32 + 1).to_be_bytes());
        b.extend(10i32.to_be_bytes());
        b.extend(1i32.to_le_bytes());
        b.extend((114.0 + i as f64 * 0.01).to_le_bytes());
        b.extend(30.1f64.to_le_bytes());
    }
    b
}

/// A `.dbf` with one character field `id` and `n` records.
fn dbf(n: usize) -> Vec<u8> {
    let mut b = vec![3u8, 126, 1, 1];
    b.extend((n as u32).to_le_bytes());
    b.extend(65u16.to_le_bytes());
    b.extend(9u16.to_le_bytes());
    b.extend([0u8; 20]);
    let mut d = [0u8; 32];
    d[..2].copy_from_slice(b"id");
    d[11] = b'C';
    d[16] = 8;
    b.extend(d);
    b.push(0x0D);
    for i in 0..n {
        b.extend(format!(" F{i:07}").as_bytes());
    }
    b.push(0x1A);
    b
}

/// A KMZ whose document expands 1000:1 (20 MiB of spaces).
fn zip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = ::zip::ZipWriter::new(&mut buf);
    let options = ::zip::write::SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    zip.start_file("doc.kml", options).unwrap();
    zip.write_all(b"<kml>").unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..20 {
        zip.write_all(&chunk).unwrap();
    }
    zip.write_all(b"</kml>").unwrap();
    zip.finish().unwrap();
    buf.into_inner()
}

/// Cases for the formats of DESIGN §3a: each a named error, never a pass.
fn format_cases() -> Vec<Case> {
    let workbook = xlsx();
    let mut encrypted = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    encrypted.extend(vec![0u8; 4096]);
    let several = |name: &str, files: Vec<(&str, Vec<u8>)>, want: Want| Case {
        id: name.to_string(),
        files: files.into_iter().map(|(n, b)| (PathBuf::from(n), b)).collect(),
        want,
    };
    let polyconic = r#"PROJCS["x",GEOGCS["GCS_WGS_1984"],PROJECTION["Polyconic"],PARAMETER["central_meridian",117]]"#;
    vec![
        generated("truncated.xlsx", workbook[..workbook.len() / 2].to_vec(), Want::Error(&["corrupt"])),
        generated("encrypted.xlsx", encrypted, Want::Error(&["encrypted"])),
        generated(
            "unknown-geometry.geojson",
            br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Circle","coordinates":[114.1,30.1]}}]}"#.to_vec(),
            Want::Error(&["geometry"]),
        ),
        generated(
            "nan.geojson",
            br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[NaN,30.1]}}]}"#.to_vec(),
            Want::Error(&["corrupt", "geometry"]),
        ),
        generated(
            "infinite.geojson",
            br#"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1e999,30.1]}}"#.to_vec(),
            Want::Error(&["geometry"]),
        ),
        generated("no-dbf.shp", shp(3), Want::Error(&["missing-sidecar"])),
        several("mismatch.shp", vec![("mismatch.shp", shp(3)), ("mismatch.dbf", dbf(2))], Want::Error(&["record-mismatch"])),
        several(
            "polyconic.shp",
            vec![("polyconic.shp", shp(2)), ("polyconic.dbf", dbf(2)), ("polyconic.prj", polyconic.as_bytes().to_vec())],
            Want::Error(&["crs"]),
        ),
        generated("lonely.dbf", dbf(2), Want::Error(&["unsupported-format"])),
        generated(
            "wkt-garbage.csv",
            b"site_id,geometry
S1,POINT (114.1 30.1)
S2,POINT (114.2 30.2)
S3,POINT (11a 30.3)
S4,POINT (114.4 30.4)
".to_vec(),
            Want::Error(&["geometry"]),
        ),
        generated(
            "dms-minutes.csv",
            "site_id,lat,lon
S1,30°17′58.2″N,114°10′01.5″E
S2,30°65′00.0″N,114°10′01.5″E
".as_bytes().to_vec(),
            Want::Error(&["coordinates"]),
        ),
        generated(
            "ambiguous-pair.csv",
            b"site_id,location\nS1,\"30.123456,60.654321\"\nS2,\"31.123456,61.654321\"\n".to_vec(),
            Want::Error(&["ambiguous-order"]),
        ),
        generated(
            "projected-degrees.csv",
            b"site_id,lat,lon
S1,3400123.456,39500123.456
S2,3400223.456,39500223.456
".to_vec(),
            Want::Error(&["coordinates"]),
        ),
        generated("bomb.kmz", zip_bomb(), Want::Error(&["zip-bomb"])),
        generated("archive.zip", b"PK".iter().copied().chain([0u8; 18]).collect(), Want::Error(&["unsupported-format"])),
    ]
}

fn cases() -> Vec<Case> {
    let good = good_parquet();
    let n = good.len();
    let mut wrong_magic = good.clone();
    wrong_magic[..4].copy_from_slice(b"XXXX");
    let mut bad_footer = good.clone();
    bad_footer[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut bad_page = good.clone();
    for b in &mut bad_page[4..64] {
        *b = 0xFF;
    }
    let mut nan = df!(
        "site_id" => ["S1", "S2", "S3", "S4"],
        "lat" => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 30.1],
        "lon" => [114.1, f64::NAN, 114.2, f64::INFINITY],
    )
    .unwrap();
    let mut nulls = df!(
        "site_id" => [Some("S1"), None, None],
        "lat" => [None::<f64>, None, None],
        "lon" => [None::<f64>, None, None],
    )
    .unwrap();
    let mut huge = String::from("site_id,notes,lat,lon\nS1,\"");
    huge.push_str(&"x".repeat(10 * 1024 * 1024));
    huge.push_str("\",30.1,114.1\n");

    vec![
        generated("truncated.parquet", good[..n / 2].to_vec(), Want::Error(CORRUPT)),
        generated("wrong-magic.parquet", wrong_magic, Want::Error(CORRUPT)),
        generated("bad-footer.parquet", bad_footer, Want::Error(CORRUPT)),
        generated("bad-page.parquet", bad_page, Want::Error(CORRUPT)),
        generated("zero-byte.parquet", vec![], Want::Error(&["empty"])),
        generated("zero-byte.csv", vec![], Want::Error(&["empty"])),
        generated("nan-inf.parquet", parquet(&mut nan), Want::Evaluated),
        generated("all-null.parquet", parquet(&mut nulls), Want::Evaluated),
        generated("huge-field.csv", huge.into_bytes(), Want::Evaluated),
        // Found by fuzzing: a page header that makes the decoder abort the process.
        committed("page-header-overflow.parquet", Want::Error(CORRUPT)),
        committed("ragged.csv", Want::Error(&["ragged"])),
        committed("unterminated-quote.csv", Want::Error(&["unterminated-quote"])),
        committed("bom.csv", Want::Evaluated),
        committed("nul-bytes.csv", Want::Error(&["binary"])),
        committed("utf16.csv", Want::Error(&["binary", "encoding"])),
        committed("invalid-utf8.csv", Want::Error(&["encoding"])),
        committed("gbk-undeclared.csv", Want::Evaluated),
        committed("zero-rows.csv", Want::Evaluated),
        committed("out-of-range.csv", Want::Evaluated),
        // Valid NDJSON; `"thirty"` is not a coordinate and counts in no spatial metric.
        committed("mixed-types.ndjson", Want::Evaluated),
        committed("duplicate-columns.csv", Want::Error(&["duplicate-column"])),
        committed("manifest-missing-column.csv", Want::Error(&["manifest"])),
        committed("bad-manifest.csv", Want::Error(&["manifest"])),
        // Delimited by `;`: read with `,` it is one column no tag binds, a pass unseen.
        committed("semicolon.csv", Want::Error(&["delimiter"])),
        // A manifest's delimiter is followed ...
        committed("declared-semicolon.csv", Want::Evaluated),
        // ... one that cannot delimit is refused, not ignored ...
        committed("declared-dot.csv", Want::Error(&["manifest"])),
        // ... and so is a text the declared delimiter does not split.
        committed("declared-pipe-comma.csv", Want::Error(&["delimiter"])),
        // Decimal commas are not read as numbers, nor passed over as missing values.
        committed("decimal-comma.csv", Want::Error(&["coordinates"])),
    ]
    .into_iter()
    .chain(format_cases())
    .collect()
}

fn place(dir: &Path, case: &Case) {
    for (name, bytes) in &case.files {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

/// A clean input that must be evaluated whatever its neighbours are.
const NEIGHBOUR: &str = "neighbour.csv";

fn scan(dir: &Path) -> (i32, Value, String) {
    let out = common::run(&["scan", dir.to_str().unwrap(), "--format", "json"]);
    let stderr = common::stderr(&out);
    assert!(!stderr.contains("panicked"), "a panic escaped: {stderr}");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}); stderr: {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn inputs(report: &Value) -> Vec<String> {
    report["scan"]["inputs"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_bad_input_is_named_and_the_rest_still_evaluated() {
    let all = cases();
    let mut tried = 0;
    for case in &all {
        let tmp = tempfile::tempdir().unwrap();
        place(tmp.path(), case);
        fs::write(tmp.path().join(NEIGHBOUR), "site_id,lat,lon\nN1,30.12,114.12\n").unwrap();
        let (code, report, stderr) = scan(tmp.path());
        let seen = inputs(&report);
        assert!(seen.contains(&NEIGHBOUR.to_string()), "{}: the neighbour is still evaluated: {report}", case.id);
        match case.want {
            Want::Error(kinds) => {
                assert_eq!(code, 3, "{}: exit 3 (incomplete): {report}", case.id);
                let errors = report["errors"].as_array().unwrap();
                let e = errors
                    .iter()
                    .find(|e| e["input"] == case.id.as_str())
                    .unwrap_or_else(|| panic!("{}: an error names it: {errors:?}", case.id));
                let kind = e["kind"].as_str().unwrap();
                assert!(kinds.contains(&kind), "{}: kind {kind}, expected one of {kinds:?}", case.id);
                assert!(e["message"].as_str().unwrap().len() > 10, "{}: a message a user can act on: {e}", case.id);
                assert!(stderr.contains(&case.id), "{}: stderr names it: {stderr}", case.id);
            }
            Want::Evaluated => {
                assert_eq!(code, 0, "{}: valid input, exit 0: {report}", case.id);
                assert!(seen.contains(&case.id), "{}: evaluated: {report}", case.id);
                assert!(report["errors"].as_array().unwrap().is_empty(), "{}: {report}", case.id);
            }
        }
        tried += 1;
    }
    assert_eq!(tried, all.len());
    eprintln!("bad inputs tried: {tried}");
}

#[test]
fn all_bad_inputs_together_with_a_hold_still_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let all = cases();
    for case in &all {
        place(tmp.path(), case);
    }
    fs::copy(
        common::root().join("datasets/energy/substations-hold/substations.csv"),
        tmp.path().join("substations.csv"),
    )
    .unwrap();
    let (code, report, _) = scan(tmp.path());
    assert_eq!(code, 1, "a hold among readable inputs wins over incomplete: {report}");
    let errors = report["errors"].as_array().unwrap().len();
    let expected = all.iter().filter(|c| matches!(c.want, Want::Error(_))).count();
    assert_eq!(errors, expected, "{report}");
    assert!(inputs(&report).contains(&"substations.csv".to_string()));
}

#[cfg(unix)]
#[test]
fn odd_files_and_directories() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join(NEIGHBOUR), "site_id,lat,lon\nN1,30.12,114.12\n").unwrap();
    // A file name that is not UTF-8.
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.csv");
    fs::write(dir.join(name), "site_id,lat,lon\nC1,30.12,114.12\n").unwrap();
    // A directory that contains a link to itself.
    fs::create_dir(dir.join("loop")).unwrap();
    fs::write(dir.join("loop/a.csv"), "x,y\n1,2\n").unwrap();
    std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop/again")).unwrap();
    // A file nobody may read (root reads it anyway).
    fs::write(dir.join("locked.csv"), "site_id,lat,lon\nL1,30.12,114.12\n").unwrap();
    fs::set_permissions(dir.join("locked.csv"), fs::Permissions::from_mode(0o000)).unwrap();
    let root = fs::File::open(dir.join("locked.csv")).is_ok();

    let (code, report, stderr) = scan(dir);
    let seen = inputs(&report);
    assert!(seen.contains(&NEIGHBOUR.to_string()), "{report}");
    assert!(seen.iter().any(|s| s.starts_with("caf")), "the non-UTF-8 name is scanned under a lossy id: {report}");
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["message"].as_str().unwrap().contains("loop")),
        "the symlink loop is reported: {errors:?}; {stderr}"
    );
    if !root {
        let e = errors.iter().find(|e| e["input"] == "locked.csv").unwrap_or_else(|| panic!("{errors:?}"));
        assert_eq!(e["kind"], "io");
    }
    assert_eq!(code, 3, "{report}");
    fs::set_permissions(dir.join("locked.csv"), fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn hostile_packs_are_refused_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let header = "[pack]\nid = \"t\"\nversion = \"1\"\nname = \"t\"\nauthority = \"a\"\n\n[tags.p]\nkind = \"point\"\nlat = [\"lat\"]\nlon = [\"lon\"]\n";
    let item = |id: &str, when: &str| {
        format!("\n[[item]]\nid = \"{id}\"\nname = \"n\"\nlevel = \"秘密\"\nharm = \"h\"\nremediation = \"r\"\nwhen = [{when}]\n")
    };
    let cases = [
        ("unknown-metric", format!("{header}{}", item("t.a", "\"p.sharpness_m < 5\"")), "sharpness"),
        ("bad-operator", format!("{header}{}", item("t.a", "\"p.resolution_m << 5\"")), "operator"),
        ("duplicate-item", format!("{header}{}{}", item("t.a", "\"has(p)\""), item("t.a", "\"has(p)\"")), "duplicate"),
        (
            "bad-regex",
            format!("{header}[tags.k]\nkind = \"key\"\npattern = \"(unclosed\"\n{}", item("t.a", "\"has(p)\"")),
            "regex",
        ),
        ("unknown-key", format!("{header}{}\ninclude = [\"other.toml\"]\n", item("t.a", "\"has(p)\"")), "include"),
        ("not-toml", "[pack\nid = ".to_string(), "pack"),
        // A pack whose notices go to a Chinese authority needs clean Chinese texts.
        (
            "no-chinese",
            header.replace("authority = \"a\"", "authority = \"国家测试局\"") + &item("t.a", "\"has(p)\""),
            "needs a chinese",
        ),
        (
            "control-character",
            format!("{header}{}", item("t.a", "\"has(p)\""))
                .replace("harm = \"h\"", "harm = { zh = \"危\\u0007害\", en = \"h\" }"),
            "control character",
        ),
        (
            "unbalanced",
            format!("{header}{}", item("t.a", "\"has(p)\""))
                .replace("remediation = \"r\"", "remediation = { zh = \"取整（到三位\", en = \"r\" }"),
            "never closed",
        ),
        (
            "long-label",
            header.replace(
                "kind = \"point\"",
                "kind = \"point\"\nlabel = \"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十\"",
            ) + &item("t.a", "\"has(p)\""),
            "one short line",
        ),
    ];
    for (name, text, needle) in cases {
        let path = tmp.path().join(format!("{name}.toml"));
        fs::write(&path, text).unwrap();
        let out = common::run(&["rules", "validate", path.to_str().unwrap()]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(err.contains(&format!("{name}.toml:")), "{name}: names file and line: {err}");
        assert!(err.to_lowercase().contains(needle), "{name}: says what is wrong ({needle}): {err}");
        // A scan with the pack is refused before anything is read.
        let out = common::run(&["scan", "datasets/energy", "--rules", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty(), "{name}: nothing evaluated");
    }
}

/// A table of many daily partitions is decoded by a few sandbox children, not one per
/// file: a partition that crashes the decoder, even in a later batch, is still named,
/// and the partitions before it do not hide it.
#[test]
fn a_crashing_partition_among_hundreds_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("readings");
    let crashing = fs::read(common::root().join("tests/bad-inputs/page-header-overflow.parquet")).unwrap();
    let good = good_parquet();
    for day in 0..300 {
        let dir = table.join(format!("day={day:03}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("part-0.parquet"), if day == 290 { &crashing } else { &good }).unwrap();
    }
    fs::write(tmp.path().join(NEIGHBOUR), "site_id,lat,lon\nN1,30.12,114.12\n").unwrap();
    let (code, report, stderr) = scan(tmp.path());
    assert_eq!(code, 3, "{report}");
    let errors = report["errors"].as_array().unwrap();
    let named = errors.iter().find(|e| e["input"] == "readings").unwrap_or_else(|| panic!("{errors:?}; {stderr}"));
    assert!(CORRUPT.contains(&named["kind"].as_str().unwrap()), "{named}");
    assert!(named["message"].as_str().unwrap().contains("day=290/part-0.parquet"), "the file is named: {named}");
    assert!(inputs(&report).contains(&NEIGHBOUR.to_string()), "{report}");

    // Without the damaged partition the table reads, every partition counted.
    fs::remove_dir_all(table.join("day=290")).unwrap();
    let (_, report, _) = scan(tmp.path());
    let readings = report["scan"]["inputs"].as_array().unwrap().iter().find(|i| i["id"] == "readings").cloned();
    assert_eq!(readings.map(|i| i["rows"].clone()), Some(Value::from(299 * 3)), "{report}");
}

/// A Parquet file of `n` rows in three row groups (columns `site_id`, `voltage_kv`,
/// `lat`, `lon`, `free_text`) and the same bytes with the first page of `column` in
/// the last row group made unreadable.
fn damaged_last_row_group(n: usize, column: &str) -> (Vec<u8>, Vec<u8>) {
    let mut df = df!(
        "site_id" => (0..n).map(|i| format!("S{i}")).collect::<Vec<_>>(),
        "voltage_kv" => vec![500i64; n],
        "lat" => (0..n).map(|i| 30.0 + i as f64 * 1e-4).collect::<Vec<_>>(),
        "lon" => (0..n).map(|i| 114.0 + i as f64 * 1e-4).collect::<Vec<_>>(),
        "free_text" => (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>(),
    )
    .unwrap();
    let mut good = Vec::new();
    ParquetWriter::new(&mut good)
        .with_compression(ParquetCompression::Uncompressed)
        .with_row_group_size(Some(n / 3))
        .finish(&mut df)
        .unwrap();
    let metadata = ParquetReader::new(std::io::Cursor::new(good.clone())).get_metadata().unwrap().clone();
    assert_eq!(metadata.row_groups.len(), 3);
    let chunk = metadata.row_groups[2]
        .parquet_columns()
        .iter()
        .find(|c| c.descriptor().path_in_schema[0].as_str() == column)
        .unwrap();
    let at = chunk.byte_range().start as usize;
    let mut bytes = good.clone();
    bytes[at..at + 24].fill(0xFF);
    (good, bytes)
}

/// A scan's sandbox decodes the first rows of every column, then every row of the
/// columns the packs bind (docs/reliability.md): a damaged page past the first rows
/// of a bound column is that file's error; one in a column no pack binds is never
/// read, and the file is evaluated.
#[test]
fn damaged_pages_past_the_first_rows_count_in_the_columns_read() {
    let n = 3000;
    for (column, read) in [("lat", true), ("free_text", false)] {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("lines.parquet"), damaged_last_row_group(n, column).1).unwrap();
        let (code, report, stderr) = scan(tmp.path());
        let errors = report["errors"].as_array().unwrap();
        if read {
            assert_eq!(code, 3, "{column}: {report}");
            let e = errors.iter().find(|e| e["input"] == "lines.parquet").unwrap_or_else(|| panic!("{errors:?}"));
            assert!(CORRUPT.contains(&e["kind"].as_str().unwrap()), "{e}");
            assert!(stderr.contains("lines.parquet"), "{stderr}");
        } else {
            assert!(errors.is_empty(), "{column}: {report}");
            assert_ne!(code, 3, "{column}: {report}");
            assert_eq!(report["scan"]["inputs"][0]["rows"], Value::from(n), "{report}");
            let tags = report["scan"]["inputs"][0]["tags"].to_string();
            assert!(tags.contains("lat") && !tags.contains("free_text"), "lat bound, free_text not: {tags}");
        }
    }
}

/// Of a dataset scanned alone, the sandbox decodes only the bound columns an
/// applicable item reads (and every position): a damaged page in a bound column no
/// item reads is not found there. Scanned with another dataset, every bound column
/// is read (a combination may read it), and the same page is that file's error.
#[test]
fn a_dataset_scanned_alone_decodes_the_columns_its_items_read() {
    let n = 3000;
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("pack.toml");
    fs::write(
        &pack,
        r#"[pack]
id = "lines"
version = "1"
effective = "2020-01-01"
name = "Lines"
authority = "国家保密局"
basis = ["国家秘密定密管理规定 第35条"]
illustrative = true
grid_m = 50
[tags.site]
kind = "key"
columns = ["site_id"]
[tags.voltage]
kind = "measure"
unit = "kV"
columns = ["voltage_kv"]
[tags.position]
kind = "point"
lat = ["lat"]
lon = ["lon"]
[[item]]
id = "lines.cells"
name = { zh = "网格", en = "Cells" }
catalog_match = false
level = "秘密"
period = { years = 10 }
knowledge_scope = "test"
art13 = "经济"
harm = "测试。"
basis = ["国家秘密定密管理规定 第35条"]
when = ["position.area_km2 > 0"]
remediation = "测试。"
"#,
    )
    .unwrap();
    let (good, damaged) = damaged_last_row_group(n, "voltage_kv");
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("lines.parquet"), damaged).unwrap();
    let scan = |dir: &Path| {
        let args =
            ["scan", dir.to_str().unwrap(), "--rules", pack.to_str().unwrap(), "--no-builtin", "--format", "json"];
        common::json(&args)
    };
    let (code, report) = scan(&data);
    assert_eq!(code, 1, "alone: the item holds, nothing unread: {report}");
    assert_eq!(report["errors"], Value::Array(vec![]), "{report}");
    assert_eq!(report["scan"]["inputs"][0]["rows"], Value::from(n), "{report}");
    let tags = report["scan"]["inputs"][0]["tags"].to_string();
    assert!(tags.contains("voltage_kv") && tags.contains("site_id"), "bound though not read: {tags}");
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(1), "{report}");

    fs::write(data.join("other.parquet"), good).unwrap();
    // The other dataset holds: the exit code says so (1), the error is listed.
    let (_, report) = scan(&data);
    let errors = report["errors"].as_array().unwrap();
    let e = errors.iter().find(|e| e["input"] == "lines.parquet").unwrap_or_else(|| panic!("{errors:?}"));
    assert!(CORRUPT.contains(&e["kind"].as_str().unwrap()), "{e}");
}

/// A binary file scanned alone is read whole in one sandbox child (`scan::child`):
/// a file that crashes that child, or that it finds damaged, is still reported as
/// its own error, as when it is scanned among others, and a sound one is evaluated.
#[test]
fn a_damaged_binary_file_scanned_alone_is_named() {
    let binary = |c: &&Case| c.files.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "parquet" || e == "arrow"));
    let all = cases();
    let cases: Vec<&Case> = all.iter().filter(binary).collect();
    assert!(cases.len() >= 3, "damaged and sound binary files are among the cases");
    for case in cases {
        let tmp = tempfile::tempdir().unwrap();
        place(tmp.path(), case);
        let (code, report, stderr) = scan(tmp.path());
        let errors = report["errors"].as_array().unwrap();
        match case.want {
            Want::Error(kinds) => {
                assert_eq!(code, 3, "{}: exit 3 (incomplete): {report}", case.id);
                let e = errors
                    .iter()
                    .find(|e| e["input"] == case.id.as_str())
                    .unwrap_or_else(|| panic!("{}: an error names it: {errors:?}; {stderr}", case.id));
                let kind = e["kind"].as_str().unwrap();
                assert!(kinds.contains(&kind), "{}: kind {kind}, expected one of {kinds:?}", case.id);
            }
            Want::Evaluated => {
                assert_eq!(code, 0, "{}: valid input, exit 0: {report}", case.id);
                assert!(inputs(&report).contains(&case.id), "{}: evaluated: {report}", case.id);
                assert!(errors.is_empty(), "{}: {report}", case.id);
            }
        }
    }
}
