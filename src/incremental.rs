//! Incremental scans of a lake (`scan --incremental --ledger L`): every data file's
//! profile is cached in `L.cache/` under a key of its content hash, partition values,
//! manifest and packs, with (path, size, mtime) as a fast pre-check of the content
//! hash. A nightly scan therefore reads only new or changed files; a dataset's profile
//! is the merge of its files' profiles, and singles and unions of releases are judged
//! on them as `check` judges profiles (exactly; distinct counts beyond 65 536 values
//! with a band). A join that the profiles' bounds say may meet an item, and a link
//! profiles cannot make (proximity, fuzzy names), is evaluated again on the real rows
//! of its members, so the verdict is the full scan's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::check::{self, cmd, doc, Profile, ProfileError};
use crate::decide;
use crate::rules::Catalog;
use crate::scan::{combine, panic_error, prepare, Extras, Options, ScanResult};
use crate::source::{self, DataFile, Dataset, InputError, MissingPath};

/// What the cache knows of a file from its last scan.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Seen {
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

/// The cache directory beside a ledger.
pub fn cache_dir(ledger: &Path) -> PathBuf {
    let mut name = ledger.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".cache");
    ledger.with_file_name(name)
}

struct Cache {
    dir: PathBuf,
    index: BTreeMap<String, Seen>,
}

