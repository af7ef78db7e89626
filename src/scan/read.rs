//! Read one dataset for evaluation: open it (source), bind its columns to the packs'
//! tags (tag), add the columns one-column positions are read into, and check what
//! only the values can tell (DESIGN §3a): axes swapped (latitudes in the longitude
//! column) are swapped back and noted; metres in degree columns, eastings that do
//! not fit their zone and malformed degrees–minutes–seconds are that dataset's error.
//! Columns whose values look like positions but that no pack binds are listed.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde::Serialize;

use crate::profile::{self, coord};
use crate::rules::{Catalog, Prop};
use crate::source::geometry::{self, Form, Order};
use crate::source::{self, crs, Dataset, Format, Frame, InputError, MANY_FILES_MAX_BYTES};
use crate::tag::{self, Columns, Layout, Tagging};

/// A dataset opened and tagged, with its row (feature) count.
pub struct Read {
    pub frame: Frame,
    pub tagging: Tagging,
    pub rows: u64,
    /// Columns that look like positions but that no pack binds.
    pub unbound: Vec<Unbound>,
    /// The snapping passes made over `frame`'s rows while checking them.
    pub snaps: profile::SnapMemo,
}

/// A `scan.unbound` entry: columns whose values look like positions, not bound.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Unbound {
    pub input: String,
    pub columns: String,
    pub looks_like: String,
}

fn error(id: &str, e: &PolarsError) -> InputError {
    InputError::new(id, "corrupt", source::clean_polars_error(e))
}

/// What reads a dataset after [`read`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    /// The snapping of every point (a scan that may search a fix reads a held point's
    /// decimals), not only of the points some item's resolution reads
    /// ([`snapped_by_items`]: all a profile keeps).
    pub every_snap: bool,
    /// Every column (`--fix` writes the dataset), not only those the packs bind.
    pub every_column: bool,
    /// The dataset is scanned alone: no combination reads its columns, so of those
    /// the packs bind only the ones an applicable item reads (and every position)
    /// are decoded and parsed ([`read_columns`]).
    pub alone: bool,
    /// The position checks also gather the occupied cells that items without row
    /// filters read ([`celled_by_items`]): for a reader whose metrics take them from
    /// the checks (a scan's, not a profile's states).
    pub cells: bool,
}

/// Open, tag and check one dataset; `id` names it in errors. The position checks'
/// pass also gathers the snapping `reading` says. Of a binary file, the sandbox
/// decodes the first rows of every column and then every row of the columns read
/// ([`read_columns`]), unless every column is read.
pub fn read(dataset: &Dataset, catalog: &Catalog, id: &str, reading: Reading) -> Result<Read, InputError> {
    let mut frame = {
        let _t = crate::trace::span(|| format!("open {id}"));
        if reading.every_column {
            source::open(dataset)?
        } else {
            source::open_deferred(dataset)?
        }
    };
    let names: Vec<String> = frame.columns.iter().map(|(n, _)| n.clone()).collect();
    let layout = Layout { columns: &names, geometry: frame.geometry.as_ref(), pairs: &frame.pairs };
    let mut tagging = tag::tag(id, layout, dataset.manifest.as_ref(), catalog)?;
    if frame.pending.is_some() {
        let columns = decoded_columns(catalog, &frame, &tagging, reading.alone);
        source::verify(dataset, &mut frame, &columns)?;
    }
    add_derived(&mut frame, &tagging.derived);
    {
        let _t = crate::trace::span(|| format!("parse once {id}"));
        parse_once(dataset, catalog, &mut frame, &tagging, reading.alone, id)?;
    }
    // The fields of rows the one parse did not count are counted before any pass.
    source::finish_structure(dataset, &mut frame)?;
    let snaps = profile::SnapMemo::default();
    let checked = {
        let _t = crate::trace::span(|| format!("position checks and snapping {id}"));
        let wanted = (!reading.every_snap).then(|| snapped_by_items(catalog, &tagging));
        let grids = if reading.cells { celled_by_items(catalog, &tagging) } else { BTreeMap::new() };
        check_positions(&frame, &mut tagging, id, &snaps, wanted.as_ref(), &grids)?
    };
    // The checks count the rows as they pass; a frame of geometries counts features.
    let features =
        frame.geometry.is_some() || frame.lf.clone().collect_schema().map_or(true, |s| s.contains(geometry::FEATURE));
    let rows = match checked {
        Some(rows) if !features => rows,
        _ => {
            let _t = crate::trace::span(|| format!("rows {id}"));
            profile::row_count(&frame.lf).map_err(|e| error(id, &e))?
        }
    };
    let unbound = unbound(id, &frame, &tagging);
    Ok(Read { frame, tagging, rows, unbound, snaps })
}

