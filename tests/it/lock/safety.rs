//! A safety checker for semaphore and read-write histories recorded by concurrent clients,
//! its own tests, and runs of it against two servers sharing one Redis, with a Redis restart
//! in the middle (`safety_failover.rs`: the same with a Sentinel failover).
//!
//! The checker judges only what a client can know for certain: a grant is held at least from
//! the moment its answer arrived until the earlier of its Release being sent and its lease
//! running out (counted from when the request was sent, the earliest the server could have
//! started it). Overlaps of those certain intervals beyond the model are violations, and so is
//! a fence that is not above that of a grant completed before this one was asked for.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::lock::*;
use common::{RedisServer, TestServer};
use streamgate_client::proto::LockMode;

/// One grant as its client saw it.
#[derive(Clone, Debug)]
pub struct Observed {
    /// When the acquire was sent.
    pub asked: Instant,
    /// When its grant arrived.
    pub got: Instant,
    /// When its Release was sent (or the instant the grant is known gone, e.g. Redis lost it).
    pub released: Instant,
    /// Its lease.
    pub ttl: Duration,
    /// Its fencing token.
    pub fence: u64,
    /// Whether it was a read-write lock's writer.
    pub writer: bool,
}

impl Observed {
    /// The interval the grant was certainly held; empty when it may have lapsed before it
    /// arrived.
    fn certain(&self) -> Option<(Instant, Instant)> {
        let end = self.released.min(self.asked + self.ttl);
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
            released: at(base, to),
            ttl: Duration::from_secs(60),
            fence,
            writer,
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

/// Longest a recorded run's workers go on, whatever happens to Redis.
const MAX_RUN: Duration = Duration::from_secs(60);
/// The lease of every grant in a recorded run.
pub(super) const LEASE: Duration = Duration::from_secs(5);
/// Most grants one worker asks for in a recorded run.
const MAX_GRANTS_EACH: u32 = 5_000;

/// Six workers on `servers` (alternately) taking `model`-shaped grants of one name, each held a
/// few ms, until `stop` is set (or [`MAX_RUN`], or [`MAX_GRANTS_EACH`]). An acquire that
/// fails (UNAVAILABLE while Redis is down or failing over) is retried shortly after.
pub(super) async fn start_workers(
    model: Model,
    servers: &[TestServer],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinSet<Vec<Observed>> {
    let name = unique("safety");
    let ttl = LEASE;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..6 {
        let mut c = client_for(&servers[w % servers.len()]).await;
        let (name, stop) = (name.clone(), stop.clone());
        workers.spawn(async move {
            let mut seen = Vec::new();
            for i in 0..MAX_GRANTS_EACH {
                if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_RUN {
                    break;
                }
                let writer = matches!(model, Model::ReadWrite) && (i + w as u32) % 3 == 0;
                let req = match model {
                    Model::Semaphore(limit) => {
                        permits_req(&name, limit as u32, 1, ttl.as_millis() as u64, 2_000)
                    }
                    Model::ReadWrite => {
                        let mode = if writer {
                            LockMode::Exclusive
                        } else {
                            LockMode::Shared
                        };
                        rw_req(&name, mode, ttl.as_millis() as u64, 2_000)
                    }
                };
                let asked = Instant::now();
                let Ok(g) = c.acquire_lock(req).await.map(|r| r.into_inner()) else {
                    // Redis down: UNAVAILABLE; try again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if !g.acquired {
                    continue;
                }
                let got = Instant::now();
                tokio::time::sleep(Duration::from_millis(3)).await;
                let released = Instant::now();
                let _ = c
                    .release(streamgate_client::proto::ReleaseRequest {
                        name: name.clone(),
                        token: g.token.clone(),
                    })
                    .await;
                seen.push(Observed {
                    asked,
                    got,
                    released,
                    ttl,
                    fence: g.fencing_token,
                    writer,
                });
            }
            seen
        });
    }
    workers
}

/// Sets `stop` and gathers every worker's grants.
pub(super) async fn finish(
    stop: &AtomicBool,
    mut workers: tokio::task::JoinSet<Vec<Observed>>,
) -> Vec<Observed> {
    stop.store(true, Ordering::Relaxed);
    let mut history = Vec::new();
    while let Some(seen) = workers.join_next().await {
        history.extend(seen.expect("a worker panicked"));
    }
    history
}

/// Counts every grant asked for before `asked_before` as held at most until `lost_at`: Redis
/// may have lost it then (a kill, a failover), so only that much of it is certain.
pub(super) fn cut_off(history: &mut [Observed], asked_before: Instant, lost_at: Instant) {
    for o in history {
        if o.asked < asked_before {
            o.released = o.released.min(lost_at);
        }
    }
}

/// Workers on two servers sharing one Redis take `model`-shaped grants for about `run`;
/// Redis is killed and restarted on its port once, half way. Grants from before the restart
/// are cut off at the kill, when Redis lost them.
async fn record(model: Model, run: Duration) -> Vec<Observed> {
    let mut redis = RedisServer::start();
    let args = [
        "--redis-url",
        &redis.url(),
        "--lock-recheck",
        "200ms",
        "--redis-timeout",
        "500ms",
    ];
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
    assert_eq!(check(Model::Semaphore(2), &history), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_history_across_two_servers_and_a_redis_restart_is_safe() {
    let history = record(Model::ReadWrite, Duration::from_secs(4)).await;
    eprintln!("read-write history: {} grants checked", history.len());
    assert!(history.iter().any(|o| o.writer) && history.iter().any(|o| !o.writer));
    assert_eq!(check(Model::ReadWrite, &history), Ok(()));
}
