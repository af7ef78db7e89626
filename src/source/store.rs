//! Object stores: `s3://bucket/prefix` wherever a path is accepted (`scan`, `profile`,
//! `--published`, `release record`), for AWS S3 and the services that speak its API
//! (MinIO, Huawei OBS, Aliyun OSS, Tencent COS).
//!
//! A prefix is listed and its objects are copied to a local staging directory laid
//! out as `STAGE/bucket/key`; the scan then reads the copies exactly as it reads files
//! on disk, so a lake scanned from a store gives the findings of the same files on
//! disk (every reader, the content hash behind finding ids, the sandboxed decode), and
//! the report names `s3://bucket/key` wherever it would name a local path. Why copies
//! and not polars' cloud readers is in docs/decisions.md ("Object stores").
//!
//! The staging directory is temporary (removed when the command ends) unless the scan
//! keeps a cache: `scan --incremental --ledger L` keeps it in `L.cache/objects`, and
//! `mosaic.toml [storage] cache` names one. A kept copy is downloaded again only when
//! the object's ETag or size changed; objects gone from the store are removed from it.
//!
//! Faults never pass: a prefix that cannot be listed at all is a usage error (exit 2,
//! nothing evaluated); a listing cut short, an object that cannot be read (deleted
//! after the listing, a refused request, a short body) is an input error naming the
//! object (exit 3) and its stale copy is removed. Requests have timeouts and bounded
//! retries (`[storage] timeout_s`, `connect_timeout_s`, `retries`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig};
use serde::{Deserialize, Serialize};

use super::InputError;

/// `mosaic.toml [storage]`: how to reach the object store. Credentials come only from
/// the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// web identity or container credentials); without any, requests are unsigned (public
/// buckets). Values set here take precedence over the `AWS_*` environment.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Endpoint of an S3-compatible service, e.g. `https://obs.cn-north-4.myhuaweicloud.com`
    /// or `http://127.0.0.1:9000`; default `AWS_ENDPOINT_URL`, else AWS itself.
    pub endpoint: Option<String>,
    /// Region; default `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`, what MinIO and most local services
    /// need) rather than virtual-hosted (`bucket.endpoint/key`). Default: path style.
    pub path_style: Option<bool>,
    /// Seconds one request may take (default 60).
    pub timeout_s: Option<u64>,
    /// Seconds to establish a connection (default 5).
    pub connect_timeout_s: Option<u64>,
    /// Retries of a failed request, with backoff (default 3; 0 to 10).
    pub retries: Option<usize>,
    /// Objects downloaded at once (default 8; 1 to 64).
    pub parallel: Option<usize>,
    /// Keep the staged copies here between runs (relative to `mosaic.toml`), so only
    /// changed objects are downloaded again. Default: a temporary directory.
    pub cache: Option<PathBuf>,
}

impl StorageConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(format!("mosaic.toml [storage] endpoint = `{e}`: expected an http:// or https:// URL"));
            }
        }
        match self.retries {
            Some(r) if r > 10 => return Err(format!("mosaic.toml [storage] retries = {r}: expected 0 to 10")),
            _ => {}
        }
        match self.parallel {
            Some(p) if !(1..=64).contains(&p) => {
                return Err(format!("mosaic.toml [storage] parallel = {p}: expected 1 to 64"))
            }
            _ => {}
        }
        for (name, v) in [("timeout_s", self.timeout_s), ("connect_timeout_s", self.connect_timeout_s)] {
            if v == Some(0) {
                return Err(format!("mosaic.toml [storage] {name} = 0: expected at least 1 second"));
            }
        }
        Ok(())
    }
}

/// `s3://bucket/prefix` split into bucket and prefix (no leading or trailing `/`).
pub fn parse_url(path: &Path) -> Option<(String, String)> {
    let rest = path.to_str()?.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    Some((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.starts_with("s3://"))
}

/// What a kept copy was downloaded from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    etag: Option<String>,
    size: u64,
}

const INDEX: &str = ".mosaic-objects.json";

