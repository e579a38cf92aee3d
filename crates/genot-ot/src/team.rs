//! Runs a solver loop on the rayon pool with the other workers kept awake.
//!
//! A Sinkhorn loop alternates short parallel sweeps (0.2 ms each at n = m = 1024) with a
//! few microseconds of serial work. Between two sweeps an idle rayon worker spins for a
//! moment and then sleeps, and waking it again takes longer than a sweep on a virtual
//! machine: measured at n = m = 1024 (bench/BENCHMARKS.md, issue 18), the calling worker
//! ran nearly every block of every sweep alone, and a sweep took as long with two threads
//! as with one. [`run_in_pool`] instead parks one helper task per other worker in a
//! spin loop that steals the loop's parallel work as soon as it is pushed, until the loop
//! returns.

use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `f` on a worker of the current rayon pool while every other worker spins, ready
/// to steal the parallel work `f` spawns; returns `f`'s result. Results are those of a
/// plain `rayon::scope(|_| f())`: only who runs each piece changes.
///
/// A helper that lands on `f`'s own thread (which happens when that thread, waiting in a
/// join, takes its own queued tasks) returns at once, so `f` never waits on a helper
/// stacked above it.
pub(crate) fn run_in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let stop = AtomicBool::new(false);
    let stop = &stop;
    rayon::scope(|s| {
        let me = rayon::current_thread_index();
        for _ in 1..rayon::current_num_threads() {
            s.spawn(move |_| {
                if rayon::current_thread_index() == me {
                    return;
                }
                while !stop.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        // Lets other processes have the core; returns at once otherwise.
                        std::thread::yield_now();
                    }
                }
            });
        }
        // Set on the way out, a panic of `f` included: the scope waits for the helpers
        // before it returns or unwinds.
        let _stop = StopOnDrop(stop);
        f()
    })
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    }

    /// The result is `f`'s, in pools of one to four threads, from inside and outside the
    /// pool, nested, and with every worker running its own loop at once (each helper
    /// then lands on a busy worker, possibly its own caller's): none of it may hang.
    #[test]
    fn runs_f_in_any_pool_nested_and_concurrently() {
        let sum = || (0..100_000u64).into_par_iter().map(|i| i % 7).sum::<u64>();
        let want: u64 = (0..100_000u64).map(|i| i % 7).sum();
        for threads in [1, 2, 4] {
            let p = pool(threads);
            assert_eq!(p.install(|| run_in_pool(sum)), want);
            assert_eq!(p.install(|| run_in_pool(|| run_in_pool(sum) + 1)), want + 1);
            let each: Vec<u64> = p.install(|| {
                (0..8)
                    .into_par_iter()
                    .map(|k| run_in_pool(|| (0..50).map(|_| sum()).max().unwrap() + k))
                    .collect()
            });
            assert_eq!(each, (0..8).map(|k| want + k).collect::<Vec<_>>());
        }
        assert_eq!(run_in_pool(sum), want);
    }

    /// A panic in `f` reaches the caller (the helpers stop too) instead of leaving the
    /// scope waiting on them forever. `f` first gives the helper time to start spinning.
    #[test]
    fn a_panic_in_f_propagates() {
        for threads in [1, 2] {
            let p = pool(threads);
            let r = p.install(|| {
                std::panic::catch_unwind(|| {
                    run_in_pool(|| -> u64 {
                        let s = (0..100_000u64).into_par_iter().sum::<u64>();
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        panic!("inside f after {s}")
                    })
                })
            });
            assert!(r.is_err());
        }
    }
}
