//! Datasets: discovery of files, directories and hive-partitioned tables under
//! the scan paths, their sidecar manifests, and opening them as polars lazy frames.
//! Each format is read by one reader (`json`, `sheet`, `shapefile`, `gpkg`, `xml`, or
//! polars for Parquet, CSV and IPC) into a table; geometries become one row per
//! vertex (`geometry`), and columns whose values look like positions are noted for
//! tagging and for `scan.unbound` (DESIGN §3a).
//!
//! Discovery follows DESIGN §3 with one documented refinement (docs/decisions.md):
//! a subdirectory is one dataset when its files share one format and one set of
//! columns (or it is hive-partitioned); otherwise each of its children is looked at
//! the same way, so a tree of unrelated files is not forced into one dataset.

pub use crate::crs;
pub mod delta;
pub mod geometry;
pub mod gpkg;
pub mod iceberg;
pub mod json;
pub mod manifest;
mod sandbox;
pub mod shapefile;
pub mod sheet;
pub mod store;
pub mod text;
pub mod unquoted;
pub mod values;
pub mod xml;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crs::Crs;
use geometry::{Exploded, Form, Geometry, Order};
pub use manifest::Manifest;
pub use sandbox::{
    answer, ask, ask_reader, decode_all, decode_files, one_binary_file, FileDecoded, Part, DECODER, RANGED_BY_MOSAIC,
};
use sandbox::{kept_rows, sandboxed_decode, Decode, Decoded};
use text::Encoding;

/// File formats mosaic reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Format {
    Parquet,
    Csv,
    Tsv,
    Ipc,
    NdJson,
    Json,
    GeoJson,
    /// Workbooks (xlsx, xlsm, xlsb, xls, ods): one dataset per sheet.
    Sheet,
    Shapefile,
    /// GeoPackage: one dataset per table.
    GeoPackage,
    Kml,
    Kmz,
    Gpx,
}

impl Format {
    /// The field delimiter of a delimited text (TSV: tab; otherwise comma).
    pub fn delimiter(self) -> u8 {
        if self == Format::Tsv {
            b'\t'
        } else {
            b','
        }
    }

    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        Some(match ext.as_str() {
            "parquet" | "geoparquet" => Format::Parquet,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "arrow" | "ipc" | "feather" => Format::Ipc,
            "ndjson" | "jsonl" | "geojsonl" | "geojsonseq" => Format::NdJson,
            "json" => Format::Json,
            "geojson" => Format::GeoJson,
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Format::Sheet,
            "shp" => Format::Shapefile,
            "gpkg" => Format::GeoPackage,
            "kml" => Format::Kml,
            "kmz" => Format::Kmz,
            "gpx" => Format::Gpx,
            _ => return None,
        })
    }

    /// Text formats carry decimals as written; binary formats carry floats.
    pub fn is_text(self) -> bool {
        !matches!(self, Format::Parquet | Format::Ipc)
    }

    /// Formats whose files hold several tables (a dataset per sheet or table).
    fn has_parts(self) -> bool {
        matches!(self, Format::Sheet | Format::GeoPackage)
    }

    /// Formats polars reads lazily from the file itself.
    fn is_polars(self) -> bool {
        matches!(self, Format::Parquet | Format::Csv | Format::Tsv | Format::Ipc)
    }
}

/// Data formats mosaic knows but cannot read: such a file is that dataset's error
/// (never `skipped`, never a silent pass), with what to do about it.
pub fn unreadable(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    Some(match ext.as_str() {
        "dbf" | "shx" if shapefile::sidecar(path, "shp").is_none() => {
            "a Shapefile part without its .shp: the geometries are missing; provide the .shp beside it"
        }
        "mdb" | "accdb" => "an Access database: export its tables to CSV or Parquet to check them",
        "sav" | "zsav" | "dta" | "sas7bdat" | "xpt" | "rdata" | "rds" => {
            "a statistics package's data file: export it to CSV or Parquet to check it"
        }
        "zip" | "7z" | "rar" | "tar" | "tgz" => "an archive: unpack it and scan what it holds",
        "gz" | "bz2" | "xz" | "zst" if name.contains(".csv.") || name.contains(".json") || name.contains(".tsv.") => {
            "a compressed data file: decompress it and scan the result"
        }
        "gz" | "bz2" | "xz" | "zst" => "a compressed file: decompress it and scan the result",
        "gml" | "gdb" | "tab" | "mif" | "mid" | "dxf" | "dwg" | "e00" | "osm" | "pbf" | "fgb" | "mbtiles"
        | "sqlite" | "db" => {
            "a geodata or database format mosaic does not read: convert it to GeoPackage, GeoJSON or Parquet"
        }
        "tif" | "tiff" | "img" | "dem" | "asc" | "nc" | "hdf" | "h5" | "grd" => {
            "raster or array data mosaic does not read: export its positions (or grid) to a table"
        }
        _ => return None,
    })
}

/// One file of a dataset, with the hive partition values in its path.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DataFile {
    pub path: PathBuf,
    pub partitions: Vec<(String, String)>,
    /// The sheet or table of a file holding several (`file.xlsx#Sheet1`).
    pub part: Option<String>,
}

/// A dataset: one file, or a directory of files with one schema.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Dataset {
    /// Path relative to the scan path it was found under.
    pub id: String,
    pub path: PathBuf,
    pub format: Format,
    pub files: Vec<DataFile>,
    pub manifest: Option<Manifest>,
    pub manifest_path: Option<PathBuf>,
    /// Found under `--published`: data already public.
    pub published: bool,
}

impl Dataset {
    /// The field delimiter of a delimited text: its manifest's, else its format's
    /// (TSV: tab; otherwise comma).
    pub fn delimiter(&self) -> u8 {
        self.manifest.as_ref().and_then(Manifest::delimiter_byte).unwrap_or(self.format.delimiter())
    }
}

/// A dataset that could not be read, or a path that could not be listed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct InputError {
    pub input: String,
    pub kind: String,
    pub message: String,
}

impl InputError {
    pub fn new(input: impl Into<String>, kind: impl Into<String>, message: impl Into<String>) -> Self {
        InputError { input: input.into(), kind: kind.into(), message: message.into() }
    }
}

/// What discovery found under the scan paths.
#[derive(Debug, Default)]
pub struct Discovery {
    pub datasets: Vec<Dataset>,
    pub skipped: Vec<String>,
    pub errors: Vec<InputError>,
}

/// A scan path that does not exist: a usage error, nothing is evaluated.
#[derive(Debug, thiserror::Error)]
#[error("{0}: no such file or directory")]
pub struct MissingPath(pub PathBuf);

fn is_manifest(path: &Path) -> bool {
    path.to_string_lossy().ends_with(".mosaic.toml")
}

fn hive_pair(name: &str) -> Option<(String, String)> {
    let (k, v) = name.split_once('=')?;
    (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
}

fn sorted_children(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    Ok(children)
}

/// Find datasets under `paths`; `published` marks them as already public.
pub fn discover(paths: &[PathBuf], published: bool) -> Result<Discovery, MissingPath> {
    let mut found = Discovery::default();
    for root in paths {
        let meta = std::fs::metadata(root).map_err(|_| MissingPath(root.clone()))?;
        let root_name =
            root.file_name().map_or_else(|| root.display().to_string(), |n| n.to_string_lossy().to_string());
        if meta.is_file() {
            add_file(&mut found, root, &root_name, published);
        } else if delta::is_table(root) || iceberg::is_table(root) {
            add_delta(&mut found, root, &root_name, published);
        } else if is_hive_dir(root) {
            add_dir_dataset(&mut found, root, &root_name, published);
        } else {
            match sorted_children(root) {
                Ok(children) => {
                    let mut visited = BTreeSet::new();
                    for child in children {
                        let id = relative_id(root, &child);
                        visit(&mut found, &child, &id, published, &mut visited);
                    }
                }
                Err(e) => found.errors.push(InputError::new(root.display().to_string(), "io", e.to_string())),
            }
        }
    }
    found.datasets.sort_by(|a, b| a.id.cmp(&b.id));
    found.skipped.sort();
    found.skipped.dedup();
    Ok(found)
}

/// `path` itself as one dataset: a file, or a directory of files with one schema
/// (hive partitions included) — what `mosaic profile` reads.
pub fn dataset_at(path: &Path) -> Result<Discovery, MissingPath> {
    let meta = std::fs::metadata(path).map_err(|_| MissingPath(path.to_path_buf()))?;
    let mut found = Discovery::default();
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().to_string());
    if meta.is_file() {
        add_file(&mut found, path, &name, false);
    } else if delta::is_table(path) || iceberg::is_table(path) {
        add_delta(&mut found, path, &name, false);
    } else {
        add_dir_dataset(&mut found, path, &name, false);
    }
    Ok(found)
}

