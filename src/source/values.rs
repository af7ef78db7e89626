//! Positions written in one value: geometries (WKT text, WKB bytes, GeoJSON geometry
//! objects), `lng,lat` text pairs and degrees–minutes–seconds text (DESIGN §3a).
//! Pure parsers: numbers come back as the text that was written (so decimals are
//! counted as published) or as binary doubles (WKB), and every refusal says why.

/// One vertex as written: `(x, y)` — longitude/easting first, as WKT, WKB and GeoJSON
/// all order them.
pub type TextVertex<'a> = (&'a str, &'a str);

/// Geometry types a position reader accepts.
const GEOMETRY_TYPES: [&str; 7] =
    ["POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"];

/// Does this text look like a WKT geometry (`POINT (…)`, `LINESTRING Z (…)`, `SRID=4326;…`)?
pub fn looks_like_wkt(text: &str) -> bool {
    let t = strip_srid(text.trim_start());
    let word = &t[..t.bytes().position(|b| !b.is_ascii_alphabetic()).unwrap_or(t.len())];
    GEOMETRY_TYPES.iter().any(|g| g.eq_ignore_ascii_case(word))
        && t[word.len()..].trim_start().starts_with(['(', 'Z', 'M', 'E', 'z', 'm', 'e'])
}

fn strip_srid(text: &str) -> &str {
    if text.get(..5).is_some_and(|head| head.eq_ignore_ascii_case("SRID=")) {
        text.split_once(';').map_or(text, |(_, rest)| rest.trim_start())
    } else {
        text
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Vertices of a WKT geometry, as written. `EMPTY` gives none. Every coordinate needs
/// two to four finite numbers; anything else is an error saying what was found.
pub fn parse_wkt(text: &str) -> Result<Vec<TextVertex<'_>>, String> {
    let t = strip_srid(text.trim());
    if !looks_like_wkt(t) {
        let shown: String = t.chars().take(40).collect();
        return Err(format!("not a WKT geometry: `{shown}`"));
    }
    let mut vertices = Vec::new();
    let mut depth = 0i32;
    let mut tuple: Vec<&str> = Vec::new();
    let bytes = t.as_bytes();
    let mut i = 0;
    fn flush<'a>(tuple: &mut Vec<&'a str>, vertices: &mut Vec<TextVertex<'a>>) -> Result<(), String> {
        if tuple.is_empty() {
            return Ok(());
        }
        if !(2..=4).contains(&tuple.len()) {
            return Err(format!(
                "a WKT coordinate has {} numbers (`{}`); expected 2 to 4",
                tuple.len(),
                tuple.join(" ")
            ));
        }
        vertices.push((tuple[0], tuple[1]));
        tuple.clear();
        Ok(())
    }
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                flush(&mut tuple, &mut vertices)?;
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced parentheses in WKT".into());
                }
                i += 1;
            }
            b',' => {
                flush(&mut tuple, &mut vertices)?;
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            b if b.is_ascii_alphabetic() => {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let word = t[start..i].to_ascii_uppercase();
                let known =
                    GEOMETRY_TYPES.contains(&word.as_str()) || ["Z", "M", "ZM", "EMPTY"].contains(&word.as_str());
                // `1e-3` is a number: a lone `e` inside a number is handled below.
                if !known {
                    return Err(format!("unknown word `{}` in WKT", &t[start..i]));
                }
                if !tuple.is_empty() {
                    return Err(format!("`{}` inside a WKT coordinate", &t[start..i]));
                }
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b'(' | b')' | b',') && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let token = &t[start..i];
                if !is_number(token) {
                    return Err(format!("`{token}` is not a number in WKT"));
                }
                if depth == 0 {
                    return Err("a WKT coordinate outside parentheses".into());
                }
                tuple.push(token);
            }
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses in WKT (truncated?)".into());
    }
    Ok(vertices)
}

