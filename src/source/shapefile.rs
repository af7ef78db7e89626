//! Shapefiles: `.shp` (geometries) with its `.dbf` (attributes), `.prj` (coordinate
//! system) and `.cpg` (text encoding). The DBF text is decoded in the `.cpg`
//! encoding, else as its language driver says, else detected like CSV (UTF-8, else
//! GBK/GB18030). Numeric fields are read as numbers: DBF pads them to the field's
//! declared decimals, which say nothing about the data's precision.

use std::path::Path;

use polars::prelude::*;

use super::crs::{self, Crs};
use super::geometry::{Geometry, Vertices};
use super::text::{self, Encoding};
use super::{ReadError, Table};

/// Files that belong to a `.shp` and are read with it (never datasets of their own).
pub const SIDECARS: [&str; 9] = ["dbf", "shx", "prj", "cpg", "qix", "sbn", "sbx", "fix", "xml"];

/// The file beside `shp` with extension `ext` (either case), if present.
pub fn sidecar(shp: &Path, ext: &str) -> Option<std::path::PathBuf> {
    [ext.to_string(), ext.to_ascii_uppercase()].into_iter().map(|e| shp.with_extension(e)).find(|p| p.is_file())
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_f64(b: &[u8], at: usize) -> Option<f64> {
    Some(f64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Vertices of every record of a `.shp`.
pub fn read_shp(bytes: &[u8]) -> Result<Vertices, ReadError> {
    let corrupt = |m: String| ReadError::new("corrupt", m);
    if bytes.len() < 100 || be_i32(bytes, 0) != Some(9994) {
        return Err(corrupt("not a Shapefile (.shp header missing)".into()));
    }
    let mut vertices = Vertices::float();
    let mut at = 100;
    let mut record = 0;
    while at + 8 <= bytes.len() {
        record += 1;
        let words = be_i32(bytes, at + 4).unwrap_or(-1);
        if words < 2 {
            return Err(corrupt(format!("shape {record}: bad record length")));
        }
        let len = words as usize * 2;
        let content =
            bytes.get(at + 8..at + 8 + len).ok_or_else(|| corrupt(format!("shape {record}: the .shp is truncated")))?;
        shape(content, &mut vertices).map_err(|e| corrupt(format!("shape {record}: {e}")))?;
        vertices.end_row();
        at += 8 + len;
    }
    Ok(vertices)
}

fn shape(c: &[u8], out: &mut Vertices) -> Result<(), String> {
    let short = || "record shorter than its shape type needs".to_string();
    let kind = le_i32(c, 0).ok_or_else(short)?;
    let mut point = |at: usize| -> Result<(), String> {
        let (x, y) = (le_f64(c, at).ok_or_else(short)?, le_f64(c, at + 8).ok_or_else(short)?);
        if !x.is_finite() || !y.is_finite() {
            return Err("a coordinate is not a finite number".into());
        }
        out.push_float(x, y);
        Ok(())
    };
    match kind {
        0 => Ok(()),
        1 | 11 | 21 => point(4),
        8 | 18 | 28 => {
            let n = le_i32(c, 36).ok_or_else(short)?;
            if n < 0 || 40 + n as usize * 16 > c.len() {
                return Err(short());
            }
            (0..n as usize).try_for_each(|i| point(40 + i * 16))
        }
        3 | 13 | 23 | 5 | 15 | 25 | 31 => {
            let parts = le_i32(c, 36).ok_or_else(short)?;
            let n = le_i32(c, 40).ok_or_else(short)?;
            if parts < 0 || n < 0 {
                return Err(short());
            }
            // Multipatches also list a type per part.
            let extra = if kind == 31 { parts as usize * 4 } else { 0 };
            let first = 44 + parts as usize * 4 + extra;
            if first + n as usize * 16 > c.len() {
                return Err(short());
            }
            (0..n as usize).try_for_each(|i| point(first + i * 16))
        }
        other => Err(format!("unknown shape type {other}")),
    }
}

/// Encoding of a `.cpg`, or of a DBF's language driver byte.
fn declared_encoding(cpg: Option<&str>, ldid: u8) -> Result<Option<Encoding>, ReadError> {
    if let Some(name) = cpg.map(str::trim).filter(|n| !n.is_empty()) {
        let code = name.trim_start_matches("CP").trim_start_matches("cp");
        return match Encoding::parse(name).or(match code {
            "936" => Some(Encoding::Gb18030),
            "65001" => Some(Encoding::Utf8),
            _ => None,
        }) {
            Some(e) => Ok(Some(e)),
            None => Err(ReadError::new(
                "encoding",
                format!("the .cpg names encoding `{name}`; mosaic reads UTF-8 and GBK/GB18030"),
            )),
        };
    }
    Ok(match ldid {
        0x4D | 0x7A => Some(Encoding::Gb18030),
        _ => None,
    })
}

struct Field {
    name: String,
    kind: u8,
    offset: usize,
    len: usize,
}

/// The attribute table of a `.dbf`, with the number of records it declares.
pub fn read_dbf(bytes: &[u8], cpg: Option<&str>, declared: Option<Encoding>) -> Result<DataFrame, ReadError> {
    let corrupt = |m: String| ReadError::new("corrupt", m);
    if bytes.len() < 33 {
        return Err(corrupt("the .dbf is truncated".into()));
    }
    let records = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let record_len = u16::from_le_bytes([bytes[10], bytes[11]]) as usize;
    let encoding = match declared {
        Some(e) => Some(e),
        None => declared_encoding(cpg, bytes[29])?,
    };
    // All text of the file (names and values) decodes alike: detect on the whole file.
    let text_bytes = bytes.get(32..).unwrap_or_default();
    let (_, detected) = text::decode(text_bytes, encoding)
        .map_err(|e| ReadError::new("encoding", format!("the .dbf text is {}", e.message)))?;
    let decode = |raw: &[u8]| -> Result<String, ReadError> {
        let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
        text::decode(raw, Some(detected)).map(|(t, _)| String::from_utf8_lossy(&t).trim().to_string()).map_err(|e| {
            ReadError::new("encoding", format!("the .dbf holds bytes that are not {}: {}", detected.name(), e.message))
        })
    };
    let mut fields = Vec::new();
    let mut at = 32;
    let mut offset = 1;
    while at + 32 <= header_len.min(bytes.len()) && bytes[at] != 0x0D {
        let d = &bytes[at..at + 32];
        let len = d[16] as usize;
        fields.push(Field { name: decode(&d[..11])?, kind: d[11], offset, len });
        offset += len;
        at += 32;
    }
    if fields.is_empty() {
        return Err(corrupt("the .dbf declares no fields".into()));
    }
    if offset > record_len {
        return Err(corrupt("the .dbf fields are wider than its records".into()));
    }
    let body = bytes.get(header_len..).ok_or_else(|| corrupt("the .dbf is truncated".into()))?;
    if body.len() < records * record_len {
        return Err(corrupt(format!(
            "the .dbf declares {records} records but holds {}",
            body.len() / record_len.max(1)
        )));
    }
    let mut columns = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if fields[..i].iter().any(|g| g.name.to_lowercase() == f.name.to_lowercase()) {
            return Err(ReadError::new("duplicate-column", format!("the .dbf has field `{}` twice", f.name)));
        }
        let cells = (0..records).map(|r| &body[r * record_len + f.offset..r * record_len + f.offset + f.len]);
        let column = match f.kind {
            b'N' | b'F' => {
                let values: Vec<Option<f64>> = cells
                    .map(|c| {
                        std::str::from_utf8(c).ok().and_then(|s| s.trim().parse::<f64>().ok()).filter(|x| x.is_finite())
                    })
                    .collect();
                Column::new(f.name.as_str().into(), values)
            }
            b'M' | b'G' | b'B' | b'P' => Column::new(f.name.as_str().into(), vec![None::<String>; records]),
            _ => {
                let values: Vec<Option<String>> = cells
                    .enumerate()
                    .map(|(r, c)| {
                        decode(c)
                            .map(|s| (!s.is_empty()).then_some(s))
                            .map_err(|e| ReadError::new(e.kind, format!("record {}: {}", r + 1, e.message)))
                    })
                    .collect::<Result<_, _>>()?;
                Column::new(f.name.as_str().into(), values)
            }
        };
        columns.push(column);
    }
    let mut df = DataFrame::new_infer_height(columns).map_err(|e| corrupt(e.to_string()))?;
    // Deleted records ('*') are not part of the table.
    let kept: Vec<bool> = (0..records).map(|r| body[r * record_len] != b'*').collect();
    if kept.iter().any(|k| !k) {
        df = df.filter(&BooleanChunked::from_slice("".into(), &kept)).map_err(|e| corrupt(e.to_string()))?;
    }
    Ok(df)
}

/// Read a Shapefile: the `.shp`'s bytes, and its sidecars found beside `path`.
pub fn read(path: &Path, shp: &[u8], declared: Option<Encoding>) -> Result<Table, ReadError> {
    let dbf_path = sidecar(path, "dbf").ok_or_else(|| {
        ReadError::new("missing-sidecar", "the .dbf beside this .shp is missing: a Shapefile needs its attribute table")
    })?;
    let dbf = std::fs::read(&dbf_path).map_err(|e| ReadError::new("io", format!("{}: {e}", dbf_path.display())))?;
    let cpg = sidecar(path, "cpg").and_then(|p| std::fs::read_to_string(p).ok());
    let crs = match sidecar(path, "prj") {
        Some(p) => {
            let text =
                std::fs::read_to_string(&p).map_err(|e| ReadError::new("io", format!("{}: {e}", p.display())))?;
            crs::from_prj(&text).map_err(|e| ReadError::new("crs", e))?
        }
        None => Crs::Geographic,
    };
    let vertices = read_shp(shp)?;
    let mut df = read_dbf(&dbf, cpg.as_deref(), declared)?;
    let deleted = u32::from_le_bytes([dbf[4], dbf[5], dbf[6], dbf[7]]) as usize != df.height();
    if vertices.rows() != df.height() && !deleted {
        return Err(ReadError::new(
            "record-mismatch",
            format!("the .shp has {} shapes but the .dbf has {} records", vertices.rows(), df.height()),
        ));
    }
    if deleted {
        return Err(ReadError::new(
            "record-mismatch",
            "the .dbf marks records deleted; rewrite the Shapefile without them",
        ));
    }
    if df.width() == 0 {
        df = DataFrame::empty_with_height(vertices.rows());
    }
    let geometry = Geometry { column: "geometry".into(), vertices, crs, declared: true };
    Ok(Table { df, geometry: Some(geometry) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DBF with one C field and one N field.
    pub fn dbf(names: (&[u8], &[u8]), rows: &[(&[u8], &str)], ldid: u8) -> Vec<u8> {
        let record_len = 1 + 10 + 12;
        let header_len = 32 + 2 * 32 + 1;
        let mut b = vec![3u8, 126, 1, 1];
        b.extend((rows.len() as u32).to_le_bytes());
        b.extend((header_len as u16).to_le_bytes());
        b.extend((record_len as u16).to_le_bytes());
        b.extend([0u8; 17]);
        b.push(ldid);
        b.extend([0u8; 2]);
        for (name, kind, len, dec) in [(names.0, b'C', 10u8, 0u8), (names.1, b'N', 12, 6)] {
            let mut d = [0u8; 32];
            d[..name.len()].copy_from_slice(name);
            d[11] = kind;
            d[16] = len;
            d[17] = dec;
            b.extend(d);
        }
        b.push(0x0D);
        for (text, number) in rows {
            b.push(b' ');
            let mut t = text.to_vec();
            t.resize(10, b' ');
            b.extend(t);
            b.extend(format!("{number:>12}").as_bytes());
        }
        b.push(0x1A);
        b
    }

    #[test]
    fn dbf_in_gbk_with_chinese_names() {
        let (name, _, _) = encoding_rs::GBK.encode("名称");
        let (value, _, _) = encoding_rs::GBK.encode("甲站");
        let bytes = dbf((&name, b"LAT"), &[(&value, "30.100000"), (b"B", "31.250000")], 0x4D);
        let df = read_dbf(&bytes, None, None).unwrap();
        assert_eq!(df.get_column_names()[0].as_str(), "名称");
        assert_eq!(df.column("名称").unwrap().str().unwrap().get(0), Some("甲站"));
        assert_eq!(df.column("LAT").unwrap().f64().unwrap().get(1), Some(31.25));
        // Undetectable without the driver byte: GBK is still found by detection.
        assert!(read_dbf(&bytes[..], Some("UTF-8"), None).is_err());
        let short = &bytes[..bytes.len() - 20];
        assert!(read_dbf(short, None, None).unwrap_err().message.contains("declares 2 records"));
    }

    #[test]
    fn shp_points_and_lines() {
        let mut b = vec![0u8; 100];
        b[..4].copy_from_slice(&9994i32.to_be_bytes());
        let mut push = |content: Vec<u8>| {
            b.extend(1i32.to_be_bytes());
            b.extend(((content.len() / 2) as i32).to_be_bytes());
            b.extend(content);
        };
        let mut p = 1i32.to_le_bytes().to_vec();
        p.extend(114.5f64.to_le_bytes());
        p.extend(30.5f64.to_le_bytes());
        push(p);
        let mut l = 3i32.to_le_bytes().to_vec();
        l.extend([0u8; 32]);
        l.extend(1i32.to_le_bytes());
        l.extend(2i32.to_le_bytes());
        l.extend(0i32.to_le_bytes());
        for v in [114.1f64, 30.1, 114.2, 30.2] {
            l.extend(v.to_le_bytes());
        }
        push(l);
        let v = read_shp(&b).unwrap();
        assert_eq!(v.offsets, vec![0, 1, 3]);
        assert!(read_shp(&b[..b.len() - 8]).is_err());
    }
}