/// Object-store paths copied to local files for one command.
pub struct Stage {
    config: StorageConfig,
    keep: Option<PathBuf>,
    root: Option<PathBuf>,
    temp: Option<tempfile::TempDir>,
    runtime: Option<tokio::runtime::Runtime>,
    stores: BTreeMap<String, Arc<dyn ObjectStore>>,
    index: BTreeMap<String, Held>,
    /// Objects that could not be listed or read: the scan is incomplete.
    pub errors: Vec<InputError>,
    /// One line per staged URL: objects listed, downloaded, kept.
    pub notes: Vec<String>,
}

/// Nothing could be listed under a path: a usage error (exit 2).
#[derive(Debug)]
pub struct Unlisted(pub String);

impl Unlisted {
    /// The store answered that nothing is there (rather than failing to answer).
    pub fn is_missing(&self) -> bool {
        self.0.ends_with(NOTHING_THERE)
    }
}

const NOTHING_THERE: &str = "no such object, and no object under it";

impl std::fmt::Display for Unlisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Stage {
    /// A stage for `config`; `keep` (else `[storage] cache`) keeps copies between runs.
    pub fn new(config: StorageConfig, keep: Option<PathBuf>) -> Stage {
        let keep = keep.or_else(|| config.cache.clone());
        Stage {
            config,
            keep,
            root: None,
            temp: None,
            runtime: None,
            stores: BTreeMap::new(),
            index: BTreeMap::new(),
            errors: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The local path to read for `path`: itself when it is local, else the staged copy
    /// of the `s3://` object or prefix.
    pub fn local(&mut self, path: &Path) -> Result<PathBuf, Unlisted> {
        let Some((bucket, prefix)) = parse_url(path) else { return Ok(path.to_path_buf()) };
        let url = path.display().to_string();
        if bucket.is_empty() {
            return Err(Unlisted(format!("{url}: no bucket named (s3://bucket/prefix)")));
        }
        let prefix_key = Key::parse(&prefix).map_err(|e| Unlisted(format!("{url}: {e}")))?;
        let root = self.root().map_err(|e| Unlisted(format!("{url}: staging directory: {e}")))?;
        let store = self.store(&bucket).map_err(|e| Unlisted(format!("{url}: {e}")))?;
        self.runtime().map_err(|e| Unlisted(format!("{url}: {e}")))?;
        let parallel = self.config.parallel.unwrap_or(8);
        let runtime = self.runtime.as_ref().expect("started above");
        let mut job = Fetch { store, bucket, url, root: root.clone(), index: &mut self.index, errors: Vec::new() };
        let fetched = runtime.block_on(job.run(&prefix_key, parallel));
        self.errors.append(&mut job.errors);
        let (local, f) = fetched?;
        self.notes.push(format!(
            "{}: {} object(s), {} downloaded, {} unchanged since the last scan{}{}",
            path.display(),
            f.listed,
            f.downloaded,
            f.kept,
            if f.superseded > 0 {
                format!(", {} superseded table file(s) not needed", f.superseded)
            } else {
                String::new()
            },
            if f.failed > 0 { format!(", {} not read", f.failed) } else { String::new() }
        ));
        if self.keep.is_some() {
            let saved = serde_json::to_string(&self.index)
                .map_err(std::io::Error::other)
                .and_then(|t| std::fs::write(root.join(INDEX), t));
            if let Err(e) = saved {
                return Err(Unlisted(format!("{}: {e}", root.join(INDEX).display())));
            }
        }
        Ok(local)
    }

    /// `text` with staged paths written as the `s3://` URLs they were copied from.
    pub fn shown(&self, text: &str) -> String {
        match &self.root {
            Some(root) => text.replace(&format!("{}/", root.display()), "s3://"),
            None => text.to_string(),
        }
    }

    /// Whether any `s3://` path was staged.
    pub fn used(&self) -> bool {
        self.root.is_some()
    }

    fn root(&mut self) -> std::io::Result<PathBuf> {
        if let Some(root) = &self.root {
            return Ok(root.clone());
        }
        let root = match &self.keep {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                self.index = std::fs::read_to_string(dir.join(INDEX))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
                dir.canonicalize()?
            }
            None => {
                let temp = tempfile::Builder::new().prefix("mosaic-objects-").tempdir()?;
                let root = temp.path().canonicalize()?;
                self.temp = Some(temp);
                root
            }
        };
        self.root = Some(root.clone());
        Ok(root)
    }

    fn runtime(&mut self) -> Result<(), String> {
        if self.runtime.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the object-store client: {e}"))?;
            self.runtime = Some(rt);
        }
        Ok(())
    }

