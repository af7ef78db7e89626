//! Phase timings for finding where a scan's time goes: `MOSAIC_TRACE=1` prints each
//! phase's wall time, its own heap peak and the heap still live when it ends to
//! stderr.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MOSAIC_TRACE").is_some())
}

/// A running phase; reported when dropped.
pub struct Span {
    name: Option<String>,
    start: Instant,
    /// The heap peak before the phase ([`crate::alloc::start_phase`]).
    peak_before: usize,
}

/// Start a phase named by `name()` (only built when tracing is on).
pub fn span(name: impl FnOnce() -> String) -> Span {
    let name = enabled().then(name);
    let peak_before = if name.is_some() { crate::alloc::start_phase() } else { 0 };
    Span { name, start: Instant::now(), peak_before }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(name) = &self.name {
            let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
            let peak = crate::alloc::end_phase(self.peak_before);
            eprintln!(
                "trace: {:>8.3} s  heap peak {:>7.1} MiB, live after {:>7.1} MiB  {name}",
                self.start.elapsed().as_secs_f64(),
                mib(peak),
                mib(crate::alloc::live())
            );
        }
    }
}
