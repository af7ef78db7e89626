//! The profile document (`mosaic profile`): what `check` needs of one dataset or
//! partition — its tagging, snapping facts, per-key row counts and, for every item
//! of every pack, the mergeable states of the metrics the item needs on the tags the
//! dataset has (under the item's row filters). Versioned JSON; long lists are base64.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::evaluate;
use crate::link::keys::hash_key;
use crate::profile::sketch::words;
use crate::profile::state::{self, SnapInfo, State};
use crate::profile::{self, Snap, Source};
use crate::rules::Catalog;
use crate::scan::PackRef;
use crate::source::{self, Dataset, InputError, Manifest};
use crate::tag::{Binding, Columns};

pub const FORMAT: &str = "mosaic/profile";
/// Version 2: snapping candidates gained 100–1000 times the last decimal's step.
pub const VERSION: u32 = 2;

/// One dataset (or a partition of it, or several merged partitions).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub format: String,
    pub version: u32,
    pub dataset: DatasetInfo,
    pub packs: Vec<PackRef>,
    /// Pack id → tag → binding.
    pub tagging: BTreeMap<String, BTreeMap<String, Binding>>,
    /// Snapping facts of every point whose resolution an item uses.
    pub snaps: Vec<PointSnap>,
    /// Per key column: the distinct values (hashes, as `scan` keys them) and their rows.
    pub keys: BTreeMap<String, KeyCounts>,
    /// Group key (an item's row filters on this dataset) → states.
    pub groups: BTreeMap<String, GroupStates>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub id: String,
    pub path: String,
    /// sha256 of the data (of the sorted part digests when partitions were merged).
    pub sha256: String,
    /// Digests of the parts merged into this profile, sorted.
    pub parts: Vec<String>,
    pub rows: u64,
    /// Column names in file order.
    pub columns: Vec<String>,
    pub published: bool,
    pub manifest: Option<Manifest>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointSnap {
    pub columns: Columns,
    pub info: SnapInfo,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyCounts {
    #[serde(with = "words")]
    pub hashes: Vec<u64>,
    #[serde(with = "words")]
    pub rows: Vec<u64>,
}

impl KeyCounts {
    fn merge(&self, other: &KeyCounts) -> KeyCounts {
        let mut out = KeyCounts::default();
        let (a, b) = (self, other);
        let (mut i, mut j) = (0, 0);
        while i < a.hashes.len() || j < b.hashes.len() {
            let take_a = j >= b.hashes.len() || (i < a.hashes.len() && a.hashes[i] <= b.hashes[j]);
            let take_b = i >= a.hashes.len() || (j < b.hashes.len() && b.hashes[j] <= a.hashes[i]);
            let h = if take_a { a.hashes[i] } else { b.hashes[j] };
            let mut n = 0;
            if take_a {
                n += a.rows[i];
                i += 1;
            }
            if take_b {
                n += b.rows[j];
                j += 1;
            }
            out.hashes.push(h);
            out.rows.push(n);
        }
        out
    }
}

/// The states of one group, per snapping variant (see [`SnapInfo::variants`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupStates {
    /// Points whose snapping the group's values depend on.
    pub points: Vec<Columns>,
    pub variants: BTreeMap<String, BTreeMap<String, State>>,
}

/// Why a profile could not be made, read or merged.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{}: {}", .0.input, .0.message)]
    Input(InputError),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("cannot merge {a} and {b}: {why}")]
    Mismatch { a: String, b: String, why: String },
}

fn pe(id: &str, e: PolarsError) -> ProfileError {
    ProfileError::Input(InputError::new(id, "corrupt", source::clean_polars_error(&e)))
}

impl Profile {
    pub fn snap_info(&self, columns: &Columns) -> SnapInfo {
        self.snaps.iter().find(|p| &p.columns == columns).map(|p| p.info.clone()).unwrap_or_default()
    }

    /// The variant key of a group's states for the whole this profile describes.
    pub fn whole_variant(&self, points: &[Columns]) -> String {
        let snaps: Vec<(Columns, Snap)> = points.iter().map(|c| (c.clone(), self.snap_info(c).snap())).collect();
        state::variant_key(&snaps)
    }

