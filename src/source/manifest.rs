//! Sidecar manifests `<dataset>.mosaic.toml`: what the data owner declares about a
//! dataset — column meanings, accuracy, publication, provenance, producer, claims.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::rules::Level;

/// A manifest as written. Unknown keys are rejected so typos do not pass silently.
#[derive(Debug, Default, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Text encoding of CSV files: `utf-8`, `gbk` or `gb18030` (default: detected).
    pub encoding: Option<String>,
    /// Field delimiter of CSV and TSV files (default `,` for `.csv`, tab for `.tsv`):
    /// one ASCII punctuation character such as `;` or `|`, or `tab`.
    pub delimiter: Option<String>,
    /// Column → tag. Point and xy tags take `tag.lat`/`tag.lon` (or `tag.x`/`tag.y`).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Columns never tagged by inference.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// EPSG code of projected x/y columns mapped as `tag.x`/`tag.y` (or named by a
    /// point tag's `x`/`y`), replacing the tag's `xy_crs`: e.g. 4527 for CGCS2000
    /// 3° Gauss–Krüger zone 39.
    pub xy_crs: Option<u32>,
    /// Declared positional accuracy in metres (e.g. jittered points); replaces
    /// the resolution read from decimals for every point tag.
    pub accuracy_m: Option<f64>,
    /// Datum of the dataset's positions when it differs from the tag's: `wgs84`,
    /// `gcj02` (Chinese map services), `bd09` (Baidu) or `cgcs2000`. Proximity links
    /// convert GCJ-02 and BD-09 to WGS-84 before measuring distances.
    pub datum: Option<String>,
    /// Date the dataset was published: it is already public.
    #[schemars(with = "Option<String>")]
    pub published: Option<NaiveDate>,
    /// The dataset derives from a marked secret (Reg 18).
    pub derived_from: Option<DerivedFrom>,
    /// Who produced the dataset (routes Case-1 reports, DM25 Art 11).
    pub producer: Option<Producer>,
    /// Claim that the data must be public (DM25 Art 29).
    pub public_interest: Option<String>,
}

impl Manifest {
    /// The declared field delimiter as a byte (validated by [`load`]).
    pub fn delimiter_byte(&self) -> Option<u8> {
        self.delimiter.as_deref().and_then(parse_delimiter)
    }
}

/// A declared delimiter: `tab` (or `\t`), or one ASCII punctuation character that is
/// neither a quote nor part of a number (`.`, `-`, `+`).
pub fn parse_delimiter(text: &str) -> Option<u8> {
    match text {
        "\t" | "\\t" | "tab" => Some(b'\t'),
        _ => match text.as_bytes() {
            [b] if b.is_ascii_punctuation() && !b"\"'.-+".contains(b) => Some(*b),
            _ => None,
        },
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivedFrom {
    /// The source's mark, e.g. `秘密★10年`.
    pub mark: String,
    /// The source document or dataset.
    pub source: String,
}

impl DerivedFrom {
    /// Level of the source mark (the text before ★).
    pub fn level(&self) -> Option<Level> {
        Level::parse(self.mark.split('★').next().unwrap_or("").trim())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    pub unit: String,
    /// `central | provincial | prefecture | none`.
    pub authority_level: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid manifest {path} (line {line}, column {column}): {message}")]
    Invalid { path: PathBuf, line: usize, column: usize, message: String },
}

/// The sidecar manifest of a dataset at `path`, if any: `<name>.mosaic.toml` beside it,
/// where `<name>` is the file name or its stem.
pub fn sidecar(path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?;
    let name = path.file_name()?.to_string_lossy().to_string();
    let stem = path.file_stem()?.to_string_lossy().to_string();
    [name, stem].into_iter().map(|n| parent.join(format!("{n}.mosaic.toml"))).find(|p| p.is_file())
}

/// Where the sidecar manifest of a dataset file at `path` is written:
/// `<file name>.mosaic.toml` beside it.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".mosaic.toml");
    path.with_file_name(name)
}

pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ManifestError::Io { path: path.to_path_buf(), source })?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| {
        let (line, column) = crate::rules::line_col(&text, e.span().map_or(0, |s| s.start));
        ManifestError::Invalid { path: path.to_path_buf(), line, column, message: e.message().trim().to_string() }
    })?;
    let invalid = |key: &str, message: String| {
        let (line, column) = crate::rules::line_col(&text, text.find(key).unwrap_or(0));
        ManifestError::Invalid { path: path.to_path_buf(), line, column, message }
    };
    if let Some(d) = manifest.datum.as_deref().filter(|d| !["wgs84", "gcj02", "bd09", "cgcs2000"].contains(d)) {
        return Err(invalid("datum", format!("unknown datum `{d}`; known: wgs84, gcj02, bd09, cgcs2000")));
    }
    if let Some(d) = manifest.delimiter.as_deref().filter(|d| parse_delimiter(d).is_none()) {
        let message = format!(
            "delimiter `{}` cannot be read: one punctuation character such as `;` or `|`, or `tab` \
             (not a quote, `.`, `-` or `+`)",
            d.escape_default()
        );
        return Err(invalid("delimiter", message));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A declared delimiter is one punctuation character or a tab; one that is part of
    /// a number, a quote, a letter or longer than one character is refused with its
    /// line in the manifest.
    #[test]
    fn a_declared_delimiter_is_one_character_that_can_delimit() {
        for (text, want) in [(";", Some(b';')), ("|", Some(b'|')), ("tab", Some(b'\t')), ("\t", Some(b'\t'))] {
            assert_eq!(parse_delimiter(text), want, "{text:?}");
        }
        for text in [".", "-", "+", "\"", "'", "a", "1", ";;", "", " ", "；"] {
            assert_eq!(parse_delimiter(text), None, "{text:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv.mosaic.toml");
        std::fs::write(&path, "accuracy_m = 5.0\ndelimiter = \".\"\n").unwrap();
        match load(&path) {
            Err(ManifestError::Invalid { line, message, .. }) => {
                assert_eq!(line, 2);
                assert!(message.contains("delimiter `.`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, "delimiter = \"\\t\"\n").unwrap();
        assert_eq!(load(&path).unwrap().delimiter_byte(), Some(b'\t'));
    }
}
