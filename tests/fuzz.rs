//! Property-based fuzzing of the parsers and the reading path: whatever the input,
//! mosaic returns a result or an error naming the input — it never panics and never
//! loses an input. Runs a few hundred cases per target in `cargo test`; set
//! `PROPTEST_CASES` for a long run (see docs/reliability.md). Any failing input
//! proptest finds is stored under `proptest-regressions/` and replayed first.

use std::path::PathBuf;

use mosaic::rules::{condition::parse_criterion, Catalog, Pack, BUILTIN};
use mosaic::scan;
use mosaic::source::text;
use proptest::prelude::*;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// A bundled pack's text with `bytes` written over it at `at` (kept if still UTF-8).
fn mutated_pack(which: usize, at: usize, bytes: &[u8]) -> Option<String> {
    let (_, text) = BUILTIN[which % BUILTIN.len()];
    let mut b = text.as_bytes().to_vec();
    let at = at % b.len();
    for (i, x) in bytes.iter().enumerate() {
        if at + i < b.len() {
            b[at + i] = *x;
        }
    }
    String::from_utf8(b).ok()
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn the_pack_parser_never_panics(text in "\\PC{0,400}") {
        let _ = Pack::parse("fuzz.toml", &text);
    }

    #[test]
    fn mutated_bundled_packs_never_panic(which in 0usize..16, at in 0usize..100_000, bytes in prop::collection::vec(32u8..127, 1..12)) {
        if let Some(text) = mutated_pack(which, at, &bytes) {
            // Either a valid pack or errors that name a line.
            if let Err(e) = Pack::parse("fuzz.toml", &text) {
                let shown = format!("{e:?}");
                prop_assert!(!shown.is_empty());
            }
        }
    }

    #[test]
    fn the_condition_parser_never_panics(
        text in "(has\\(|distinct\\(|rows|[a-z_]{1,8}\\.[a-z_]{1,14})[a-z_, ()]{0,12} ?(<|<=|>|>=|==|=<|<<)? ?[0-9.eE+-]{0,12}"
    ) {
        let _ = parse_criterion(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse_criterion(&text);
    }

    #[test]
    fn csv_checks_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        if let Ok((decoded, _)) = text::decode(&bytes, None) {
            let _ = text::check_structure(&decoded, b',');
        }
    }
}

/// Scan one file with these bytes: the scan must finish and account for the input.
fn scan_bytes(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    // Binary files are decoded in a child process first, as the command line does.
    let _ = mosaic::source::DECODER.set(PathBuf::from(env!("CARGO_BIN_EXE_mosaic")));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(name), bytes).unwrap();
    let catalog = Catalog::load(&[], false).unwrap();
    let options = scan::Options::new(
        vec![PathBuf::from(tmp.path())],
        chrono::DateTime::from_timestamp(1_795_392_000, 0).unwrap(),
    );
    let result = scan::run(&catalog, &options).unwrap();
    let accounted = result.inputs.iter().any(|i| i.id == name) || result.errors.iter().any(|e| e.input == name);
    prop_assert!(accounted, "{name} is neither evaluated nor reported: {:?}", result.errors);
    Ok(())
}

fn seed_parquet() -> Vec<u8> {
    use polars::prelude::*;
    let mut df = df!(
        "site_id" => ["S1", "S2", "S3", "S4"],
        "voltage_kv" => [500i64, 500, 220, 750],
        "lat" => [30.123456, 30.223456, 30.323456, 30.42],
        "lon" => [114.123456, 114.223456, 114.323456, 114.42],
    )
    .unwrap();
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf).with_compression(ParquetCompression::Uncompressed).finish(&mut df).unwrap();
    buf
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn reading_mutated_parquet_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = seed_parquet();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        scan_bytes("mutated.parquet", &bytes)?;
    }

    #[test]
    fn reading_arbitrary_csv_never_panics(
        rows in prop::collection::vec("[A-Za-z0-9 ,.\"\\-\u{4e00}-\u{4e10}]{0,40}", 0..30)
    ) {
        let text = format!("site_id,voltage_kv,lat,lon\n{}", rows.join("\n"));
        scan_bytes("fuzz.csv", text.as_bytes())?;
    }

    #[test]
    fn reading_arbitrary_ndjson_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        scan_bytes("fuzz.ndjson", &bytes)?;
    }
}

