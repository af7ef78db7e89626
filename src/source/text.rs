//! Text sources (CSV/TSV): encoding detection and a structural check that names
//! the line of the first problem, before polars reads the file.

use std::borrow::Cow;

/// A problem in a text file, with the 1-based line where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct TextError {
    pub kind: &'static str,
    pub line: usize,
    pub message: String,
}

/// Encodings mosaic reads. GBK is read as GB18030, its superset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gb18030,
}

impl Encoding {
    pub fn parse(name: &str) -> Option<Encoding> {
        match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "utf8" => Some(Encoding::Utf8),
            "gbk" | "gb2312" | "gb18030" | "cp936" => Some(Encoding::Gb18030),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Gb18030 => "gb18030",
        }
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// Decode `bytes` to UTF-8: declared encoding if given, else UTF-8 when valid, else
/// GB18030 when valid. Returns the text and the encoding used. A UTF-8 BOM is removed.
pub fn decode(bytes: &[u8], declared: Option<Encoding>) -> Result<(Cow<'_, [u8]>, Encoding), TextError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    let utf8 = std::str::from_utf8(bytes);
    match (declared, utf8) {
        (Some(Encoding::Utf8) | None, Ok(_)) => Ok((Cow::Borrowed(bytes), Encoding::Utf8)),
        (Some(Encoding::Utf8), Err(e)) => Err(TextError {
            kind: "encoding",
            line: line_of(bytes, e.valid_up_to()),
            message: format!("invalid UTF-8 at byte {} (declared utf-8)", e.valid_up_to()),
        }),
        (Some(Encoding::Gb18030), _) | (None, Err(_)) => {
            match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(text) => Ok((Cow::Owned(text.into_owned().into_bytes()), Encoding::Gb18030)),
                None => {
                    let offset = first_invalid_gb18030(bytes);
                    let detail = if declared.is_some() {
                        "invalid GBK/GB18030 bytes (declared gbk)".to_string()
                    } else {
                        let utf8_at = utf8.err().map_or(0, |e| e.valid_up_to());
                        format!(
                            "neither UTF-8 (invalid at line {}) nor GBK/GB18030; declare `encoding` in the manifest",
                            line_of(bytes, utf8_at)
                        )
                    };
                    Err(TextError { kind: "encoding", line: line_of(bytes, offset), message: detail })
                }
            }
        }
    }
}

fn first_invalid_gb18030(bytes: &[u8]) -> usize {
    let mut decoder = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut out = vec![0u8; bytes.len() * 3 + 16];
    let (result, read, _) = decoder.decode_to_utf8_without_replacement(bytes, &mut out, true);
    match result {
        encoding_rs::DecoderResult::Malformed(bad, _) => read.saturating_sub(bad as usize),
        _ => bytes.len(),
    }
}

/// Check that every record has as many fields as the header and quotes are closed.
pub fn check_structure(text: &[u8], delimiter: u8) -> Result<(), TextError> {
    check_structure_up_to(text, delimiter, None).map(|_| ())
}

/// [`check_structure`] of a text that its one parse reads next: a text without
/// quotes has its fields counted on its header and its first `lines` rows only, and
/// `Ok(true)` says the rest was left to that parse (`unquoted::read_columns`, which
/// counts every line's fields and refuses what it cannot read as the csv reader
/// would; the caller checks the whole text when the parse does not read it).
pub fn check_structure_head(text: &[u8], delimiter: u8, lines: usize) -> Result<bool, TextError> {
    check_structure_up_to(text, delimiter, Some(lines))
}

