//! `s3://` paths against S3-compatible servers on 127.0.0.1: a moto server (the `moto`
//! Python package, installed by `.ci/run`) holding a lake of plain datasets, a Delta
//! table and an Iceberg table written by their own writers, which must scan to the
//! findings of the same files on disk; and a small fault-injecting server of this
//! file for what a real store does on bad days (refused credentials, a listing cut
//! short, an object deleted after the listing, a body cut short, no answer at all).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn have_moto() -> bool {
    Command::new("python3").args(["-c", "import moto.server, flask, boto3"]).output().is_ok_and(|o| o.status.success())
}

/// A temporary directory holding `lake/`, a copy of the energy samples; `None` (the
/// test skipped) without moto, which CI must have.
fn energy_lake() -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_moto() {
        assert!(std::env::var_os("CI").is_none(), "CI must provide moto (.ci/run installs it)");
        eprintln!("skipped: the moto Python package is not installed");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    common::copy_dir(&common::root().join("datasets/energy"), &lake);
    Some((tmp, lake))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A moto S3 server on 127.0.0.1, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// Run a boto3 action: `put BUCKET DIR PREFIX` uploads a directory, `delete BUCKET KEY`,
    /// `copy BUCKET FILE KEY` writes one object.
    fn boto(&self, args: &[&str]) {
        let script = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
action, bucket = sys.argv[2], sys.argv[3]
if action == "put":
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    src, prefix = sys.argv[4], sys.argv[5]
    for root, _, files in os.walk(src):
        for f in files:
            p = os.path.join(root, f)
            s3.upload_file(p, bucket, prefix + "/" + os.path.relpath(p, src).replace(os.sep, "/"))
elif action == "delete":
    s3.delete_object(Bucket=bucket, Key=sys.argv[4])
elif action == "copy":
    s3.upload_file(sys.argv[4], bucket, sys.argv[5])
"#;
        let out = Command::new("python3").arg("-c").arg(script).arg(&self.endpoint).args(args).output().unwrap();
        assert!(out.status.success(), "boto3 {args:?}: {}", common::stderr(&out));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// mosaic with the store's endpoint and test credentials, in `dir` (for its mosaic.toml).
fn mosaic_at(endpoint: &str, dir: &Path, args: &[&str]) -> Output {
    common::mosaic()
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .args(args)
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}); stderr: {}", common::stderr(out)))
}

/// What must not differ between a scan of the store and a scan of the same files:
/// the verdict, every finding (id, item, outcome, members, evidence) and every input
/// (id, rows, content hash).
fn judged(report: &Value) -> Value {
    let inputs: Vec<Value> = report["scan"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| serde_json::json!([i["id"], i["rows"], i["sha256"]]))
        .collect();
    let findings: Vec<Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| serde_json::json!([f["id"], f["item"], f["outcome"], f["datasets"], f["evidence"]]))
        .collect();
    serde_json::json!({"verdict": report["verdict"], "inputs": inputs, "findings": findings, "errors": report["errors"]})
}

