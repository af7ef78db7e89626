//! `mosaic` binary: parse arguments, run, map the outcome to an exit code.

use clap::Parser;
use std::io::IsTerminal;

#[global_allocator]
static ALLOC: mosaic::alloc::Counting = mosaic::alloc::Counting;

fn main() {
    keep_freed_memory();
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = miette::set_hook(Box::new(move |_| {
        let theme = if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
        Box::new(miette::GraphicalReportHandler::new_themed(theme))
    }));
    mosaic::scan::install_panic_hook();
    let cli = mosaic::cli::Cli::parse();
    bound_row_group_prefetch();
    // A large input is read by byte ranges instead of mapped whole, so the process's
    // RSS does not grow with the file (`Cli::large_inputs`). Set before any thread
    // starts; a value the user set is kept, and sandbox children inherit it. Children
    // of a choice made here decode mapped, in slices (`source::decode_all`).
    if std::env::var_os("POLARS_FORCE_ASYNC").is_none() && cli.large_inputs() {
        std::env::set_var("POLARS_FORCE_ASYNC", "1");
        std::env::set_var(mosaic::source::RANGED_BY_MOSAIC, "1");
    }
    let code = mosaic::cli::run(cli).code();
    mosaic::alloc::report();
    std::process::exit(code);
}

/// polars' Parquet source fetches up to 16 row groups ahead of the decoders (at
/// least, whatever the cores), a budget sized for object stores; mosaic reads only
/// local files (objects are staged to disk first), so as many row groups as there
/// are cores keep every decoder busy. 20M-row Parquet on 2 cores: peak RSS 282–300 →
/// 206–213 MB for the profile, 230 → 154–162 MB for a hold, system time 0.30 → 0.24
/// s, wall time the same or lower; the 10 000-file lake unchanged. Set before any
/// thread starts; a value the user set is kept, and sandbox children inherit it.
fn bound_row_group_prefetch() {
    if std::env::var_os("POLARS_ROW_GROUP_PREFETCH_SIZE").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        std::env::set_var("POLARS_ROW_GROUP_PREFETCH_SIZE", cores.to_string());
    }
}

/// glibc returns large freed blocks to the system at once (each above a threshold is
/// its own mapping, and a heap's free top is trimmed), so the decoder's buffers,
/// allocated and freed per batch, were fresh pages to fault in and zero each time:
/// a fifth of a scan's CPU. Freed memory is kept for reuse instead (20M rows:
/// 2.63 → 2.46 s; 80M rows: 11.2 → 8.7 s, peak RSS 604 → 743 MB). Every thread
/// allocates from one arena: the per-thread arenas glibc otherwise gives the
/// reader's threads hand a whole 64 MiB heap back to the system once it empties,
/// whatever the trim threshold, and each held its own free memory apart (20M-row
/// profile: page faults 176–220k → 125–128k, CPU 3.12–3.19 → 2.98–3.03 s, peak RSS
/// 513 → 350 MB; the 5M ⋈ 5M join's peak RSS 832 → 559 MB). A value the user set
/// (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_ARENA_MAX`) is kept.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: mallopt only sets an allocator parameter; no thread runs yet.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20) };
        }
        if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) };
        }
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        }
    }
}
