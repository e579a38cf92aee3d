//! Runs a solver loop on the rayon pool with the other workers kept awake.
//!
//! A Sinkhorn loop alternates short parallel sweeps (0.2 ms each at n = m = 1024) with a
//! few microseconds of serial work. Between two sweeps an idle rayon worker spins for a
//! moment and then sleeps, and waking it again takes longer than a sweep on a virtual
//! machine: measured at n = m = 1024 (bench/BENCHMARKS.md, issue 18), the calling worker
//! ran nearly every block of every sweep alone, and a sweep took as long with two threads
//! as with one. [`run_in_pool`] instead parks helper tasks on the other workers in a spin
//! loop that steals the loop's parallel work as soon as it is pushed, until the loop
//! returns.

use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `f` on a worker of the current rayon pool while up to `width - 1` other workers
/// spin, ready to steal the parallel work `f` spawns (`width`: how many threads that work
/// can use, e.g. its number of row blocks); returns `f`'s result. Results are those of a
/// plain `rayon::scope(|_| f())`: only who runs each piece changes.
///
/// A spinning helper runs whatever rayon work it finds, as a worker waiting in a `join`
/// does: work from another caller of the pool (which then finishes before `f`'s scope
/// does) included. As everywhere in rayon, a job must not block on a lock that the caller
/// of a solve holds.
///
/// No deadlock between solves: the helpers are pushed on `f`'s thread before any of `f`'s
/// work and thieves take the oldest job first, so by the time `f`'s thread could pick up
/// another solve's work, its own helpers have left its queue; and a helper that does land
/// on `f`'s own thread returns at once, so `f` never waits on a helper stacked above it.
pub(crate) fn run_in_pool<R: Send>(width: usize, f: impl FnOnce() -> R + Send) -> R {
    let stop = AtomicBool::new(false);
    let stop = &stop;
    rayon::scope(|s| {
        // Set on the way out, a panic of `f` included: the scope waits for the helpers
        // before it returns or unwinds.
        let _stop = StopOnDrop(stop);
        let me = rayon::current_thread_index();
        for _ in 1..rayon::current_num_threads().min(width) {
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
            assert_eq!(p.install(|| run_in_pool(threads, sum)), want);
            assert_eq!(
                p.install(|| run_in_pool(8, || run_in_pool(8, sum) + 1)),
                want + 1
            );
            let each: Vec<u64> = p.install(|| {
                (0..8)
                    .into_par_iter()
                    .map(|k| run_in_pool(8, || (0..50).map(|_| sum()).max().unwrap() + k))
                    .collect()
            });
            assert_eq!(each, (0..8).map(|k| want + k).collect::<Vec<_>>());
        }
        assert_eq!(run_in_pool(2, sum), want);
        assert_eq!(run_in_pool(1, sum), want);
    }

    /// A panic in `f` reaches the caller (the helpers stop too) instead of leaving the
    /// scope waiting on them forever. `f` first gives the helper time to start spinning.
    #[test]
    fn a_panic_in_f_propagates() {
        for threads in [1, 2] {
            let p = pool(threads);
            let r = p.install(|| {
                std::panic::catch_unwind(|| {
                    run_in_pool(8, || -> u64 {
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
