//! Delta Lake tables (DESIGN §9a): a directory with a `_delta_log/` is one dataset,
//! the live Parquet files of its current version (or of `--as-of VERSION|TIME`: the
//! latest commit made at or before the time), with the partition values as columns.
//!
//! The log is replayed from its JSON commits (`00000000000000000000.json`, …): `add`
//! makes a file live, `remove` retires it, `protocol` and `metaData` say what a reader
//! must understand. When early commits are gone (log cleanup after a checkpoint), the
//! latest checkpoint at or below the version is read first. Never a silent pass: a
//! table whose live files carry deletion vectors, that maps column names, that needs a
//! reader feature mosaic lacks, or whose log is incomplete is the dataset's error —
//! deleted rows are never counted, removed files never read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use polars::prelude::*;
use serde_json::Value;

use super::{DataFile, ReadError};

/// Reader features whose tables mosaic reads correctly.
const FEATURES: [&str; 4] = ["timestampNtz", "deletionVectors", "vacuumProtocolCheck", "v2Checkpoint"];

/// `--as-of`: a table version (Delta) or snapshot id (Iceberg), or a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    Version(u64),
    /// Milliseconds since the Unix epoch, UTC.
    Time(i64),
}

impl AsOf {
    /// A number is a version; otherwise an RFC 3339 time (`2026-11-30T08:00:00+08:00`),
    /// or `YYYY-MM-DD[ HH:MM[:SS]]` in UTC.
    pub fn parse(text: &str) -> Result<AsOf, String> {
        let t = text.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse().map(AsOf::Version).map_err(|e| format!("`{t}`: {e}"));
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(t) {
            return Ok(AsOf::Time(at.timestamp_millis()));
        }
        for form in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
            if let Ok(at) = chrono::NaiveDateTime::parse_from_str(t, form) {
                return Ok(AsOf::Time(at.and_utc().timestamp_millis()));
            }
        }
        if let Ok(day) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(AsOf::Time(day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis()));
        }
        Err(format!(
            "`{t}`: expected a version number, an RFC 3339 time (2026-11-30T08:00:00+08:00) or YYYY-MM-DD[ HH:MM[:SS]] (UTC)"
        ))
    }

    pub fn describe(self) -> String {
        match self {
            AsOf::Version(v) => v.to_string(),
            AsOf::Time(ms) => chrono::DateTime::from_timestamp_millis(ms)
                .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        }
    }
}

static AS_OF: OnceLock<Option<AsOf>> = OnceLock::new();

/// Read Delta and Iceberg tables as of this version or time (`--as-of`); call before
/// discovery.
pub fn set_as_of(at: Option<AsOf>) {
    let _ = AS_OF.set(at);
}

pub fn as_of() -> Option<AsOf> {
    AS_OF.get().copied().flatten()
}

pub fn is_table(dir: &Path) -> bool {
    dir.join("_delta_log").is_dir()
}

fn err(message: impl Into<String>) -> ReadError {
    ReadError::new("delta", message.into())
}

/// What the replay keeps: live files by path, with partition values and whether a
/// deletion vector applies.
#[derive(Default)]
struct State {
    live: BTreeMap<String, (Vec<(String, String)>, bool)>,
    min_reader: u64,
    features: Vec<String>,
    column_mapping: Option<String>,
}