    fn store(&mut self, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
        if let Some(s) = self.stores.get(bucket) {
            return Ok(s.clone());
        }
        let c = &self.config;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = c
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT").ok());
        if let Some(e) = &endpoint {
            builder = builder.with_endpoint(e);
        }
        if let Some(r) = &c.region {
            builder = builder.with_region(r);
        }
        builder = builder.with_virtual_hosted_style_request(!c.path_style.unwrap_or(true));
        let has_credentials = [
            "AWS_ACCESS_KEY_ID",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
        if !has_credentials {
            builder = builder.with_skip_signature(true);
        }
        let timeout = Duration::from_secs(c.timeout_s.unwrap_or(60));
        builder = builder
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(endpoint.as_deref().is_some_and(|e| e.starts_with("http://")))
                    .with_timeout(timeout)
                    .with_connect_timeout(Duration::from_secs(c.connect_timeout_s.unwrap_or(5))),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(5),
                    base: 2.0,
                },
                max_retries: c.retries.unwrap_or(3),
                retry_timeout: timeout * 2,
            });
        let store: Arc<dyn ObjectStore> = Arc::new(builder.build().map_err(|e| brief(&e))?);
        self.stores.insert(bucket.to_string(), store.clone());
        Ok(store)
    }
}

/// One listing and download of an `s3://` path.
struct Fetch<'a> {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    url: String,
    root: PathBuf,
    index: &'a mut BTreeMap<String, Held>,
    errors: Vec<InputError>,
}