/// A Delta or Iceberg table: one Parquet dataset of its live files, or its error.
fn add_delta(found: &mut Discovery, path: &Path, id: &str, published: bool) {
    let live = if delta::is_table(path) { delta::live_files(path) } else { iceberg::live_files(path) };
    match live {
        Ok(files) => push_dataset(found, path, id, Format::Parquet, files, published),
        Err(e) => found.errors.push(InputError::new(id, e.kind, e.message)),
    }
}

pub fn relative_id(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

fn add_file(found: &mut Discovery, path: &Path, id: &str, published: bool) {
    if is_manifest(path) || is_sidecar(path) {
        return;
    }
    let Some(format) = Format::of(path) else {
        match unreadable(path) {
            Some(why) => found.errors.push(InputError::new(id, "unsupported-format", why)),
            None => found.skipped.push(id.to_string()),
        }
        return;
    };
    if format == Format::Json && !is_json_table(path) {
        found.skipped.push(id.to_string());
        return;
    }
    if format.has_parts() {
        match parts(path, format) {
            Ok(parts) if !parts.iter().any(|(_, table)| *table) => {
                found.errors.push(InputError::new(id, "empty", "holds no sheet or table with a header row"))
            }
            Ok(parts) => {
                for (part, table) in parts {
                    if !table {
                        found.skipped.push(format!("{id}#{part}"));
                        continue;
                    }
                    let files =
                        vec![DataFile { path: path.to_path_buf(), partitions: vec![], part: Some(part.clone()) }];
                    push_dataset(found, path, &format!("{id}#{part}"), format, files, published);
                }
            }
            Err(e) => found.errors.push(InputError::new(id, e.kind, e.message)),
        }
        return;
    }
    let files = vec![DataFile { path: path.to_path_buf(), partitions: vec![], part: None }];
    push_dataset(found, path, id, format, files, published);
}

/// A `.json` file that holds a table (see [`json::is_table`]); unreadable files count
/// as tables so that opening them reports why.
fn is_json_table(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return true };
    match text::decode(&bytes, None) {
        Ok((decoded, _)) => std::str::from_utf8(&decoded).map_or(true, json::is_table),
        Err(_) => true,
    }
}

/// A file read together with another (a Shapefile's `.dbf`, `.prj`, …).
fn is_sidecar(path: &Path) -> bool {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let shp_xml = path.to_string_lossy().to_ascii_lowercase().ends_with(".shp.xml");
    (shapefile::SIDECARS.contains(&ext.as_str()) && shapefile::sidecar(path, "shp").is_some()) || shp_xml
}

/// The sheets or tables of a file holding several, each with whether it is a table.
fn parts(path: &Path, format: Format) -> Result<Vec<(String, bool)>, ReadError> {
    match format {
        Format::Sheet => {
            let bytes = std::fs::read(path).map_err(|e| ReadError::new("io", e.to_string()))?;
            sheet::sheets(bytes, &extension(path))
        }
        Format::GeoPackage => Ok(gpkg::tables(path)?.into_iter().map(|t| (t, true)).collect()),
        _ => Ok(vec![]),
    }
}

fn extension(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default()
}

/// Add a dataset with its sidecar manifest; a manifest that does not load makes the
/// dataset an error instead.
fn push_dataset(found: &mut Discovery, path: &Path, id: &str, format: Format, files: Vec<DataFile>, published: bool) {
    let (manifest, manifest_path, error) = load_manifest(path, id);
    if let Some(e) = error {
        found.errors.push(e);
        return;
    }
    found.datasets.push(Dataset {
        id: id.to_string(),
        path: path.to_path_buf(),
        format,
        files,
        manifest,
        manifest_path,
        published,
    });
}

fn load_manifest(path: &Path, id: &str) -> (Option<Manifest>, Option<PathBuf>, Option<InputError>) {
    match manifest::sidecar(path) {
        None => (None, None, None),
        Some(mp) => match manifest::load(&mp) {
            Ok(m) => (Some(m), Some(mp), None),
            Err(e) => (None, Some(mp), Some(InputError::new(id, "manifest", e.to_string()))),
        },
    }
}

/// Is `dir` hive-partitioned: every child a `key=value` directory (manifests aside)?
fn is_hive_dir(dir: &Path) -> bool {
    let Ok(children) = sorted_children(dir) else { return false };
    let dirs: Vec<_> = children.iter().filter(|c| !is_manifest(c)).collect();
    !dirs.is_empty()
        && dirs.iter().all(|c| c.is_dir() && c.file_name().and_then(|n| hive_pair(&n.to_string_lossy())).is_some())
}

