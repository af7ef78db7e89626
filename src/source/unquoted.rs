//! A delimited text without quotes read straight into text columns: the columns a
//! scan binds, split out of the mapped bytes on all cores, each value as written.
//! It gives what polars' CSV reader gives with every column read as text and empty
//! fields as nulls (a unit test compares the two), at less than half the cost, since
//! a text without quotes needs no quote-aware line search. Anything else — a quote
//! anywhere, a line with another count of fields, a CR that does not end a line,
//! text that is not UTF-8, a header that does not name a column exactly — is `None`,
//! and the caller reads the text with polars as before. A text it reads has had
//! every line's fields counted, so `source::open_deferred` leaves the count of the
//! lines past the first thousand to it.

use polars::prelude::*;

/// Texts up to this size are parsed once into the columns a scan reads (larger ones
/// are read per pass; `scan::read`).
pub const PARSE_ONCE_MAX_BYTES: u64 = 1 << 30;

/// Lines per builder flush: bounds the memory a thread holds before its values are
/// copied into columns.
const BATCH_LINES: usize = 1 << 16;

/// Split `body` into about `parts` pieces of whole lines.
pub(crate) fn line_chunks(body: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 1..=parts {
        let target = (body.len() * i / parts).max(start);
        let end = if i == parts {
            body.len()
        } else {
            memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |at| target + at + 1)
        };
        chunks.push(&body[start..end]);
        start = end;
    }
    chunks
}

