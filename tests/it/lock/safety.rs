//! A safety checker for semaphore and read-write histories recorded by concurrent clients,
//! its own tests, and runs of it against two servers sharing one Redis, with a Redis restart
//! in the middle (`safety_failover.rs`: the same with a Sentinel failover), and against one
//! in-process server.
//!
//! The recorded clients release most grants, let some lapse (they renew once, then stop and
//! never release) and crash while holding others (a Hold whose stream and connection are
//! dropped, which the server must release for them).
//!
//! The checker judges only what a client can know for certain: a grant is held at least from
//! the moment its answer arrived until the earlier of its holder letting it go (its Release
//! sent, its connection dropped) and the earliest its lease can end. That is counted from when
//! the request was sent (the earliest the server could have started the lease), or from when
//! the last Extend that renewed it was sent (an Extend replaces the lease with one of its own
//! ttl). Overlaps of those certain intervals beyond the model are violations, and so is a fence
//! that is not above that of a grant completed before this one was asked for.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::lock::{SHORT_LEASE_REDIS_ARGS, with_url};
use common::{RedisServer, TestServer};

use super::safety_workers::{assert_every_ending, cut_off, finish, start_workers};

/// One grant as its client saw it.
#[derive(Clone, Debug)]
pub struct Observed {
    /// When the acquire was sent.
    pub asked: Instant,
    /// When its grant arrived.
    pub got: Instant,
    /// When its holder let it go (its Release sent, its connection dropped), or the instant
    /// it is known gone (Redis lost it); `None` when neither: its lease ran out.
    pub released: Option<Instant>,
    /// Its lease.
    pub ttl: Duration,
    /// The last Extend that renewed it: when that was sent, and its ttl.
    pub renewed: Option<(Instant, Duration)>,
    /// Its fencing token.
    pub fence: u64,
    /// Whether it was a read-write lock's writer.
    pub writer: bool,
    /// How its holder ended it.
    pub ending: Ending,
}

/// How a recorded grant's holder ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It sent Release.
    Released,
    /// It stopped renewing and let the lease run out.
    Lapsed,
    /// It went away holding it: a Hold whose stream and connection were dropped.
    Crashed,
}

impl Observed {
    /// The interval the grant was certainly held; empty when it may have lapsed before it
    /// arrived.
    fn certain(&self) -> Option<(Instant, Instant)> {
        let lease_end = match self.renewed {
            Some((sent, ttl)) => sent + ttl,
            None => self.asked + self.ttl,
        };
        let end = self.released.map_or(lease_end, |r| r.min(lease_end));
        (self.got < end).then_some((self.got, end))
    }
}

/// What a history must respect.
#[derive(Clone, Copy, Debug)]
pub enum Model {
    /// At most this many holders at any instant.
    Semaphore(usize),
    /// One writer alone, or readers.
    ReadWrite,
}

/// Checks `history` against `model`; the error names the first violation found.
pub fn check(model: Model, history: &[Observed]) -> Result<(), String> {
    // Every grant completed before b was asked for must have a lower fence: compare b with the
    // highest fence among them (grants sorted by arrival, a running maximum), O(n log n) so a
    // long failover run stays quick to check.
    let mut by_arrival: Vec<(Instant, u64)> = history.iter().map(|o| (o.got, o.fence)).collect();
    by_arrival.sort_unstable();
    let highest_so_far: Vec<u64> = by_arrival
        .iter()
        .scan(0, |max, &(_, fence)| {
            *max = fence.max(*max);
            Some(*max)
        })
        .collect();
    for b in history {
        let before = by_arrival.partition_point(|&(got, _)| got < b.asked);
        if let Some(&highest) = before.checked_sub(1).and_then(|i| highest_so_far.get(i))
            && highest >= b.fence
        {
            return Err(format!(
                "fence {} was granted after fence {highest} had completed: not rising",
                b.fence
            ));
        }
    }
    // Sweep the certain intervals; at equal instants ends come first (half-open intervals).
    let mut events: Vec<(Instant, bool, bool)> = history
        .iter()
        .filter_map(|o| {
            o.certain()
                .map(|(s, e)| [(s, true, o.writer), (e, false, o.writer)])
        })
        .flatten()
        .collect();
    events.sort_by_key(|&(at, start, _)| (at, start));
    let (mut readers, mut writers) = (0usize, 0usize);
    for (at, start, writer) in events {
        let count = if writer { &mut writers } else { &mut readers };
        if start {
            *count += 1;
        } else {
            *count -= 1;
        }
        let bad = match model {
            Model::Semaphore(limit) => readers + writers > limit,
            Model::ReadWrite => writers > 1 || (writers == 1 && readers > 0),
        };
        if bad {
            return Err(format!(
                "{readers} readers/permits and {writers} writers held at once at {at:?} ({model:?})"
            ));
        }
    }
    Ok(())
}