/// Data files under `dir` at any depth, with partition values; unreadable entries and
/// symlink loops are reported, not followed forever.
fn data_files(dir: &Path, errors: &mut Vec<InputError>, skipped: &mut Vec<String>, id: &str) -> Vec<DataFile> {
    let mut files = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), Vec::<(String, String)>::new(), 0usize)];
    while let Some((d, parts, depth)) = stack.pop() {
        if depth > 32 {
            errors.push(InputError::new(
                id,
                "io",
                format!("{}: directory nesting too deep (symlink loop?)", d.display()),
            ));
            continue;
        }
        let children = match sorted_children(&d) {
            Ok(c) => c,
            Err(e) => {
                errors.push(InputError::new(id, "io", format!("{}: {e}", d.display())));
                continue;
            }
        };
        for child in children {
            if child.is_dir() {
                let mut p = parts.clone();
                if let Some(pair) = child.file_name().and_then(|n| hive_pair(&n.to_string_lossy())) {
                    p.push(pair);
                }
                stack.push((child, p, depth + 1));
            } else if Format::of(&child) == Some(Format::Json) && !is_json_table(&child) {
                skipped.push(format!("{id}/{}", relative_id(dir, &child)));
            } else if Format::of(&child).is_some_and(|f| !f.has_parts()) {
                files.push(DataFile { path: child, partitions: parts.clone(), part: None });
            } else if is_manifest(&child) || is_sidecar(&child) {
            } else if Format::of(&child).is_some() {
                errors.push(InputError::new(
                    id,
                    "schema",
                    format!(
                        "{}: a workbook or GeoPackage inside a partitioned table; scan it on its own",
                        child.display()
                    ),
                ));
            } else if let Some(why) = unreadable(&child) {
                errors.push(InputError::new(format!("{id}/{}", relative_id(dir, &child)), "unsupported-format", why));
            } else {
                skipped.push(format!("{id}/{}", relative_id(dir, &child)));
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn visit(found: &mut Discovery, path: &Path, id: &str, published: bool, visited: &mut BTreeSet<PathBuf>) {
    if !path.is_dir() {
        if path.symlink_metadata().is_ok() && std::fs::metadata(path).is_err() {
            found.errors.push(InputError::new(id, "io", format!("{}: broken link or unreadable", path.display())));
            return;
        }
        add_file(found, path, id, published);
        return;
    }
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !visited.insert(canonical) {
        found.errors.push(InputError::new(id, "io", format!("{}: symlink loop", path.display())));
        return;
    }
    if delta::is_table(path) || iceberg::is_table(path) {
        add_delta(found, path, id, published);
        return;
    }
    if is_hive_dir(path) || shares_one_schema(path) {
        add_dir_dataset(found, path, id, published);
        return;
    }
    match sorted_children(path) {
        Ok(children) => {
            for child in children {
                let child_id = format!("{id}/{}", relative_id(path, &child));
                visit(found, &child, &child_id, published, visited);
            }
        }
        Err(e) => found.errors.push(InputError::new(id, "io", format!("{}: {e}", path.display()))),
    }
}

/// True when a directory holds two or more data files of one format with one column set.
fn shares_one_schema(dir: &Path) -> bool {
    let mut errors = Vec::new();
    let mut skipped = Vec::new();
    let files = data_files(dir, &mut errors, &mut skipped, "");
    if files.len() < 2 || !errors.is_empty() {
        return false;
    }
    let formats: BTreeSet<_> = files.iter().filter_map(|f| Format::of(&f.path)).collect();
    if formats.len() != 1 || !formats.iter().all(|f| f.is_polars() || *f == Format::NdJson) {
        return false;
    }
    let mut columns = files.iter().map(|f| column_names(&f.path));
    let Some(Some(first)) = columns.next() else { return false };
    columns.all(|c| c.as_ref() == Some(&first))
}

/// Column names of one file, cheaply (footer or header only); `None` if unreadable.
fn column_names(path: &Path) -> Option<Vec<String>> {
    let format = Format::of(path)?;
    if matches!(format, Format::Csv | Format::Tsv) {
        let mut head = vec![0u8; 64 * 1024];
        let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
        head.truncate(n);
        let (text, _) = text::decode(&head, None).ok().or_else(|| {
            let cut = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
            text::decode(&head[..cut], None).ok().map(|(t, e)| (std::borrow::Cow::Owned(t.into_owned()), e))
        })?;
        let first = text.split(|b| *b == b'\n').next()?;
        let sep = format.delimiter();
        return Some(first.split(|b| *b == sep).map(|c| String::from_utf8_lossy(c).trim().to_string()).collect());
    }
    let file = DataFile { path: path.to_path_buf(), partitions: vec![], part: None };
    let lf = scan_file(&file, format, format.delimiter(), None).ok()?;
    let mut lf = lf;
    let schema = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lf.collect_schema())).ok()?.ok()?;
    Some(schema.iter_names().map(|n| n.to_string()).collect())
}

fn add_dir_dataset(found: &mut Discovery, dir: &Path, id: &str, published: bool) {
    let files = data_files(dir, &mut found.errors, &mut found.skipped, id);
    let Some(format) = files.first().and_then(|f| Format::of(&f.path)) else {
        found.skipped.push(id.to_string());
        return;
    };
    if files.iter().any(|f| Format::of(&f.path) != Some(format)) {
        found.errors.push(InputError::new(id, "schema", "a directory dataset must hold files of one format"));
        return;
    }
    push_dataset(found, dir, id, format, files, published);
}

/// A dataset opened for profiling.
pub struct Frame {
    pub lf: LazyFrame,
    /// Column names in file order with their polars types (the hidden feature id aside).
    pub columns: Vec<(String, DataType)>,
    /// Text sources: coordinates are read as strings so decimals are counted as written.
    pub text: bool,
    pub sha256: String,
    /// The vertex columns of the dataset's geometry, when it has one.
    pub geometry: Option<Exploded>,
    /// Columns whose values look like positions, from a sample (tagging, `scan.unbound`).
    pub forms: BTreeMap<String, Form>,
    /// One-column positions and the order their values' ranges show (`None`: ambiguous).
    pub pairs: BTreeMap<String, Option<Order>>,
    /// Every column, as the file reads, when `lf` holds only the bound columns in memory
    /// (a parsed text table; see `scan::read`): what `--fix` writes from.
    pub full: Option<LazyFrame>,
    /// Files of which the sandbox decoded only the first rows ([`open_deferred`]):
    /// [`verify`] decodes the columns a scan reads before any of their rows are read.
    pub pending: Option<Pending>,
    /// Those files once decoded, or the large CSV/TSV files of a frame opened by
    /// [`open_deferred`], whose hashes are still being taken: `sha256` is empty until
    /// [`finish_hash`], so the hashing runs beside the scan's passes.
    pub hashing: Option<Pending>,
    /// A CSV or TSV opened by [`open_deferred`] whose rows past the first thousand
    /// have not had their fields counted yet: its one parse counts them
    /// (`unquoted::read_columns`), else [`finish_structure`] does.
    pub unchecked_rows: bool,
}

/// Binary files whose sandbox child decoded only their first rows, by their index in
/// the dataset, and the dataset's hashes: those of these files are taken once the
/// columns are decoded, so the hashing runs beside both children.
pub struct Pending {
    files: Vec<(usize, PathBuf)>,
    hashes: Hashes,
    /// Every file's digest in order, empty for the files above until [`verify`].
    digests: Vec<(String, String)>,
}

/// A reader's failure, with a kind for the report.
#[derive(Clone, Debug)]
pub struct ReadError {
    pub kind: &'static str,
    pub message: String,
}

impl ReadError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        ReadError { kind, message: message.into() }
    }

    /// The same error, placed (`record 3: …`).
    pub fn at(self, place: &str) -> Self {
        ReadError { kind: self.kind, message: format!("{place}: {}", self.message) }
    }
}

/// What a reader gives: the table's rows, and its declared geometry if any.
#[derive(Debug)]
pub struct Table {
    pub df: DataFrame,
    pub geometry: Option<Geometry>,
}

fn polars_path(path: &Path) -> PlRefPath {
    PlRefPath::new(path.to_string_lossy().as_ref())
}

/// Many small binary files together up to this size are read once into memory: the
/// sandbox children that decode them keep their rows for the parent, which then reads
/// neither the files again nor opens each of them once per pass (scan::read).
pub const MANY_FILES_MAX_BYTES: u64 = 64 << 20;

/// The column naming each row's file in [`one_scan`] (dropped before use).
const FILE_COLUMN: &str = "\u{1}mosaic_file";

/// Parquet files of one schema as one scan with many sources, rather than a union of
/// a scan per file: polars then opens a few files at a time, where a union of 1 000
/// daily partitions opened them all at once (1 GiB of heap for 1M rows). Partition
/// values come from each row's file path (the last `key=value` directory of each
/// key), as text, as the per-file scans give them. `None` when the files' partition
/// keys differ.
fn one_scan(files: &[DataFile]) -> Option<LazyFrame> {
    let keys: Vec<&str> = files.first()?.partitions.iter().map(|(k, _)| k.as_str()).collect();
    if files.iter().any(|f| f.partitions.iter().map(|(k, _)| k.as_str()).ne(keys.iter().copied())) {
        return None;
    }
    // Read back from the path as below; the values must be those the files carry (a
    // Delta log's partition values need not be in its paths).
    let patterns: Vec<(String, regex::Regex)> = keys
        .iter()
        .map(|k| {
            let pattern = format!(r".*/{}=([^/]*)/", regex::escape(k));
            regex::Regex::new(&pattern).map(|re| (pattern, re))
        })
        .collect::<Result<_, _>>()
        .ok()?;
    for file in files {
        let path = polars_path(&file.path);
        for ((_, re), (_, value)) in patterns.iter().zip(&file.partitions) {
            let found = re.captures(path.as_str()).and_then(|c| c.get(1)).map(|m| m.as_str());
            if found != Some(value.as_str()) {
                return None;
            }
        }
    }
    let args = ScanArgsParquet { include_file_paths: Some(FILE_COLUMN.into()), ..Default::default() };
    let lf = LazyFrame::scan_parquet_files(files.iter().map(|f| polars_path(&f.path)).collect(), args).ok()?;
    let parts: Vec<Expr> = keys
        .iter()
        .zip(patterns)
        .map(|(k, (pattern, _))| col(FILE_COLUMN).str().extract(lit(pattern), 1).alias(*k))
        .collect();
    Some(lf.with_columns(parts).drop(by_name([FILE_COLUMN], true, false)))
}