#[test]
fn a_lake_in_an_object_store_scans_as_the_same_files_on_disk() {
    let Some((tmp, lake)) = energy_lake() else { return };
    if common::tables::have_deltalake() {
        common::tables::write_delta(&lake.join("substations-delta"));
    }
    if common::tables::have_pyiceberg() {
        let written = common::tables::write_iceberg(&tmp.path().join("ice"));
        common::copy_dir(&written, &lake.join("substations-iceberg"));
    }
    let moto = Moto::start();
    moto.boto(&["put", "open-data", lake.to_str().unwrap(), "releases/lake"]);

    let local = mosaic_at(&moto.endpoint, tmp.path(), &["scan", lake.to_str().unwrap(), "--format", "json", "-q"]);
    let remote =
        mosaic_at(&moto.endpoint, tmp.path(), &["scan", "s3://open-data/releases/lake", "--format", "json", "-q"]);
    assert_eq!(remote.status.code(), Some(1), "the lake holds: {}", common::stderr(&remote));
    assert_eq!(remote.status.code(), local.status.code());
    let (local_report, remote_report) = (report(&local), report(&remote));
    assert_eq!(judged(&remote_report), judged(&local_report));
    let ids: Vec<&str> =
        remote_report["scan"]["inputs"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    for table in ["substations-delta", "substations-iceberg"] {
        let written = lake.join(table).exists();
        assert_eq!(ids.contains(&table), written, "{table} is one dataset when written: {ids:?}");
    }
    for input in remote_report["scan"]["inputs"].as_array().unwrap() {
        let path = input["path"].as_str().unwrap();
        assert!(path.starts_with("s3://open-data/releases/lake/"), "paths name the objects: {path}");
    }
    let listed = common::stderr(&remote);
    assert!(listed.contains("objects: s3://open-data/releases/lake: "), "{listed}");
    // The tables' deletes left superseded data files in the store: not fetched.
    if ids.contains(&"substations-delta") || ids.contains(&"substations-iceberg") {
        assert!(listed.contains("superseded table file(s) not needed"), "{listed}");
    }

    // One object as a scan path, and a prefix that names nothing.
    let one = mosaic_at(
        &moto.endpoint,
        tmp.path(),
        &["scan", "s3://open-data/releases/lake/route-hold/pipeline.ndjson", "--format", "json", "-q"],
    );
    assert_eq!(one.status.code(), Some(1), "{}", common::stderr(&one));
    assert_eq!(report(&one)["scan"]["inputs"][0]["path"], "s3://open-data/releases/lake/route-hold/pipeline.ndjson");
    let none = mosaic_at(&moto.endpoint, tmp.path(), &["scan", "s3://open-data/releases/nothing"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        common::stderr(&none).contains("s3://open-data/releases/nothing: no such object"),
        "{}",
        common::stderr(&none)
    );
    let bucket = mosaic_at(&moto.endpoint, tmp.path(), &["scan", "s3://no-such-bucket/x"]);
    assert_eq!(bucket.status.code(), Some(2));
    assert!(common::stderr(&bucket).contains("NoSuchBucket"), "{}", common::stderr(&bucket));

    // profile and release record read objects too, and name them.
    let profile = tmp.path().join("p.json");
    let out = mosaic_at(
        &moto.endpoint,
        tmp.path(),
        &["profile", "s3://open-data/releases/lake/route-hold", "-o", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(written["dataset"]["path"], "s3://open-data/releases/lake/route-hold");
    let ledger = tmp.path().join("l.db");
    let out = mosaic_at(
        &moto.endpoint,
        tmp.path(),
        &["release", "record", "s3://open-data/releases/lake/route-cleared", "--ledger", ledger.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("released: pipeline.ndjson"), "{out:?}");
    // The ledger's release is read from the store as published data.
    let out = mosaic_at(
        &moto.endpoint,
        tmp.path(),
        &["scan", "s3://open-data/releases/lake/route-hold", "--ledger", ledger.to_str().unwrap(), "--format", "json"],
    );
    let inputs = report(&out)["scan"]["inputs"].clone();
    let published = inputs.as_array().unwrap().iter().find(|i| i["id"] == "published:pipeline.ndjson");
    assert_eq!(
        published.map(|i| i["path"].clone()),
        Some(Value::from("s3://open-data/releases/lake/route-cleared/pipeline.ndjson")),
        "{inputs}"
    );
}

fn downloaded(out: &Output) -> usize {
    let err = common::stderr(out);
    let line = err.lines().find(|l| l.starts_with("objects: ")).unwrap_or_else(|| panic!("objects line: {err}"));
    let n = line.split(", ").nth(1).and_then(|p| p.strip_suffix(" downloaded")).unwrap_or_else(|| panic!("{line}"));
    n.parse().unwrap()
}

#[test]
fn incremental_scans_download_only_changed_objects() {
    let Some((tmp, lake)) = energy_lake() else { return };
    let moto = Moto::start();
    moto.boto(&["put", "lake", lake.to_str().unwrap(), "energy"]);
    let ledger = tmp.path().join("scans.db");
    let scan = || {
        mosaic_at(
            &moto.endpoint,
            tmp.path(),
            &[
                "scan",
                "s3://lake/energy",
                "--incremental",
                "--ledger",
                ledger.to_str().unwrap(),
                "--format",
                "json",
                "-q",
            ],
        )
    };
    let objects = walk(&lake).len();
    let first = scan();
    assert_eq!(first.status.code(), Some(1), "{}", common::stderr(&first));
    assert_eq!(downloaded(&first), objects);
    let second = scan();
    assert_eq!(downloaded(&second), 0, "unchanged ETags and sizes: nothing downloaded");
    assert_eq!(judged(&report(&second)), judged(&report(&first)));

    // The held route replaced by the cleared one, and another dataset deleted.
    let held = lake.join("route-hold/pipeline.ndjson");
    moto.boto(&[
        "copy",
        "lake",
        lake.join("route-cleared/pipeline.ndjson").to_str().unwrap(),
        "energy/route-hold/pipeline.ndjson",
    ]);
    std::fs::copy(lake.join("route-cleared/pipeline.ndjson"), &held).unwrap();
    let gone = walk(&lake.join("route-near"));
    for file in &gone {
        let key = format!("energy/{}", file.strip_prefix(&lake).unwrap().to_string_lossy());
        moto.boto(&["delete", "lake", &key]);
    }
    std::fs::remove_dir_all(lake.join("route-near")).unwrap();
    let third = scan();
    assert_eq!(downloaded(&third), 1, "{}", common::stderr(&third));
    let local = mosaic_at(&moto.endpoint, tmp.path(), &["scan", lake.to_str().unwrap(), "--format", "json", "-q"]);
    assert_eq!(judged(&report(&third)), judged(&report(&local)), "the store's lake is the changed files' lake");
    let ids = report(&third)["scan"]["inputs"].to_string();
    assert!(!ids.contains("route-near"), "a deleted object is not scanned from a kept copy: {ids}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What the fault server does with one request: an answer, or nothing at all.
enum Answer {
    Status(u16, &'static str, String),
    /// Declares `Content-Length: 100`, sends 10 bytes and closes.
    Short,
    Silent,
}

const CSV: &str = "station,reading\nA,1\nB,2\n";

fn listing(bucket: &str, keys: &[&str], next: Option<&str>) -> String {
    let contents: String = keys
        .iter()
        .map(|k| {
            format!(
                "<Contents><Key>{k}</Key><LastModified>2026-11-01T00:00:00.000Z</LastModified>\
                 <ETag>\"e-{k}\"</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                CSV.len()
            )
        })
        .collect();
    let truncated = match next {
        Some(token) => format!("<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"),
        None => "<IsTruncated>false</IsTruncated>".to_string(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Name>{bucket}</Name><Prefix>p/</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys>{truncated}{contents}</ListBucketResult>",
        keys.len()
    )
}

fn s3_error(code: &str, message: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>r1</RequestId></Error>")
}

/// The fault server's behaviour, by bucket.
fn answer(method: &str, target: &str) -> Answer {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let bucket = parts.next().unwrap_or("");
    let key = parts.next().unwrap_or("");
    let listing_request = key.is_empty() && query.contains("list-type=2");
    match (bucket, listing_request) {
        ("denied", _) => Answer::Status(
            403,
            "Forbidden",
            s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
        ),
        ("silent", _) => Answer::Silent,
        ("partial", true) if query.contains("continuation-token") => {
            Answer::Status(500, "Internal Server Error", s3_error("InternalError", "We encountered an internal error."))
        }
        ("partial", true) => Answer::Status(200, "OK", listing("partial", &["p/a.csv"], Some("page-2"))),
        ("gone", true) => Answer::Status(200, "OK", listing("gone", &["p/a.csv", "p/b.csv"], None)),
        ("short", true) => Answer::Status(200, "OK", listing("short", &["p/a.csv", "p/b.csv"], None)),
        ("gone", false) if key == "p/b.csv" => {
            Answer::Status(404, "Not Found", s3_error("NoSuchKey", "The specified key does not exist."))
        }
        ("short", false) if key == "p/b.csv" => Answer::Short,
        (_, false) if key == "p/a.csv" && method == "GET" => Answer::Status(200, "OK", CSV.to_string()),
        _ => Answer::Status(404, "Not Found", s3_error("NoSuchKey", "The specified key does not exist.")),
    }
}

fn serve(mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let mut words = request.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let head = |status: u16, reason: &str, len: usize| {
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {len}\r\nContent-Type: application/xml\r\n\
             Last-Modified: Sun, 01 Nov 2026 00:00:00 GMT\r\nETag: \"e1\"\r\nConnection: close\r\n\r\n"
        )
    };
    match answer(method, target) {
        Answer::Status(status, reason, body) => {
            let body = if method == "HEAD" { String::new() } else { body };
            let _ = stream.write_all(format!("{}{body}", head(status, reason, body.len())).as_bytes());
        }
        Answer::Short => {
            let _ = stream.write_all(format!("{}{}", head(200, "OK", 100), &"x".repeat(10)).as_bytes());
        }
        Answer::Silent => std::thread::sleep(Duration::from_secs(30)),
    }
}

/// A fault server on 127.0.0.1; returns its endpoint.
fn fault_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_object_store_that_fails_is_never_a_pass() {
    let endpoint = fault_server();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("mosaic.toml"), "[storage]\ntimeout_s = 2\nconnect_timeout_s = 2\nretries = 1\n")
        .unwrap();
    let run = |url: &str| {
        let started = Instant::now();
        let out = mosaic_at(&endpoint, tmp.path(), &["scan", url, "--format", "json", "-q"]);
        assert!(started.elapsed() < Duration::from_secs(25), "{url}: bounded retries and timeouts, never a hang");
        out
    };
    let error_text = |out: &Output| format!("{}{}", common::stderr(out), String::from_utf8_lossy(&out.stdout));

    let out = run("s3://denied/p");
    assert_eq!(out.status.code(), Some(2), "nothing could be listed: {}", error_text(&out));
    let text = error_text(&out);
    assert!(text.contains("s3://denied/p") && text.contains("InvalidAccessKeyId"), "{text}");

    let out = run("s3://silent/p");
    assert_eq!(out.status.code(), Some(2), "{}", error_text(&out));
    assert!(error_text(&out).contains("s3://silent/p: cannot list"), "{}", error_text(&out));

    for (url, object, says) in [
        ("s3://partial/p", "s3://partial/p", "listing stopped after 1 object(s)"),
        ("s3://gone/p", "s3://gone/p/b.csv", "listed but gone when read"),
        ("s3://short/p", "s3://short/p/b.csv", "cut short"),
    ] {
        let out = run(url);
        assert_eq!(out.status.code(), Some(3), "{url}: {}", error_text(&out));
        let errors = report(&out)["errors"].clone();
        let named = errors.as_array().unwrap().iter().find(|e| e["input"] == object);
        let named = named.unwrap_or_else(|| panic!("{url}: an error names {object}: {errors}"));
        assert!(named["message"].as_str().unwrap().contains(says), "{named}");
        assert_eq!(report(&out)["verdict"], "incomplete");
    }

    // Nothing listens on the port: refused at once.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = mosaic_at(&closed, tmp.path(), &["scan", "s3://any/p"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("s3://any/p: cannot list"), "{}", common::stderr(&out));

    // A bad [storage] table is a configuration error.
    std::fs::write(tmp.path().join("mosaic.toml"), "[storage]\nendpoint = \"127.0.0.1:9000\"\n").unwrap();
    let out = mosaic_at(&endpoint, tmp.path(), &["scan", "s3://gone/p"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("[storage] endpoint"), "{}", common::stderr(&out));
}