/// Seeds for the position parsers: valid values the mutations start from.
const WKT_SEEDS: &[&str] = &[
    "POINT (114.123456 30.654321)",
    "LINESTRING (114.1 30.1, 114.2 30.2)",
    "MULTIPOLYGON (((1 2, 3 4, 5 6, 1 2)))",
    "SRID=4326;POINT Z (1 2 3)",
];

fn mutate(seed: &str, at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut b = seed.as_bytes().to_vec();
    let at = at % (b.len() + 1);
    b.splice(at..at.min(b.len()), bytes.iter().copied());
    b
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn position_text_parsers_never_panic(seed in 0usize..4, at in 0usize..64, bytes in prop::collection::vec(any::<u8>(), 0..8), text in "\\PC{0,60}") {
        use mosaic::source::values;
        let mutated = String::from_utf8_lossy(&mutate(WKT_SEEDS[seed], at, &bytes)).into_owned();
        for t in [mutated.as_str(), text.as_str()] {
            let _ = values::parse_wkt(t);
            let _ = values::parse_geojson(t);
            let _ = values::parse_pair(t);
            let _ = values::parse_dms(t);
            let _ = values::looks_like_wkt(t);
            let _ = mosaic::profile::parse_coordinate(t);
        }
    }

    #[test]
    fn dms_like_text_parses_or_is_refused(d in 0u32..200, m in 0u32..70, s in 0.0f64..70.0, h in "[NSEW]?") {
        use mosaic::source::values::parse_dms;
        let text = format!("{d}°{m}′{s:.1}″{h}");
        match parse_dms(&text) {
            Ok(Some((v, step))) => {
                prop_assert!(m < 60 && s < 60.0 && v.abs() <= 180.0, "{text} → {v}");
                prop_assert!((step - 0.1 / 3600.0).abs() < 1e-12);
            }
            Ok(None) => prop_assert!(false, "{text} is DMS"),
            Err(e) => prop_assert!(
                m >= 60 || s >= 59.95 || f64::from(d) + f64::from(m) / 60.0 + s / 3600.0 > 180.0,
                "{text}: {e}"
            ),
        }
    }

    #[test]
    fn binary_geometry_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        use mosaic::source::{shapefile, values};
        let _ = values::parse_wkb(&bytes);
        let _ = values::parse_gpkg(&bytes);
        let _ = values::looks_like_wkb(&bytes);
        let _ = shapefile::read_shp(&bytes);
        let _ = shapefile::read_dbf(&bytes, None, None);
    }

    #[test]
    fn mutated_wkb_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut wkb = vec![1u8];
        wkb.extend(3u32.to_le_bytes());
        wkb.extend(1u32.to_le_bytes());
        wkb.extend(4u32.to_le_bytes());
        for v in [114.1f64, 30.1, 114.2, 30.2, 114.2, 30.1, 114.1, 30.1] {
            wkb.extend(v.to_le_bytes());
        }
        for (at, value) in flips {
            let i = at.index(wkb.len());
            wkb[i] = value;
        }
        let _ = mosaic::source::values::parse_wkb(&wkb);
    }

    #[test]
    fn json_and_xml_readers_never_panic(text in "[\\[\\]{}\",:0-9.a-zA-Z<>/= ]{0,200}") {
        use mosaic::source::{json, xml};
        let _ = json::read_json(&text);
        let _ = json::read_geojson(&text);
        let _ = json::read_ndjson(&text);
        let _ = xml::read_kml(text.as_bytes());
        let _ = xml::read_gpx(text.as_bytes());
        let _ = xml::read_kmz(text.as_bytes());
    }
}

proptest! {
    #![proptest_config(cases(32))]

    #[test]
    fn reading_arbitrary_geojson_never_panics(
        coords in prop::collection::vec("[0-9.eE+\\-NaI]{0,12}", 0..8),
        kind in "(Point|LineString|Polygon|MultiPoint|Circle|)",
    ) {
        let text = format!(
            "{{\"type\":\"FeatureCollection\",\"features\":[{{\"type\":\"Feature\",\"properties\":{{\"site_id\":\"S1\"}},\"geometry\":{{\"type\":\"{kind}\",\"coordinates\":[{}]}}}}]}}",
            coords.join(",")
        );
        scan_bytes("fuzz.geojson", text.as_bytes())?;
    }
}
