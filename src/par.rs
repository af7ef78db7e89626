//! A parallel map over plain threads. The scan's units of work (datasets,
//! combinations) each run polars queries, which use polars' own thread pool; if
//! the units ran on a rayon pool too, a worker waiting for polars would steal the
//! next unit and nest it on its own stack, and a directory of a few dozen datasets
//! overflowed the stack. Plain threads just wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Stack of each worker: polars plans recurse deeply in unoptimised builds.
const STACK: usize = 16 * 1024 * 1024;

/// `items.map(f)` on up to as many threads as there are cores, results in input order.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let spawned = std::thread::Builder::new().stack_size(STACK).spawn_scoped(scope, || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
            if spawned.is_err() {
                break; // fewer threads; the others (or the loop below) take the work
            }
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    // Any item no thread reached (threads could not be started) runs here.
    for (i, slot) in results.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = Some(f(&items[i]));
        }
    }
    results.into_iter().map(|r| r.expect("every item was mapped")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(super::map(&items, |x| x * 2), items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u32], |x| *x).is_empty());
    }
}