impl Cache {
    fn open(dir: &Path) -> std::io::Result<Cache> {
        std::fs::create_dir_all(dir.join("profiles"))?;
        let index = std::fs::read_to_string(dir.join("index.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok(Cache { dir: dir.to_path_buf(), index })
    }

    fn save(&self) -> std::io::Result<()> {
        let tmp = self.dir.join("index.json.tmp");
        std::fs::write(&tmp, serde_json::to_string(&self.index).unwrap_or_default())?;
        std::fs::rename(tmp, self.dir.join("index.json"))
    }

    fn profile_path(&self, key: &str) -> PathBuf {
        self.dir.join("profiles").join(format!("{key}.json"))
    }
}

/// Size and modification time of a file and of the sidecars read with it (a
/// Shapefile's `.dbf`, `.prj`, `.cpg`): total size, latest time.
fn stat(path: &Path) -> std::io::Result<(u64, i128)> {
    let one = |p: &Path| -> std::io::Result<(u64, i128)> {
        let meta = std::fs::metadata(p)?;
        let mtime =
            meta.modified()?.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or_default();
        Ok((meta.len(), mtime))
    };
    let (mut size, mut mtime) = one(path)?;
    if source::Format::of(path) == Some(source::Format::Shapefile) {
        for ext in ["dbf", "prj", "cpg"] {
            if let Some(p) = source::shapefile::sidecar(path, ext) {
                let (s, m) = one(&p)?;
                size += s;
                mtime = mtime.max(m);
            }
        }
    }
    Ok((size, mtime))
}

/// How one file's profile was obtained.
enum Got {
    Reused(Profile),
    Profiled(Profile),
}

/// Profile of one file of a dataset: from the cache when its content is unchanged.
fn file_profile(
    catalog: &Catalog,
    dataset: &Dataset,
    file: &DataFile,
    seen: Option<&Seen>,
    cache: &Cache,
    packs: &str,
) -> Result<(Got, Seen), InputError> {
    let io = |e: std::io::Error| InputError::new(&dataset.id, "io", format!("{}: {e}", file.path.display()));
    let (size, mtime_ns) = stat(&file.path).map_err(io)?;
    let sha256 = match seen {
        Some(s) if s.size == size && s.mtime_ns == mtime_ns => s.sha256.clone(),
        _ => source::hash_content(&file.path).map_err(io)?,
    };
    let now = Seen { size, mtime_ns, sha256: sha256.clone() };
    let mut key = Sha256::new();
    for part in [
        format!("{}/{}", doc::FORMAT, doc::VERSION),
        sha256,
        format!("{:?} {:?}", file.partitions, file.part),
        serde_json::to_string(&dataset.manifest).unwrap_or_default(),
        packs.to_string(),
    ] {
        key.update(part.as_bytes());
        key.update(b"\n");
    }
    let path = cache.profile_path(&hex::encode(key.finalize()));
    if let Ok(p) = Profile::read(&path) {
        return Ok((Got::Reused(p), now));
    }
    let one = Dataset { files: vec![file.clone()], ..dataset.clone() };
    let profile = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc::build(catalog, &one, None)))
        .unwrap_or_else(|_| Err(ProfileError::Input(panic_error(&dataset.id))))
        .map_err(|e| match e {
            ProfileError::Input(e) => e,
            other => InputError::new(&dataset.id, "profile", other.to_string()),
        })?;
    // A cache that cannot be written only costs the next scan a re-read.
    if let Ok(text) = serde_json::to_string(&profile) {
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok((Got::Profiled(profile), now))
}

/// A dataset's merged profile, what the cache now knows of its files, and how many
/// files were profiled and reused.
type DatasetProfile = (Profile, Vec<(String, Seen)>, u64, u64);

/// A dataset's profile: its files' profiles merged, named and hashed as `scan` names
/// and hashes the dataset.
fn dataset_profile(
    catalog: &Catalog,
    dataset: &Dataset,
    cache: &Cache,
    packs: &str,
) -> Result<DatasetProfile, InputError> {
    let mut parts = Vec::new();
    let mut seen = Vec::new();
    let mut digests = Vec::new();
    let (mut profiled, mut reused) = (0, 0);
    for file in &dataset.files {
        let key = match &file.part {
            Some(part) => format!("{}#{part}", file.path.display()),
            None => file.path.display().to_string(),
        };
        let (got, now) = file_profile(catalog, dataset, file, cache.index.get(&key), cache, packs)?;
        digests.push((source::relative_id(&dataset.path, &file.path), now.sha256.clone()));
        seen.push((key, now));
        parts.push(match got {
            Got::Reused(p) => {
                reused += 1;
                p
            }
            Got::Profiled(p) => {
                profiled += 1;
                p
            }
        });
    }
    let mut merged = cmd::merge_all(parts).map_err(|e| InputError::new(&dataset.id, "schema", e.to_string()))?;
    merged.dataset.id = dataset.id.clone();
    merged.dataset.path = dataset.path.display().to_string();
    merged.dataset.sha256 = source::combine_digests(&digests);
    merged.dataset.published = dataset.published;
    merged.dataset.manifest = dataset.manifest.clone();
    Ok((merged, seen, profiled, reused))
}

/// Run an incremental scan with its cache in `dir`.
pub fn run(catalog: &Catalog, options: &Options, dir: &Path) -> Result<ScanResult, MissingPath> {
    let (catalog, _) = ScanResult::empty(catalog, options);
    let catalog = &catalog;
    let found = crate::scan::discover_all(options)?;
    let packs =
        serde_json::to_string(&catalog.packs.iter().map(|p| (&p.id, &p.version, &p.sha256)).collect::<Vec<_>>())
            .unwrap_or_default();
    let mut cache = match Cache::open(dir) {
        Ok(c) => c,
        Err(e) => {
            let mut r = check::run(catalog, &[], options);
            r.errors.push(InputError::new(dir.display().to_string(), "io", format!("profile cache: {e}")));
            return Ok(r);
        }
    };
    let outcomes = crate::par::map(&found.datasets, |d| (d.clone(), dataset_profile(catalog, d, &cache, &packs)));
    let mut profiles = Vec::new();
    let mut errors = found.errors;
    let (mut profiled, mut reused) = (0, 0);
    for (_, outcome) in &outcomes {
        match outcome {
            Ok((p, seen, n, r)) => {
                profiles.push(p.clone());
                profiled += n;
                reused += r;
                for (k, s) in seen {
                    cache.index.insert(k.clone(), s.clone());
                }
            }
            Err(e) => errors.push(e.clone()),
        }
    }
    if let Err(e) = cache.save() {
        errors.push(InputError::new(dir.display().to_string(), "io", format!("profile cache index: {e}")));
    }
    let mut result = check::run(catalog, &profiles, options);
    result.skipped = found.skipped;
    result.errors.extend(errors);
    result.stats.profiled = Some(profiled);
    result.stats.reused = Some(reused);

    // Joins the bounds could not clear, and links profiles cannot make (positions within
    // a distance, fuzzy names): judge them on their members' rows.
    let mut suspects: BTreeSet<String> = result
        .findings
        .iter()
        .filter(|f| f.combination.kind == "join")
        .flat_map(|f| f.datasets.iter().cloned())
        .collect();
    result.findings.retain(|f| f.combination.kind != "join");
    let (unlinked, kept): (Vec<InputError>, Vec<InputError>) =
        std::mem::take(&mut result.errors).into_iter().partition(|e| e.kind == "proximity" || e.kind == "fuzzy");
    result.errors = kept;
    suspects.extend(unlinked.iter().flat_map(|e| e.input.split(" ⋈ ").map(str::to_string)));
    if !suspects.is_empty() {
        let today = options.today();
        let ctx = decide::Context { today, calendar: &options.calendar };
        let in_force = Catalog { packs: catalog.packs.iter().filter(|p| p.in_force(today)).cloned().collect() };
        let extras = Extras {
            coverage: options.coverage,
            fixes: options.fixes,
            writes: options.fix_dir.is_some(),
            alone: false,
        };
        let members: Vec<&Dataset> = outcomes.iter().map(|(d, _)| d).filter(|d| suspects.contains(&d.id)).collect();
        let mut prepared = Vec::new();
        for d in members {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(&in_force, d, &ctx, extras)))
                .unwrap_or_else(|_| Err(panic_error(&d.id)))
            {
                Ok(p) => prepared.push(p),
                Err(e) => result.errors.push(e),
            }
        }
        prepared.sort_by(|a, b| a.dataset.id.cmp(&b.dataset.id));
        let combined = combine::run(&in_force, &prepared, options.max_combo, &ctx, extras);
        result.stats.joined = combined.joined;
        result.stats.evaluated += combined.evaluated;
        result.findings.extend(combined.findings.into_iter().filter(|f| f.combination.kind == "join"));
        result.errors.extend(combined.errors);
    }
    result.errors.sort();
    result.errors.dedup();
    result.findings.sort_by(|a, b| (&a.pack, &a.item, &a.datasets).cmp(&(&b.pack, &b.item, &b.datasets)));
    Ok(result)
}
