//! A scan of one Parquet or Arrow IPC file, run whole in a sandbox child.
//!
//! Every page of a binary file the scan reads is first decoded in a child process
//! (`source::sandbox`, docs/reliability.md), and the scan's own passes then decode it
//! again: on 20M rows the second decode was 0.6 of the scan's 3.1 CPU-seconds. So a
//! child (`mosaic __scan-one`) runs the dataset's whole part of the scan — open, tag,
//! the position checks, the passes, decide, the fix search — reading the file
//! directly, and hands back what the scan reports of the dataset: the rows are decoded
//! once, and a page that crashes the decoder still costs only the child. Of a dataset
//! scanned with others it also hands back what the combination search reads (its
//! tagging and the items it meets alone); the parent opens the file again without
//! decoding its rows, and the sandbox decodes the columns a combination reads only
//! when one first reads them (`read::reopen`): a dataset that no combination reads
//! is decoded once.
//!
//! When the child gives no answer (it crashed or was killed), or says the file is
//! `corrupt`, the dataset is read here as before, each decode in a sandbox child of its
//! own, which names what failed; so reports of damaged files are what they were.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{prepare_gathering, read::Unbound, Extras, InputSummary, Prepared};
use crate::calendar::Calendar;
use crate::decide::{self, Coverage, Finding};
use crate::link::keys::CodeForms;
use crate::rules::Catalog;
use crate::source::{self, Dataset, InputError};
use crate::tag::{Inference, Tagging};

/// The hidden command a scan runs a dataset's part in.
pub const COMMAND: &str = "__scan-one";

/// What the child is asked: the dataset and all that its part of the scan reads.
#[derive(Serialize, Deserialize)]
struct Request {
    /// The packs in force, as `(origin, text)`, parsed again by the child.
    packs: Vec<(String, String)>,
    dataset: Dataset,
    today: NaiveDate,
    calendar: Calendar,
    coverage: bool,
    fixes: bool,
    /// The dataset is the only one scanned: no combination reads it afterwards.
    alone: bool,
    /// The key sets to gather ([`super::Gather`]).
    gather: Option<BTreeSet<(String, String)>>,
}

/// What a scan reports of a dataset evaluated alone.
#[derive(Serialize, Deserialize)]
pub(crate) struct Alone {
    pub summary: InputSummary,
    pub inferences: Vec<Inference>,
    pub unbound: Vec<Unbound>,
    pub findings: Vec<Finding>,
    pub evaluated: u64,
    /// Of a dataset scanned with others, what the combination search reads of it.
    pub linked: Option<Linked>,
    /// Per finding, what its serde form leaves out (its evidence's Chinese words, and
    /// those of its fix's evidence; its coverage): put back by [`Alone::restore`].
    kept: Vec<Kept>,
}

/// What the combination search reads of a dataset the child evaluated: its tagging
/// after the position checks, the items it meets alone, and the key sets of its link
/// values gathered by its metrics query, as `(link id, sorted hashes, forms)` (a set
/// of more than [`HANDED_HASHES`] values is left for the parent to read).
#[derive(Serialize, Deserialize)]
pub(crate) struct Linked {
    pub tagging: Tagging,
    pub met: BTreeSet<(String, String)>,
    pub key_sets: Vec<(String, Vec<u64>, CodeForms)>,
}

/// The most values of a key set the child hands back: a hash is some twenty bytes of
/// JSON, so a million are 20 MB to write and parse, about what reading the column
/// again costs the parent.
const HANDED_HASHES: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
struct Kept {
    words: Vec<String>,
    fix_words: Vec<String>,
    coverage: Option<Coverage>,
}

