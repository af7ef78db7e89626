//! `mosaic profile`, `mosaic merge` and `mosaic check`.

use std::path::{Path, PathBuf};

use super::doc::{self, Profile, ProfileError};
use crate::exit::ExitStatus;
use crate::rules::Catalog;

fn write_json(path: &Path, profile: &Profile) -> Result<(), ExitStatus> {
    let text = serde_json::to_string(profile).map_err(|e| {
        eprintln!("error: cannot serialise the profile: {e}");
        ExitStatus::Usage
    })?;
    // Written beside the target and renamed, so a reader never sees half a profile.
    let tmp = path.with_extension("mosaic-tmp");
    std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("error: cannot write {}: {e}", path.display());
        ExitStatus::Usage
    })
}

/// Profile one dataset (a file, or a directory of one table's files).
/// Profile the dataset at `path`; `shown` writes a local path as the user named it (an
/// `s3://` object staged to a local copy).
pub fn profile(
    catalog: &Catalog,
    path: &Path,
    output: &Path,
    id: Option<&str>,
    published: bool,
    shown: &dyn Fn(&str) -> String,
) -> ExitStatus {
    let found = match crate::source::dataset_at(path) {
        Ok(f) => f,
        Err(missing) => {
            eprintln!("error: {}", shown(&missing.to_string()));
            return ExitStatus::Usage;
        }
    };
    if let Some(e) = found.errors.first() {
        eprintln!("error: {}: {} ({})", shown(&e.input), shown(&e.message), e.kind);
        return ExitStatus::Incomplete;
    }
    let Some(mut dataset) = found.datasets.into_iter().next() else {
        eprintln!("error: {}: no data file mosaic reads (.parquet, .csv, .tsv, .arrow, .ndjson)", path.display());
        return ExitStatus::Usage;
    };
    if published {
        dataset.published = true;
        dataset.id = format!("published:{}", id.unwrap_or(&dataset.id));
    }
    let id = if published { None } else { id };
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc::build(catalog, &dataset, id)))
        .unwrap_or_else(|_| Err(ProfileError::Input(crate::scan::panic_error(&dataset.id))));
    match built {
        Ok(mut p) => {
            p.dataset.path = shown(&p.dataset.path);
            match write_json(output, &p) {
                Ok(()) => ExitStatus::Clean,
                Err(status) => status,
            }
        }
        Err(ProfileError::Input(e)) => {
            eprintln!("error: {}: {} ({})", e.input, shown(&e.message), e.kind);
            ExitStatus::Incomplete
        }
        Err(e) => {
            eprintln!("error: {}", shown(&e.to_string()));
            ExitStatus::Incomplete
        }
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Profile>, ExitStatus> {
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        match Profile::read(p) {
            Ok(profile) => out.push(profile),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitStatus::Usage);
            }
        }
    }
    Ok(out)
}

/// Merge partition profiles of one dataset, pairwise as a balanced tree.
pub fn merge_all(profiles: Vec<Profile>) -> Result<Profile, ProfileError> {
    let mut level = profiles;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut it = level.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(doc::merge(&a, &b)?),
                None => next.push(a),
            }
        }
        level = next;
    }
    level.pop().ok_or_else(|| ProfileError::Invalid { path: "-".into(), message: "no profiles to merge".into() })
}

pub fn merge(paths: &[PathBuf], output: &Path, id: Option<&str>) -> ExitStatus {
    let profiles = match read_all(paths) {
        Ok(p) => p,
        Err(status) => return status,
    };
    if id.is_none() {
        if let Some(other) = profiles.iter().find(|p| p.dataset.id != profiles[0].dataset.id) {
            eprintln!(
                "error: the profiles name different datasets (`{}`, `{}`); merge parts of one dataset, or name it with --id",
                profiles[0].dataset.id, other.dataset.id
            );
            return ExitStatus::Usage;
        }
    }
    match merge_all(profiles) {
        Ok(mut p) => {
            if let Some(id) = id {
                p.dataset.id = id.to_string();
            }
            match write_json(output, &p) {
                Ok(()) => ExitStatus::Clean,
                Err(status) => status,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitStatus::Usage
        }
    }
}

/// Read profiles for `check`; profiles naming the same dataset are merged first.
pub fn read_for_check(paths: &[PathBuf]) -> Result<Vec<Profile>, ExitStatus> {
    let mut by_id: std::collections::BTreeMap<String, Vec<Profile>> = Default::default();
    for p in read_all(paths)? {
        by_id.entry(p.dataset.id.clone()).or_default().push(p);
    }
    let mut out = Vec::new();
    for (_, parts) in by_id {
        match merge_all(parts) {
            Ok(p) => out.push(p),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitStatus::Usage);
            }
        }
    }
    Ok(out)
}