impl Fetch<'_> {
    fn object_url(&self, key: &Key) -> String {
        format!("s3://{}/{}", self.bucket, key.as_ref())
    }

    /// Where an object's copy lives, or None for a key that cannot be a local path.
    fn local_path(&self, key: &Key) -> Option<PathBuf> {
        let mut path = self.root.join(&self.bucket);
        for part in key.as_ref().split('/') {
            if part.is_empty() || part == "." || part == ".." || part.contains('\0') {
                return None;
            }
            path.push(part);
        }
        Some(path)
    }

    /// Stage `prefix`: its local path, and the objects listed, to download and downloaded.
    /// Delta and Iceberg tables are fetched in two steps: their logs and metadata first,
    /// then only the data files the version read names (superseded files stay behind).
    async fn run(&mut self, prefix: &Key, parallel: usize) -> Result<(PathBuf, Fetched), Unlisted> {
        let (objects, is_prefix) = self.list(prefix).await?;
        let local = if prefix.as_ref().is_empty() {
            self.root.join(&self.bucket)
        } else {
            self.local_path(prefix).ok_or_else(|| Unlisted(format!("{}: not a usable key", self.url)))?
        };
        let mut fetched = Fetched { listed: objects.len(), ..Fetched::default() };
        let mut entries = Vec::new();
        for meta in objects {
            match self.local_path(&meta.location) {
                Some(path) => entries.push((meta, path)),
                None => {
                    let url = self.object_url(&meta.location);
                    let why = "key cannot be a file path (empty, `.` or `..` part)";
                    self.errors.push(InputError::new(url, "object-store", why));
                }
            }
        }
        let tables = table_roots(entries.iter().map(|(_, p)| p.as_path()));
        let in_table = |path: &Path| tables.iter().find(|t| path.starts_with(t)).cloned();
        let is_log = |path: &Path, table: &Path| {
            let rest = path.strip_prefix(table).unwrap_or(path);
            rest.starts_with("_delta_log") || rest.starts_with("metadata")
        };
        let (data, first): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|(_, p)| in_table(p).is_some_and(|t| !is_log(p, &t)));
        let mut listed: BTreeSet<PathBuf> = first.iter().map(|(_, p)| p.clone()).collect();
        self.fetch(first, parallel, &mut fetched).await;
        let mut live: BTreeMap<PathBuf, Option<BTreeSet<PathBuf>>> = BTreeMap::new();
        for table in &tables {
            let named = if super::delta::is_table(table) {
                super::delta::named_files(table).ok()
            } else {
                super::iceberg::named_files(table).ok()
            };
            // A log mosaic cannot replay: fetch everything, the reader reports the table.
            live.insert(table.clone(), named.map(|files| files.into_iter().map(|f| f.path).collect()));
        }
        let mut second = Vec::new();
        for (meta, path) in data {
            let table = in_table(&path).unwrap_or_default();
            match live.get(&table) {
                Some(Some(files)) if !files.contains(&path) => fetched.superseded += 1,
                _ => {
                    listed.insert(path.clone());
                    second.push((meta, path));
                }
            }
        }
        self.fetch(second, parallel, &mut fetched).await;
        if is_prefix {
            remove_unlisted(&local, &listed);
            std::fs::create_dir_all(&local).map_err(|e| Unlisted(format!("{}: {e}", local.display())))?;
        }
        Ok((local, fetched))
    }

    /// Download the objects whose kept copy is missing or stale.
    async fn fetch(&mut self, entries: Vec<(ObjectMeta, PathBuf)>, parallel: usize, fetched: &mut Fetched) {
        let mut wanted = Vec::new();
        for (meta, path) in entries {
            let held = Held { etag: meta.e_tag.clone(), size: meta.size };
            let kept = held.etag.is_some()
                && self.index.get(&index_key(&self.bucket, &meta.location)) == Some(&held)
                && std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == meta.size);
            if kept {
                fetched.kept += 1;
            } else {
                wanted.push((meta, path));
            }
        }
        let store = self.store.clone();
        let results: Vec<_> = futures_util::stream::iter(wanted)
            .map(|(meta, path)| {
                let store = store.clone();
                async move {
                    let got = download(store.as_ref(), &meta.location, &path).await;
                    (meta, path, got)
                }
            })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
        for (meta, path, got) in results {
            let key = index_key(&self.bucket, &meta.location);
            match got {
                Ok(held) => {
                    fetched.downloaded += 1;
                    self.index.insert(key, held);
                }
                Err(message) => {
                    fetched.failed += 1;
                    let _ = std::fs::remove_file(&path);
                    self.index.remove(&key);
                    self.errors.push(InputError::new(self.object_url(&meta.location), "object-store", message));
                }
            }
        }
    }

    /// The objects under `prefix` (as a directory), or the one object it names.
    async fn list(&mut self, prefix: &Key) -> Result<(Vec<ObjectMeta>, bool), Unlisted> {
        let mut objects = Vec::new();
        let mut stream = self.store.list((!prefix.as_ref().is_empty()).then_some(prefix));
        while let Some(item) = stream.next().await {
            match item {
                Ok(meta) => objects.push(meta),
                Err(e) if objects.is_empty() => {
                    return Err(Unlisted(format!("{}: cannot list: {}", self.url, brief(&e))));
                }
                Err(e) => {
                    self.errors.push(InputError::new(
                        &self.url,
                        "object-store",
                        format!("listing stopped after {} object(s): {}", objects.len(), brief(&e)),
                    ));
                    break;
                }
            }
        }
        if !objects.is_empty() || prefix.as_ref().is_empty() {
            objects.sort_by(|a, b| a.location.cmp(&b.location));
            return Ok((objects, true));
        }
        match self.store.head(prefix).await {
            Ok(meta) => Ok((vec![meta], false)),
            Err(object_store::Error::NotFound { .. }) => Err(Unlisted(format!("{}: {NOTHING_THERE}", self.url))),
            Err(e) => Err(Unlisted(format!("{}: {}", self.url, brief(&e)))),
        }
    }
}

/// What staging one path did.
#[derive(Default)]
struct Fetched {
    listed: usize,
    downloaded: usize,
    kept: usize,
    failed: usize,
    /// Data files of a Delta or Iceberg table that the version read does not use.
    superseded: usize,
}