/// Lazy scan of one file. `text` holds a decoded CSV when it had to be transcoded;
/// `delimiter` separates a CSV's fields.
fn scan_file(file: &DataFile, format: Format, delimiter: u8, text: Option<Vec<u8>>) -> PolarsResult<LazyFrame> {
    let path = polars_path(&file.path);
    let lf = match format {
        Format::Parquet => LazyFrame::scan_parquet(path, ScanArgsParquet::default())?,
        Format::Ipc => LazyFrame::scan_ipc(path, Default::default(), Default::default())?,
        Format::NdJson => {
            LazyJsonLineReader::new(path).with_infer_schema_length(std::num::NonZeroUsize::new(10_000)).finish()?
        }
        Format::Json
        | Format::GeoJson
        | Format::Sheet
        | Format::Shapefile
        | Format::GeoPackage
        | Format::Kml
        | Format::Kmz
        | Format::Gpx => polars_bail!(ComputeError: "not a format polars scans"),
        Format::Csv | Format::Tsv => {
            let reader = match text {
                Some(bytes) => LazyCsvReader::new_with_sources(ScanSources::Buffers(Arc::from([bytes.into()]))),
                None => LazyCsvReader::new(path),
            };
            reader
                .with_separator(delimiter)
                .with_infer_schema_length(Some(0))
                .with_has_header(true)
                .with_missing_is_null(true)
                .finish()?
        }
    };
    let parts: Vec<Expr> = file.partitions.iter().map(|(k, v)| lit(v.clone()).alias(k.as_str())).collect();
    Ok(if parts.is_empty() { lf } else { lf.with_columns(parts) })
}

/// A Parquet file starts and ends with `PAR1`; readers look only at the end, so a
/// damaged start would otherwise pass unnoticed.
fn check_parquet_magic(path: &Path) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    let ok = f.read_exact(&mut head).is_ok()
        && f.seek(SeekFrom::End(-4)).is_ok()
        && f.read_exact(&mut tail).is_ok()
        && &head == b"PAR1"
        && &tail == b"PAR1";
    if ok {
        Ok(())
    } else {
        Err("not a Parquet file: it must start and end with `PAR1` (truncated or damaged?)".into())
    }
}

/// The digest of a file's content together with the sidecars read with it (a
/// Shapefile's `.dbf`, `.prj`, `.cpg`): changing any of them changes the dataset.
fn with_sidecars(path: &Path, digest: String) -> std::io::Result<String> {
    if Format::of(path) != Some(Format::Shapefile) {
        return Ok(digest);
    }
    let mut parts = vec![("shp".to_string(), digest)];
    for ext in ["dbf", "prj", "cpg"] {
        if let Some(p) = shapefile::sidecar(path, ext) {
            parts.push((ext.to_string(), hash_file(&p)?));
        }
    }
    Ok(combine_digests(&parts))
}

/// sha256 of a data file's content, its sidecars included (see `open`).
pub fn hash_content(path: &Path) -> std::io::Result<String> {
    with_sidecars(path, hash_file(path)?)
}

/// Binary files up to this size are hashed without a thread of their own.
const INLINE_HASH_BYTES: u64 = 1 << 20;