/// Text tables up to this size are parsed once into memory (their bound columns).
pub const PARSE_ONCE_MAX_BYTES: u64 = source::unquoted::PARSE_ONCE_MAX_BYTES;

/// A CSV or TSV is parsed once: the columns some pack binds are read into memory here,
/// so the passes that follow (the position checks, every metric family, snapping, the
/// fix trials, key sets for joins) read them from memory instead of parsing the text
/// again each time. This costs memory: the parsed columns, as string views, can take
/// more room than the whole text held for the checks (5M rows, three bound columns:
/// heap peak 324 → 536 MiB, scan 6.5 → 3.4 s), so tables above
/// [`PARSE_ONCE_MAX_BYTES`] of text are parsed per pass instead. Values stay text, so
/// decimals are still counted as written.
///
/// A table of many Parquet or IPC files (a lake's partitions) is read once the same
/// way when its files together are small ([`MANY_FILES_MAX_BYTES`]): each pass over
/// 1 000 files pays for opening each of them again, which cost a lake of 10 tables ×
/// 1 000 partitions more than reading their rows.
fn parse_once(
    dataset: &Dataset,
    catalog: &Catalog,
    frame: &mut Frame,
    tagging: &Tagging,
    alone: bool,
    id: &str,
) -> Result<(), InputError> {
    if frame.geometry.is_some() {
        return Ok(());
    }
    let size: u64 = dataset.files.iter().filter_map(|f| std::fs::metadata(&f.path).ok()).map(|m| m.len()).sum();
    let once = match dataset.format {
        Format::Csv | Format::Tsv => size <= PARSE_ONCE_MAX_BYTES,
        Format::Parquet | Format::Ipc => dataset.files.len() > 1 && size <= MANY_FILES_MAX_BYTES,
        _ => false,
    };
    if !once {
        return Ok(());
    }
    let names = read_columns(catalog, frame, tagging, alone);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if names.is_empty() {
        return Ok(());
    }
    // Rows the sandbox kept are in memory already (`full` is then the files' scan):
    // the selection only drops the unbound columns.
    let df = match read_unquoted(dataset, &names) {
        // Every line's fields were counted as it was read.
        Some(df) => {
            frame.unchecked_rows = false;
            df
        }
        None => {
            // Rows not yet counted are counted before polars reads them.
            source::finish_structure(dataset, frame)?;
            profile::collect(frame.lf.clone().select(names.iter().map(|n| col(*n)).collect::<Vec<_>>()))
                .map_err(|e| error(id, &e))?
        }
    };
    let scan = std::mem::replace(&mut frame.lf, df.lazy());
    frame.full.get_or_insert(scan);
    Ok(())
}

/// The columns a scan reads of a dataset, in file order: those some pack binds, and
/// those naming a containing division that region tags resolve their names with
/// (`parent`). Of a dataset scanned `alone`, a bound column is read only when an
/// item that applies to the dataset (every tag it requires is bound) requires its
/// tag, or when it holds a position (the position checks read every bound point):
/// a key or measure no item reads is neither decoded nor parsed (the exact cells of
/// a 5-column CSV then parse 2 columns).
fn read_columns(catalog: &Catalog, frame: &Frame, tagging: &Tagging, alone: bool) -> Vec<String> {
    let mut bound: BTreeSet<&str> = BTreeSet::new();
    for pack in &catalog.packs {
        let Some(bindings) = tagging.packs.get(&pack.id) else { continue };
        let required: BTreeSet<&str> = pack
            .items
            .iter()
            .map(|item| item.required_tags())
            .filter(|tags| tags.iter().all(|t| bindings.contains_key(*t)))
            .flatten()
            .collect();
        for (tag, binding) in bindings {
            if !alone || binding.kind.is_spatial() || required.contains(tag.as_str()) {
                bound.extend(binding.columns.names());
            }
        }
    }
    let parents: BTreeSet<&str> = catalog
        .packs
        .iter()
        .filter(|p| tagging.packs.contains_key(&p.id))
        .flat_map(|p| p.tags.values())
        .flat_map(|t| t.link.parent.iter().map(String::as_str))
        .collect();
    frame
        .columns
        .iter()
        .filter(|(n, _)| bound.contains(n.as_str()) || parents.contains(n.to_lowercase().as_str()))
        .map(|(n, _)| n.clone())
        .collect()
}

