//! Spreadsheets (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) through calamine: each
//! sheet with a header row is a dataset (`file.xlsx#Sheet1`). Title rows above the
//! header are skipped; numeric cells are binary doubles (their decimals are those of
//! the shortest round-trip form), text cells are kept as written.

use std::io::Cursor;

use calamine::{open_workbook_auto_from_rs, Data, Reader, Sheets};
use polars::prelude::*;

use super::{ReadError, Table};

type Workbook = Sheets<Cursor<Vec<u8>>>;

/// An OLE2 compound file: legacy `.xls`, or an encrypted (password-protected) OOXML
/// workbook, which is stored in that container.
fn is_compound_file(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

fn open(bytes: Vec<u8>, extension: &str) -> Result<Workbook, ReadError> {
    let compound = is_compound_file(&bytes);
    let ooxml = matches!(extension, "xlsx" | "xlsm" | "xlsb");
    if compound && ooxml {
        return Err(ReadError::new(
            "encrypted",
            "the workbook is password-protected (encrypted): mosaic cannot read it; check the unencrypted workbook",
        ));
    }
    open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
        let why = if compound && !ooxml {
            format!("not a readable .xls workbook ({e}); an encrypted workbook cannot be checked")
        } else {
            format!("not a readable {extension} workbook (truncated or damaged?): {e}")
        };
        ReadError::new("corrupt", why)
    })
}

/// The sheets of a workbook in workbook order, each with whether it holds a table
/// (a header row): sheets without one (blank, notes) are not datasets.
pub fn sheets(bytes: Vec<u8>, extension: &str) -> Result<Vec<(String, bool)>, ReadError> {
    let mut workbook = open(bytes, extension)?;
    let mut out = Vec::new();
    for name in workbook.sheet_names() {
        let range =
            workbook.worksheet_range(&name).map_err(|e| ReadError::new("corrupt", format!("sheet `{name}`: {e}")))?;
        let rows: Vec<&[Data]> = range.rows().collect();
        let table = header_row(&rows).is_some();
        out.push((name, table));
    }
    Ok(out)
}

fn is_text(d: &Data) -> bool {
    matches!(d, Data::String(s) if !s.trim().is_empty())
}

fn filled(row: &[Data]) -> usize {
    row.iter().filter(|d| !matches!(d, Data::Empty) && !matches!(d, Data::String(s) if s.trim().is_empty())).count()
}

/// The header row: the first row whose filled cells are all text, that fills at least
/// half of the sheet's width (title rows above a table fill one merged cell) and at
/// least two cells when the sheet is wider than one column.
fn header_row(rows: &[&[Data]]) -> Option<usize> {
    let width = rows.iter().take(200).map(|r| filled(r)).max()?;
    rows.iter().take(200).position(|r| {
        let n = filled(r);
        n > 0
            && n * 2 >= width
            && (n >= 2 || width == 1)
            && r.iter().all(|d| matches!(d, Data::Empty) || is_text(d) || matches!(d, Data::String(_)))
    })
}

fn text_of(d: &Data) -> Option<String> {
    match d {
        Data::Empty => None,
        Data::String(s) if s.trim().is_empty() => None,
        Data::String(s) => Some(s.clone()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) => Some(format!("{f}")),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(dt) => dt.as_datetime().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
        Data::Error(_) => None,
    }
}

/// Read one sheet. `Ok(None)` when it has no header row (empty, or not a table).
pub fn read(bytes: Vec<u8>, extension: &str, sheet: &str) -> Result<Option<Table>, ReadError> {
    let mut workbook = open(bytes, extension)?;
    let range =
        workbook.worksheet_range(sheet).map_err(|e| ReadError::new("corrupt", format!("sheet `{sheet}`: {e}")))?;
    let rows: Vec<&[Data]> = range.rows().collect();
    let Some(h) = header_row(&rows) else { return Ok(None) };
    let header = rows[h];
    let last = header.iter().rposition(|d| !matches!(d, Data::Empty)).unwrap_or(0);
    let mut names: Vec<String> = Vec::new();
    for (i, d) in header[..=last].iter().enumerate() {
        let name = text_of(d).map(|s| s.trim().to_string()).unwrap_or_else(|| format!("column_{}", i + 1));
        if let Some(j) = names.iter().position(|n| n.to_lowercase() == name.to_lowercase()) {
            return Err(ReadError::new(
                "duplicate-column",
                format!("sheet `{sheet}`: column `{name}` appears twice (columns {} and {}); rename one", j + 1, i + 1),
            ));
        }
        names.push(name);
    }
    let data: Vec<&[Data]> = rows[h + 1..].iter().copied().filter(|r| filled(r) > 0).collect();
    let mut columns = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let cells: Vec<&Data> = data.iter().map(|r| r.get(i).unwrap_or(&Data::Empty)).collect();
        let numeric = cells.iter().all(|d| matches!(d, Data::Empty | Data::Float(_) | Data::Int(_)))
            && cells.iter().any(|d| !matches!(d, Data::Empty));
        let column = if numeric {
            let values: Vec<Option<f64>> = cells
                .iter()
                .map(|d| match d {
                    Data::Float(f) => Some(*f),
                    Data::Int(i) => Some(*i as f64),
                    _ => None,
                })
                .collect();
            Column::new(name.as_str().into(), values)
        } else {
            let values: Vec<Option<String>> = cells.iter().map(|d| text_of(d)).collect();
            Column::new(name.as_str().into(), values)
        };
        columns.push(column);
    }
    let df = DataFrame::new_infer_height(columns).map_err(|e| ReadError::new("corrupt", e.to_string()))?;
    Ok(Some(Table { df, geometry: None }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_below_a_title_row() {
        let title = [Data::String("某市变电站一览表".into()), Data::Empty, Data::Empty];
        let header = [Data::String("site_id".into()), Data::String("lat".into()), Data::String("lon".into())];
        let row = [Data::String("S1".into()), Data::Float(30.1), Data::Float(114.2)];
        let rows: Vec<&[Data]> = vec![&title, &[], &header, &row];
        assert_eq!(header_row(&rows), Some(2));
        let numbers: Vec<&[Data]> = vec![&row, &row];
        assert_eq!(header_row(&numbers), None);
    }

    #[test]
    fn encrypted_workbooks_are_named() {
        let mut cfb = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        cfb.extend([0u8; 504]);
        assert_eq!(open(cfb, "xlsx").err().map(|e| e.kind), Some("encrypted"));
        assert_eq!(open(b"PK\x03\x04 truncated".to_vec(), "xlsx").err().map(|e| e.kind), Some("corrupt"));
    }
}