impl State {
    fn apply(&mut self, action: &Value, at: &str) -> Result<(), ReadError> {
        if let Some(add) = action.get("add") {
            let path = add["path"].as_str().ok_or_else(|| err(format!("{at}: an `add` without a path")))?;
            let partitions = add["partitionValues"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
                .unwrap_or_default();
            let dv = add.get("deletionVector").is_some_and(|d| !d.is_null());
            self.live.insert(decode(path), (partitions, dv));
        } else if let Some(remove) = action.get("remove") {
            let path = remove["path"].as_str().ok_or_else(|| err(format!("{at}: a `remove` without a path")))?;
            self.live.remove(&decode(path));
        } else if let Some(p) = action.get("protocol") {
            self.min_reader = p["minReaderVersion"].as_u64().unwrap_or(1);
            self.features = p["readerFeatures"]
                .as_array()
                .map(|f| f.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                .unwrap_or_default();
        } else if let Some(m) = action.get("metaData") {
            self.column_mapping = m["configuration"]["delta.columnMapping.mode"].as_str().map(String::from);
        }
        Ok(())
    }
}

/// Paths in the log are URL-encoded (`%20`, `%3D` in partition directories).
fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// Commit versions present in the log, sorted.
fn commits(log: &Path) -> Result<Vec<u64>, ReadError> {
    let mut versions: Vec<u64> = std::fs::read_dir(log)
        .map_err(|e| err(format!("_delta_log: {e}")))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let stem = name.strip_suffix(".json")?;
            (stem.len() == 20).then(|| stem.parse().ok()).flatten()
        })
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// Single-file checkpoints present in the log, sorted.
fn checkpoints(log: &Path) -> Vec<u64> {
    let mut versions: Vec<u64> = std::fs::read_dir(log)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_suffix(".checkpoint.parquet")?.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    versions
}

/// Replay a checkpoint's actions (its `add`, `remove`, `protocol` and `metaData`
/// columns) through the JSON form of each row.
fn read_checkpoint(path: &Path, state: &mut State) -> Result<(), ReadError> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let file = std::fs::File::open(path).map_err(|e| err(format!("{name}: {e}")))?;
    let mut df = ParquetReader::new(file).finish().map_err(|e| err(format!("checkpoint {name}: {e}")))?;
    let mut buf = Vec::new();
    JsonWriter::new(&mut buf)
        .with_json_format(JsonFormat::JsonLines)
        .finish(&mut df)
        .map_err(|e| err(format!("checkpoint {name}: {e}")))?;
    for (i, line) in String::from_utf8_lossy(&buf).lines().enumerate() {
        let mut row: Value = serde_json::from_str(line).map_err(|e| err(format!("checkpoint {name}: {e}")))?;
        // A map column (partitionValues) comes out as a list of {key, value}.
        if let Some(pv) = row.pointer_mut("/add/partitionValues") {
            if let Some(list) = pv.as_array() {
                let map: serde_json::Map<String, Value> =
                    list.iter().filter_map(|kv| Some((kv["key"].as_str()?.to_string(), kv["value"].clone()))).collect();
                *pv = Value::Object(map);
            }
        }
        for kind in ["add", "remove", "protocol", "metaData"] {
            if row.get(kind).is_some_and(|v| !v.is_null()) {
                let action = serde_json::json!({ kind: row[kind].clone() });
                state.apply(&action, &format!("checkpoint {name}, row {}", i + 1))?;
            }
        }
    }
    Ok(())
}

