//! The in-process fence counter, one for the whole process, so that the mutex table and the
//! semaphore/read-write table (separate state, separate mutexes) issue fences from one
//! sequence: a name that changes kind while idle still gets a fence above all earlier ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The last fence handed out in this process.
static LAST_FENCE: AtomicU64 = AtomicU64::new(0);

/// A fence above every earlier one. Seeded from the wall clock in microseconds so that a
/// restarted server still issues larger fences than its previous life did (as long as the
/// clock does not step back and grants average below a million per second).
pub(super) fn next_fence() -> u64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut prev = LAST_FENCE.load(Ordering::Relaxed);
    loop {
        let next = prev.saturating_add(1).max(micros);
        match LAST_FENCE.compare_exchange_weak(prev, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => prev = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_rise_strictly_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| next_fence()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("no panic"))
            .collect();
        for run in all.chunks(1000) {
            assert!(run.windows(2).all(|w| w[0] < w[1]));
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000, "no fence is handed out twice");
    }
}
