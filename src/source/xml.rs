//! KML, KMZ and GPX (quick-xml, and zip for KMZ). A KML placemark is a row with
//! its name, description and extended data; its geometry's vertices are positions; a
//! `gx:Track` gives one row per point with its time. A GPX waypoint, route point or
//! track point is a row with its time, elevation and track name. Numbers are kept
//! as written.

use std::io::Read;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::crs::Crs;
use super::geometry::{Geometry, Vertices};
use super::json::Records;
use super::{ReadError, Table};

/// Largest KML a KMZ may expand to: a zip bomb is refused, never unpacked into memory.
pub const KMZ_LIMIT: u64 = 512 * 1024 * 1024;

fn xml_error(e: impl std::fmt::Display, reader_at: u64) -> ReadError {
    ReadError::new("corrupt", format!("XML error near byte {reader_at}: {e}"))
}

fn entity(name: &str) -> String {
    match name {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        n => n
            .strip_prefix("#x")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32)
            .map_or_else(String::new, String::from),
    }
}

/// Walk an XML document: `on` gets every start (with attributes), text and end.
enum Step<'a> {
    Start(&'a str, Vec<(String, String)>),
    Text(&'a str),
    End(&'a str),
}

fn walk(bytes: &[u8], mut on: impl FnMut(Step) -> Result<(), ReadError>) -> Result<(), ReadError> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event_into(&mut buf).map_err(|e| xml_error(e, at))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let self_closing = matches!(event, Event::Empty(_));
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let mut attributes = Vec::new();
                for a in e.attributes().flatten() {
                    let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                    let value = a.unescape_value().map_err(|e| xml_error(e, at))?.into_owned();
                    attributes.push((key, value));
                }
                on(Step::Start(&name, attributes))?;
                if self_closing {
                    on(Step::End(&name))?;
                }
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                on(Step::End(&name))?;
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| xml_error(e, at))?;
                on(Step::Text(&text))?;
            }
            Event::CData(t) => {
                let text = String::from_utf8_lossy(&t).into_owned();
                on(Step::Text(&text))?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| xml_error(e, at))?;
                on(Step::Text(&entity(&name)))?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

/// Coordinates text `lon,lat[,alt] lon,lat …` as written.
fn kml_coordinates<'a>(text: &'a str, out: &mut Vec<(&'a str, &'a str)>) -> Result<(), String> {
    for tuple in text.split_whitespace() {
        let mut parts = tuple.split(',');
        let (Some(x), Some(y)) = (parts.next(), parts.next()) else {
            return Err(format!("`{tuple}` is not lon,lat[,alt]"));
        };
        if !x.parse::<f64>().is_ok_and(f64::is_finite) || !y.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(format!("`{tuple}` is not lon,lat[,alt]"));
        }
        out.push((x, y));
    }
    Ok(())
}

#[derive(Default)]
struct Placemark {
    fields: Vec<(String, Option<String>)>,
    vertices: Vec<(String, String)>,
    track: Vec<(String, String)>,
    track_times: Vec<String>,
}