    /// States of a group for the whole, if the profile holds it.
    pub fn states(&self, group_key: &str) -> Option<&BTreeMap<String, State>> {
        let g = self.groups.get(group_key)?;
        g.variants.get(&self.whole_variant(&g.points))
    }

    pub fn bindings(&self, pack: &str) -> BTreeMap<String, Binding> {
        self.tagging.get(pack).cloned().unwrap_or_default()
    }

    /// Read a profile file, checking its format and version.
    pub fn read(path: &std::path::Path) -> Result<Profile, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not a profile (line {}: {e})", e.line())))?;
        let format = value.get("format").and_then(|v| v.as_str()).unwrap_or_default();
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or_default();
        if format != FORMAT {
            return Err(invalid(format!("not a profile (format `{format}`, expected `{FORMAT}`)")));
        }
        if version != u64::from(VERSION) {
            return Err(invalid(format!("profile version {version}; this mosaic reads version {VERSION}")));
        }
        serde_json::from_value(value).map_err(|e| invalid(format!("damaged profile: {e}")))
    }
}

/// The hidden command a profile of one binary file is made in ([`build`]).
pub const COMMAND: &str = "__profile-one";

/// What the child making a profile is asked ([`build`], [`serve`]).
#[derive(Serialize, Deserialize)]
struct Request {
    /// The packs, as `(origin, text)`, parsed again by the child.
    packs: Vec<(String, String)>,
    dataset: Dataset,
    id: Option<String>,
}

/// Profile one dataset with the packs of `catalog`. `id` replaces the dataset id
/// (partitions profiled apart name the dataset they belong to).
///
/// One Parquet or IPC file is profiled whole in a sandbox child (`mosaic
/// __profile-one`), which reads it directly and so decodes it once, as a scan of one
/// such file does (`scan::child`); when the child gives no answer or finds the file
/// corrupt, it is profiled here, each decode in a child of its own, which names what
/// failed.
pub fn build(catalog: &Catalog, dataset: &Dataset, id: Option<&str>) -> Result<Profile, ProfileError> {
    if source::one_binary_file(dataset) {
        let request = Request { packs: catalog.texts(), dataset: dataset.clone(), id: id.map(str::to_string) };
        let _t = crate::trace::span(|| format!("profile of {} in a sandbox child", dataset.id));
        if let Some(built) = source::ask_reader::<_, Profile>(COMMAND, &request) {
            return built.map_err(ProfileError::Input);
        }
    }
    build_here(catalog, dataset, id)
}

/// `mosaic __profile-one`: read a [`Request`] on stdin, profile the dataset reading
/// its file directly (this process is the sandbox), and write the answer on stdout
/// (none when the packs do not parse here, or the failure is not the input's: the
/// profile is then made by the caller). False when the request could not be read
/// or answered.
pub fn serve() -> bool {
    source::answer(|request: Request| {
        let catalog = Catalog::from_texts(&request.packs)?;
        let dataset = &request.dataset;
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            build_here(&catalog, dataset, request.id.as_deref())
        }))
        .unwrap_or_else(|_| Err(ProfileError::Input(crate::scan::panic_error(&dataset.id))));
        match built {
            Ok(profile) => Some(Ok(profile)),
            Err(ProfileError::Input(e)) => Some(Err(e)),
            Err(_) => None,
        }
    })
}