mod checker {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn grant(base: Instant, from: u64, to: u64, fence: u64, writer: bool) -> Observed {
        Observed {
            asked: at(base, from.saturating_sub(1)),
            got: at(base, from),
            released: Some(at(base, to)),
            ttl: Duration::from_secs(60),
            renewed: None,
            fence,
            writer,
            ending: Ending::Released,
        }
    }

    /// A grant asked for at `from` - 1 with a lease of `ttl` ms, never released.
    fn lapsed(base: Instant, from: u64, ttl: u64, fence: u64) -> Observed {
        Observed {
            released: None,
            ttl: Duration::from_millis(ttl),
            ending: Ending::Lapsed,
            ..grant(base, from, from, fence, false)
        }
    }

    #[test]
    fn a_history_within_the_limit_passes_and_one_over_it_fails() {
        let b = Instant::now();
        let ok = [
            grant(b, 10, 20, 1, false),
            grant(b, 12, 30, 2, false),
            grant(b, 20, 40, 3, false),
        ];
        assert_eq!(check(Model::Semaphore(2), &ok), Ok(()));
        let over = [
            grant(b, 10, 20, 1, false),
            grant(b, 12, 30, 2, false),
            grant(b, 15, 40, 3, false),
        ];
        assert!(check(Model::Semaphore(2), &over).is_err());
    }

    #[test]
    fn a_writer_beside_a_reader_or_another_writer_fails() {
        let b = Instant::now();
        assert!(
            check(
                Model::ReadWrite,
                &[grant(b, 10, 20, 1, false), grant(b, 15, 25, 2, true)]
            )
            .is_err()
        );
        assert!(
            check(
                Model::ReadWrite,
                &[grant(b, 10, 20, 1, true), grant(b, 15, 25, 2, true)]
            )
            .is_err()
        );
        let phases = [
            grant(b, 10, 20, 1, false),
            grant(b, 11, 20, 2, false),
            grant(b, 20, 30, 3, true),
        ];
        assert_eq!(check(Model::ReadWrite, &phases), Ok(()));
    }

    #[test]
    fn a_fence_not_above_an_earlier_completed_grant_fails() {
        let b = Instant::now();
        let history = [grant(b, 10, 20, 5, false), grant(b, 30, 40, 4, false)];
        assert!(
            check(Model::Semaphore(5), &history)
                .unwrap_err()
                .contains("not rising")
        );
    }

    #[test]
    fn a_grant_never_released_counts_until_its_lease_can_have_ended() {
        let b = Instant::now();
        // Asked at 9 with 20 ms: held at least until 29.
        let overlapping = [lapsed(b, 10, 20, 1), grant(b, 25, 40, 2, false)];
        assert!(check(Model::Semaphore(1), &overlapping).is_err());
        let after = [lapsed(b, 10, 20, 1), grant(b, 30, 40, 2, false)];
        assert_eq!(check(Model::Semaphore(1), &after), Ok(()));
    }

    #[test]
    fn an_extend_moves_the_certain_end_to_its_own_lease() {
        let b = Instant::now();
        // Renewed at 25 for 30 ms: held at least until 55, past the first lease's 29.
        let mut renewed = lapsed(b, 10, 20, 1);
        renewed.renewed = Some((at(b, 25), Duration::from_millis(30)));
        let overlapping = [renewed.clone(), grant(b, 50, 60, 2, false)];
        assert!(check(Model::Semaphore(1), &overlapping).is_err());
        let after = [renewed, grant(b, 56, 60, 2, false)];
        assert_eq!(check(Model::Semaphore(1), &after), Ok(()));
        // An Extend to a shorter lease ends it sooner: 12 + 5 ms, not 9 + 60 s.
        let mut shortened = lapsed(b, 10, 60_000, 3);
        shortened.renewed = Some((at(b, 12), Duration::from_millis(5)));
        assert_eq!(
            check(
                Model::Semaphore(1),
                &[shortened, grant(b, 20, 30, 4, false)]
            ),
            Ok(())
        );
    }