/// `.kml`.
pub fn read_kml(bytes: &[u8]) -> Result<Table, ReadError> {
    let mut records = Records::default();
    let mut vertices = Vertices::text();
    let mut stack: Vec<String> = Vec::new();
    let mut current: Option<Placemark> = None;
    let mut data_name: Option<String> = None;
    let mut text = String::new();
    let mut placemarks = 0;
    walk(bytes, |step| {
        match step {
            Step::Start(name, attributes) => {
                text.clear();
                if name == "Placemark" {
                    current = Some(Placemark::default());
                    placemarks += 1;
                }
                if matches!(name, "Data" | "SimpleData") {
                    data_name = attributes.into_iter().find(|(k, _)| k == "name").map(|(_, v)| v);
                }
                stack.push(name.to_string());
            }
            Step::Text(t) => text.push_str(t),
            Step::End(name) => {
                let parent = stack.len().checked_sub(2).and_then(|i| stack.get(i)).map(String::as_str);
                let value = text.trim().to_string();
                if let Some(p) = current.as_mut() {
                    let at = |e: String| ReadError::new("geometry", format!("placemark {placemarks}: {e}"));
                    match name {
                        "name" | "description" if parent == Some("Placemark") => {
                            p.fields.push((name.to_string(), (!value.is_empty()).then_some(value.clone())))
                        }
                        "value" if parent == Some("Data") => {
                            if let Some(n) = data_name.clone() {
                                p.fields.push((n, (!value.is_empty()).then_some(value.clone())));
                            }
                        }
                        "SimpleData" => {
                            if let Some(n) = data_name.clone() {
                                p.fields.push((n, (!value.is_empty()).then_some(value.clone())));
                            }
                        }
                        "when" if parent == Some("Track") => p.track_times.push(value.clone()),
                        "when" | "begin" => p.fields.push(("time".into(), Some(value.clone()))),
                        "coordinates" => {
                            let mut found = Vec::new();
                            kml_coordinates(&value, &mut found).map_err(at)?;
                            p.vertices.extend(found.into_iter().map(|(x, y)| (x.to_string(), y.to_string())));
                        }
                        "coord" => {
                            let parts: Vec<&str> = value.split_whitespace().collect();
                            if parts.len() < 2 || !parts[..2].iter().all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
                            {
                                return Err(at(format!("`{value}` is not `lon lat alt`")));
                            }
                            p.track.push((parts[0].to_string(), parts[1].to_string()));
                        }
                        _ => {}
                    }
                }
                if name == "Placemark" {
                    let p = current.take().unwrap_or_default();
                    if !p.track.is_empty() {
                        let timed = p.track_times.len() == p.track.len();
                        for (i, (x, y)) in p.track.iter().enumerate() {
                            let mut fields = p.fields.clone();
                            if timed {
                                fields.push(("time".into(), Some(p.track_times[i].clone())));
                            }
                            records.push(fields).map_err(|e| e.at(&format!("placemark {placemarks}")))?;
                            vertices.push_text(x, y);
                            vertices.end_row();
                        }
                    } else {
                        records.push(p.fields).map_err(|e| e.at(&format!("placemark {placemarks}")))?;
                        p.vertices.iter().for_each(|(x, y)| vertices.push_text(x, y));
                        vertices.end_row();
                    }
                }
                stack.pop();
                text.clear();
            }
        }
        Ok(())
    })?;
    finish(records, vertices)
}

fn finish(records: Records, vertices: Vertices) -> Result<Table, ReadError> {
    let df = records.into_frame().map_err(|e| ReadError::new("corrupt", e.to_string()))?;
    let geometry = Geometry { column: "geometry".into(), vertices, crs: Crs::Geographic, declared: true };
    Ok(Table { df, geometry: Some(geometry) })
}

/// Smallest size at which a compression ratio above [`BOMB_RATIO`] is refused.
const BOMB_FLOOR: u64 = 16 * 1024 * 1024;
/// Expansion beyond this many times the compressed size (past [`BOMB_FLOOR`]) is a
/// zip bomb: KML compresses about 10:1.
const BOMB_RATIO: u64 = 100;

/// `.kmz`: the first `.kml` in the zip (`doc.kml` by convention), expanded up to
/// [`KMZ_LIMIT`] and at most [`BOMB_RATIO`] times its compressed size: a bomb is
/// refused before it is unpacked.
pub fn read_kmz(bytes: &[u8]) -> Result<Table, ReadError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ReadError::new("corrupt", format!("not a readable KMZ (zip): {e}")))?;
    let names: Vec<String> = archive.file_names().map(String::from).collect();
    let name = names
        .iter()
        .find(|n| n.eq_ignore_ascii_case("doc.kml"))
        .or_else(|| names.iter().find(|n| n.to_ascii_lowercase().ends_with(".kml")))
        .ok_or_else(|| ReadError::new("corrupt", "the KMZ holds no .kml document"))?
        .clone();
    let entry = archive.by_name(&name).map_err(|e| ReadError::new("corrupt", format!("KMZ entry `{name}`: {e}")))?;
    let cap = KMZ_LIMIT.min(BOMB_FLOOR.max(entry.compressed_size().saturating_mul(BOMB_RATIO)));
    let mut kml = Vec::new();
    entry
        .take(cap + 1)
        .read_to_end(&mut kml)
        .map_err(|e| ReadError::new("corrupt", format!("KMZ entry `{name}`: {e}")))?;
    if kml.len() as u64 > cap {
        return Err(ReadError::new(
            "zip-bomb",
            format!("the KMZ entry `{name}` expands beyond {} MiB (over {BOMB_RATIO}× its compressed size): refused as a zip bomb", cap >> 20),
        ));
    }
    read_kml(&kml)
}

