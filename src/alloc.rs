//! Heap accounting for benchmarks: the global allocator counts live bytes and keeps
//! their peak, so a run can report heap apart from peak RSS (readers memory-map
//! input files, and RSS counts the mapped pages). `MOSAIC_MEMORY_STATS=1` prints the
//! peak to stderr at exit. Two relaxed atomic operations per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

/// Peak of live heap bytes so far.
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// Live heap bytes now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Start measuring a phase's own heap peak: the peak is lowered to the live bytes
/// now and the peak before is returned, for [`end_phase`].
pub fn start_phase() -> usize {
    PEAK.swap(LIVE.load(Relaxed), Relaxed)
}

/// End a phase started by [`start_phase`] with the peak it returned: the phase's
/// own peak is returned and the overall peak is restored (the larger of the two), so
/// phases nest and [`peak`] stays the peak of the whole run.
pub fn end_phase(before: usize) -> usize {
    PEAK.fetch_max(before, Relaxed)
}

/// Print the heap peak to stderr when `MOSAIC_MEMORY_STATS` is set.
pub fn report() {
    if std::env::var_os("MOSAIC_MEMORY_STATS").is_some() {
        eprintln!("heap peak: {:.1} MiB", peak() as f64 / (1024.0 * 1024.0));
    }
}