/// Does this text look like a GeoJSON geometry object?
pub fn looks_like_geojson(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{') && t.contains("\"coordinates\"") && t.contains("\"type\"")
}

/// Vertices of a GeoJSON geometry object (or a Feature: its geometry), numbers as
/// written. `null` geometry gives none.
pub fn parse_geojson(text: &str) -> Result<Vec<TextVertex<'_>>, String> {
    let raw: &serde_json::value::RawValue =
        serde_json::from_str(text).map_err(|e| format!("not a GeoJSON geometry: {e}"))?;
    let mut vertices = Vec::new();
    geojson_vertices(raw, &mut vertices, 0)?;
    Ok(vertices)
}

#[derive(serde::Deserialize)]
struct RawGeometry<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow)]
    coordinates: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    geometries: Option<Vec<&'a serde_json::value::RawValue>>,
    #[serde(borrow)]
    geometry: Option<&'a serde_json::value::RawValue>,
}

/// Vertices of one GeoJSON geometry (raw JSON), appended to `out`.
pub fn geojson_vertices<'a>(
    raw: &'a serde_json::value::RawValue,
    out: &mut Vec<TextVertex<'a>>,
    depth: usize,
) -> Result<(), String> {
    if raw.get().trim() == "null" {
        return Ok(());
    }
    if depth > 8 {
        return Err("GeoJSON geometries nested too deep".into());
    }
    let g: RawGeometry<'a> = serde_json::from_str(raw.get()).map_err(|e| format!("not a GeoJSON geometry: {e}"))?;
    let kind = g.kind.as_deref().unwrap_or("");
    let nesting = match kind {
        "Point" => 0,
        "LineString" | "MultiPoint" => 1,
        "Polygon" | "MultiLineString" => 2,
        "MultiPolygon" => 3,
        "GeometryCollection" => {
            for member in g.geometries.unwrap_or_default() {
                geojson_vertices(member, out, depth + 1)?;
            }
            return Ok(());
        }
        "Feature" => return g.geometry.map_or(Ok(()), |geometry| geojson_vertices(geometry, out, depth + 1)),
        "" => return Err("a GeoJSON geometry without `type`".into()),
        other => return Err(format!("unknown GeoJSON geometry type `{other}`")),
    };
    let coordinates = g.coordinates.ok_or_else(|| format!("GeoJSON {kind} without `coordinates`"))?;
    coordinate_arrays(coordinates.get(), nesting, out).map_err(|e| format!("GeoJSON {kind}: {e}"))
}

/// Positions from nested JSON arrays of numbers (`nesting` array levels above a
/// position), numbers kept as written.
fn coordinate_arrays<'a>(text: &'a str, nesting: usize, out: &mut Vec<TextVertex<'a>>) -> Result<(), String> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut numbers: Vec<&'a str> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' => {
                depth += 1;
                if depth > nesting + 1 {
                    return Err("coordinates nested deeper than the geometry type allows".into());
                }
                i += 1;
            }
            b']' => {
                if depth == nesting + 1 {
                    if !(2..=4).contains(&numbers.len()) {
                        return Err(format!("a position has {} numbers; expected 2 to 4", numbers.len()));
                    }
                    out.push((numbers[0], numbers[1]));
                    numbers.clear();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' | b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b',' | b']' | b'[' | b' ' | b'\n' | b'\r' | b'\t') {
                    i += 1;
                }
                let token = &text[start..i];
                if depth != nesting + 1 {
                    return Err(format!("`{token}` where an array was expected"));
                }
                if !is_number(token) {
                    return Err(format!("`{token}` is not a finite number"));
                }
                numbers.push(token);
            }
        }
    }
    Ok(())
}

/// Vertices of a WKB (or EWKB) geometry as binary doubles `(x, y)`.
pub fn parse_wkb(bytes: &[u8]) -> Result<Vec<(f64, f64)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    wkb_geometry(bytes, &mut at, &mut out, 0)?;
    Ok(out)
}

