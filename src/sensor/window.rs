//! A sliding window of one sensor's temperatures with O(1) amortised min/max/mean, so a
//! 10,000-reading window costs no more per reading than a 10-reading one.
//!
//! Min and max use monotonic deques (each holds the candidates that can still become the
//! extreme); the mean uses a running sum that is recomputed from scratch once per window
//! turnover, so floating-point drift cannot accumulate over a long stream.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use super::types::WindowStats;

/// The bounds a window keeps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bounds {
    /// At most this many readings (always set: a duration-only window is still capped by the
    /// server's `--sensor-max-window`, so memory stays bounded).
    pub count: usize,
    /// Only readings newer than the latest timestamp minus this span.
    pub span: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    seq: u64,
    at: SystemTime,
    temp: f64,
}

/// One sensor's window.
#[derive(Debug, Default)]
pub(super) struct Window {
    entries: VecDeque<Entry>,
    mins: VecDeque<(u64, f64)>,
    maxs: VecDeque<(u64, f64)>,
    sum: f64,
    next_seq: u64,
    evicted_since_resum: usize,
}

impl Window {
    /// Adds a reading, drops what falls outside `bounds`, and returns the stats including it.
    pub(super) fn push(&mut self, at: SystemTime, temp: f64, bounds: Bounds) -> WindowStats {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back(Entry { seq, at, temp });
        self.sum += temp;
        while self.mins.back().is_some_and(|&(_, t)| t >= temp) {
            self.mins.pop_back();
        }
        self.mins.push_back((seq, temp));
        while self.maxs.back().is_some_and(|&(_, t)| t <= temp) {
            self.maxs.pop_back();
        }
        self.maxs.push_back((seq, temp));
        self.evict(at, bounds);
        self.stats()
            .expect("the window holds the reading just pushed")
    }

    /// The current stats, `None` when empty.
    pub(super) fn stats(&self) -> Option<WindowStats> {
        let count = self.entries.len();
        let min_c = self.mins.front()?.1;
        let max_c = self.maxs.front()?.1;
        Some(WindowStats {
            count: count as u32,
            min_c,
            max_c,
            mean_c: self.sum / count as f64,
        })
    }

    /// Readings held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops the oldest readings until at most `count` remain, and gives the memory back, so
    /// a window configured smaller stops holding what it held before (the stream's sample
    /// budget counts what windows may hold).
    pub(super) fn shrink_to(&mut self, count: usize) {
        while self.entries.len() > count {
            self.pop_oldest();
        }
        self.resum_if_turned_over();
        // Growth doubles the capacity; give back what is well above the new size.
        if self.entries.capacity() > 2 * count.max(4) {
            self.entries.shrink_to(count);
            self.mins.shrink_to(count);
            self.maxs.shrink_to(count);
        }
    }

    fn evict(&mut self, latest: SystemTime, bounds: Bounds) {
        let count = bounds.count.max(1);
        while let Some(front) = self.entries.front().copied() {
            let too_many = self.entries.len() > count;
            // A reading stamped after `latest` (out of order) is kept: it is not older.
            let too_old = bounds
                .span
                .is_some_and(|span| latest.duration_since(front.at).is_ok_and(|age| age >= span));
            // Never evict the newest reading: stats always include it.
            if !(too_many || too_old) || self.entries.len() == 1 {
                break;
            }
            self.pop_oldest();
        }
        self.resum_if_turned_over();
    }

    fn pop_oldest(&mut self) {
        let Some(front) = self.entries.pop_front() else {
            return;
        };
        self.sum -= front.temp;
        if self.mins.front().is_some_and(|&(s, _)| s == front.seq) {
            self.mins.pop_front();
        }
        if self.maxs.front().is_some_and(|&(s, _)| s == front.seq) {
            self.maxs.pop_front();
        }
        self.evicted_since_resum += 1;
    }

    fn resum_if_turned_over(&mut self) {
        if self.evicted_since_resum >= self.entries.len() {
            self.sum = self.entries.iter().map(|e| e.temp).sum();
            self.evicted_since_resum = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn count(n: usize) -> Bounds {
        Bounds {
            count: n,
            span: None,
        }
    }

    #[test]
    fn count_window_keeps_the_last_n() {
        let mut w = Window::default();
        let temps = [20.0, 25.0, 18.0, 30.0, 22.0];
        let mut last = None;
        for (i, t) in temps.iter().enumerate() {
            last = Some(w.push(at(i as u64), *t, count(3)));
        }
        let s = last.unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.min_c, 18.0);
        assert_eq!(s.max_c, 30.0);
        assert!((s.mean_c - (18.0 + 30.0 + 22.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn shrinking_keeps_the_newest_and_their_stats() {
        let mut w = Window::default();
        for (i, t) in [30.0, 10.0, 20.0, 25.0].iter().enumerate() {
            w.push(at(i as u64), *t, count(100));
        }
        w.shrink_to(2);
        let s = w.stats().unwrap();
        assert_eq!((s.count, s.min_c, s.max_c, s.mean_c), (2, 20.0, 25.0, 22.5));
        w.shrink_to(0);
        assert_eq!((w.len(), w.stats()), (0, None));
    }

    #[test]
    fn duration_window_drops_readings_older_than_the_span() {
        let mut w = Window::default();
        let b = Bounds {
            count: 100,
            span: Some(Duration::from_secs(10)),
        };
        w.push(at(0), 40.0, b);
        w.push(at(5), 20.0, b);
        let s = w.push(at(12), 22.0, b);
        assert_eq!(s.count, 2, "the reading at 0 s is 12 s old");
        assert_eq!(s.max_c, 22.0);
        assert_eq!(s.min_c, 20.0);
    }

    #[test]
    fn min_max_mean_match_a_brute_force_recount() {
        let mut w = Window::default();
        let mut all = Vec::new();
        for i in 0..2_000u64 {
            let t = ((i * 7919) % 131) as f64 / 3.0 - 20.0;
            all.push(t);
            let s = w.push(at(i), t, count(50));
            let tail = &all[all.len().saturating_sub(50)..];
            let min = tail.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = tail.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mean = tail.iter().sum::<f64>() / tail.len() as f64;
            assert_eq!((s.count as usize, s.min_c, s.max_c), (tail.len(), min, max));
            assert!(
                (s.mean_c - mean).abs() < 1e-9,
                "at {i}: {} vs {mean}",
                s.mean_c
            );
        }
    }
}
