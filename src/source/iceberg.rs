//! Apache Iceberg tables (DESIGN §9a): a directory with `metadata/*.metadata.json` is
//! one dataset, the live Parquet data files of its current snapshot.
//!
//! The newest metadata file names the current snapshot; its manifest list (Avro) names
//! the manifests (Avro), whose entries name data files, live unless their status is
//! DELETED. Never a silent pass: delete files (position or equality deletes, which
//! mosaic does not apply), data files that are not Parquet, and metadata pointing at
//! files that are missing are the table's error.

use std::path::{Path, PathBuf};

use apache_avro::types::Value as Avro;
use serde_json::Value;

use super::delta::AsOf;
use super::{DataFile, ReadError};

fn err(message: impl Into<String>) -> ReadError {
    ReadError::new("iceberg", message.into())
}

fn metadata_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("metadata"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".metadata.json"))
        .collect()
}

pub fn is_table(dir: &Path) -> bool {
    dir.join("metadata").is_dir() && !metadata_files(dir).is_empty()
}

/// The version a metadata file's name carries: `00003-<uuid>.metadata.json` or `v3.metadata.json`.
fn version_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_string_lossy().to_string();
    let head = name.strip_suffix(".metadata.json")?;
    let head = head.strip_prefix('v').unwrap_or(head);
    head.split('-').next()?.parse().ok()
}

/// The current metadata file: `version-hint.text` if present, else the highest version.
fn current_metadata(dir: &Path) -> Result<PathBuf, ReadError> {
    if let Ok(hint) = std::fs::read_to_string(dir.join("metadata/version-hint.text")) {
        let v = hint.trim();
        let path = dir.join(format!("metadata/v{v}.metadata.json"));
        return if path.is_file() {
            Ok(path)
        } else {
            Err(err(format!("version-hint.text names v{v}, which is missing")))
        };
    }
    metadata_files(dir)
        .into_iter()
        .filter_map(|p| Some((version_of(&p)?, p)))
        .max()
        .map(|(_, p)| p)
        .ok_or_else(|| err("no metadata file with a version in its name"))
}

/// A location in the metadata as a local path: `file://` stripped, and the table's own
/// location (where the writer put it) mapped to where it is now.
fn local(location: &str, table_location: &str, dir: &Path) -> PathBuf {
    let strip = |s: &str| s.strip_prefix("file://").unwrap_or(s).to_string();
    let (loc, base) = (strip(location), strip(table_location));
    match loc.strip_prefix(base.trim_end_matches('/')) {
        Some(rest) => dir.join(rest.trim_start_matches('/')),
        None => PathBuf::from(loc),
    }
}

fn field<'a>(record: &'a Avro, name: &str) -> Option<&'a Avro> {
    match record {
        Avro::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| match v {
            Avro::Union(_, inner) => inner.as_ref(),
            v => v,
        }),
        Avro::Union(_, inner) => field(inner, name),
        _ => None,
    }
}

fn text(v: Option<&Avro>) -> Option<String> {
    match v? {
        Avro::String(s) | Avro::Enum(_, s) => Some(s.clone()),
        Avro::Bytes(b) => Some(String::from_utf8_lossy(b).to_string()),
        Avro::Union(_, inner) => text(Some(inner)),
        _ => None,
    }
}

fn int(v: Option<&Avro>) -> Option<i64> {
    match v? {
        Avro::Int(i) => Some(i64::from(*i)),
        Avro::Long(l) => Some(*l),
        Avro::Union(_, inner) => int(Some(inner)),
        _ => None,
    }
}

fn records(path: &Path, what: &str) -> Result<Vec<Avro>, ReadError> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let file = std::fs::File::open(path).map_err(|e| err(format!("{what} {name} is missing or unreadable: {e}")))?;
    let reader = apache_avro::Reader::new(file).map_err(|e| err(format!("{what} {name}: {e}")))?;
    reader.map(|r| r.map_err(|e| err(format!("{what} {name}: {e}")))).collect()
}