fn take<const N: usize>(bytes: &[u8], at: &mut usize) -> Result<[u8; N], String> {
    let slice = bytes.get(*at..*at + N).ok_or("WKB is truncated")?;
    *at += N;
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    Ok(out)
}

fn wkb_geometry(bytes: &[u8], at: &mut usize, out: &mut Vec<(f64, f64)>, depth: usize) -> Result<(), String> {
    if depth > 8 {
        return Err("WKB geometries nested too deep".into());
    }
    let little = match take::<1>(bytes, at)?[0] {
        0 => false,
        1 => true,
        b => return Err(format!("not WKB: byte order {b}")),
    };
    let u32_of = |b: [u8; 4]| if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) };
    let f64_of = |b: [u8; 8]| if little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) };
    let raw_type = u32_of(take::<4>(bytes, at)?);
    // EWKB flags (PostGIS) and ISO type codes (1000s for Z, 2000s M, 3000s ZM).
    let (ewkb_z, ewkb_m, ewkb_srid) =
        (raw_type & 0x8000_0000 != 0, raw_type & 0x4000_0000 != 0, raw_type & 0x2000_0000 != 0);
    let code = raw_type & 0x0fff_ffff;
    if ewkb_srid {
        take::<4>(bytes, at)?;
    }
    let (base, iso_dims) = (code % 1000, code / 1000);
    let dims = 2
        + usize::from(ewkb_z)
        + usize::from(ewkb_m)
        + match iso_dims {
            0 => 0,
            1 | 2 => 1,
            3 => 2,
            _ => return Err(format!("unknown WKB geometry type {raw_type}")),
        };
    let point = |at: &mut usize, out: &mut Vec<(f64, f64)>| -> Result<(), String> {
        let x = f64_of(take::<8>(bytes, at)?);
        let y = f64_of(take::<8>(bytes, at)?);
        for _ in 2..dims {
            take::<8>(bytes, at)?;
        }
        // An empty point is written as NaN coordinates.
        if !(x.is_nan() && y.is_nan()) {
            if !x.is_finite() || !y.is_finite() {
                return Err("WKB coordinate is not a finite number".into());
            }
            out.push((x, y));
        }
        Ok(())
    };
    let count = |at: &mut usize| -> Result<usize, String> {
        let n = u32_of(take::<4>(bytes, at)?) as usize;
        // Each element takes at least 16 bytes: a count larger than the rest is corrupt.
        if n > bytes.len().saturating_sub(*at) / 4 + 1 {
            return Err(format!("WKB count {n} exceeds the data (truncated or corrupt)"));
        }
        Ok(n)
    };
    match base {
        1 => point(at, out),
        2 => {
            for _ in 0..count(at)? {
                point(at, out)?;
            }
            Ok(())
        }
        3 => {
            for _ in 0..count(at)? {
                for _ in 0..count(at)? {
                    point(at, out)?;
                }
            }
            Ok(())
        }
        4..=7 => {
            for _ in 0..count(at)? {
                wkb_geometry(bytes, at, out, depth + 1)?;
            }
            Ok(())
        }
        _ => Err(format!("unknown WKB geometry type {raw_type}")),
    }
}

/// A GeoPackage geometry blob: the `GP` header, then WKB.
pub fn parse_gpkg(bytes: &[u8]) -> Result<Vec<(f64, f64)>, String> {
    if bytes.len() < 8 || &bytes[..2] != b"GP" {
        return Err("not a GeoPackage geometry (no `GP` header)".into());
    }
    let flags = bytes[3];
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        e => return Err(format!("GeoPackage geometry with unknown envelope code {e}")),
    };
    if flags & 0b1_0000 != 0 {
        return Ok(vec![]); // empty geometry
    }
    let start = 8 + envelope;
    parse_wkb(bytes.get(start..).ok_or("GeoPackage geometry is truncated")?)
}

