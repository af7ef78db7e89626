//! Coordinate reference systems of projected positions (DESIGN §3a): EPSG codes of
//! the CGCS2000 Gauss–Krüger zones (3° and 6°, with and without zone-prefixed
//! eastings), Web Mercator and UTM, and the `.prj` texts Shapefiles carry. Positions
//! in metres are converted to longitude/latitude with proj4rs (pure Rust, no
//! system PROJ) for cells, area, contiguity and linkage; their resolution stays the
//! metres their decimals carry. Also the order of a one-column position's numbers.
//! A leaf: rule packs (a tag's declared system and order) and reading both use it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use proj4rs::Proj;

/// What a geometry's or a tag's coordinates are.
#[derive(Clone, Debug, PartialEq)]
pub enum Crs {
    /// Longitude/latitude in degrees (WGS 84, CGCS2000, GCJ-02 … alike for resolution).
    Geographic,
    /// Planar metres, converted with this proj string (`+proj=tmerc …`).
    Projected(String),
}

const GRS80: &str = "+ellps=GRS80 +units=m +no_defs";

/// The proj string of an EPSG code mosaic knows, or why not.
pub fn epsg(code: u32) -> Result<Crs, String> {
    let tmerc = |lon0: u32, x0: u64| {
        Crs::Projected(format!("+proj=tmerc +lat_0=0 +lon_0={lon0} +k=1 +x_0={x0} +y_0=0 {GRS80}"))
    };
    Ok(match code {
        4326 | 4490 | 4214 | 4610 | 4979 => Crs::Geographic,
        // CGCS2000 / Gauss-Kruger zone 13–23 (6°, eastings prefixed with the zone).
        4491..=4501 => {
            let zone = code - 4491 + 13;
            tmerc(zone * 6 - 3, u64::from(zone) * 1_000_000 + 500_000)
        }
        // CGCS2000 / Gauss-Kruger CM 75E–135E (6°).
        4502..=4512 => tmerc(75 + 6 * (code - 4502), 500_000),
        // CGCS2000 / 3-degree Gauss-Kruger zone 25–45 (eastings prefixed with the zone).
        4513..=4533 => {
            let zone = code - 4513 + 25;
            tmerc(zone * 3, u64::from(zone) * 1_000_000 + 500_000)
        }
        // CGCS2000 / 3-degree Gauss-Kruger CM 75E–135E.
        4534..=4554 => tmerc(75 + 3 * (code - 4534), 500_000),
        3857 | 900_913 => Crs::Projected(
            "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +no_defs".into(),
        ),
        32601..=32660 => Crs::Projected(format!("+proj=utm +zone={} +datum=WGS84 +units=m +no_defs", code - 32600)),
        32701..=32760 => {
            Crs::Projected(format!("+proj=utm +zone={} +south +datum=WGS84 +units=m +no_defs", code - 32700))
        }
        _ => {
            return Err(format!(
                "EPSG:{code} is not a coordinate system mosaic converts (CGCS2000 Gauss–Krüger 4491–4554, \
                 3857, UTM 326xx/327xx, or geographic 4326/4490)"
            ))
        }
    })
}

/// The false easting of a projected system (zone prefix included), to check eastings against.
pub fn false_easting(proj: &str) -> Option<f64> {
    proj.split_whitespace().find_map(|p| p.strip_prefix("+x_0=")).and_then(|v| v.parse().ok())
}

