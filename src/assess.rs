//! Assess: profile and judge a set of items on one frame — a dataset alone or the
//! view of a combination. Items are planned first, then one polars query runs per
//! distinct set of row filters (items of all packs sharing filters share a pass).

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::evaluate::{self, Evaluation};
use crate::link::view::Bindings;
use crate::profile::{self, Snap, Source};
use crate::rules::{Item, Pack};

/// An item to judge, with the bindings of its pack on the frame.
#[derive(Clone, Copy)]
pub struct Task<'a> {
    pub pack: &'a Pack,
    pub item: &'a Item,
    pub bindings: &'a Bindings,
}

/// Judge every task on `src`; `None` where the item does not apply (a tag is missing).
pub fn assess(src: &Source, tasks: &[Task]) -> PolarsResult<Vec<Option<Evaluation>>> {
    let mut snaps: BTreeMap<_, Snap> = BTreeMap::new();
    let mut unsnapped = BTreeMap::new();
    let mut groups: BTreeMap<String, profile::Group> = BTreeMap::new();
    let mut keys = Vec::with_capacity(tasks.len());
    for task in tasks {
        let Some(group) = evaluate::plan(task.pack, task.item, task.bindings) else {
            keys.push(None);
            continue;
        };
        // Snapping only refines the per-row resolution of points whose accuracy is not
        // known (a declared or fix-trial accuracy replaces it), and only where a
        // resolution is measured or filters rows.
        for columns in profile::state::snapped_points(&group) {
            if let std::collections::btree_map::Entry::Vacant(slot) = snaps.entry(columns) {
                let _t = crate::trace::span(|| format!("snapping {}", slot.key().label()));
                let pass = profile::snap_pass(src, slot.key())?;
                let snap = pass.info.snap();
                if snap == Snap::default() {
                    unsnapped.insert(slot.key().clone(), pass.unsnapped);
                }
                slot.insert(snap);
            }
        }
        let key = group.key();
        let merged = groups
            .entry(key.clone())
            .or_insert_with(|| profile::Group { filters: group.filters.clone(), needs: vec![] });
        merged.needs.extend(group.needs);
        keys.push(Some(key));
    }
    let mut values = BTreeMap::new();
    for (key, group) in &groups {
        let _t = crate::trace::span(|| {
            format!("metrics [{key}] {:?}", group.needs.iter().map(|n| n.key()).collect::<Vec<_>>())
        });
        values.insert(key.clone(), profile::compute_known(src, group, &snaps, &unsnapped)?);
    }
    Ok(tasks
        .iter()
        .zip(keys)
        .map(|(task, key)| key.map(|k| evaluate::judge(task.pack, task.item, task.bindings, &values[&k])))
        .collect())
}

/// Largest number of cells a coverage picture keeps; above it cells are merged 2×2.
const MAX_PICTURE_CELLS: usize = 10_000;

/// Occupied cells of the first point tag the item needs, for the HTML report.
pub fn coverage(src: &Source, task: Task) -> PolarsResult<Option<crate::decide::Coverage>> {
    let Some((tag, binding)) = task
        .item
        .required_tags()
        .into_iter()
        .find_map(|t| task.bindings.get(t).filter(|b| b.kind.is_spatial()).map(|b| (t, b)))
    else {
        return Ok(None);
    };
    let mut grid_m = task.pack.grid_m;
    let mut cells = profile::occupied_cells(src.lf, &binding.columns, grid_m)?;
    while cells.len() > MAX_PICTURE_CELLS {
        let mut merged: Vec<(i64, i64)> = cells.iter().map(|(r, c)| (r.div_euclid(2), c.div_euclid(2))).collect();
        merged.sort_unstable();
        merged.dedup();
        cells = merged;
        grid_m *= 2.0;
    }
    cells.sort_unstable();
    let planar = binding.columns.planar_cells();
    Ok(Some(crate::decide::Coverage { tag: tag.to_string(), grid_m, planar, cells }))
}