/// [`build`], reading the dataset in this process.
fn build_here(catalog: &Catalog, dataset: &Dataset, id: Option<&str>) -> Result<Profile, ProfileError> {
    let id = id.unwrap_or(&dataset.id).to_string();
    let crate::scan::read::Read { mut frame, tagging, rows, snaps: memo, .. } =
        crate::scan::read::read(dataset, catalog, &id, crate::scan::read::Reading::default())
            .map_err(ProfileError::Input)?;
    let names: Vec<String> = frame.columns.iter().map(|(n, _)| n.clone()).collect();
    let src = Source { lf: &frame.lf, text: frame.text, memo: Some(&memo) };

    // Groups: every item's plan on the tags this dataset has, items sharing filters together.
    let mut groups: BTreeMap<String, profile::Group> = BTreeMap::new();
    for pack in &catalog.packs {
        let bindings = &tagging.packs[&pack.id];
        for item in &pack.items {
            let group = evaluate::plan_partial(pack, item, bindings);
            let slot = groups
                .entry(group.key())
                .or_insert_with(|| profile::Group { filters: group.filters.clone(), needs: vec![] });
            slot.needs.extend(group.needs);
        }
    }
    // The points some item snaps, in order; the read's checks gathered their snapping.
    let mut snaps: Vec<PointSnap> = Vec::new();
    for columns in crate::scan::read::snapped_by_items(catalog, &tagging) {
        let info = profile::snap_info(&src, &columns).map_err(|e| pe(&id, e))?;
        snaps.push(PointSnap { columns, info });
    }

    let mut profile = Profile {
        format: FORMAT.into(),
        version: VERSION,
        dataset: DatasetInfo {
            id: id.clone(),
            path: dataset.path.display().to_string(),
            // Known once the states are computed (the hashing runs beside them).
            sha256: String::new(),
            parts: vec![],
            rows,
            columns: names,
            published: dataset.published,
            manifest: dataset.manifest.clone(),
        },
        packs: catalog.packs.iter().map(PackRef::of).collect(),
        tagging: tagging.packs.clone(),
        snaps: vec![],
        keys: BTreeMap::new(),
        groups: BTreeMap::new(),
    };
    profile.snaps = snaps;
    for (key, group) in &groups {
        let points = state::snapped_points(group);
        let mut variants = BTreeMap::new();
        for combo in combinations(&points, &profile) {
            let map: BTreeMap<Columns, Snap> = combo.iter().cloned().collect();
            let measured = profile::measure(&src, group, &map, &BTreeMap::new()).map_err(|e| pe(&id, e))?;
            let states = measured.into_states().map_err(|e| pe(&id, e))?;
            variants.insert(state::variant_key(&combo), states);
        }
        profile.groups.insert(key.clone(), GroupStates { points, variants });
    }
    // Keys by column; regions and names by what they resolve to (DESIGN §4a).
    let columns: Vec<&str> = frame.columns.iter().map(|(n, _)| n.as_str()).collect();
    for pack in &catalog.packs {
        for (tag, b) in &tagging.packs[&pack.id] {
            let Some(t) = pack.tags.get(tag) else { continue };
            let Some((key, expr)) = crate::link::names::link_of(t, b, columns.iter().copied()) else { continue };
            if let std::collections::btree_map::Entry::Vacant(slot) = profile.keys.entry(key) {
                let counts = key_counts(&frame.lf, expr).map_err(|e| pe(&id, e))?;
                slot.insert(counts);
            }
        }
    }
    drop(src);
    crate::source::finish_hash(dataset, &mut frame).map_err(ProfileError::Input)?;
    profile.dataset.sha256 = frame.sha256.clone();
    profile.dataset.parts = vec![frame.sha256];
    Ok(profile)
}

/// Every combination of snapping variants of `points` a whole could need from this part.
fn combinations(points: &[Columns], profile: &Profile) -> Vec<Vec<(Columns, Snap)>> {
    let mut out: Vec<Vec<(Columns, Snap)>> = vec![vec![]];
    for c in points {
        let variants = profile.snap_info(c).variants();
        out = out
            .into_iter()
            .flat_map(|prefix| {
                variants.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((c.clone(), *v));
                    next
                })
            })
            .collect();
    }
    out
}

