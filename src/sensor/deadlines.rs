//! The missing-data deadlines of one stream, in two ordered sets so that no config has to
//! touch every sensor:
//!
//! - sensors with settings of their own sit by due time (last reading + their timeout);
//! - sensors that follow the stream's defaults sit by their last reading: they share one
//!   timeout, so the order of their last readings is the order of their deadlines, and an
//!   all-sensor config that changes the timeout moves none of them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Which set a sensor's deadline sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Queue {
    /// Keyed by the due time.
    Own,
    /// Keyed by the last reading; due at that plus the defaults' timeout.
    Follower,
}

/// The earliest deadline: when it is due, and how to take it out.
#[derive(Clone, Copy, Debug)]
pub(super) struct Due {
    pub(super) at: Instant,
    pub(super) key: Instant,
    pub(super) sensor: usize,
    pub(super) queue: Queue,
}

/// Both sets; one entry per armed sensor.
#[derive(Debug, Default)]
pub(super) struct Deadlines {
    own: BTreeSet<(Instant, usize)>,
    followers: BTreeSet<(Instant, usize)>,
}

impl Deadlines {
    fn set(&mut self, queue: Queue) -> &mut BTreeSet<(Instant, usize)> {
        match queue {
            Queue::Own => &mut self.own,
            Queue::Follower => &mut self.followers,
        }
    }

    /// Arms `sensor` under `key` (its due time, or its last reading for a follower).
    pub(super) fn insert(&mut self, queue: Queue, key: Instant, sensor: usize) {
        self.set(queue).insert((key, sensor));
    }

    /// Disarms `sensor`, armed under `key`.
    pub(super) fn remove(&mut self, queue: Queue, key: Instant, sensor: usize) {
        self.set(queue).remove(&(key, sensor));
    }

    /// The earliest deadline, given the timeout followers share (`None`: they have none).
    pub(super) fn next(&self, follower_timeout: Option<Duration>) -> Option<Due> {
        let own = self.own.first().map(|&(at, sensor)| Due {
            at,
            key: at,
            sensor,
            queue: Queue::Own,
        });
        let follower = follower_timeout.and_then(|timeout| {
            let &(seen, sensor) = self.followers.first()?;
            Some(Due {
                // A due time past what an Instant can hold never comes.
                at: seen.checked_add(timeout)?,
                key: seen,
                sensor,
                queue: Queue::Follower,
            })
        });
        match (own, follower) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_move_with_the_shared_timeout_and_interleave_with_own_deadlines() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = Deadlines::default();
        d.insert(Queue::Follower, t0, 0);
        d.insert(Queue::Own, t0 + s(5), 1);
        assert_eq!(
            d.next(None).map(|x| x.sensor),
            Some(1),
            "followers have no timeout"
        );
        let first = d.next(Some(s(2))).unwrap();
        assert_eq!((first.sensor, first.at), (0, t0 + s(2)));
        let first = d.next(Some(s(9))).unwrap();
        assert_eq!((first.sensor, first.at), (1, t0 + s(5)));
        d.remove(Queue::Own, t0 + s(5), 1);
        d.remove(Queue::Follower, t0, 0);
        assert!(d.next(Some(s(1))).is_none());
    }
}