/// The columns the sandbox decodes of a frame opened deferred: those [`read_columns`]
/// gives, the one-column positions the bound pairs are split from, and when no column
/// is read, the first, which the rows are counted on.
fn decoded_columns(catalog: &Catalog, frame: &Frame, tagging: &Tagging, alone: bool) -> Vec<String> {
    let mut columns = read_columns(catalog, frame, tagging, alone);
    columns.extend(tagging.derived.keys().filter(|k| !columns.contains(k)).cloned().collect::<Vec<_>>());
    if columns.is_empty() {
        columns.extend(frame.columns.first().map(|(n, _)| n.clone()));
    }
    columns
}

/// The `names` columns of a single UTF-8 CSV/TSV without quotes, split out of its
/// mapped text on all cores (`source::unquoted`: 5M rows, 0.72 → 0.33 s); `None` for
/// anything else, which polars' reader parses.
fn read_unquoted(dataset: &Dataset, names: &[&str]) -> Option<DataFrame> {
    let [file] = dataset.files.as_slice() else { return None };
    let declared = dataset.manifest.as_ref().and_then(|m| m.encoding.as_deref());
    let utf8 = declared.is_none_or(|e| source::text::Encoding::parse(e) == Some(source::text::Encoding::Utf8));
    if !matches!(dataset.format, Format::Csv | Format::Tsv) || !utf8 {
        return None;
    }
    let mapped = source::map_file(&file.path).ok()?;
    let columns = source::unquoted::read_columns(&mapped, dataset.delimiter(), names)?;
    DataFrame::new_infer_height(columns).ok()
}

/// The two parts of every one-column position a pack binds, as text columns.
fn add_derived(frame: &mut Frame, derived: &BTreeMap<String, Order>) {
    if derived.is_empty() {
        return;
    }
    for column in derived.keys() {
        let (lat, lon) = geometry::pair_columns(column);
        frame.columns.push((lat, DataType::String));
        frame.columns.push((lon, DataType::String));
    }
    frame.lf = frame.lf.clone().with_columns(derived_parts(derived));
}

/// The expressions of [`add_derived`]'s columns.
fn derived_parts(derived: &BTreeMap<String, Order>) -> Vec<Expr> {
    let mut exprs = Vec::new();
    for (column, order) in derived {
        let (lat, lon) = geometry::pair_columns(column);
        let (lat_part, lon_part) = if *order == Order::LonLat { (1, 0) } else { (0, 1) };
        exprs.push(geometry::pair_part(column, lat_part).alias(lat.as_str()));
        exprs.push(geometry::pair_part(column, lon_part).alias(lon.as_str()));
    }
    exprs
}

/// A binary file's frame opened again once a sandbox child has evaluated the dataset
/// alone (`scan::child`), for the combinations: its tagging is the child's, its hash
/// the one the child took, and none of its rows has been decoded here yet: the
/// sandbox decodes the `columns` a combination reads ([`verified`]) only when one
/// first reads them, so a dataset no combination reads is decoded once, by the child.
pub struct Reopened {
    pub frame: Frame,
    /// The columns [`read`] would have decoded in the sandbox (none when the sandbox
    /// decoded every row as it opened the file).
    pub columns: Vec<String>,
}

pub fn reopen(dataset: &Dataset, catalog: &Catalog, tagging: &Tagging, sha256: &str) -> Result<Reopened, InputError> {
    let mut frame = {
        let _t = crate::trace::span(|| format!("open again {}", dataset.id));
        source::open_known(dataset, sha256)?
    };
    // Nothing pending: the sandbox decoded the whole file as it opened it.
    let columns = if frame.pending.is_some() { decoded_columns(catalog, &frame, tagging, false) } else { vec![] };
    add_derived(&mut frame, &tagging.derived);
    Ok(Reopened { frame, columns })
}