/// The snapshot `--as-of` names: a snapshot id the metadata lists, or the snapshot that
/// was current at a time (the last `snapshot-log` entry at or before it, as Spark's
/// `TIMESTAMP AS OF` reads it).
fn snapshot_as_of(meta: &Value, at: AsOf) -> Result<i64, String> {
    let listed =
        |id: i64| meta["snapshots"].as_array().is_some_and(|s| s.iter().any(|s| s["snapshot-id"].as_i64() == Some(id)));
    match at {
        AsOf::Version(v) => {
            let id = i64::try_from(v).map_err(|_| format!("--as-of {v}: not a snapshot id"))?;
            if listed(id) {
                Ok(id)
            } else {
                Err(format!("--as-of {v}: the table has no snapshot {v} (expired, or not this table's)"))
            }
        }
        AsOf::Time(ms) => {
            let log = meta["snapshot-log"].as_array().cloned().unwrap_or_default();
            let then = log
                .iter()
                .filter(|e| e["timestamp-ms"].as_i64().is_some_and(|t| t <= ms))
                .max_by_key(|e| e["timestamp-ms"].as_i64())
                .and_then(|e| e["snapshot-id"].as_i64());
            match then {
                Some(id) if listed(id) => Ok(id),
                Some(id) => Err(format!("--as-of {}: snapshot {id}, current then, has expired", at.describe())),
                None => Err(format!("--as-of {}: the table had no snapshot by then", at.describe())),
            }
        }
    }
}

/// The live data files of the table at `dir`, at its current snapshot or `--as-of`.
pub fn live_files(dir: &Path) -> Result<Vec<DataFile>, ReadError> {
    live(dir, true)
}

/// The live data files the metadata names, whether or not they are on disk yet (what
/// an object store must fetch).
pub fn named_files(dir: &Path) -> Result<Vec<DataFile>, ReadError> {
    live(dir, false)
}

fn live(dir: &Path, on_disk: bool) -> Result<Vec<DataFile>, ReadError> {
    let meta_path = current_metadata(dir)?;
    let meta_name = meta_path.file_name().unwrap_or_default().to_string_lossy().to_string();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).map_err(|e| err(format!("{meta_name}: {e}")))?)
            .map_err(|e| err(format!("{meta_name}: {e}")))?;
    let table_location = meta["location"].as_str().unwrap_or_default().to_string();
    let current = match super::delta::as_of() {
        None => meta["current-snapshot-id"].as_i64().filter(|id| *id >= 0),
        Some(at) => Some(snapshot_as_of(&meta, at).map_err(|m| err(format!("{meta_name}: {m}")))?),
    };
    let Some(current) = current else {
        return Err(ReadError::new("empty", format!("{meta_name}: the table has no snapshot (no data)")));
    };
    let snapshot = meta["snapshots"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["snapshot-id"].as_i64() == Some(current)))
        .ok_or_else(|| err(format!("{meta_name}: current snapshot {current} is not listed")))?;
    let list = snapshot["manifest-list"]
        .as_str()
        .ok_or_else(|| err(format!("{meta_name}: snapshot {current} has no manifest list (format v1 manifests)")))?;
    let mut files = Vec::new();
    for manifest in records(&local(list, &table_location, dir), "manifest list")? {
        let path =
            text(field(&manifest, "manifest_path")).ok_or_else(|| err("a manifest list entry without a path"))?;
        // content 1: a manifest of delete files.
        let deletes = int(field(&manifest, "content")).unwrap_or(0) == 1;
        for entry in records(&local(&path, &table_location, dir), "manifest")? {
            if int(field(&entry, "status")) == Some(2) {
                continue; // DELETED
            }
            let data = field(&entry, "data_file").ok_or_else(|| err("a manifest entry without data_file"))?;
            let file = text(field(data, "file_path")).ok_or_else(|| err("a data file without a path"))?;
            if deletes || int(field(data, "content")).unwrap_or(0) != 0 {
                return Err(err(format!(
                    "the current snapshot has delete files ({file}): mosaic does not apply them and will not count \
                     deleted rows; rewrite the table's data files (rewrite_data_files) or scan a snapshot without them"
                )));
            }
            let format = text(field(data, "file_format")).unwrap_or_default();
            if !format.eq_ignore_ascii_case("parquet") {
                return Err(err(format!("data file {file} is {format}; mosaic reads Parquet data files")));
            }
            let local_path = local(&file, &table_location, dir);
            if on_disk && !local_path.is_file() {
                return Err(err(format!("data file {file} is missing")));
            }
            files.push(DataFile { path: local_path, partitions: vec![], part: None });
        }
    }
    if files.is_empty() {
        return Err(ReadError::new("empty", format!("snapshot {current} has no live data file")));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