fn check_structure_up_to(text: &[u8], delimiter: u8, head: Option<usize>) -> Result<bool, TextError> {
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(TextError { kind: "empty", line: 1, message: "file is empty (no header)".into() });
    }
    // One walk finds the first NUL or quote; past a quote, a NUL is still looked for.
    let first = memchr::memchr2(0, b'"', text);
    let quoted = first.is_some_and(|at| text[at] == b'"');
    let nul = match first {
        Some(at) if quoted => memchr::memchr(0, &text[at..]).map(|n| at + n),
        other => other,
    };
    if let Some(at) = nul {
        return Err(TextError {
            kind: "binary",
            line: line_of(text, at),
            message: "NUL byte: not a text file (UTF-16 text must be converted to UTF-8 or GBK first)".into(),
        });
    }
    // The csv reader accepts a quote left open at end of file (it reads the rest of
    // the file as one field); a reader of the published file would not. (Looked for
    // only in a text with quotes: the walk visits every byte, 0.7 s for 340 MB.)
    if let Some(line) = quoted.then(|| unterminated_quote(text)).flatten() {
        return Err(TextError { kind: "unterminated-quote", line, message: "quoted field is never closed".into() });
    }
    if let Some(error) = other_delimiter(text, delimiter) {
        return Err(error);
    }
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).from_reader(text);
    if let Ok(header) = reader.byte_headers() {
        let mut seen: Vec<String> = Vec::new();
        for (i, name) in header.iter().enumerate() {
            let name = String::from_utf8_lossy(name).trim().to_lowercase();
            if let Some(first) = seen.iter().position(|n| *n == name) {
                return Err(TextError {
                    kind: "duplicate-column",
                    line: 1,
                    message: format!(
                        "column `{name}` appears twice (columns {} and {}): which one a tag means is ambiguous; rename one",
                        first + 1,
                        i + 1
                    ),
                });
            }
            seen.push(name);
        }
    }
    if !quoted {
        // The header and `lines` rows: the end of the line after them, when the text
        // goes on past it.
        let end = head.and_then(|lines| memchr::memchr_iter(b'\n', text).nth(lines)).filter(|e| e + 1 < text.len());
        if let Some(end) = end {
            if fields_even_unquoted(&text[..=end], delimiter) {
                return Ok(true);
            }
        }
        if fields_even_unquoted(text, delimiter) {
            return Ok(false);
        }
    }
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("row has {len} fields, the header has {expected_len}")
                    }
                    _ => e.to_string(),
                };
                return Err(TextError { kind: "ragged", line, message });
            }
        }
    }
    Ok(false)
}

/// A text delimited by another character than `delimiter`: a header without
/// `delimiter` that holds `;`, `|`, tab or `,` as often as its first row does. Read
/// with `delimiter` it would be one column no tag binds, and pass unseen; it is
/// refused instead, naming the delimiter it looks to have.
fn other_delimiter(text: &[u8], delimiter: u8) -> Option<TextError> {
    let mut lines = text.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let header = lines.next()?;
    if header.contains(&delimiter) {
        return None;
    }
    let row = lines.find(|l| !l.iter().all(|b| b.is_ascii_whitespace()));
    let count = |line: &[u8], c: u8| line.iter().filter(|b| **b == c).count();
    let (other, n) = [b';', b'|', b'\t', b',']
        .into_iter()
        .filter(|c| *c != delimiter)
        .map(|c| (c, count(header, c)))
        .find(|(c, n)| *n > 0 && row.is_none_or(|r| count(r, *c) == *n))?;
    let show = |c: u8| if c == b'\t' { "tab".to_string() } else { format!("`{}`", c as char) };
    Some(TextError {
        kind: "delimiter",
        line: 1,
        message: format!(
            "the header has no {} but {n} {}: read with {} it would be one column; \
             declare `delimiter = \"{}\"` in a manifest beside it (`<file name>.mosaic.toml`) or write it with {}",
            show(delimiter),
            show(other),
            show(delimiter),
            if other == b'\t' { "tab".to_string() } else { (other as char).to_string() },
            show(delimiter)
        ),
    })
}

/// Does every record of a text without quote characters have the header's number of
/// fields? Without quotes a record is a line and its fields are its delimiters plus
/// one, so the lines are counted directly, in parallel chunks: a tenth of the csv
/// reader's time. Blank lines are skipped as the reader skips them. Anything else the
/// reader treats specially (a lone carriage return) answers `false`, as does a ragged
/// line: the csv reader then reads the text and words and places the error.
fn fields_even_unquoted(text: &[u8], delimiter: u8) -> bool {
    let header_end = memchr::memchr(b'\n', text).unwrap_or(text.len());
    let header = &text[..header_end];
    let expected = memchr::memchr_iter(delimiter, header).count();
    if header.contains(&b'\r') && !header.ends_with(b"\r") {
        return false;
    }
    let body = &text[(header_end + 1).min(text.len())..];
    // Chunks end at line ends, so each holds whole lines.
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunks = super::unquoted::line_chunks(body, parts);
    // Only delimiters and line ends are visited. A line is blank when it holds
    // nothing (a CR must end a line). A chunk without CR is walked line by line,
    // each line's delimiters counted in bulk (faster than a stop at every delimiter).
    let even = |chunk: &[u8]| -> bool {
        if memchr::memchr(b'\r', chunk).is_none() {
            return lines_even(chunk, delimiter, expected);
        }
        let (mut count, mut line_start) = (0usize, 0usize);
        for at in memchr::memchr3_iter(delimiter, b'\n', b'\r', chunk) {
            match chunk[at] {
                b'\n' => {
                    let content = at - line_start - usize::from(at > line_start && chunk[at - 1] == b'\r');
                    if !(count == 0 && content == 0) && count != expected {
                        return false;
                    }
                    (count, line_start) = (0, at + 1);
                }
                b'\r' => {
                    if chunk.get(at + 1) != Some(&b'\n') {
                        return false;
                    }
                }
                _ => count += 1,
            }
        }
        (count == 0 && line_start == chunk.len()) || count == expected
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.iter().map(|c| scope.spawn(|| even(c))).collect();
        handles.into_iter().all(|h| h.join().unwrap_or(false))
    })
}