impl Alone {
    fn of(p: Prepared, alone: bool) -> Alone {
        let kept = p
            .findings
            .iter()
            .map(|f| Kept {
                words: f.evidence.iter().map(|e| e.words.clone()).collect(),
                fix_words: f.fix.iter().flat_map(|x| &x.evidence).map(|e| e.words.clone()).collect(),
                coverage: f.coverage.clone(),
            })
            .collect();
        Alone {
            inferences: p.tagging.inferences(&p.dataset.id),
            summary: p.summary,
            unbound: p.unbound,
            findings: p.findings,
            evaluated: p.evaluated,
            linked: (!alone).then(|| Linked {
                tagging: p.tagging,
                met: p.met,
                key_sets: p
                    .key_sets
                    .into_inner()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, (set, _))| set.len() <= HANDED_HASHES)
                    .map(|(id, (set, forms))| (id, set.into_hashes(), forms))
                    .collect(),
            }),
            kept,
        }
    }

    fn restore(mut self) -> Option<Alone> {
        if self.kept.len() != self.findings.len() {
            return None;
        }
        for (f, kept) in self.findings.iter_mut().zip(std::mem::take(&mut self.kept)) {
            let fix_evidence = f.fix.as_ref().map_or(0, |x| x.evidence.len());
            if kept.words.len() != f.evidence.len() || kept.fix_words.len() != fix_evidence {
                return None;
            }
            for (e, w) in f.evidence.iter_mut().zip(kept.words) {
                e.words = w;
            }
            for (e, w) in f.fix.iter_mut().flat_map(|x| &mut x.evidence).zip(kept.fix_words) {
                e.words = w;
            }
            f.coverage = kept.coverage;
        }
        Some(self)
    }
}

/// Whether a dataset's part of the scan runs in a child: one Parquet or IPC file (of
/// at least [`LINKED_MIN_BYTES`], without a declared geometry, when other datasets
/// are scanned with it), no fixed copy written, and a sandbox to run it in. Scanned
/// with other datasets, the child also hands back what the combination search reads
/// ([`Linked`]), and the file is opened again for the combinations, its rows decoded
/// only if one reads them (`read::reopen`).
pub(crate) fn applies(dataset: &Dataset, extras: Extras) -> bool {
    let large = || dataset.files.iter().all(|f| f.path.metadata().is_ok_and(|m| m.len() >= LINKED_MIN_BYTES));
    !extras.writes
        && source::one_binary_file(dataset)
        && (extras.alone || (large() && !source::declares_geometry(dataset)))
}

/// Files scanned with others smaller than this are read here as before: the child,
/// and the sandbox child that opens the file again, cost more than decoding it twice
/// (200 files of 1 000 rows: 2.8 → 3.5 s with every file in a child). So is a
/// GeoParquet file: opening it explodes every row of its geometry into vertices, so
/// opening it again for the combinations reads it whole again (1M points, 27 MB,
/// with a register: 0.76–0.84 → 0.88–0.92 s in a child).
const LINKED_MIN_BYTES: u64 = 16 << 20;

/// The dataset's part of the scan, run in a child ([`applies`]); `None` when the
/// child gave no answer or found the file corrupt (the caller then reads it itself).
pub(crate) fn run(
    catalog: &Catalog,
    dataset: &Dataset,
    ctx: &decide::Context,
    extras: Extras,
    gather: super::Gather,
) -> Option<Result<Alone, InputError>> {
    let request = Request {
        packs: catalog.texts(),
        dataset: dataset.clone(),
        today: ctx.today,
        calendar: ctx.calendar.clone(),
        coverage: extras.coverage,
        fixes: extras.fixes,
        alone: extras.alone,
        gather: gather.cloned(),
    };
    let _t = crate::trace::span(|| format!("scan of {} in a sandbox child", dataset.id));
    match source::ask_reader::<_, Alone>(COMMAND, &request)? {
        Ok(alone) => alone.restore().map(Ok),
        Err(e) => Some(Err(e)),
    }
}

/// `mosaic __scan-one`: read a [`Request`] on stdin, run the dataset's part of the
/// scan, reading its file directly (this process is the sandbox), and write the
/// answer on stdout (none when the packs do not parse here: the scan then reads the
/// file itself). False when the request could not be read or answered.
pub fn serve() -> bool {
    source::answer(|request: Request| {
        let dataset = &request.dataset;
        let catalog = Catalog::from_texts(&request.packs)?;
        let ctx = decide::Context { today: request.today, calendar: &request.calendar };
        let extras = Extras { coverage: request.coverage, fixes: request.fixes, writes: false, alone: request.alone };
        let gather = request.gather.as_ref();
        let prepared = catch_unwind(AssertUnwindSafe(|| prepare_gathering(&catalog, dataset, &ctx, extras, gather)))
            .unwrap_or_else(|_| Err(super::panic_error(&dataset.id)));
        Some(prepared.map(|p| Alone::of(p, request.alone)))
    })
}