    #[test]
    fn a_crashed_holder_counts_until_its_connection_dropped() {
        let b = Instant::now();
        let mut crashed = grant(b, 10, 20, 1, true);
        crashed.ending = Ending::Crashed;
        assert!(
            check(
                Model::ReadWrite,
                &[crashed.clone(), grant(b, 15, 30, 2, false)]
            )
            .is_err()
        );
        assert_eq!(
            check(Model::ReadWrite, &[crashed, grant(b, 20, 30, 2, false)]),
            Ok(())
        );
    }

    #[test]
    fn a_lease_that_ran_out_ends_the_certain_interval() {
        let b = Instant::now();
        let mut lapsed = grant(b, 10, 100, 1, false);
        lapsed.ttl = Duration::from_millis(20);
        assert_eq!(
            check(Model::Semaphore(1), &[lapsed, grant(b, 50, 60, 2, false)]),
            Ok(())
        );
    }
}

/// Workers on two servers sharing one Redis take `model`-shaped grants for about `run`;
/// Redis is killed and restarted on its port once, half way. Grants from before the restart
/// are cut off at the kill, when Redis lost them.
async fn record(model: Model, run: Duration) -> Vec<Observed> {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let args = with_url(&url, &SHORT_LEASE_REDIS_ARGS);
    let servers = [
        TestServer::start_with_args(&args).await,
        TestServer::start_with_args(&args).await,
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let workers = start_workers(model, &servers, stop.clone()).await;
    tokio::time::sleep(run / 2).await;
    let killed = Instant::now();
    redis.kill();
    let port = redis.port;
    drop(redis);
    let _restarted = RedisServer::start_on(port);
    tokio::time::sleep(run / 2).await;
    let mut history = finish(&stop, workers).await;
    cut_off(&mut history, killed, killed);
    history
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semaphore_history_across_two_servers_and_a_redis_restart_is_safe() {
    let history = record(Model::Semaphore(2), Duration::from_secs(4)).await;
    eprintln!("semaphore history: {} grants checked", history.len());
    assert!(
        history.len() >= 20,
        "only {} grants recorded",
        history.len()
    );
    assert_every_ending(&history);
    assert_eq!(check(Model::Semaphore(2), &history), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_history_across_two_servers_and_a_redis_restart_is_safe() {
    let history = record(Model::ReadWrite, Duration::from_secs(4)).await;
    eprintln!("read-write history: {} grants checked", history.len());
    assert!(history.iter().any(|o| o.writer) && history.iter().any(|o| !o.writer));
    assert_every_ending(&history);
    assert_eq!(check(Model::ReadWrite, &history), Ok(()));
}

/// Workers on one in-process server (its locks are its own) take `model`-shaped grants for
/// `run`, with no disruption: the lapses and crashes alone.
async fn record_in_process(model: Model, run: Duration) -> Vec<Observed> {
    let servers = [TestServer::start().await];
    let stop = Arc::new(AtomicBool::new(false));
    let workers = start_workers(model, &servers, stop.clone()).await;
    tokio::time::sleep(run).await;
    finish(&stop, workers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semaphore_history_on_the_in_process_backend_is_safe() {
    let history = record_in_process(Model::Semaphore(2), Duration::from_secs(3)).await;
    eprintln!(
        "in-process semaphore history: {} grants checked",
        history.len()
    );
    assert!(
        history.len() >= 20,
        "only {} grants recorded",
        history.len()
    );
    assert_every_ending(&history);
    assert_eq!(check(Model::Semaphore(2), &history), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_history_on_the_in_process_backend_is_safe() {
    let history = record_in_process(Model::ReadWrite, Duration::from_secs(3)).await;
    eprintln!(
        "in-process read-write history: {} grants checked",
        history.len()
    );
    assert!(history.iter().any(|o| o.writer) && history.iter().any(|o| !o.writer));
    assert_every_ending(&history);
    assert_eq!(check(Model::ReadWrite, &history), Ok(()));
}