/// A Gauss–Krüger system with zone-prefixed eastings, moved to the zone the data's
/// prefix names (`39512345.678` is zone 39): the prefix states the zone, so a tag
/// declaring one prefixed zone reads every zone of the same family (3° or 6°).
pub fn rezone(proj: &str, easting: f64) -> Option<String> {
    let x0 = false_easting(proj)?;
    let lon0: f64 = proj.split_whitespace().find_map(|p| p.strip_prefix("+lon_0="))?.parse().ok()?;
    if x0 < 10_000_000.0 || !easting.is_finite() {
        return None;
    }
    let declared = (x0 / 1_000_000.0).floor();
    let zone = (easting / 1_000_000.0).floor();
    let (width, first, last) = if (lon0 - declared * 3.0).abs() < 1e-9 { (3.0, 25.0, 45.0) } else { (6.0, 13.0, 23.0) };
    if zone == declared || !(first..=last).contains(&zone) {
        return None;
    }
    let centre = if width == 3.0 { zone * 3.0 } else { zone * 6.0 - 3.0 };
    Some(
        proj.replace(&format!("+lon_0={}", fmt(lon0)), &format!("+lon_0={}", fmt(centre)))
            .replace(&format!("+x_0={}", fmt(x0)), &format!("+x_0={}", fmt(zone * 1_000_000.0 + 500_000.0))),
    )
}

fn fmt(v: f64) -> String {
    format!("{v}")
}

/// The coordinate system a Shapefile's `.prj` (WKT 1) names.
pub fn from_prj(text: &str) -> Result<Crs, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    if upper.starts_with("GEOGCS") || upper.starts_with("GEOGCRS") {
        return Ok(Crs::Geographic);
    }
    if !upper.starts_with("PROJCS") && !upper.starts_with("PROJCRS") {
        let shown: String = t.chars().take(60).collect();
        return Err(format!("the .prj is not a coordinate system mosaic knows: `{shown}`"));
    }
    // The projection's own EPSG code, when the .prj ends with one.
    if let Some(code) = last_authority(t) {
        if let Ok(crs) = epsg(code) {
            return Ok(crs);
        }
    }
    let parameter = |name: &str| -> Option<f64> {
        let at = upper.find(&format!("PARAMETER[\"{}\"", name.to_ascii_uppercase()))?;
        let rest = &t[at..];
        let value = rest.split(',').nth(1)?.trim_end_matches(|c: char| c == ']' || c.is_whitespace());
        value.trim().parse().ok()
    };
    let projection = upper.split("PROJECTION[\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("").to_string();
    let lon0 = parameter("central_meridian").unwrap_or(0.0);
    let x0 = parameter("false_easting").unwrap_or(0.0);
    let y0 = parameter("false_northing").unwrap_or(0.0);
    let k = parameter("scale_factor").unwrap_or(1.0);
    let lat0 = parameter("latitude_of_origin").unwrap_or(0.0);
    let ellps = if upper.contains("WGS_1984") || upper.contains("WGS 84") { "+datum=WGS84" } else { "+ellps=GRS80" };
    match projection.as_str() {
        "TRANSVERSE_MERCATOR" | "GAUSS_KRUGER" | "GAUSS_KRUEGER" => Ok(Crs::Projected(format!(
            "+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k={k} +x_0={x0} +y_0={y0} {ellps} +units=m +no_defs"
        ))),
        "MERCATOR_AUXILIARY_SPHERE" | "POPULAR_VISUALISATION_PSEUDO_MERCATOR" => epsg(3857),
        other => Err(format!("the .prj uses projection `{other}`, which mosaic does not convert")),
    }
}

fn last_authority(text: &str) -> Option<u32> {
    let upper = text.to_ascii_uppercase();
    let at = upper.rfind("AUTHORITY[\"EPSG\"")?;
    // Only the projection's own authority (the last one, at the outer level).
    let rest = &text[at..];
    rest.split(',').nth(1)?.trim().trim_matches(|c| c == '"' || c == ']').parse().ok()
}

fn cached(proj: &str) -> Result<std::sync::Arc<Proj>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, std::sync::Arc<Proj>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().map_err(|_| "projection cache poisoned".to_string())?;
    if let Some(p) = map.get(proj) {
        return Ok(p.clone());
    }
    let p = std::sync::Arc::new(Proj::from_proj_string(proj).map_err(|e| format!("projection `{proj}`: {e:?}"))?);
    map.insert(proj.to_string(), p.clone());
    Ok(p)
}