/// sha256 of one file, streamed in blocks of 1 MiB (706 MB: 0.52 s by `io::copy`'s
/// 8 KiB blocks, 0.42 s by these; mapping the file instead took 0.84–1.03 s beside a
/// scan's passes, against 0.54 s for these blocks: each page faulted in).
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let size = file.metadata().map_or(0, |m| m.len());
    let mut block = vec![0u8; size.clamp(1, 1 << 20) as usize];
    loop {
        match file.read(&mut block) {
            Ok(0) => break,
            Ok(n) => hasher.update(&block[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The sha256 of a dataset's files. Binary files larger than [`INLINE_HASH_BYTES`] are
/// hashed in order on one thread, started before the sandboxed decode so the two run
/// side by side; smaller ones (a lake's partitions) are hashed when reached, which
/// costs less than handing them to a thread. A CSV or TSV file that large is hashed
/// on that thread too when its hash can wait ([`open_deferred`]): beside its checks
/// and the scan's passes over its rows, not only beside its checks.
pub(crate) struct Hashes {
    large: Vec<bool>,
    done: std::sync::Mutex<(
        std::sync::mpsc::Receiver<(usize, std::io::Result<String>)>,
        BTreeMap<usize, std::io::Result<String>>,
    )>,
}

impl Hashes {
    pub(crate) fn start(dataset: &Dataset, defer: bool) -> Hashes {
        let threaded = !dataset.format.is_text() || (defer && matches!(dataset.format, Format::Csv | Format::Tsv));
        let large: Vec<bool> = dataset
            .files
            .iter()
            .map(|f| threaded && std::fs::metadata(&f.path).is_ok_and(|m| m.len() > INLINE_HASH_BYTES))
            .collect();
        let (send, receive) = std::sync::mpsc::channel();
        let paths: Vec<(usize, PathBuf)> =
            dataset.files.iter().enumerate().filter(|(i, _)| large[*i]).map(|(i, f)| (i, f.path.clone())).collect();
        if !paths.is_empty() {
            std::thread::spawn(move || {
                for (i, path) in paths {
                    let _t = crate::trace::span(|| format!("sha256 {}", path.display()));
                    if send.send((i, hash_file(&path))).is_err() {
                        return;
                    }
                }
            });
        }
        Hashes { large, done: std::sync::Mutex::new((receive, BTreeMap::new())) }
    }

    /// No file hashed on a thread (each hashed where asked, if it is).
    fn none(dataset: &Dataset) -> Hashes {
        let (_, receive) = std::sync::mpsc::channel();
        Hashes { large: vec![false; dataset.files.len()], done: std::sync::Mutex::new((receive, BTreeMap::new())) }
    }

    /// Whether file `index` is hashed on the thread.
    fn threaded(&self, index: usize) -> bool {
        self.large.get(index).copied().unwrap_or(false)
    }

    /// The hash of file `index` (at `path`): from the thread, or computed here.
    fn get(&self, index: usize, path: &Path) -> std::io::Result<String> {
        if !self.threaded(index) {
            return hash_file(path);
        }
        let mut done = self.done.lock().map_err(|_| std::io::Error::other("hashing failed"))?;
        loop {
            if let Some(result) = done.1.remove(&index) {
                return result;
            }
            match done.0.recv() {
                Ok((i, result)) => {
                    done.1.insert(i, result);
                }
                Err(_) => return Err(std::io::Error::other("hashing failed")),
            }
        }
    }
}

/// Hash of a dataset's content: its file's sha256, or for several files the sha256
/// of their relative paths and hashes in order.
pub fn combine_digests(digests: &[(String, String)]) -> String {
    if let [(_, one)] = digests {
        return one.clone();
    }
    let mut hasher = Sha256::new();
    for (path, digest) in digests {
        hasher.update(path.as_bytes());
        hasher.update(b"\0");
        hasher.update(digest.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

fn read_error(dataset: &Dataset, file: &DataFile, kind: &str, message: impl std::fmt::Display) -> InputError {
    let shown =
        if dataset.files.len() > 1 { format!("{}: {message}", file.path.display()) } else { message.to_string() };
    InputError::new(&dataset.id, kind, shown)
}

/// Open a dataset as one lazy frame, checking what can be checked before profiling:
/// encodings, CSV structure, Parquet/IPC footers, one schema across files. A
/// geometry (declared or found in a column's values) becomes one row per vertex.
/// Every page of every column of a binary file is decoded in the sandbox first.
pub fn open(dataset: &Dataset) -> Result<Frame, InputError> {
    open_with(dataset, false, None)
}

/// [`open`] for a reader that reads only some columns (a scan, a profile): the
/// sandbox decodes the first rows of each binary file's columns now, and [`verify`]
/// decodes every row of the columns read once the dataset is tagged. A table of many
/// small files whose rows the sandbox keeps is decoded whole as in [`open`].
pub fn open_deferred(dataset: &Dataset) -> Result<Frame, InputError> {
    open_with(dataset, true, None)
}

/// [`open_deferred`] of a dataset whose content hash is known (`sha256`, taken by a
/// sandbox child that read the same files): nothing is hashed again.
pub fn open_known(dataset: &Dataset, sha256: &str) -> Result<Frame, InputError> {
    open_with(dataset, true, Some(sha256))
}

/// The encoding a dataset's manifest declares, if any.
fn declared_encoding(dataset: &Dataset) -> Result<Option<Encoding>, InputError> {
    match dataset.manifest.as_ref().and_then(|m| m.encoding.as_deref()) {
        None => Ok(None),
        Some(name) => Encoding::parse(name).map(Some).ok_or_else(|| {
            InputError::new(&dataset.id, "manifest", format!("unknown encoding `{name}` (utf-8, gbk, gb18030)"))
        }),
    }
}

fn open_with(dataset: &Dataset, defer: bool, known: Option<&str>) -> Result<Frame, InputError> {
    let mut digests = Vec::new();
    let declared = declared_encoding(dataset)?;
    // A single CSV or TSV that the scan parses once (`unquoted::read_columns`, which
    // counts every line's fields) has only its first rows' fields counted here.
    let head_only = defer
        && matches!(dataset.format, Format::Csv | Format::Tsv)
        && dataset.files.len() == 1
        && matches!(declared, None | Some(Encoding::Utf8))
        && dataset
            .files
            .iter()
            .all(|f| std::fs::metadata(&f.path).is_ok_and(|m| m.len() <= unquoted::PARSE_ONCE_MAX_BYTES));
    let mut unchecked_rows = false;
    let mut frames = Vec::new();
    let mut same_types = true;
    let mut schema: Option<Vec<(String, DataType)>> = None;
    let mut exploded: Option<Exploded> = None;
    // Files larger than INLINE_HASH_BYTES are hashed in order on a thread of their
    // own, started first so that hashing runs beside the sandboxed decode (binary) or
    // the checks and the passes over the rows (text whose hash can wait).
    let hashes = if known.is_some() { Hashes::none(dataset) } else { Hashes::start(dataset, defer) };
    // Binary files are first decoded whole in sandbox children (see DECODER); a file
    // that fails there is reported after its own cheaper checks, as it is reached.
    // The children keep the rows of many small Parquet files for the parent (see
    // MANY_FILES_MAX_BYTES and `open_kept`), written to a directory removed when
    // this returns.
    let keep = (dataset.format == Format::Parquet
        && dataset.files.len() > 1
        && dataset.files.iter().map(|f| std::fs::metadata(&f.path).map_or(u64::MAX, |m| m.len())).sum::<u64>()
            <= MANY_FILES_MAX_BYTES)
        .then(tempfile::tempdir)
        .and_then(Result::ok);
    let sandboxed = match (dataset.format, DECODER.get()) {
        (Format::Parquet | Format::Ipc, Some(decoder)) => {
            let _t =
                crate::trace::span(|| format!("sandboxed decode {} ({} file(s))", dataset.id, dataset.files.len()));
            let paths: Vec<&Path> = dataset.files.iter().map(|f| f.path.as_path()).collect();
            let decode = match &keep {
                None if defer => Decode::Head,
                keep => Decode::Whole { keep: keep.as_ref().map(|d| d.path()) },
            };
            sandboxed_decode(decoder, &paths, dataset.format, decode)
        }
        _ => Decoded::default(),
    };
    let pending: Vec<(usize, PathBuf)> = dataset
        .files
        .iter()
        .enumerate()
        .filter(|(i, _)| sandboxed.head.get(*i) == Some(&true))
        .map(|(i, f)| (i, f.path.clone()))
        .collect();
    if let Some(frame) = open_kept(dataset, &sandboxed, &hashes)? {
        return Ok(frame);
    }
    // Read without a sandbox (in a scan's sandbox child, or by a library user), a large
    // binary file's hash is waited for once the passes over its rows have run beside
    // it, as a sandboxed one's is (20M rows: opening took 0.59 s waiting for it, not 0.2).
    let hashed_later = |index: usize| {
        defer && pending.is_empty() && !dataset.format.is_text() && sandboxed.failed.is_none() && hashes.threaded(index)
    };
    for (index, file) in dataset.files.iter().enumerate() {
        not_empty(dataset, file)?;
        let (lf, geometry) = if dataset.format.is_polars() {
            let failed = sandboxed.failed.as_ref().filter(|(at, _)| *at == index).map(|(_, why)| why.clone());
            let hashed = (known.is_none() && !pending.iter().any(|(i, _)| *i == index) && !hashed_later(index))
                .then_some(&hashes);
            let (lf, unchecked) =
                open_polars_file(dataset, file, declared, &mut digests, failed, hashed, index, head_only)?;
            unchecked_rows |= unchecked;
            let found = if sandboxed.plain.get(index) == Some(&true) {
                None
            } else {
                let sample =
                    guarded(|| head(file, dataset.format, &lf)).map_err(|m| read_error(dataset, file, "corrupt", m))?;
                found_geometry(&sample).map_err(|m| read_error(dataset, file, "geometry", m))?
            };
            match found {
                None => (lf, None),
                Some((name, form)) => {
                    // Read whole here: every row's fields are counted first.
                    if std::mem::take(&mut unchecked_rows) {
                        check_rows(dataset, file, declared)?;
                    }
                    let df = guarded(|| lf.clone().collect()).map_err(|m| read_error(dataset, file, "corrupt", m))?;
                    let vertices = geometry::parse_column(
                        df.column(&name).map_err(|e| read_error(dataset, file, "corrupt", e))?,
                        form,
                    )
                    .map_err(|m| read_error(dataset, file, "geometry", m))?;
                    let crs = match (dataset.format, form) {
                        (Format::Parquet, Form::Wkb) => {
                            geoparquet_crs(&file.path, &name).map_err(|m| read_error(dataset, file, "crs", m))?
                        }
                        _ => Crs::Geographic,
                    };
                    let g = Geometry { column: name, vertices, crs, declared: false };
                    let (df, e) = geometry::explode(&df, g, (index as u64) << 32)
                        .map_err(|e| read_error(dataset, file, "geometry", clean_polars_error(&e)))?;
                    (df.lazy(), Some(e))
                }
            }
        } else {
            let bytes = {
                let _t = crate::trace::span(|| format!("read {}", file.path.display()));
                std::fs::read(&file.path).map_err(|e| read_error(dataset, file, "io", e))?
            };
            let _t = crate::trace::span(|| format!("text checks and sha256 {}", file.path.display()));
            let digest = with_sidecars(&file.path, hex::encode(Sha256::digest(&bytes)))
                .map_err(|e| read_error(dataset, file, "io", e))?;
            digests.push((relative_id(&dataset.path, &file.path), digest));
            let table = read_table(file, dataset.format, bytes, declared)
                .map_err(|e| read_error(dataset, file, e.kind, e.message))?;
            let Table { df, geometry } = table;
            let geometry = match geometry {
                Some(g) => Some(g),
                None => match found_geometry(&df.head(Some(SAMPLE_ROWS as usize)))
                    .map_err(|m| read_error(dataset, file, "geometry", m))?
                {
                    None => None,
                    Some((name, form)) => {
                        let column = df.column(&name).map_err(|e| read_error(dataset, file, "corrupt", e))?;
                        let vertices = geometry::parse_column(column, form)
                            .map_err(|m| read_error(dataset, file, "geometry", m))?;
                        Some(Geometry { column: name, vertices, crs: Crs::Geographic, declared: false })
                    }
                },
            };
            match geometry {
                None => (df.lazy(), None),
                Some(g) => {
                    let (df, e) = geometry::explode(&df, g, (index as u64) << 32)
                        .map_err(|e| read_error(dataset, file, "geometry", clean_polars_error(&e)))?;
                    (df.lazy(), Some(e))
                }
            }
        };
        let mut lf = lf;
        let file_schema = guarded(|| lf.collect_schema()).map_err(|m| read_error(dataset, file, "corrupt", m))?;
        let cols: Vec<(String, DataType)> = file_schema.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
        let names: BTreeSet<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        if names.len() != cols.len() {
            return Err(read_error(dataset, file, "schema", "duplicate column names"));
        }
        match &schema {
            None => {
                schema = Some(cols);
                exploded = geometry;
            }
            Some(first) => {
                same_types &= *first == cols;
                let first_names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
                let these: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
                if first_names != these || exploded != geometry {
                    return Err(read_error(
                        dataset,
                        file,
                        "schema",
                        format!(
                            "columns differ from the dataset's first file: [{}] vs [{}]",
                            these.join(", "),
                            first_names.join(", ")
                        ),
                    ));
                }
            }
        }
        frames.push(lf);
    }
    let schema = schema.unwrap_or_default();
    let columns: Vec<(String, DataType)> = schema.into_iter().filter(|(n, _)| n != geometry::FEATURE).collect();
    let lf = if frames.len() == 1 {
        frames.pop().unwrap_or_default()
    } else if let Some(lf) = (same_types && dataset.format == Format::Parquet && exploded.is_none())
        .then(|| one_scan(&dataset.files))
        .flatten()
    {
        lf
    } else {
        concat(frames, UnionArgs { rechunk: false, parallel: true, to_supertypes: true, ..Default::default() })
            .map_err(|e| InputError::new(&dataset.id, "schema", clean_polars_error(&e)))?
    };
    // A one-column position is read whole to learn its order: decoded first, and
    // every row's fields counted.
    let mut refused = None;
    let mut decode = |names: &[String]| {
        if std::mem::take(&mut unchecked_rows) {
            if let Err(e) = check_rows(dataset, &dataset.files[0], declared) {
                let message = e.message.clone();
                refused = Some(e);
                return Err(message);
            }
        }
        check_pending(dataset, &pending, names).map_err(|e| e.message)
    };
    let forms = column_forms(&lf, &columns, exploded.as_ref(), &mut decode);
    let (forms, pairs) =
        forms.map_err(|m| refused.take().unwrap_or_else(|| InputError::new(&dataset.id, "corrupt", m)))?;
    // Files still hashing on the thread: their digests are taken by `finish_hash`.
    let text = matches!(dataset.format, Format::Csv | Format::Tsv);
    let waiting: Vec<(usize, PathBuf)> = dataset
        .files
        .iter()
        .enumerate()
        .filter(|(i, _)| (text && hashes.threaded(*i)) || hashed_later(*i))
        .map(|(i, f)| (i, f.path.clone()))
        .collect();
    let sha256 = match known {
        Some(known) => known.to_string(),
        None if pending.is_empty() && waiting.is_empty() => combine_digests(&digests),
        None => String::new(),
    };
    let (pending, hashing) = if !pending.is_empty() {
        (Some(Pending { files: pending, hashes, digests }), None)
    } else if !waiting.is_empty() {
        (None, Some(Pending { files: waiting, hashes, digests }))
    } else {
        (None, None)
    };
    Ok(Frame {
        lf,
        columns,
        text: dataset.format.is_text(),
        sha256,
        geometry: exploded,
        forms,
        pairs,
        full: None,
        pending,
        hashing,
        unchecked_rows,
    })
}

/// Decode, in the sandbox, every row of the `columns` of the files whose first rows
/// only were decoded ([`open_deferred`]), then let the frame read those columns only:
/// a column the sandbox did not decode cannot be read by mistake (an error, not a
/// crash). Nothing to do for a frame opened otherwise.
pub fn verify(dataset: &Dataset, frame: &mut Frame, columns: &[String]) -> Result<(), InputError> {
    if frame.pending.is_none() {
        return Ok(());
    }
    let verified = verified(dataset, frame, columns);
    frame.hashing = frame.pending.take();
    frame.lf = verified?;
    Ok(())
}

/// What [`verify`] makes of a frame's rows, leaving the frame as it is: its `columns`
/// decoded in the sandbox, then a frame that reads those columns only.
pub fn verified(dataset: &Dataset, frame: &Frame, columns: &[String]) -> Result<LazyFrame, InputError> {
    if let Some(pending) = &frame.pending {
        let _t = crate::trace::span(|| format!("sandboxed decode of {} column(s) {}", columns.len(), dataset.id));
        check_pending(dataset, &pending.files, columns)?;
    }
    let read: Vec<Expr> =
        frame.columns.iter().filter(|(n, _)| columns.contains(n)).map(|(n, _)| col(n.as_str())).collect();
    Ok(frame.lf.clone().select(read))
}

/// Count the fields of every row of a frame whose rows past the first thousand were
/// left to its one parse ([`Frame::unchecked_rows`]), when that parse did not read
/// it: a scan calls this right after the parse, before any pass over the rows.
pub fn finish_structure(dataset: &Dataset, frame: &mut Frame) -> Result<(), InputError> {
    if !std::mem::take(&mut frame.unchecked_rows) {
        return Ok(());
    }
    match dataset.files.as_slice() {
        [file] => check_rows(dataset, file, declared_encoding(dataset)?),
        _ => Err(InputError::new(&dataset.id, "internal", "rows left unchecked in a dataset of several files")),
    }
}

/// A text file mapped read-only, for checks and parses that read it in place. A file
/// truncated by another process while mapped can fault (SIGBUS), as it can for
/// polars' CSV reader, which maps it too (docs/reliability.md): a crash, never a pass.
pub(crate) fn map_file(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: read-only; every caller drops the mapping before it returns.
    unsafe { memmap2::Mmap::map(&file) }
}

/// The structure of every row of a text file (see [`text::check_structure`]).
fn check_rows(dataset: &Dataset, file: &DataFile, declared: Option<Encoding>) -> Result<(), InputError> {
    let _t = crate::trace::span(|| format!("structure of every row {}", file.path.display()));
    let mapped = map_file(&file.path).map_err(|e| read_error(dataset, file, "io", e))?;
    text::decode(&mapped, declared)
        .and_then(|(decoded, _)| text::check_structure(&decoded, dataset.delimiter()))
        .map_err(|e| read_error(dataset, file, e.kind, format!("line {}: {}", e.line, e.message)))
}

/// Take the hashes of the files [`verify`] decoded into the frame's `sha256` (what a
/// scan does once its passes over the rows have run beside the hashing; nothing to
/// do for a frame whose hash is known).
pub fn finish_hash(dataset: &Dataset, frame: &mut Frame) -> Result<(), InputError> {
    let Some(Pending { files, hashes, mut digests }) = frame.hashing.take() else { return Ok(()) };
    // One digest per file, in file order.
    for (index, path) in &files {
        let digest = hashes.get(*index, path).map_err(|e| read_error(dataset, &dataset.files[*index], "io", e))?;
        if let Some(slot) = digests.get_mut(*index) {
            slot.1 = digest;
        }
    }
    frame.sha256 = combine_digests(&digests);
    Ok(())
}

fn check_pending(dataset: &Dataset, files: &[(usize, PathBuf)], columns: &[String]) -> Result<(), InputError> {
    let Some(decoder) = DECODER.get().filter(|_| !files.is_empty()) else { return Ok(()) };
    let paths: Vec<&Path> = files.iter().map(|(_, p)| p.as_path()).collect();
    let decoded = sandboxed_decode(decoder, &paths, dataset.format, Decode::Columns(columns));
    match decoded.failed {
        None => Ok(()),
        Some((at, why)) => {
            let index = files.get(at).map_or(0, |(i, _)| *i);
            Err(read_error(dataset, &dataset.files[index], "corrupt", why))
        }
    }
}

fn not_empty(dataset: &Dataset, file: &DataFile) -> Result<(), InputError> {
    let meta = std::fs::metadata(&file.path).map_err(|e| read_error(dataset, file, "io", e))?;
    if meta.len() == 0 {
        return Err(read_error(dataset, file, "empty", "file is empty (0 bytes)"));
    }
    Ok(())
}

/// A dataset of many small Parquet files whose rows the sandbox children kept
/// ([`sandboxed_decode`]): the frame reads those rows from memory, and each file
/// gets the checks that need no decoding (size, name, magic bytes, hash), not a
/// scan of its own. The children found one schema across the files; the scan of all
/// of them (kept as `full`, for writing fixes) must give the same columns, else the
/// files are opened one by one as usual (`None`).
fn open_kept(dataset: &Dataset, sandboxed: &Decoded, hashes: &Hashes) -> Result<Option<Frame>, InputError> {
    if dataset.format != Format::Parquet || dataset.files.len() < 2 {
        return Ok(None);
    }
    let kept = {
        let _t = crate::trace::span(|| format!("kept rows {}", dataset.id));
        kept_rows(sandboxed, &dataset.files)
    };
    let Some(df) = kept else { return Ok(None) };
    let Some(mut full) = one_scan(&dataset.files) else { return Ok(None) };
    let Ok(schema) = guarded(|| full.collect_schema()) else { return Ok(None) };
    let columns: Vec<(String, DataType)> = df.schema().iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    if !schema.iter().map(|(n, t)| (n.as_str(), t)).eq(columns.iter().map(|(n, t)| (n.as_str(), t))) {
        return Ok(None);
    }
    let mut digests = Vec::new();
    for (index, file) in dataset.files.iter().enumerate() {
        not_empty(dataset, file)?;
        binary_checks(dataset, file)?;
        push_digest(dataset, file, hashes, index, &mut digests)?;
    }
    let lf = df.lazy();
    let (forms, pairs) =
        column_forms(&lf, &columns, None, &mut |_| Ok(())).map_err(|m| InputError::new(&dataset.id, "corrupt", m))?;
    Ok(Some(Frame {
        lf,
        columns,
        text: false,
        sha256: combine_digests(&digests),
        geometry: None,
        forms,
        pairs,
        full: Some(full),
        pending: None,
        hashing: None,
        unchecked_rows: false,
    }))
}

/// The checks of a binary file that need no decoding: a name polars can take, and
/// Parquet's magic bytes at both ends.
fn binary_checks(dataset: &Dataset, file: &DataFile) -> Result<(), InputError> {
    if file.path.to_str().is_none() {
        return Err(read_error(dataset, file, "name", "the file name is not valid UTF-8; rename the file"));
    }
    if dataset.format == Format::Parquet {
        check_parquet_magic(&file.path).map_err(|m| read_error(dataset, file, "corrupt", m))?;
    }
    Ok(())
}

fn push_digest(
    dataset: &Dataset,
    file: &DataFile,
    hashes: &Hashes,
    index: usize,
    digests: &mut Vec<(String, String)>,
) -> Result<(), InputError> {
    let digest = hashes.get(index, &file.path).map_err(|e| read_error(dataset, file, "io", e))?;
    digests.push((relative_id(&dataset.path, &file.path), digest));
    Ok(())
}

/// The coordinate system GeoParquet's `geo` metadata gives a geometry column:
/// longitude/latitude (OGC:CRS84) when it names none, else its EPSG code.
fn geoparquet_crs(path: &Path, column: &str) -> Result<Crs, String> {
    let Some(geo) = geo_metadata(path)? else {
        return Ok(Crs::Geographic);
    };
    let geo: serde_json::Value = serde_json::from_str(&geo).map_err(|e| format!("GeoParquet `geo` metadata: {e}"))?;
    let crs = &geo["columns"][column]["crs"];
    if crs.is_null() {
        return Ok(Crs::Geographic);
    }
    let id = &crs["id"];
    let code = match (id["authority"].as_str(), &id["code"]) {
        (Some(a), code) if a.eq_ignore_ascii_case("EPSG") => code.as_u64().or_else(|| code.as_str()?.parse().ok()),
        (Some(a), code) if a.eq_ignore_ascii_case("OGC") && code.as_str() == Some("CRS84") => Some(4326),
        _ => crs.as_str().and_then(|s| s.rsplit(':').next()?.parse().ok()),
    };
    match code {
        Some(code) => crs::epsg(code as u32),
        None => Err(format!("GeoParquet column `{column}` names a coordinate system mosaic does not know: {crs}")),
    }
}

/// A Parquet file's GeoParquet `geo` metadata, if it has any.
fn geo_metadata(path: &Path) -> Result<Option<String>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut reader = ParquetReader::new(file);
    let metadata = guarded(|| Ok(reader.get_metadata()?.clone()))?;
    Ok(metadata
        .key_value_metadata()
        .as_ref()
        .and_then(|kv| kv.iter().find(|k| k.key == "geo").and_then(|k| k.value.clone())))
}

/// Whether a dataset's files declare a geometry column (GeoParquet's `geo`
/// metadata): its rows are exploded into vertices as it is opened, all of them.
pub fn declares_geometry(dataset: &Dataset) -> bool {
    dataset.format == Format::Parquet && dataset.files.iter().any(|f| geo_metadata(&f.path).is_ok_and(|g| g.is_some()))
}

/// Rows sampled to recognise what a column's values are.
pub(crate) const SAMPLE_ROWS: u32 = 1000;

/// A file's first [`SAMPLE_ROWS`] rows. Parquet and IPC are read with the file
/// readers, not a lazy plan: a lake of 10 000 small files spent 10 s of its 19 in
/// planning these samples (1 ms a file against 0.1 ms). Partition columns are not in
/// the file and hold no geometry.
fn head(file: &DataFile, format: Format, lf: &LazyFrame) -> PolarsResult<DataFrame> {
    let open = || std::fs::File::open(&file.path).map_err(PolarsError::from);
    match format {
        Format::Parquet => ParquetReader::new(open()?).with_slice(Some((0, SAMPLE_ROWS as usize))).finish(),
        Format::Ipc => IpcReader::new(open()?).with_n_rows(Some(SAMPLE_ROWS as usize)).finish(),
        _ => lf.clone().limit(SAMPLE_ROWS).collect(),
    }
}

/// Run a polars call, turning an error or a panic into a message.
fn guarded<T>(f: impl FnOnce() -> PolarsResult<T>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(clean_polars_error(&e)),
        Err(_) => Err("the reader failed on this file (malformed content)".into()),
    }
}

/// The one column of a sample whose values are geometries, if any. Two or more are
/// an error: which one holds the positions would be a guess.
fn found_geometry(sample: &DataFrame) -> Result<Option<(String, Form)>, String> {
    let found: Vec<(String, Form)> = sample
        .columns()
        .iter()
        .filter_map(|c| geometry::sniff_geometry(c).map(|f| (c.name().to_string(), f)))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => Err(format!(
            "several columns hold geometries ({}); mosaic reads one geometry per table — publish the others apart",
            many.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// What the values of each column look like (sampled), and for one-column positions the
/// order their full ranges show.
fn column_forms(
    lf: &LazyFrame,
    columns: &[(String, DataType)],
    exploded: Option<&Exploded>,
    decode: &mut dyn FnMut(&[String]) -> Result<(), String>,
) -> Result<(BTreeMap<String, Form>, BTreeMap<String, Option<Order>>), String> {
    let vertex = |n: &str| exploded.is_some_and(|e| e.lat == n || e.lon == n);
    let wanted: Vec<Expr> = columns.iter().filter(|(n, _)| !vertex(n)).map(|(n, _)| col(n.as_str())).collect();
    let mut forms = BTreeMap::new();
    let mut pairs = BTreeMap::new();
    if wanted.is_empty() {
        return Ok((forms, pairs));
    }
    // The streaming engine stops at the limit; the in-memory one read every file of a
    // many-file table in parallel first (1.4 GiB for 1 000 small partitions).
    let sample = guarded(|| {
        lf.clone().select(wanted).limit(SAMPLE_ROWS).collect_with_engine(Engine::Streaming).map(|r| r.unwrap_single())
    })?;
    for column in sample.columns() {
        if let Some(form) = geometry::sniff(column) {
            forms.insert(column.name().to_string(), form);
        }
    }
    for (name, form) in &forms {
        if *form == Form::Pair {
            decode(std::slice::from_ref(name))?;
            let whole = guarded(|| lf.clone().select([col(name.as_str())]).collect())?;
            let column = whole.column(name).map_err(|e| e.to_string())?;
            pairs.insert(name.clone(), geometry::pair_order(column)?);
        }
    }
    Ok((forms, pairs))
}

/// Read one file of a format mosaic parses itself.
fn read_table(file: &DataFile, format: Format, bytes: Vec<u8>, declared: Option<Encoding>) -> Result<Table, ReadError> {
    let as_text = |bytes: &[u8]| -> Result<String, ReadError> {
        let (decoded, _) = text::decode(bytes, declared)
            .map_err(|e| ReadError::new(e.kind, format!("line {}: {}", e.line, e.message)))?;
        String::from_utf8(decoded.into_owned()).map_err(|e| ReadError::new("encoding", e.to_string()))
    };
    let part = file.part.as_deref().unwrap_or_default();
    match format {
        Format::Json => json::read_json(&as_text(&bytes)?),
        Format::NdJson => json::read_ndjson(&as_text(&bytes)?),
        Format::GeoJson => json::read_geojson(&as_text(&bytes)?),
        Format::Kml => xml::read_kml(&bytes),
        Format::Kmz => xml::read_kmz(&bytes),
        Format::Gpx => xml::read_gpx(&bytes),
        Format::Shapefile => shapefile::read(&file.path, &bytes, declared),
        Format::GeoPackage => gpkg::read(&file.path, part),
        Format::Sheet => sheet::read(bytes, &extension(&file.path), part)?
            .ok_or_else(|| ReadError::new("empty", format!("sheet `{part}` has no header row"))),
        Format::Parquet | Format::Csv | Format::Tsv | Format::Ipc => {
            Err(ReadError::new("internal", "read by polars, not by a table reader"))
        }
    }
}

/// One Parquet, IPC or CSV file as a lazy frame, after the checks that come first
/// (encoding and structure of text, magic bytes of Parquet, the sandboxed decode).
fn open_polars_file(
    dataset: &Dataset,
    file: &DataFile,
    declared: Option<Encoding>,
    digests: &mut Vec<(String, String)>,
    sandbox_failure: Option<String>,
    // `None`: a binary file hashed later (`verify`).
    hashes: Option<&Hashes>,
    index: usize,
    // A text whose fields are counted on its first rows only ([`Frame::unchecked_rows`]).
    head_only: bool,
) -> Result<(LazyFrame, bool), InputError> {
    let mut unchecked = false;
    let transcoded = if matches!(dataset.format, Format::Csv | Format::Tsv) {
        // The text is mapped, not read into the heap: the checks and the hash read it
        // in place (a 5M-row CSV: 0.2 s and 324 MiB of heap less), as polars' own
        // CSV reader maps it for the parse that follows.
        let mapped = map_file(&file.path).map_err(|e| read_error(dataset, file, "io", e))?;
        let bytes: &[u8] = &mapped;
        let _t = crate::trace::span(|| format!("text checks {}", file.path.display()));
        // The text is hashed on a thread of its own while the encoding and structure
        // are checked: the dataset's hashing thread, when this file is on it.
        let threaded = hashes.is_some_and(|h| h.threaded(index));
        let (digest, checked) = std::thread::scope(|scope| {
            let hashing = (!threaded).then(|| {
                scope.spawn(|| {
                    let _t = crate::trace::span(|| format!("sha256 {}", file.path.display()));
                    hex::encode(Sha256::digest(&bytes))
                })
            });
            let checked = {
                let _t = crate::trace::span(|| format!("encoding {}", file.path.display()));
                text::decode(&bytes, declared)
            }
            .and_then(|(decoded, enc)| {
                let _t = crate::trace::span(|| format!("structure {}", file.path.display()));
                let sep = dataset.delimiter();
                // (UTF-8 only: the one parse reads the file's own bytes.)
                match head_only && matches!(decoded, std::borrow::Cow::Borrowed(_)) {
                    true => text::check_structure_head(&decoded, sep, SAMPLE_ROWS as usize),
                    false => text::check_structure(&decoded, sep).map(|()| false),
                }
                .map(|unchecked| (decoded, enc, unchecked))
            });
            (hashing.map(|h| h.join()), checked)
        });
        // Taken by `finish_hash` when on the thread: a place kept in order.
        let digest = digest.transpose().map_err(|_| read_error(dataset, file, "io", "hashing failed"))?;
        digests.push((relative_id(&dataset.path, &file.path), digest.unwrap_or_default()));
        let (decoded, _, rest) =
            checked.map_err(|e| read_error(dataset, file, e.kind, format!("line {}: {}", e.line, e.message)))?;
        unchecked = rest;
        // Read from memory when transcoded, or when the file name is not UTF-8
        // (polars takes paths as text).
        let transcoded = matches!(decoded, std::borrow::Cow::Owned(_))
            || bytes.starts_with(b"\xEF\xBB\xBF")
            || file.path.to_str().is_none();
        drop(_t);
        transcoded.then(|| decoded.into_owned())
    } else {
        binary_checks(dataset, file)?;
        None
    };
    let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _t = crate::trace::span(|| format!("schema {}", file.path.display()));
        let mut lf = scan_file(file, dataset.format, dataset.delimiter(), transcoded)?;
        let s = lf.collect_schema()?;
        Ok::<_, PolarsError>((lf, s))
    }));
    let (lf, _) = match scanned {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(read_error(dataset, file, "corrupt", clean_polars_error(&e))),
        Err(_) => {
            return Err(read_error(dataset, file, "corrupt", "the reader failed on this file (malformed content)"))
        }
    };
    if let Some(why) = sandbox_failure {
        return Err(read_error(dataset, file, "corrupt", why));
    }
    match hashes {
        _ if dataset.format.is_text() => {}
        Some(hashes) => push_digest(dataset, file, hashes, index, digests)?,
        // Hashed once its columns are decoded (`verify`): a place kept in order.
        None => digests.push((relative_id(&dataset.path, &file.path), String::new())),
    }
    Ok((lf, unchecked))
}

/// Polars errors carry a backtrace hint and context lines; keep the first line a user can act on.
pub fn clean_polars_error(e: &PolarsError) -> String {
    let text = e.to_string();
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unreadable");
    first.trim_end_matches(':').to_string()
}
