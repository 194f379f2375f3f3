//! Repeated log lines, rate-limited: a caller that can make the server log a line per call
//! (a refused call, a lock call while Redis is down) must not be able to fill the disk or
//! drown the lines that matter. Each kind of line is logged at once the first time, then at
//! most once per [`REPEAT_INTERVAL`]; the line that opens a new interval says how many like it
//! were held back in the one before (as the kernel's `printk_ratelimit` "callbacks
//! suppressed"). The counters that matter (refusals per rule, Redis reachability) are in the
//! metrics, so nothing is lost by not logging every occurrence.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of repeated line is logged at most: long enough that a flood costs a
/// handful of lines a minute, short enough that an operator tailing the log sees an ongoing
/// problem within seconds.
pub(crate) const REPEAT_INTERVAL: Duration = Duration::from_secs(10);

/// Kinds of line tracked at once; past it, new kinds share one slot. The keys come from the
/// policy file (principal × rule) or from code, so this is a safety bound, never reached in
/// practice.
const MAX_KINDS: usize = 4096;

/// What to do with one occurrence of a repeated line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log it; `held_back` lines of the same kind were not logged since the last one.
    Log {
        /// Occurrences not logged since the last logged one.
        held_back: u64,
    },
    /// Do not log it (counted, and reported with the next logged one).
    Hold,
}

impl Verdict {
    /// ` (N more like it held back)` for a logged line that follows held-back ones, else
    /// nothing.
    pub(crate) fn suffix(self) -> String {
        match self {
            Verdict::Log { held_back: 0 } | Verdict::Hold => String::new(),
            Verdict::Log { held_back } => format!(
                " ({held_back} more like it in the last {} not logged)",
                humantime::format_duration(REPEAT_INTERVAL)
            ),
        }
    }
}

#[derive(Debug)]
struct Window {
    opened: Instant,
    held_back: u64,
}

/// One limiter per family of lines; `K` tells the kinds apart.
#[derive(Debug)]
pub(crate) struct RepeatLimiter<K> {
    interval: Duration,
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: std::hash::Hash + Eq + Clone> Default for RepeatLimiter<K> {
    fn default() -> Self {
        Self::new(REPEAT_INTERVAL)
    }
}

impl<K: std::hash::Hash + Eq + Clone> RepeatLimiter<K> {
    /// A limiter logging each kind at most once per `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether an occurrence of `kind` now is logged.
    pub(crate) fn check(&self, kind: &K) -> Verdict {
        self.check_at(kind, Instant::now())
    }

    /// [`Self::check`] at `now` (time passed in, for tests).
    pub(crate) fn check_at(&self, kind: &K, now: Instant) -> Verdict {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KINDS && !windows.contains_key(kind) {
            // Forget the kinds whose window is over; they start afresh next time.
            windows.retain(|_, w| now.saturating_duration_since(w.opened) < self.interval);
            if windows.len() >= MAX_KINDS {
                return Verdict::Hold;
            }
        }
        match windows.get_mut(kind) {
            Some(w) if now.saturating_duration_since(w.opened) < self.interval => {
                w.held_back += 1;
                Verdict::Hold
            }
            Some(w) => {
                let held_back = std::mem::take(&mut w.held_back);
                w.opened = now;
                Verdict::Log { held_back }
            }
            None => {
                windows.insert(
                    kind.clone(),
                    Window {
                        opened: now,
                        held_back: 0,
                    },
                );
                Verdict::Log { held_back: 0 }
            }
        }
    }

    /// Forgets `kind`, so its next occurrence is logged at once (say, the outage it
    /// reported is over and a new one deserves its first line).
    pub(crate) fn reset(&self, kind: &K) -> u64 {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.remove(kind).map_or(0, |w| w.held_back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_goes_out_then_one_per_interval_with_the_count() {
        let l = RepeatLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(l.check_at(&"a", t0), Verdict::Log { held_back: 0 });
        for i in 1..300 {
            assert_eq!(
                l.check_at(&"a", t0 + Duration::from_millis(i)),
                Verdict::Hold
            );
        }
        assert_eq!(
            l.check_at(&"b", t0 + Duration::from_secs(1)),
            Verdict::Log { held_back: 0 },
            "another kind has its own window"
        );
        let v = l.check_at(&"a", t0 + Duration::from_secs(10));
        assert_eq!(v, Verdict::Log { held_back: 299 });
        assert!(v.suffix().contains("299 more"), "{}", v.suffix());
        assert_eq!(
            l.check_at(&"a", t0 + Duration::from_secs(21)),
            Verdict::Log { held_back: 0 }
        );
    }

    #[test]
    fn a_reset_kind_logs_at_once_and_gives_its_count() {
        let l = RepeatLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        l.check_at(&1, t0);
        l.check_at(&1, t0);
        assert_eq!(l.reset(&1), 1);
        assert_eq!(l.check_at(&1, t0), Verdict::Log { held_back: 0 });
    }

    #[test]
    fn kinds_are_bounded() {
        let l = RepeatLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for k in 0..MAX_KINDS {
            l.check_at(&k, t0);
        }
        assert_eq!(l.check_at(&usize::MAX, t0), Verdict::Hold);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(
            l.check_at(&usize::MAX, later),
            Verdict::Log { held_back: 0 }
        );
    }
}