/// The rows of a [`reopen`]ed frame once the sandbox has decoded its `columns` (some
/// or all of those [`Reopened::columns`] names).
pub fn verified(
    dataset: &Dataset,
    frame: &Frame,
    columns: &[String],
    tagging: &Tagging,
) -> Result<LazyFrame, InputError> {
    let lf = source::verified(dataset, frame, columns)?;
    let derived: BTreeMap<String, Order> =
        tagging.derived.iter().filter(|(c, _)| columns.contains(c)).map(|(c, o)| (c.clone(), *o)).collect();
    Ok(if derived.is_empty() { lf } else { lf.with_columns(derived_parts(&derived)) })
}

/// The points whose snapping an item of a bound pack reads: a resolution measured
/// or filtering rows, of a point whose accuracy is not declared.
pub(crate) fn snapped_by_items(catalog: &Catalog, tagging: &Tagging) -> BTreeSet<Columns> {
    catalog
        .packs
        .iter()
        .filter_map(|pack| tagging.packs.get(&pack.id).map(|bindings| (pack, bindings)))
        .flat_map(|(pack, bindings)| {
            pack.items.iter().map(move |item| crate::evaluate::plan_partial(pack, item, bindings))
        })
        .flat_map(|group| profile::state::snapped_points(&group))
        .collect()
}

/// The grids (metres) on which an item without row filters reads each point's
/// occupied cells (area, largest cluster).
pub(crate) fn celled_by_items(catalog: &Catalog, tagging: &Tagging) -> BTreeMap<Columns, Vec<f64>> {
    let mut grids: BTreeMap<Columns, Vec<f64>> = BTreeMap::new();
    let groups =
        catalog.packs.iter().filter_map(|pack| tagging.packs.get(&pack.id).map(|bindings| (pack, bindings))).flat_map(
            |(pack, bindings)| pack.items.iter().map(move |item| crate::evaluate::plan_partial(pack, item, bindings)),
        );
    for group in groups.filter(|g| g.filters.is_empty()) {
        for need in group.needs {
            if let profile::Need::Prop {
                prop: Prop::AreaKm2 | Prop::ContiguousKm2,
                columns: columns @ Columns::Pair { .. },
                grid_m,
                ..
            } = need
            {
                let these = grids.entry(columns).or_default();
                if !these.iter().any(|g| g.to_bits() == grid_m.to_bits()) {
                    these.push(grid_m);
                }
            }
        }
    }
    grids
}