/// `.gpx`.
pub fn read_gpx(bytes: &[u8]) -> Result<Table, ReadError> {
    let mut records = Records::default();
    let mut vertices = Vertices::text();
    let mut stack: Vec<String> = Vec::new();
    let mut point: Option<(String, String, Vec<(String, Option<String>)>)> = None;
    let mut track: Option<String> = None;
    let mut text = String::new();
    let mut points = 0;
    walk(bytes, |step| {
        match step {
            Step::Start(name, attributes) => {
                text.clear();
                if matches!(name, "wpt" | "rtept" | "trkpt") {
                    points += 1;
                    let get = |k: &str| attributes.iter().find(|(a, _)| a == k).map(|(_, v)| v.trim().to_string());
                    let (Some(lat), Some(lon)) = (get("lat"), get("lon")) else {
                        return Err(ReadError::new("geometry", format!("point {points}: no lat/lon attributes")));
                    };
                    for v in [&lat, &lon] {
                        if !v.parse::<f64>().is_ok_and(f64::is_finite) {
                            return Err(ReadError::new("geometry", format!("point {points}: `{v}` is not a number")));
                        }
                    }
                    let mut fields = vec![("kind".to_string(), Some(name.to_string()))];
                    if name != "wpt" {
                        fields.push(("track".into(), track.clone()));
                    }
                    point = Some((lat, lon, fields));
                }
                if matches!(name, "trk" | "rte") {
                    track = None;
                }
                stack.push(name.to_string());
            }
            Step::Text(t) => text.push_str(t),
            Step::End(name) => {
                let parent = stack.len().checked_sub(2).and_then(|i| stack.get(i)).map(String::as_str);
                let value = text.trim().to_string();
                if name == "name" && matches!(parent, Some("trk" | "rte")) {
                    track = Some(value.clone());
                } else if let Some((_, _, fields)) = point.as_mut() {
                    if matches!(name, "ele" | "time" | "name" | "desc") {
                        fields.push((name.to_string(), (!value.is_empty()).then_some(value.clone())));
                    }
                }
                if matches!(name, "wpt" | "rtept" | "trkpt") {
                    if let Some((lat, lon, fields)) = point.take() {
                        records.push(fields).map_err(|e| e.at(&format!("point {points}")))?;
                        vertices.push_text(&lon, &lat);
                        vertices.end_row();
                    }
                }
                stack.pop();
                text.clear();
            }
        }
        Ok(())
    })?;
    finish(records, vertices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kml_placemarks_and_tracks() {
        let kml = br#"<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2"><Document>
          <Placemark><name>A &amp; B</name><ExtendedData><Data name="kv"><value>500</value></Data></ExtendedData>
            <Point><coordinates>114.123456,30.654321,0</coordinates></Point></Placemark>
          <Placemark><name>line</name><LineString><coordinates>114.1,30.1 114.2,30.2</coordinates></LineString></Placemark>
          <Placemark><gx:Track><when>2026-01-01T00:00:00Z</when><when>2026-01-01T00:01:00Z</when>
            <gx:coord>114.1 30.1 0</gx:coord><gx:coord>114.2 30.2 0</gx:coord></gx:Track></Placemark>
        </Document></kml>"#;
        let t = read_kml(kml).unwrap();
        assert_eq!(t.df.height(), 4);
        assert_eq!(t.df.column("name").unwrap().str().unwrap().get(0), Some("A & B"));
        assert_eq!(t.df.column("kv").unwrap().str().unwrap().get(0), Some("500"));
        assert_eq!(t.df.column("time").unwrap().str().unwrap().get(3), Some("2026-01-01T00:01:00Z"));
        assert_eq!(t.geometry.unwrap().vertices.offsets, vec![0, 1, 3, 4, 5]);
        assert!(read_kml(b"<kml><Placemark><Point><coordinates>x,y</coordinates></Point></Placemark></kml>").is_err());
    }

    #[test]
    fn gpx_points() {
        let gpx = br#"<gpx><wpt lat="30.1" lon="114.1"><name>w</name></wpt>
          <trk><name>t1</name><trkseg><trkpt lat="30.2" lon="114.2"><ele>12</ele><time>2026-01-01T00:00:00Z</time></trkpt>
          <trkpt lat="30.3" lon="114.3"/></trkseg></trk></gpx>"#;
        let t = read_gpx(gpx).unwrap();
        assert_eq!(t.df.height(), 3);
        assert_eq!(t.df.column("track").unwrap().str().unwrap().get(2), Some("t1"));
        let g = t.geometry.unwrap();
        assert_eq!(g.vertices.offsets, vec![0, 1, 2, 3]);
    }
}
