//! The safety checker (`safety.rs`) on histories recorded across a Sentinel failover: two
//! servers behind `redis+sentinel://`, six workers, `SENTINEL FAILOVER` half way.
//!
//! Replication is asynchronous and the old primary accepts writes until Sentinel turns it into
//! a replica, so grants it made around the switch may be lost (docs/locks.md, Guarantees).
//! The run therefore counts every grant asked for before the old primary stopped taking writes
//! (its `ROLE` says replica, once it got the `REPLICAOF` Sentinel sends it) as certainly held
//! only until the failover began. What remains is
//! what is promised: no instant over the limit or with a writer beside a reader before the
//! failover and after it, and fences rising across it (for every grant, lost ones included).

use crate::common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::TestServer;
use common::lock::{SHORT_LEASE_REDIS_ARGS, with_url};
use common::redis_topology::{RedisProc, RedisSentinels};

use super::safety::{Model, Observed, check};
use super::safety_workers::{LEASE, assert_every_ending, cut_off, finish, start_workers};

/// How long the workers go on before the failover, and (after the leases of the grants held
/// across it) after the old primary stopped taking writes.
const PHASE: Duration = Duration::from_secs(2);
/// Longest wait for the old primary to become a replica.
const DEMOTION: Duration = Duration::from_secs(30);
/// Grants the run must record after the switch, so the check after it is not vacuous.
const MIN_GRANTS_AFTER: usize = 10;

/// Whether `node` is a replica now (`ROLE` answers `slave`).
fn is_replica(node: &RedisProc) -> bool {
    let role: Vec<redis::Value> = redis::cmd("ROLE")
        .query(&mut node.conn())
        .unwrap_or_default();
    matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"slave")
}

/// Records a `model` history across a failover; returns it with the grants Redis may have lost
/// cut off, and how many grants were asked for after the switch.
async fn record_across_failover(model: Model) -> (Vec<Observed>, usize) {
    let set = RedisSentinels::start();
    let url = set.url();
    let args = with_url(&url, &SHORT_LEASE_REDIS_ARGS);
    let servers = [
        TestServer::start_with_args(&args).await,
        TestServer::start_with_args(&args).await,
    ];
    let old_primary = set.primary_port();
    assert_eq!(
        old_primary, set.primary.port,
        "the set starts on its primary"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let workers = start_workers(model, &servers, stop.clone()).await;
    tokio::time::sleep(PHASE).await;

    let began = Instant::now();
    tokio::task::block_in_place(|| set.failover());
    assert_eq!(
        set.primary_port(),
        set.replica.port,
        "the replica was promoted"
    );
    let named = Instant::now();
    // Sentinel turns the old primary into a replica of the new one only at its next INFO poll
    // of it, about 10 s later; send the same REPLICAOF now, so that the stretch of history the
    // check cannot cover (below) is the failover itself and not that wait.
    tokio::task::block_in_place(|| {
        redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(set.replica.port)
            .query::<()>(&mut set.primary.conn())
            .expect("REPLICAOF on the old primary")
    });
    let deadline = Instant::now() + DEMOTION;
    while !tokio::task::block_in_place(|| is_replica(&set.primary)) {
        assert!(
            Instant::now() < deadline,
            "the old primary did not become a replica within {DEMOTION:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let switched = Instant::now();
    eprintln!(
        "failover: new primary named after {:?}, the old one a replica after {:?}",
        named - began,
        switched - began
    );
    // Grants held at the promotion whose Release went to the old primary are held on the new
    // one until their lease ends: go on for a lease and a phase, so most of the history after
    // the switch is new grants on the new primary.
    tokio::time::sleep(LEASE + PHASE).await;

    let mut history = finish(&stop, workers).await;
    cut_off(&mut history, switched, began);
    let after = history.iter().filter(|o| o.asked >= switched).count();
    (history, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semaphore_history_across_two_servers_and_a_sentinel_failover_is_safe() {
    let (history, after) = record_across_failover(Model::Semaphore(2)).await;
    eprintln!(
        "semaphore history: {} grants checked, {after} asked after the switch",
        history.len()
    );
    assert!(
        after >= MIN_GRANTS_AFTER,
        "only {after} grants after the failover"
    );
    assert_every_ending(&history);
    assert_eq!(check(Model::Semaphore(2), &history), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_history_across_two_servers_and_a_sentinel_failover_is_safe() {
    let (history, after) = record_across_failover(Model::ReadWrite).await;
    eprintln!(
        "read-write history: {} grants checked, {after} asked after the switch",
        history.len()
    );
    assert!(
        after >= MIN_GRANTS_AFTER,
        "only {after} grants after the failover"
    );
    assert!(history.iter().any(|o| o.writer) && history.iter().any(|o| !o.writer));
    assert_every_ending(&history);
    assert_eq!(check(Model::ReadWrite, &history), Ok(()));
}