/// Swap latitude and longitude where the values say so; refuse what cannot be read.
/// Returns the rows the checks read, when there was a position to check.
fn check_positions(
    frame: &Frame,
    tagging: &mut Tagging,
    id: &str,
    snaps: &profile::SnapMemo,
    wanted: Option<&BTreeSet<Columns>>,
    grids: &BTreeMap<Columns, Vec<f64>>,
) -> Result<Option<u64>, InputError> {
    let mut rows = None;
    let pairs: BTreeSet<Columns> = tagging
        .packs
        .values()
        .flat_map(|b| b.values())
        .filter(|b| b.kind.is_spatial())
        .map(|b| b.columns.clone())
        .filter(|c| matches!(c, Columns::Pair { .. }))
        .collect();
    for columns in pairs {
        let Columns::Pair { lat, lon, crs, .. } = &columns else { continue };
        // Per row, each axis parsed once and tallied as the rows stream past. The row
        // of a malformed value and the median easting are looked up only when needed
        // (an in-memory query over all rows held 850 MiB at 20M rows).
        let tally = std::sync::Arc::new(std::sync::Mutex::new(profile::Tally::default()));
        let x0 = crs.as_deref().map(|proj| crs::false_easting(proj).unwrap_or(0.0));
        // The same rows give the point's snapping pass and the cells an item without
        // row filters reads (kept for the evaluation, which would otherwise read them
        // again), in one query (on text, one expression that parses each axis once per
        // batch for all three); a pair the checks move (axes swapped back, a zone read)
        // is a pair of its own there, and has its own passes. Points no item snaps are
        // not gathered: the snapping pass costs as much as the checks.
        let snap = wanted.is_none_or(|w| w.contains(&columns));
        let cells = grids.get(&columns).map_or(&[][..], Vec::as_slice);
        let Some((pass, exprs)) = profile::point_pass(&columns, frame.text, x0, tally.clone(), snap, cells) else {
            continue;
        };
        profile::collect(frame.lf.clone().select(profile::aliased(exprs))).map_err(|e| error(id, &e))?;
        pass.finish_into(&columns, snaps).map_err(|e| error(id, &e))?;
        let t = *tally.lock().map_err(|_| InputError::new(id, "corrupt", "position checks failed"))?;
        rows.get_or_insert(t.rows);
        // Kept for the metrics of these rows (a pair the checks move below is bound
        // under another name, so these counts are not read for it).
        snaps.checked(&columns, t);
        // Fractions of the finite values of each axis (NaN and ±inf count as neither).
        let frac = |n: u64, finite: u64| if finite == 0 { 0.0 } else { n as f64 / finite as f64 };
        let get = |name: &str| match name {
            "bad_lat" => t.bad_lat as f64,
            "bad_lon" => t.bad_lon as f64,
            "metres_lat" => frac(t.metres_lat, t.finite_lat),
            "metres_lon" => frac(t.metres_lon, t.finite_lon),
            "lat_over" => frac(t.over_lat, t.finite_lat),
            "lon_over" => frac(t.over_lon, t.finite_lon),
            "off_zone" => frac(t.off_zone, t.finite_lon),
            _ => 0.0,
        };
        let x = coord(lon);
        let once = |e: Expr| -> Result<f64, InputError> {
            let df = frame.lf.clone().select([e.alias("v")]).collect().map_err(|e| error(id, &e))?;
            Ok(profile::scalar(&df, "v").unwrap_or(0.0))
        };
        for (bad, column) in [("bad_lat", lat), ("bad_lon", lon)] {
            if get(bad) > 0.0 {
                let row = once(profile::unreadable_text(column).arg_max())? as usize + 1;
                let value = first_value(frame, column, row).unwrap_or_default();
                return Err(InputError::new(id, "coordinates", format!("column `{column}`, row {row}: {value}")));
            }
        }
        // Planar values without a coordinate system have no ranges to check.
        if matches!(columns, Columns::Pair { planar: true, crs: None, .. }) {
            continue;
        }
        if let Some(proj) = crs {
            if get("off_zone") > 0.5 {
                let x_median = once(x.clone().median())?;
                if let Some(zoned) = crs::rezone(proj, x_median) {
                    let moved =
                        Columns::Pair { lat: lat.clone(), lon: lon.clone(), planar: true, crs: Some(zoned.clone()) };
                    replace(tagging, &columns, &moved);
                    let zone = (x_median / 1_000_000.0).floor();
                    tagging.notes.insert(
                        moved.label(),
                        format!("eastings carry zone prefix {zone}: read in Gauss–Krüger zone {zone}"),
                    );
                    continue;
                }
                return Err(InputError::new(
                    id,
                    "coordinates",
                    format!(
                        "eastings in `{lon}` do not fit their coordinate system (false easting {} m): \
                         a zone-prefixed easting needs a prefixed EPSG code (e.g. 4527) and a plain one a CM code (e.g. 4548)",
                        crs::false_easting(proj).unwrap_or(0.0)
                    ),
                ));
            }
            continue;
        }
        if get("metres_lat") > 0.5 || get("metres_lon") > 0.5 {
            return Err(InputError::new(
                id,
                "coordinates",
                format!(
                    "`{}` holds values in the thousands: projected metres, not degrees; bind them as `x`/`y` \
                     with the tag's `xy_crs` (or, for a Shapefile, provide its .prj)",
                    columns.label()
                ),
            ));
        }
        if get("lat_over") > 0.5 && get("lon_over") == 0.0 {
            let swapped = Columns::Pair { lat: lon.clone(), lon: lat.clone(), planar: false, crs: None };
            replace(tagging, &columns, &swapped);
            tagging
                .notes
                .insert(swapped.label(), format!("axes swapped: `{lat}` holds longitudes and `{lon}` latitudes"));
        }
    }
    Ok(rows)
}

/// Bind every tag bound to `from` to `to` instead.
fn replace(tagging: &mut Tagging, from: &Columns, to: &Columns) {
    for bindings in tagging.packs.values_mut() {
        for b in bindings.values_mut().filter(|b| b.columns == *from) {
            b.columns = to.clone();
        }
    }
}

/// The text of row `row` (1-based) of a column, for an error message.
fn first_value(frame: &Frame, column: &str, row: usize) -> Option<String> {
    let df = frame.lf.clone().select([col(column).cast(DataType::String)]).slice(row as i64 - 1, 1).collect().ok()?;
    Some(df.column(column).ok()?.str().ok()?.get(0)?.to_string())
        .map(|v| crate::source::values::unreadable_coordinate(&v).unwrap_or(v))
}