/// A converter from one projected system to longitude/latitude degrees.
pub struct ToDegrees {
    src: std::sync::Arc<Proj>,
    dst: std::sync::Arc<Proj>,
}

impl ToDegrees {
    pub fn new(proj: &str) -> Result<Self, String> {
        Ok(ToDegrees { src: cached(proj)?, dst: cached("+proj=longlat +ellps=GRS80 +no_defs")? })
    }

    /// `(x, y)` in metres → `(lon, lat)` in degrees; `None` when it does not convert.
    pub fn convert(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        let mut p = (x, y, 0.0);
        proj4rs::transform::transform(&self.src, &self.dst, &mut p).ok()?;
        let (lon, lat) = (p.0.to_degrees(), p.1.to_degrees());
        (lon.is_finite() && lat.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0).then_some((lon, lat))
    }
}

/// Order of the two numbers of a one-column position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    LonLat,
    LatLon,
}

impl Order {
    pub fn parse(s: &str) -> Option<Order> {
        match s.to_ascii_lowercase().replace(['-', '_', ',', ' '], "").as_str() {
            "lonlat" | "lnglat" | "xy" => Some(Order::LonLat),
            "latlon" | "latlng" | "yx" => Some(Order::LatLon),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Order::LonLat => "lonlat",
            Order::LatLon => "latlon",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_kruger_zones_convert() {
        // EPSG:4527 (3° zone 39, CM 117°E, prefixed): the central meridian at the equator.
        let Crs::Projected(p) = epsg(4527).unwrap() else { panic!() };
        let c = ToDegrees::new(&p).unwrap();
        let (lon, lat) = c.convert(39_500_000.0, 3_400_000.0).unwrap();
        assert!((lon - 117.0).abs() < 1e-9, "{lon}");
        assert!((lat - 30.71).abs() < 0.02, "{lat}");
        // The same point without the prefix in EPSG:4548 (CM 117°E).
        let Crs::Projected(q) = epsg(4548).unwrap() else { panic!() };
        let (lon2, lat2) = ToDegrees::new(&q).unwrap().convert(500_000.0, 3_400_000.0).unwrap();
        assert!((lon2 - lon).abs() < 1e-9 && (lat2 - lat).abs() < 1e-9);
        assert_eq!(false_easting(&p), Some(39_500_000.0));
        let zone38 = rezone(&p, 38_512_345.678).unwrap();
        assert!(zone38.contains("+lon_0=114 ") && zone38.contains("+x_0=38500000"), "{zone38}");
        assert_eq!(rezone(&p, 39_512_345.0), None);
        assert_eq!(rezone(&q, 38_512_345.0), None);
        assert!(epsg(2000).is_err());
    }

    #[test]
    fn web_mercator_and_utm() {
        let Crs::Projected(p) = epsg(3857).unwrap() else { panic!() };
        let (lon, lat) = ToDegrees::new(&p).unwrap().convert(12_703_000.0, 3_588_000.0).unwrap();
        assert!((lon - 114.11).abs() < 0.01 && (lat - 30.6).abs() < 0.1, "{lon} {lat}");
        let Crs::Projected(u) = epsg(32650).unwrap() else { panic!() };
        let (lon, _) = ToDegrees::new(&u).unwrap().convert(500_000.0, 3_400_000.0).unwrap();
        assert!((lon - 117.0).abs() < 1e-6);
    }

    #[test]
    fn prj_texts() {
        let gk = r#"PROJCS["CGCS2000_3_Degree_GK_CM_117E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",117.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
        let Crs::Projected(p) = from_prj(gk).unwrap() else { panic!() };
        assert!(p.contains("+lon_0=117") && p.contains("+x_0=500000"), "{p}");
        assert_eq!(from_prj(r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984"]]"#).unwrap(), Crs::Geographic);
        assert!(from_prj("LOCAL_CS[\"x\"]").is_err());
        assert!(from_prj(r#"PROJCS["x",PROJECTION["Polyconic"]]"#).is_err());
    }
}
