//! Phase timings for finding where a scan's time goes: `MOSAIC_TRACE=1` prints each
//! phase's wall time (and the heap peak so far) to stderr when it ends.

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
}

/// Start a phase named by `name()` (only built when tracing is on).
pub fn span(name: impl FnOnce() -> String) -> Span {
    Span { name: enabled().then(name), start: Instant::now() }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(name) = &self.name {
            eprintln!(
                "trace: {:>8.3} s  heap peak {:>7.1} MiB  {name}",
                self.start.elapsed().as_secs_f64(),
                crate::alloc::peak() as f64 / (1024.0 * 1024.0)
            );
        }
    }
}