/// Does a byte string start like WKB (a byte-order mark and a known type)?
pub fn looks_like_wkb(bytes: &[u8]) -> bool {
    if bytes.len() < 21 || bytes[0] > 1 {
        return false;
    }
    let raw = if bytes[0] == 1 {
        u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
    } else {
        u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
    };
    let code = raw & 0x0fff_ffff;
    (1..=7).contains(&(code % 1000)) && code / 1000 <= 3
}

/// A coordinate pair written in one text value: `114.1,30.6`, `114.1 30.6`,
/// `(114.1, 30.6)`, `114.1；30.6` — the two numbers as written, in written order.
pub fn parse_pair(text: &str) -> Option<(&str, &str)> {
    let t = text.trim().trim_start_matches(['(', '[']).trim_end_matches([')', ']']).trim();
    let (a, b) = t
        .split_once([',', '，', ';', '；'])
        .or_else(|| t.split_once(char::is_whitespace))
        .map(|(a, b)| (a.trim(), b.trim()))?;
    (is_number(a) && is_number(b)).then_some((a, b))
}

/// A coordinate written in degrees–minutes–seconds: its value in decimal degrees
/// (negative for S and W) and the step of the last unit carried, in degrees
/// (`30°17'58.2"` → 0.1″ = 1/36 000°). `Err` for text that is DMS but malformed
/// (minutes or seconds ≥ 60, degrees out of range); `Ok(None)` when it is not DMS.
pub fn parse_dms(text: &str) -> Result<Option<(f64, f64)>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let has_marks = t.contains(['°', '′', '″', '\'', '"', '度', '分', '秒', ':']);
    let upper = t.to_ascii_uppercase();
    let hemisphere =
        [upper.chars().next(), upper.chars().last()].into_iter().flatten().find(|c| matches!(c, 'N' | 'S' | 'E' | 'W'));
    let body: String = t
        .trim_matches(|c: char| matches!(c.to_ascii_uppercase(), 'N' | 'S' | 'E' | 'W') || c.is_whitespace())
        .to_string();
    // `NaN`, `N/A`, `NE`: letters, no coordinate.
    if !body.chars().any(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let parts: Vec<&str> = body
        .split(|c: char| matches!(c, '°' | '′' | '″' | '\'' | '"' | '度' | '分' | '秒' | ':') || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    // Plain numbers without marks or hemisphere are not DMS (`30 17 58.2` is).
    if !has_marks && hemisphere.is_none() && parts.len() < 2 {
        return Ok(None);
    }
    if parts.is_empty() || parts.len() > 3 || !parts.iter().all(|p| p.parse::<f64>().is_ok_and(f64::is_finite)) {
        return if has_marks || hemisphere.is_some() {
            Err(format!("`{t}` is not a degrees–minutes–seconds coordinate"))
        } else {
            Ok(None)
        };
    }
    let numbers: Vec<f64> = parts.iter().map(|p| p.parse::<f64>().unwrap_or(f64::NAN)).collect();
    let decimals = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    for (i, (n, p)) in numbers.iter().zip(&parts).enumerate() {
        if i > 0 && !(0.0..60.0).contains(n) {
            let unit = if i == 1 { "minutes" } else { "seconds" };
            return Err(format!("`{t}`: {unit} {p} must be below 60"));
        }
        if i + 1 < numbers.len() && p.contains('.') {
            return Err(format!("`{t}`: only the last unit may carry decimals"));
        }
    }
    let negative = numbers[0] < 0.0 || t.starts_with('-') || matches!(hemisphere, Some('S' | 'W'));
    let degrees = numbers[0].abs()
        + numbers.get(1).copied().unwrap_or(0.0) / 60.0
        + numbers.get(2).copied().unwrap_or(0.0) / 3600.0;
    if degrees > 180.0 {
        return Err(format!("`{t}`: {degrees:.4}° is beyond 180°"));
    }
    let last = parts.len() - 1;
    let unit = [1.0, 1.0 / 60.0, 1.0 / 3600.0][last];
    let step = unit * 10f64.powi(-decimals(parts[last]));
    Ok(Some((if negative { -degrees } else { degrees }, step)))
}

/// Why an axis cannot be read from `text`, when it cannot: text that carries digits
/// but is neither a number nor degrees–minutes–seconds (a decimal comma `30,12345`,
/// `30.1.2`, `约30.1`), or malformed degrees–minutes–seconds. Text without digits
/// (`NA`, `无`, `thirty`) is a missing value, and a number that is not finite
/// (`1e999`) an invalid one: neither is unreadable.
pub fn unreadable_coordinate(text: &str) -> Option<String> {
    let t = text.trim();
    match parse_dms(t) {
        Err(why) => Some(why),
        Ok(Some(_)) => None,
        Ok(None) if !t.chars().any(|c| c.is_ascii_digit()) || t.parse::<f64>().is_ok() => None,
        Ok(None) => {
            let comma = t.split_once(',').filter(|(a, b)| {
                let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
                digits(a.trim_start_matches(['-', '+'])) && digits(b)
            });
            Some(match comma {
                Some((a, b)) => format!("`{t}` is not a number: a decimal comma is not read; write `{a}.{b}`"),
                None => format!("`{t}` is neither a number nor degrees–minutes–seconds"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_digits_that_is_no_coordinate_is_unreadable() {
        for ok in ["30.5", " -114.25 ", "1e999", "NaN", "NA", "无", "thirty", "", "30°17'58.2\"N", "30 17 58.2"] {
            assert_eq!(unreadable_coordinate(ok), None, "{ok:?}");
        }
        assert!(unreadable_coordinate("30,134364").unwrap().contains("write `30.134364`"));
        assert!(unreadable_coordinate("-114,5").unwrap().contains("write `-114.5`"));
        for bad in ["30.1.2", "约30.1", "30,1,2", "30°65'00\"N"] {
            assert!(unreadable_coordinate(bad).is_some(), "{bad:?}");
        }
        assert!(unreadable_coordinate("30,1,2").unwrap().contains("neither"));
    }

    #[test]
    fn wkt_vertices_as_written() {
        assert_eq!(parse_wkt("POINT (114.123456 30.654321)").unwrap(), vec![("114.123456", "30.654321")]);
        assert_eq!(parse_wkt("SRID=4326;POINT Z (1.5 2.25 3)").unwrap(), vec![("1.5", "2.25")]);
        let line = parse_wkt("LINESTRING(114.1 30.1, 114.2 30.2,114.3 30.3)").unwrap();
        assert_eq!(line.len(), 3);
        let poly = parse_wkt("MULTIPOLYGON (((1 2, 3 4, 5 6, 1 2)), ((7 8, 9 10, 11 12, 7 8)))").unwrap();
        assert_eq!(poly.len(), 8);
        assert!(parse_wkt("POINT EMPTY").unwrap().is_empty());
        assert_eq!(parse_wkt("GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (3 4, 5 6))").unwrap().len(), 3);
        assert!(parse_wkt("POINT (1e-3 2)").is_ok());
        for bad in ["POINT (1)", "POINT (a b)", "POINT (1 2", "CIRCLE (1 2)", "hello", "POINT (1 2 3 4 5)"] {
            assert!(parse_wkt(bad).is_err(), "{bad}");
        }
        assert!(looks_like_wkt("point(1 2)") && !looks_like_wkt("Pointless text"));
        assert!(!looks_like_wkt("变电站") && parse_wkt("变电站").is_err());
    }

    #[test]
    fn geojson_vertices_as_written() {
        let g = r#"{"type":"LineString","coordinates":[[114.10,30.1],[114.2, 30.2]]}"#;
        assert_eq!(parse_geojson(g).unwrap(), vec![("114.10", "30.1"), ("114.2", "30.2")]);
        let p = r#"{"type": "MultiPolygon", "coordinates": [[[[1,2],[3,4],[5,6],[1,2]]]]}"#;
        assert_eq!(parse_geojson(p).unwrap().len(), 4);
        let c = r#"{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2,3]}]}"#;
        assert_eq!(parse_geojson(c).unwrap(), vec![("1", "2")]);
        assert!(parse_geojson(r#"{"type":"Circle","coordinates":[1,2]}"#).unwrap_err().contains("Circle"));
        assert!(parse_geojson(r#"{"type":"Point","coordinates":[NaN,2]}"#).is_err());
        assert!(parse_geojson(r#"{"type":"Point","coordinates":[[1,2]]}"#).is_err());
        assert!(parse_geojson(r#"{"type":"Point","coordinates":[1]}"#).is_err());
    }

    #[test]
    fn wkb_points_lines_and_gpkg() {
        let mut wkb = vec![1u8];
        wkb.extend(2u32.to_le_bytes());
        wkb.extend(2u32.to_le_bytes());
        for v in [114.1f64, 30.1, 114.2, 30.2] {
            wkb.extend(v.to_le_bytes());
        }
        assert!(looks_like_wkb(&wkb));
        assert_eq!(parse_wkb(&wkb).unwrap(), vec![(114.1, 30.1), (114.2, 30.2)]);
        assert!(parse_wkb(&wkb[..20]).is_err());
        let mut gpkg = b"GP\x00\x01".to_vec();
        gpkg.extend(4326u32.to_le_bytes());
        gpkg.extend(&wkb);
        assert_eq!(parse_gpkg(&gpkg).unwrap().len(), 2);
        let mut huge = vec![1u8];
        huge.extend(2u32.to_le_bytes());
        huge.extend(u32::MAX.to_le_bytes());
        assert!(parse_wkb(&huge).is_err());
    }

    #[test]
    fn pairs_in_one_value() {
        assert_eq!(parse_pair("114.123456,30.654321"), Some(("114.123456", "30.654321")));
        assert_eq!(parse_pair(" (30.6, 114.1) "), Some(("30.6", "114.1")));
        assert_eq!(parse_pair("114.1 30.6"), Some(("114.1", "30.6")));
        assert_eq!(parse_pair("114.1，30.6"), Some(("114.1", "30.6")));
        assert_eq!(parse_pair("a,b"), None);
        assert_eq!(parse_pair("114.1"), None);
    }

    #[test]
    fn dms_values_and_steps() {
        let (v, step) = parse_dms("30°39'15.56\"N").unwrap().unwrap();
        assert!((v - (30.0 + 39.0 / 60.0 + 15.56 / 3600.0)).abs() < 1e-12);
        assert!((step - 0.01 / 3600.0).abs() < 1e-15);
        let (v, _) = parse_dms("S30°39′15.5″").unwrap().unwrap();
        assert!(v < 0.0);
        let (v, step) = parse_dms("30度17分58秒").unwrap().unwrap();
        assert!((v - 30.299_444_444).abs() < 1e-6 && (step - 1.0 / 3600.0).abs() < 1e-15);
        assert_eq!(parse_dms("30 17").unwrap().unwrap().1, 1.0 / 60.0);
        assert!(parse_dms("30:17:58.2").unwrap().is_some());
        assert_eq!(parse_dms("30.654321").unwrap(), None);
        assert_eq!(parse_dms("NaN").unwrap(), None);
        assert_eq!(parse_dms("N/A").unwrap(), None);
        assert!(parse_dms("30°65'00\"N").unwrap_err().contains("below 60"));
        assert!(parse_dms("30°17.5'58\"").is_err());
        assert!(parse_dms("200°00'00\"E").is_err());
    }
}