/// The Delta and Iceberg tables among staged paths: directories holding a
/// `_delta_log/` or a `metadata/*.metadata.json`.
fn table_roots<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut roots = BTreeSet::new();
    for path in paths {
        let mut dir = path.parent();
        while let Some(d) = dir {
            let name = d.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let parent = d.parent();
            if name == "_delta_log"
                || (name == "metadata"
                    && path.to_string_lossy().ends_with(".metadata.json")
                    && path.parent() == Some(d))
            {
                if let Some(root) = parent {
                    roots.insert(root.to_path_buf());
                }
                break;
            }
            dir = parent;
        }
    }
    roots.into_iter().collect()
}

fn index_key(bucket: &str, key: &Key) -> String {
    format!("{bucket}/{}", key.as_ref())
}

/// Remove kept copies under `dir` that the listing no longer has.
fn remove_unlisted(dir: &Path, listed: &BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_unlisted(&path, listed);
            let _ = std::fs::remove_dir(&path);
        } else if !listed.contains(&path) && path.file_name().is_none_or(|n| n != INDEX) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Copy one object to `path` (through a `.part` file), checking its length.
async fn download(store: &dyn ObjectStore, key: &Key, path: &Path) -> Result<Held, String> {
    let got = store.get(key).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => "listed but gone when read (deleted since the listing?)".to_string(),
        e => format!("cannot read: {}", brief(&e)),
    })?;
    let held = Held { etag: got.meta.e_tag.clone(), size: got.meta.size };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let part = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.part", ext.to_string_lossy()),
        None => "part".to_string(),
    });
    let mut file = std::fs::File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?;
    let mut written = 0u64;
    let mut body = got.into_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            let _ = std::fs::remove_file(&part);
            format!("read cut short after {written} bytes: {}", brief(&e))
        })?;
        written += chunk.len() as u64;
        file.write_all(&chunk).map_err(|e| format!("{}: {e}", part.display()))?;
    }
    drop(file);
    if written != held.size {
        let _ = std::fs::remove_file(&part);
        return Err(format!("read {written} bytes of {}", held.size));
    }
    std::fs::rename(&part, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(held)
}

/// An object-store error in one line: the innermost causes, without the request dump.
fn brief(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let mut text = parts.last().cloned().unwrap_or_default();
    // The outer messages repeat the inner ones; keep the most specific that names a status.
    if let Some(with_status) = parts.iter().rev().find(|p| p.contains("status") || p.contains("Error {")) {
        text = with_status.clone();
    }
    // An S3 error body: keep its code and message, not the request ids.
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + end].to_string())
    };
    if let (Some(code), Some(at)) = (tag("Code"), text.find('<')) {
        let status = text[..at].trim().trim_end_matches(':').replace("Server returned non-2xx status code: ", "");
        let message = tag("Message").unwrap_or_default();
        text = format!("{status}: {code}: {message}");
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_bodies_in_one_line() {
        let e = std::io::Error::other(
            "Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code>\
             <Message>The specified bucket does not exist</Message><RequestId>X</RequestId></Error>",
        );
        assert_eq!(brief(&e), "404 Not Found: NoSuchBucket: The specified bucket does not exist");
    }

    #[test]
    fn urls() {
        assert_eq!(parse_url(Path::new("s3://b/a/b/")), Some(("b".into(), "a/b".into())));
        assert_eq!(parse_url(Path::new("s3://b")), Some(("b".into(), "".into())));
        assert_eq!(parse_url(Path::new("/tmp/x")), None);
    }

    #[test]
    fn shown_rewrites_staged_paths() {
        let mut stage = Stage::new(StorageConfig::default(), None);
        let root = stage.root().unwrap();
        let text = format!("{}/lake/t/x.parquet: bad", root.display());
        assert_eq!(stage.shown(&text), "s3://lake/t/x.parquet: bad");
    }

    #[test]
    fn unsafe_keys_are_not_paths() {
        let f = Fetch {
            store: Arc::new(object_store::memory::InMemory::new()),
            bucket: "b".into(),
            url: "s3://b".into(),
            root: PathBuf::from("/stage"),
            index: &mut BTreeMap::new(),
            errors: vec![],
        };
        assert_eq!(f.local_path(&Key::from_iter(["a", "b.csv"])), Some(PathBuf::from("/stage/b/a/b.csv")));
    }
}
