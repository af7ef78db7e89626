//! Progress on stderr for scans that take more than about a second: datasets read,
//! rows, combinations evaluated. Shown only when stderr is a terminal and `--quiet`
//! was not given; the report on stdout is never touched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

struct Progress {
    bar: ProgressBar,
    datasets: AtomicU64,
    rows: AtomicU64,
    combinations: AtomicU64,
}

static PROGRESS: OnceLock<Progress> = OnceLock::new();

/// Start showing progress (from the command line, on a terminal). The bar stays
/// hidden for the first second (`MOSAIC_PROGRESS_AFTER_MS` sets another delay), so
/// quick scans print nothing.
pub fn start(total_hint: &str) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(total_hint.to_string());
    let shown = bar.clone();
    let after = std::env::var("MOSAIC_PROGRESS_AFTER_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(after));
        if !shown.is_finished() {
            shown.set_draw_target(ProgressDrawTarget::stderr());
            shown.enable_steady_tick(Duration::from_millis(120));
        }
    });
    let _ = PROGRESS.set(Progress {
        bar,
        datasets: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        combinations: AtomicU64::new(0),
    });
}

fn update(p: &Progress) {
    p.bar.set_message(format!(
        "{} dataset(s) read, {} rows; {} combination(s) evaluated",
        p.datasets.load(Ordering::Relaxed),
        p.rows.load(Ordering::Relaxed),
        p.combinations.load(Ordering::Relaxed)
    ));
}

/// A dataset was read and evaluated.
pub fn dataset(rows: u64) {
    if let Some(p) = PROGRESS.get() {
        p.datasets.fetch_add(1, Ordering::Relaxed);
        p.rows.fetch_add(rows, Ordering::Relaxed);
        update(p);
    }
}

/// A combination (join or union) was evaluated.
pub fn combination() {
    if let Some(p) = PROGRESS.get() {
        p.combinations.fetch_add(1, Ordering::Relaxed);
        update(p);
    }
}

/// Clear the progress line before the report is written.
pub fn finish() {
    if let Some(p) = PROGRESS.get() {
        p.bar.finish_and_clear();
    }
}