/// When commit `v` was made: its `commitInfo`'s in-commit timestamp, else its
/// `timestamp` (milliseconds). The file's modification time is not used: copies (an
/// object fetched from a store, a restored backup) do not keep it.
fn commit_time(log: &Path, v: u64) -> Result<i64, ReadError> {
    let path = log.join(format!("{v:020}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| err(format!("commit {v} is missing or unreadable: {e}")))?;
    for line in text.lines().filter(|l| l.contains("commitInfo")) {
        let action: Value = serde_json::from_str(line).map_err(|e| err(format!("commit {v}: {e}")))?;
        let info = &action["commitInfo"];
        if let Some(ms) = info["inCommitTimestamp"].as_i64().or_else(|| info["timestamp"].as_i64()) {
            return Ok(ms);
        }
    }
    Err(err(format!("commit {v} records no commit time (commitInfo.timestamp): use --as-of VERSION")))
}

/// The latest version committed at or before `ms`, among the commits the log still has.
fn version_at(log: &Path, versions: &[u64], ms: i64) -> Result<u64, ReadError> {
    let mut found = None;
    for &v in versions {
        if commit_time(log, v)? <= ms {
            found = Some(v);
        } else {
            break;
        }
    }
    found.ok_or_else(|| {
        let first =
            versions.first().map_or_else(String::new, |v| format!(" (its earliest commit kept is version {v})"));
        err(format!("--as-of {}: the table has no version committed by then{first}", AsOf::Time(ms).describe()))
    })
}

/// The live files of the table at `dir`, as of `--as-of` or its latest version.
pub fn live_files(dir: &Path) -> Result<Vec<DataFile>, ReadError> {
    live(dir, true)
}

/// The live files the log names, whether or not they are on disk yet (what an object
/// store must fetch).
pub fn named_files(dir: &Path) -> Result<Vec<DataFile>, ReadError> {
    live(dir, false)
}

fn live(dir: &Path, on_disk: bool) -> Result<Vec<DataFile>, ReadError> {
    let log = dir.join("_delta_log");
    let versions = commits(&log)?;
    let latest = versions.last().copied().or_else(|| checkpoints(&log).last().copied());
    let Some(latest) = latest else { return Err(err("_delta_log holds no commit")) };
    let target = match as_of() {
        Some(AsOf::Version(v)) if v > latest => {
            return Err(err(format!("--as-of {v}: the table's latest version is {latest}")))
        }
        Some(AsOf::Version(v)) => v,
        Some(AsOf::Time(ms)) => version_at(&log, &versions, ms)?,
        None => latest,
    };
    let mut state = State::default();
    // Start from the latest checkpoint at or below the target when commit 0 is gone.
    let mut from = 0;
    if versions.first() != Some(&0) {
        let Some(cp) = checkpoints(&log).into_iter().filter(|c| *c <= target).last() else {
            return Err(err(format!(
                "the log starts at version {} with no checkpoint at or before version {target}: the table's state cannot be rebuilt",
                versions.first().copied().unwrap_or(0)
            )));
        };
        read_checkpoint(&log.join(format!("{cp:020}.checkpoint.parquet")), &mut state)?;
        from = cp + 1;
    }
    for v in from..=target {
        let path = log.join(format!("{v:020}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            err(format!(
                "commit {v} ({}) is missing or unreadable: {e}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ))
        })?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let action: Value =
                serde_json::from_str(line).map_err(|e| err(format!("commit {v}, line {}: {e}", i + 1)))?;
            state.apply(&action, &format!("commit {v}, line {}", i + 1))?;
        }
    }
    if state.min_reader > 3 {
        return Err(err(format!("reader version {} is newer than mosaic reads (3)", state.min_reader)));
    }
    let unknown: Vec<&String> = state.features.iter().filter(|f| !FEATURES.contains(&f.as_str())).collect();
    if !unknown.is_empty() {
        return Err(err(format!(
            "the table needs reader feature(s) {} that mosaic does not implement",
            unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    if state.column_mapping.as_deref().is_some_and(|m| m != "none") {
        return Err(err(
            "the table maps column names (delta.columnMapping.mode): its Parquet columns are not the table's",
        ));
    }
    let with_dv = state.live.values().filter(|(_, dv)| *dv).count();
    if with_dv > 0 {
        return Err(err(format!(
            "{with_dv} live file(s) carry deletion vectors: mosaic does not apply them and will not count deleted \
             rows; run OPTIMIZE (or REORG … APPLY (PURGE)) on the table, or scan a version without them"
        )));
    }
    let mut files = Vec::new();
    for (path, (partitions, _)) in state.live {
        let full: PathBuf = dir.join(&path);
        if on_disk && !full.is_file() {
            return Err(err(format!("live file {path} is missing (deleted outside the log?)")));
        }
        files.push(DataFile { path: full, partitions, part: None });
    }
    if files.is_empty() {
        return Err(ReadError::new("empty", format!("version {target} has no live file")));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_versions_and_times() {
        assert_eq!(AsOf::parse("12"), Ok(AsOf::Version(12)));
        assert_eq!(AsOf::parse("1970-01-01T00:00:01Z"), Ok(AsOf::Time(1000)));
        assert_eq!(AsOf::parse("1970-01-01T08:00:01.5+08:00"), Ok(AsOf::Time(1500)));
        assert_eq!(AsOf::parse("1970-01-02"), Ok(AsOf::Time(86_400_000)));
        assert_eq!(AsOf::parse("1970-01-01 00:01"), Ok(AsOf::Time(60_000)));
        assert!(AsOf::parse("yesterday").is_err());
        assert_eq!(AsOf::Time(1500).describe(), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn log_paths_are_url_decoded() {
        assert_eq!(decode("region=%E5%8C%97%E4%BA%AC/part-0.parquet"), "region=北京/part-0.parquet");
        assert_eq!(decode("a%20b%"), "a b%");
    }
}