/// Columns whose values look like positions and that no pack binds.
fn unbound(id: &str, frame: &Frame, tagging: &Tagging) -> Vec<Unbound> {
    let bound: BTreeSet<&str> = tagging
        .packs
        .values()
        .flat_map(|b| b.values())
        .flat_map(|b| b.columns.names())
        .chain(tagging.derived.keys().map(String::as_str))
        .collect();
    let geometry_bound = frame.geometry.as_ref().is_some_and(|g| bound.contains(g.lat.as_str()));
    let mut out = Vec::new();
    if let Some(g) = frame.geometry.as_ref().filter(|_| !geometry_bound) {
        out.push(Unbound { input: id.into(), columns: g.column.clone(), looks_like: "geometries".into() });
    }
    let mut numbers: Vec<&str> = Vec::new();
    for (column, form) in &frame.forms {
        if bound.contains(column.as_str()) {
            continue;
        }
        match form {
            Form::Latitude | Form::Longitude => numbers.push(column),
            f => out.push(Unbound { input: id.into(), columns: column.clone(), looks_like: f.describe().into() }),
        }
    }
    // A latitude-like and a longitude-like column (one beyond ±90) make a pair; two
    // columns within ±90 only when their names say so (measurements are numbers too).
    let longitudes = numbers.iter().filter(|c| frame.forms[**c] == Form::Longitude).count();
    let named = |c: &str| {
        let c = c.to_lowercase();
        ["lat", "lon", "lng", "coord", "经", "纬", "坐标", "north", "east"].iter().any(|h| c.contains(h))
            || c == "x"
            || c == "y"
    };
    let pair = (longitudes >= 1 && longitudes < numbers.len())
        || (numbers.len() >= 2 && numbers.iter().filter(|c| named(c)).count() >= 2);
    if pair {
        out.push(Unbound {
            input: id.into(),
            columns: numbers.join(","),
            looks_like: "latitude/longitude numbers with 3 or more decimals".into(),
        });
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = r#"[pack]
id = "snaps"
version = "1"
effective = "2020-01-01"
name = "Snapping test"
authority = "国家保密局"
basis = ["国家秘密定密管理规定 第35条"]
illustrative = true
grid_m = 50
[tags.position]
kind = "point"
lat = ["lat"]
lon = ["lon"]
[[item]]
id = "snaps.cells"
name = { zh = "网格", en = "Cells" }
catalog_match = false
level = "秘密"
period = { years = 10 }
knowledge_scope = "test"
art13 = "经济"
harm = "测试。"
basis = ["国家秘密定密管理规定 第35条"]
when = [WHEN]
remediation = "测试。"
"#;

    /// The position checks' pass gathers a point's snapping for a profile, and for a
    /// scan only where an item reads the point's resolution.
    #[test]
    fn the_checks_gather_snapping_only_where_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("points.csv");
        std::fs::write(&data, "lat,lon\n30.123456,114.123456\n30.2,114.25\n30.5,114.5\n").unwrap();
        let dataset = source::discover(std::slice::from_ref(&data), false).unwrap().datasets.remove(0);
        let pair = |read: &Read| read.tagging.packs["snaps"]["position"].columns.clone();
        for (when, every, gathered) in [
            (r#""position.area_km2 > 0""#, false, false),
            (r#""position.area_km2 > 0""#, true, true),
            (r#""position.resolution_m < 1e9""#, false, true),
        ] {
            let pack = dir.path().join("pack.toml");
            std::fs::write(&pack, PACK.replace("WHEN", when)).unwrap();
            let catalog = Catalog::load(&[pack], true).unwrap();
            let read = read(&dataset, &catalog, "points", Reading { every_snap: every, ..Reading::default() }).unwrap();
            let columns = pair(&read);
            let known = read.snaps.known(&columns);
            assert_eq!(known.is_some(), gathered, "{when}, every point: {every}");
            if let Some(info) = known {
                assert_eq!(info.lat.k, Some(6), "the most decimals a latitude carries");
            }
        }
    }

    /// `has` and the extent of a group without row filters come from the position
    /// checks' counts, and equal what the metrics' own pass computes: rows with an
    /// axis out of range, unreadable or empty are not valid, on text and numbers.
    #[test]
    fn the_checks_counts_give_has_and_extent_as_the_metrics_pass_does() {
        let dir = tempfile::tempdir().unwrap();
        let text = "lat,lon\n30.1,114.2\n95.0,114.9\n29.5,\nnot,114.0\n31.25,-170.5\n-89.5,179.0\n";
        let csv = dir.path().join("points.csv");
        std::fs::write(&csv, text).unwrap();
        let parquet = dir.path().join("points.parquet");
        let mut df = CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(csv.clone()))
            .unwrap()
            .finish()
            .unwrap()
            .lazy()
            .select([col("lat").cast(DataType::Float64), col("lon").cast(DataType::Float64)])
            .collect()
            .unwrap();
        ParquetWriter::new(std::fs::File::create(&parquet).unwrap()).finish(&mut df).unwrap();
        let pack = dir.path().join("pack.toml");
        let when = r#""has(position)", "position.extent_km >= 0""#;
        std::fs::write(&pack, PACK.replace("WHEN", when)).unwrap();
        let catalog = Catalog::load(&[pack], true).unwrap();
        let (pack, item) = (&catalog.packs[0], &catalog.packs[0].items[0]);
        for data in [csv, parquet] {
            let dataset = source::discover(std::slice::from_ref(&data), false).unwrap().datasets.remove(0);
            let read = read(&dataset, &catalog, "points", Reading::default()).unwrap();
            let bindings = &read.tagging.packs["snaps"];
            let columns = bindings["position"].columns.clone();
            assert_eq!(read.snaps.tally(&columns).map(|t| t.valid), Some(3), "{}", data.display());
            let group = crate::evaluate::plan(pack, item, bindings).unwrap();
            let compute = |memo| {
                let src = profile::Source { lf: &read.frame.lf, text: read.frame.text, memo };
                profile::compute_known(&src, &group, &BTreeMap::new(), &BTreeMap::new()).unwrap()
            };
            let (counted, afresh) = (compute(Some(&read.snaps)), compute(None));
            assert_eq!(counted, afresh, "{}", data.display());
            assert!(counted.values().all(|v| v.is_some_and(|v| v > 0.0)), "{counted:?}");
        }
    }

    /// A value with digits that is not a number (a decimal comma, `30.1.2`) is refused
    /// with its column and row, in degree and planar columns alike; text without
    /// digits is a missing value and the rest is evaluated.
    #[test]
    fn unreadable_coordinates_are_refused_with_their_row() {
        let dir = tempfile::tempdir().unwrap();
        let planar = PACK.replace(
            "kind = \"point\"\nlat = [\"lat\"]\nlon = [\"lon\"]",
            "kind = \"xy\"\ny = [\"lat\"]\nx = [\"lon\"]",
        );
        assert_ne!(planar, PACK);
        for (name, pack) in [("degrees", PACK.to_string()), ("planar", planar)] {
            let pack_path = dir.path().join(format!("{name}.toml"));
            std::fs::write(&pack_path, pack.replace("WHEN", r#""has(position)""#)).unwrap();
            let catalog = Catalog::load(&[pack_path], true).unwrap();
            let cases = [
                (
                    "lat;lon\n30.1;114.2\n30,5;114.3\n",
                    Some("row 2: `30,5` is not a number: a decimal comma is not read; write `30.5`"),
                ),
                ("lat;lon\n30.1;114.2\n30.2;114.3.1\n", Some("column `lon`, row 2: `114.3.1` is neither")),
                ("lat;lon\n30.1;114.2\nNA;无\n", None),
            ];
            for (i, (text, refused)) in cases.into_iter().enumerate() {
                let csv = dir.path().join(format!("{name}-{i}.csv"));
                std::fs::write(&csv, text).unwrap();
                std::fs::write(dir.path().join(format!("{name}-{i}.csv.mosaic.toml")), "delimiter = \";\"\n").unwrap();
                let dataset = source::discover(std::slice::from_ref(&csv), false).unwrap().datasets.remove(0);
                match (read(&dataset, &catalog, "points", Reading::default()), refused) {
                    (Err(e), Some(want)) => {
                        assert_eq!(e.kind, "coordinates", "{name} {i}: {e:?}");
                        assert!(e.message.contains(want), "{name} {i}: {}", e.message);
                    }
                    (Ok(read), None) => assert_eq!(read.rows, 2, "{name} {i}"),
                    (got, _) => panic!("{name} {i}: {:?}", got.map(|r| r.rows)),
                }
            }
        }
    }
}