/// Does every non-blank line of `chunk` (whole lines, no CR) hold `expected`
/// delimiters?
fn lines_even(chunk: &[u8], delimiter: u8, expected: usize) -> bool {
    let count = |line: &[u8]| line.iter().filter(|&&b| b == delimiter).count();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', chunk) {
        let line = &chunk[start..end];
        if !line.is_empty() && count(line) != expected {
            return false;
        }
        start = end + 1;
    }
    let rest = &chunk[start..];
    rest.is_empty() || count(rest) == expected
}

/// Line where a quoted field opens without closing, if any.
fn unterminated_quote(text: &[u8]) -> Option<usize> {
    let mut in_quotes = false;
    let mut opened_at = 0;
    let mut line = 1;
    let mut field_start = true;
    for &b in text {
        match b {
            b'"' if in_quotes => in_quotes = false,
            b'"' if field_start => {
                in_quotes = true;
                opened_at = line;
            }
            b'\n' => {
                line += 1;
                field_start = !in_quotes;
                continue;
            }
            b',' | b'\t' | b';' | b'|' if !in_quotes => {
                field_start = true;
                continue;
            }
            _ => {}
        }
        field_start = false;
    }
    in_quotes.then_some(opened_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text delimited otherwise than its format says is refused with the delimiter
    /// it has; one column of text, or commas inside a TSV's fields, is not.
    #[test]
    fn a_text_delimited_otherwise_is_refused() {
        let refused =
            |text: &str, delimiter: u8| check_structure(text.as_bytes(), delimiter).err().map(|e| (e.kind, e.message));
        let (kind, message) = refused("site;lat;lon\r\nS1;30.1;114.2\r\n", b',').unwrap();
        assert_eq!(kind, "delimiter");
        assert!(message.contains("2 `;`"), "{message}");
        assert_eq!(refused("a|b\n\n1|2\n", b',').unwrap().0, "delimiter");
        assert_eq!(refused("a\tb\n1\t2\n", b',').unwrap().0, "delimiter");
        assert_eq!(refused("a,b\n1,2\n", b'\t').unwrap().0, "delimiter");
        assert_eq!(refused("a;b\n", b',').unwrap().0, "delimiter", "a header alone");
        // One column; a `;` in a header the first row does not repeat; the format's own.
        assert_eq!(refused("name\nx;y\n", b','), None);
        assert_eq!(refused("note;s\nplain\n", b','), None);
        assert_eq!(refused("a,b;c\n1,2;3\n", b','), None);
        assert_eq!(refused("a\tb\n1,5\t2\n", b'\t'), None);
    }

    #[test]
    fn a_nul_byte_is_found_before_and_after_a_quote() {
        let binary = |text: &[u8]| check_structure(text, b',').err().filter(|e| e.kind == "binary").map(|e| e.line);
        assert_eq!(binary(b"a,b\n1,2\n3,\x004\n"), Some(3));
        assert_eq!(binary(b"a,b\n\"1\",2\n3,\x004\n"), Some(3), "a NUL past a quote");
        assert_eq!(binary(b"a,b\n1,\x002\n\"3\",4\n"), Some(2), "a NUL before a quote");
        assert_eq!(binary(b"a,b\n\"1\",2\n3,4\n"), None);
        assert_eq!(binary(b"a,b\n1,2\n"), None);
    }

    /// Of a text without quotes, the header and the first rows are checked and the
    /// rest left to the one parse; a fault in the first rows, a quote or a short text
    /// is checked whole as by `check_structure`.
    #[test]
    fn the_head_check_leaves_only_later_rows_of_an_unquoted_text() {
        let text = |bad_at: usize, quote: bool| -> Vec<u8> {
            let mut t = String::from("a,b\n");
            for i in 0..100 {
                t.push_str(match (i == bad_at, quote && i == 0) {
                    (true, _) => "1,2,3\n",
                    (false, true) => "\"1\",2\n",
                    (false, false) => "1,2\n",
                });
            }
            t.into_bytes()
        };
        assert_eq!(check_structure_head(&text(usize::MAX, false), b',', 10), Ok(true));
        assert_eq!(check_structure_head(&text(50, false), b',', 10), Ok(true), "past the head");
        let early = check_structure_head(&text(5, false), b',', 10).unwrap_err();
        assert_eq!((early.kind, early.line), ("ragged", 7));
        let quoted = check_structure_head(&text(50, true), b',', 10).unwrap_err();
        assert_eq!((quoted.kind, quoted.line), ("ragged", 52));
        assert_eq!(check_structure_head(&text(usize::MAX, false), b',', 1000), Ok(false), "all of it is the head");
        assert_eq!(check_structure_head(b"a,b\n1,2\n1,2\n", b',', 2), Ok(false), "nothing after the head");
        assert_eq!(check_structure_head(b"a,b\n1,2\n1,2\n", b',', 1), Ok(true), "one row after it");
    }

    #[test]
    fn detects_gbk_and_keeps_utf8() {
        let (gbk, _, _) = encoding_rs::GBK.encode("站点,纬度\n甲,30.1\n");
        let (text, enc) = decode(&gbk, None).unwrap();
        assert_eq!(enc, Encoding::Gb18030);
        assert_eq!(std::str::from_utf8(&text).unwrap(), "站点,纬度\n甲,30.1\n");
        let (text, enc) = decode("\u{feff}a,b\n1,2\n".as_bytes(), None).unwrap();
        assert_eq!((enc, &text[..]), (Encoding::Utf8, b"a,b\n1,2\n".as_slice()));
    }

    #[test]
    fn declared_utf8_with_bad_bytes_names_the_line() {
        let err = decode(b"a,b\n1,2\n3,\xff\n", Some(Encoding::Utf8)).unwrap_err();
        assert_eq!((err.kind, err.line), ("encoding", 3));
        let err = decode(b"a,b\n1,2\n3,\xff\xff\n", None).unwrap_err();
        assert_eq!(err.line, 3);
    }

    #[test]
    fn ragged_rows_and_open_quotes_name_the_line() {
        let err = check_structure(b"a,b\n1,2\n3,4,5\n", b',').unwrap_err();
        assert_eq!((err.kind, err.line), ("ragged", 3));
        let err = check_structure(b"a,b\n1,2\n3,\"open\n4,5\n", b',').unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
        assert!(check_structure(b"a,b\n1,\"x,\ny\"\n", b',').is_ok());
        assert_eq!(check_structure(b"", b',').unwrap_err().kind, "empty");
        let nul = check_structure(b"a,b\n1,2\n3,\x004\n", b',').unwrap_err();
        assert_eq!((nul.kind, nul.line), ("binary", 3));
    }

    #[test]
    fn counting_fields_without_quotes_agrees_with_the_csv_reader() {
        let mut next = crate::decimals::xorshift(0x1234_5678_9abc_def1u64);
        let alphabet = [b'a', b'7', b',', b',', b'\n', b'\n', b'\r', b' '];
        let csv_ok = |text: &[u8]| {
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text);
            let mut record = csv::ByteRecord::new();
            let _ = reader.byte_headers();
            loop {
                match reader.read_byte_record(&mut record) {
                    Ok(false) => return true,
                    Ok(true) => {}
                    Err(_) => return false,
                }
            }
        };
        let (mut fast, mut ragged) = (0, 0);
        for _ in 0..20_000 {
            // Mostly even tables, sometimes with a stray byte, from a few lines to many.
            let columns = 1 + next() % 4;
            let mut text = Vec::new();
            for _ in 0..(1 + next() % 40) {
                for c in 0..columns {
                    if c > 0 {
                        text.push(b',');
                    }
                    text.push(b'a' + (next() % 3) as u8);
                }
                text.extend_from_slice(if next() % 4 == 0 { b"\r\n" } else { b"\n" });
                if next() % 10 == 0 {
                    text.push(alphabet[(next() % alphabet.len() as u64) as usize]);
                }
            }
            let counted = fields_even_unquoted(&text, b',');
            let read = csv_ok(&text);
            // Counting may send a text on to the reader; it never passes one the reader refuses.
            assert!(!counted || read, "{:?}", String::from_utf8_lossy(&text));
            fast += usize::from(counted);
            ragged += usize::from(!read);
            if read && !text.contains(&b'\r') {
                assert!(counted, "{:?}", String::from_utf8_lossy(&text));
            }
        }
        assert!(fast > 5_000 && ragged > 1_000, "both kinds were generated: {fast} even, {ragged} ragged");
    }
}