/// `more` after the values in `column` (which may have none yet).
fn append(column: &mut Option<StringChunked>, more: StringChunked) -> Option<()> {
    match column {
        Some(c) => {
            c.append_owned(more).ok()?;
        }
        None => *column = Some(more),
    }
    Some(())
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The columns named `wanted` (in that order) of `text`, a header line then one
/// record per line separated by `delimiter`; a blank line is a row of nulls.
pub fn read_columns(text: &[u8], delimiter: u8, wanted: &[&str]) -> Option<Vec<Column>> {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    read_in_parts(text, delimiter, wanted, parts.min(text.len() / (1 << 20) + 1))
}

/// [`read_columns`] with the body split in `parts` pieces read side by side.
fn read_in_parts(text: &[u8], delimiter: u8, wanted: &[&str], parts: usize) -> Option<Vec<Column>> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(text);
    // A quote, or a CR not before a line end (it ends a record for the csv reader, not
    // here): looked for in the header here and in each piece of the body as it is read.
    let unreadable = |bytes: &[u8]| {
        memchr::memchr2_iter(b'"', b'\r', bytes).any(|at| bytes[at] == b'"' || bytes.get(at + 1) != Some(&b'\n'))
    };
    let header_end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    if unreadable(&text[..(header_end + 1).min(text.len())]) {
        return None;
    }
    let names: Vec<&[u8]> = strip_cr(&text[..header_end]).split(|b| *b == delimiter).collect();
    // Field index → the wanted column it fills.
    let mut slot_of = vec![usize::MAX; names.len()];
    for (slot, name) in wanted.iter().enumerate() {
        let mut found = names.iter().enumerate().filter(|(_, n)| **n == name.as_bytes());
        let (index, _) = found.next()?;
        if found.next().is_some() {
            return None;
        }
        slot_of[index] = slot;
    }
    let body = &text[(header_end + 1).min(text.len())..];
    let read = |chunk: &[u8]| -> Option<Vec<StringChunked>> {
        if unreadable(chunk) {
            return None;
        }
        let chunk = std::str::from_utf8(chunk).ok()?.as_bytes();
        let mut columns: Vec<Option<StringChunked>> = vec![None; wanted.len()];
        let new_builders = || -> Vec<StringChunkedBuilder> {
            wanted.iter().map(|w| StringChunkedBuilder::new((*w).into(), BATCH_LINES)).collect()
        };
        let flush = |builders: Vec<StringChunkedBuilder>, columns: &mut Vec<Option<StringChunked>>| -> Option<()> {
            for (column, builder) in columns.iter_mut().zip(builders) {
                append(column, builder.finish())?;
            }
            Some(())
        };
        let mut builders = new_builders();
        let mut lines = 0;
        // One walk over the delimiters and line ends of the whole piece (a search per
        // line and then per field had scanned each line twice); the piece after its
        // last line end is a line when it holds anything.
        let last = (!chunk.is_empty() && !chunk.ends_with(b"\n")).then_some(chunk.len());
        // `start`: where the current field begins (at a line's first field, the line).
        let (mut field, mut start) = (0, 0);
        for at in memchr::memchr2_iter(delimiter, b'\n', chunk).chain(last) {
            let line_end = chunk.get(at).is_none_or(|b| *b == b'\n');
            // A CR before a line end ends the line's last field (`unreadable` allows
            // no other).
            let end = if line_end && at > start && chunk[at - 1] == b'\r' { at - 1 } else { at };
            if line_end && field == 0 && end == start {
                // A blank line is a row of nulls, as polars reads it.
                builders.iter_mut().for_each(|b| b.append_null());
            } else {
                let slot = *slot_of.get(field)?;
                if slot != usize::MAX {
                    // SAFETY: `chunk` is valid UTF-8 and the value is cut at ASCII bytes
                    // (delimiter, line end), so it is valid UTF-8 too.
                    let value = unsafe { std::str::from_utf8_unchecked(&chunk[start..end]) };
                    builders[slot].append_option((!value.is_empty()).then_some(value));
                }
                field += 1;
                if line_end && field != names.len() {
                    return None;
                }
            }
            start = at + 1;
            if line_end {
                field = 0;
                lines += 1;
                if lines % BATCH_LINES == 0 {
                    flush(std::mem::replace(&mut builders, new_builders()), &mut columns)?;
                }
            }
        }
        flush(builders, &mut columns)?;
        columns.into_iter().collect()
    };
    let chunks = line_chunks(body, parts);
    let per_chunk: Vec<Vec<StringChunked>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.iter().map(|c| scope.spawn(|| read(c))).collect();
        handles.into_iter().map(|h| h.join().ok().flatten()).collect::<Option<_>>()
    })?;
    let mut out: Vec<Option<StringChunked>> = vec![None; wanted.len()];
    for columns in per_chunk {
        for (slot, column) in out.iter_mut().zip(columns) {
            append(slot, column)?;
        }
    }
    out.into_iter().map(|c| c.map(|c| c.into_column())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimals::xorshift;

    fn by_polars(text: &[u8], delimiter: u8, wanted: &[&str]) -> DataFrame {
        let lf = LazyCsvReader::new_with_sources(ScanSources::Buffers(Arc::from([text.to_vec().into()])))
            .with_separator(delimiter)
            .with_infer_schema_length(Some(0))
            .with_has_header(true)
            .with_missing_is_null(true)
            .finish()
            .unwrap();
        lf.select(wanted.iter().map(|w| col(*w)).collect::<Vec<_>>()).collect().unwrap()
    }

    /// Random texts: CRLF or LF, empty fields, blank lines, long and non-ASCII
    /// values, with and without a final line end; the columns equal polars' own.
    #[test]
    fn columns_equal_the_polars_reader() {
        let mut next = xorshift(7);
        for round in 0..60 {
            let delimiter = if round % 3 == 0 { b'\t' } else { b',' };
            let sep = delimiter as char;
            let crlf = round % 2 == 1;
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("id{sep}site{sep}lat{sep}lon{sep}名称{end}");
            let rows = 1 + (next() % 3000) as usize;
            for r in 0..rows {
                if next() % 97 == 0 {
                    text.push_str(end);
                }
                let site = match next() % 5 {
                    0 => String::new(),
                    1 => format!("S{r}-a-much-longer-value-than-twelve-bytes"),
                    _ => format!("S{}", next() % 50),
                };
                let lat = if next() % 11 == 0 { String::new() } else { format!("{}.{}", 30, next() % 100_000) };
                let name = if next() % 4 == 0 { "变电站".to_string() } else { format!("n{r}") };
                text.push_str(&format!("{r}{sep}{site}{sep}{lat}{sep}114.{}{sep}{name}", next() % 1000));
                if r + 1 < rows || round % 4 != 0 {
                    text.push_str(end);
                }
            }
            let wanted = ["lat", "site", "名称"];
            let parts = 1 + round % 5;
            let ours =
                read_in_parts(text.as_bytes(), delimiter, &wanted, parts).unwrap_or_else(|| panic!("round {round}"));
            let theirs = by_polars(text.as_bytes(), delimiter, &wanted);
            let ours = DataFrame::new_infer_height(ours).unwrap();
            assert!(ours.equals_missing(&theirs), "round {round}:\n{ours}\n{theirs}");
        }
    }

    #[test]
    fn edges_equal_the_polars_reader() {
        let texts = [
            "a,b\n",
            "a,b",
            "a,b\n\n",
            "a,b\n1,2\n\n\n",
            "a,b\r\n1,2\r\n\r\n3,\r\n",
            "a,b\n,\n,2\n",
            "\u{feff}a,b\n1,2",
        ];
        for text in texts {
            let ours = read_in_parts(text.as_bytes(), b',', &["b", "a"], 3).unwrap_or_else(|| panic!("{text:?}"));
            let ours = DataFrame::new_infer_height(ours).unwrap();
            let theirs = by_polars(text.as_bytes(), b',', &["b", "a"]);
            assert!(ours.equals_missing(&theirs), "{text:?}:\n{ours:?}\n{theirs:?}");
        }
    }

    #[test]
    fn what_it_does_not_read_is_left_to_polars() {
        let cols = |t: &str| read_columns(t.as_bytes(), b',', &["a", "b"]).map(|c| c.len());
        assert_eq!(cols("a,b\n1,2\n"), Some(2));
        assert_eq!(cols("a,b\n\"1\",2\n"), None, "a quote");
        assert_eq!(cols("a,b\n1,2,3\n"), None, "a longer line");
        assert_eq!(cols("a,b\n1\n"), None, "a shorter line");
        assert_eq!(cols("a,c\n1,2\n"), None, "a column not named");
        assert_eq!(cols("a,b,a\n1,2,3\n"), None, "a name twice");
        assert_eq!(read_columns(b"a,b\n\xff,2\n", b',', &["a"]).map(|c| c.len()), None, "not UTF-8");
        // The csv reader ends a record at a lone CR: two short records, not one line.
        assert_eq!(cols("a,b\n1\r2\n"), None, "a CR inside a line");
        assert_eq!(cols("a,b\r\n1,2\r\n"), Some(2), "CRLF line ends");
        assert_eq!(cols("a,\"b\"\n1,2\n"), None, "a quote in the header");
        assert_eq!(cols("a,b\r1,2\n"), None, "a CR inside the header");
        assert_eq!(cols("a,b\n1,2\r"), None, "a CR at the end");
        // In any piece of the body, whichever piece reads it.
        let body: String = (0..3_000).map(|i| format!("{i},{}\n", i * 2)).collect();
        for (at, what) in [(10, "\""), (24_000, "\""), (15_000, "\r")] {
            let mut text = format!("a,b\n{body}");
            text.insert_str(text[at..].find('\n').unwrap() + at + 2, what);
            for parts in 1..5 {
                let read = read_in_parts(text.as_bytes(), b',', &["a", "b"], parts).map(|c| c.len());
                assert_eq!(read, None, "{what:?} at {at}, {parts} pieces");
            }
        }
    }
}