fn key_counts(lf: &LazyFrame, expr: Expr) -> PolarsResult<KeyCounts> {
    let df = lf
        .clone()
        .select([expr.alias("k")])
        .drop_nulls(None)
        .group_by([col("k")])
        .agg([len().cast(DataType::UInt64).alias("n")])
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    let keys = df.column("k")?.str()?.clone();
    let rows = df.column("n")?.u64()?.clone();
    let mut pairs: Vec<(u64, u64)> = keys
        .iter()
        .zip(rows.iter())
        .filter_map(|(k, n)| {
            let k = k?;
            (!k.trim().is_empty()).then(|| (hash_key(k), n.unwrap_or(0)))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = KeyCounts::default();
    for (h, n) in pairs {
        if out.hashes.last() == Some(&h) {
            *out.rows.last_mut().unwrap_or(&mut 0) += n;
        } else {
            out.hashes.push(h);
            out.rows.push(n);
        }
    }
    Ok(out)
}

/// Merge the profiles of two parts of one dataset (same packs, tagging and columns).
/// The result describes the union of their rows; merging is associative and
/// commutative, and exact wherever the metric allows.
pub fn merge(a: &Profile, b: &Profile) -> Result<Profile, ProfileError> {
    let mismatch =
        |why: &str| ProfileError::Mismatch { a: a.dataset.id.clone(), b: b.dataset.id.clone(), why: why.to_string() };
    if a.packs != b.packs {
        return Err(mismatch("they were made with different rule packs"));
    }
    if a.tagging != b.tagging {
        return Err(mismatch("their columns are tagged differently (not parts of one dataset)"));
    }
    let lower = |p: &Profile| {
        let mut c: Vec<String> = p.dataset.columns.iter().map(|c| c.to_lowercase()).collect();
        c.sort();
        c
    };
    if lower(a) != lower(b) {
        return Err(mismatch("their columns differ"));
    }
    let parts: Vec<String> = a
        .dataset
        .parts
        .iter()
        .chain(&b.dataset.parts)
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let sha256 = if parts.len() == 1 { parts[0].clone() } else { hex::encode(Sha256::digest(parts.join("\n"))) };
    let mut snaps = Vec::new();
    for p in a.snaps.iter().chain(&b.snaps) {
        if !snaps.iter().any(|s: &PointSnap| s.columns == p.columns) {
            let info = a.snap_info(&p.columns).merge(&b.snap_info(&p.columns));
            snaps.push(PointSnap { columns: p.columns.clone(), info });
        }
    }
    snaps.sort_by(|x, y| x.columns.cmp(&y.columns));
    let mut keys = a.keys.clone();
    for (column, counts) in &b.keys {
        let merged = keys.get(column).map_or_else(|| counts.clone(), |k| k.merge(counts));
        keys.insert(column.clone(), merged);
    }
    let (first, second) =
        if (&a.dataset.id, &a.dataset.path) <= (&b.dataset.id, &b.dataset.path) { (a, b) } else { (b, a) };
    let mut out = Profile {
        format: FORMAT.into(),
        version: VERSION,
        dataset: DatasetInfo {
            id: first.dataset.id.clone(),
            path: first.dataset.path.clone(),
            sha256,
            parts,
            rows: a.dataset.rows + b.dataset.rows,
            columns: first.dataset.columns.clone(),
            published: a.dataset.published && b.dataset.published,
            manifest: first.dataset.manifest.clone().or_else(|| second.dataset.manifest.clone()),
        },
        packs: a.packs.clone(),
        tagging: a.tagging.clone(),
        snaps,
        keys,
        groups: BTreeMap::new(),
    };
    for (key, ga) in &a.groups {
        let gb = b.groups.get(key).ok_or_else(|| mismatch(&format!("group `{key}` is missing from one")))?;
        let mut variants = BTreeMap::new();
        for combo in combinations(&ga.points, &out) {
            let pick = |p: &Profile| {
                let effective: Vec<(Columns, Snap)> =
                    combo.iter().map(|(c, s)| (c.clone(), p.snap_info(c).effective(*s))).collect();
                state::variant_key(&effective)
            };
            let (Some(sa), Some(sb)) = (ga.variants.get(&pick(a)), gb.variants.get(&pick(b))) else {
                return Err(mismatch(&format!("a snapping variant of group `{key}` is missing")));
            };
            let mut states = BTreeMap::new();
            for (need, x) in sa {
                let y = sb.get(need).ok_or_else(|| mismatch(&format!("metric `{need}` is missing from one")))?;
                let m = x.merge(y).ok_or_else(|| mismatch(&format!("metric `{need}` has different kinds")))?;
                states.insert(need.clone(), m);
            }
            variants.insert(state::variant_key(&combo), states);
        }
        out.groups.insert(key.clone(), GroupStates { points: ga.points.clone(), variants });
    }
    Ok(out)
}
