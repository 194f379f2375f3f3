//! The Redis backend on Redis Cluster (`redis+cluster://`), beyond the conformance suite:
//! servers seeded by different nodes sharing locks spread over every master, wake-ups
//! across servers over sharded pub/sub, a slot moved in the middle of a run, and per-name
//! state that lapses.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;
use common::lock::*;
use common::redis_topology::{RedisCluster, cluster_port};
use common::{until, wait_for_health};
use tonic::Code;
use tonic_health::ServingStatus;

/// A server on the cluster seeded only by node `seed`, with the fallback re-check far off
/// (20 s) so that anything faster is a notification.
async fn server_on(cluster: &RedisCluster, seed: usize) -> TestServer {
    TestServer::start_with_args(&[
        "--redis-url",
        &cluster.seed_url(seed),
        "--lock-recheck",
        "20s",
    ])
    .await
}

/// In-test counters, one per lock name: read, yield, write back, so that two holders at once
/// lose an increment.
#[derive(Clone, Default)]
struct Counters(Arc<Mutex<HashMap<String, u64>>>);

impl Counters {
    async fn increment(&self, name: &str) -> u64 {
        let v = *self.0.lock().unwrap().get(name).unwrap_or(&0);
        tokio::task::yield_now().await;
        self.0.lock().unwrap().insert(name.to_owned(), v + 1);
        v
    }

    fn get(&self, name: &str) -> u64 {
        *self.0.lock().unwrap().get(name).unwrap_or(&0)
    }
}

/// Acquires `name` with a 30 s lease (waiting up to 20 s), retrying an UNAVAILABLE answer for
/// at most 10 s (a slot on the move); returns the grant and how many UNAVAILABLE answers came
/// first. The lease outlasts any stall of a loaded machine between grant and release (with a
/// 5 s lease, a release answered false twice under heavy load while the slot moved: most
/// likely a lapsed lease), so a `false` release means a lost lock, not a lapsed one; a lock
/// truly left held shows as a waiter's 20 s wait running out.
async fn acquire_through_moves(
    c: &mut streamgate_client::proto::lock_service_client::LockServiceClient<
        tonic::transport::Channel,
    >,
    name: &str,
) -> (streamgate_client::proto::AcquireLockResponse, u32) {
    through_unavailable(Duration::from_secs(10), "AcquireLock through moves", || {
        let (mut c, req) = (c.clone(), acquire_req(name, 30_000, 20_000));
        async move { c.acquire_lock(req).await }
    })
    .await
}

/// Releases, retrying UNAVAILABLE as [`acquire_through_moves`]; returns `released`. After
/// an UNAVAILABLE answer a `false` is also a success: that attempt may have released the lock
/// and lost only its answer (a timeout on a loaded machine).
async fn release_through_moves(
    c: &mut streamgate_client::proto::lock_service_client::LockServiceClient<
        tonic::transport::Channel,
    >,
    name: &str,
    token: &str,
) -> bool {
    let (r, retried) =
        through_unavailable(Duration::from_secs(10), "Release through moves", || {
            let req = streamgate_client::proto::ReleaseRequest {
                name: name.into(),
                token: token.into(),
            };
            let mut c = c.clone();
            async move { c.release(req).await }
        })
        .await;
    r.released || retried > 0
}

/// Runs `workers` workers (even ones on `a`, odd ones on `b`), each taking every name of
/// `names` in turn `rounds` times and incrementing its counter under the lock. Returns the
/// (counter value read, fence) pairs per name, and the UNAVAILABLE answers retried.
async fn counter_run(
    a: &TestServer,
    b: &TestServer,
    names: &[String],
    workers: usize,
    rounds: usize,
    counters: &Counters,
) -> (HashMap<String, Vec<(u64, u64)>>, u32) {
    let mut set = tokio::task::JoinSet::new();
    for w in 0..workers {
        let mut c = client_for(if w % 2 == 0 { a } else { b }).await;
        let names = names.to_vec();
        let counters = counters.clone();
        set.spawn(async move {
            let mut seen: Vec<(String, u64, u64)> = Vec::new();
            let mut retried = 0;
            for r in 0..rounds {
                for k in 0..names.len() {
                    // Workers start at different names, so they meet on each one.
                    let name = &names[(k + w + r) % names.len()];
                    let (g, u) = acquire_through_moves(&mut c, name).await;
                    retried += u;
                    assert!(g.acquired, "worker {w} got {name}");
                    let v = counters.increment(name).await;
                    seen.push((name.clone(), v, g.fencing_token));
                    assert!(
                        release_through_moves(&mut c, name, &g.token).await,
                        "worker {w} still held {name}"
                    );
                }
            }
            (seen, retried)
        });
    }
    let mut by_name: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    let mut retried = 0;
    while let Some(res) = set.join_next().await {
        let (seen, u) = res.unwrap();
        retried += u;
        for (name, v, fence) in seen {
            by_name.entry(name).or_default().push((v, fence));
        }
    }
    (by_name, retried)
}

/// Every name's counter is exact and, in lock order, its fences strictly rise.
fn assert_exact_with_rising_fences(
    by_name: &mut HashMap<String, Vec<(u64, u64)>>,
    counters: &Counters,
    per_name: u64,
) {
    for (name, grants) in by_name.iter_mut() {
        assert_eq!(
            counters.get(name),
            per_name,
            "{name}: an increment was lost"
        );
        grants.sort_by_key(|(v, _)| *v);
        let values: Vec<u64> = grants.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, (0..per_name).collect::<Vec<_>>(), "{name}");
        assert!(
            grants.windows(2).all(|w| w[0].1 < w[1].1),
            "{name}: fences rise: {grants:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_seeded_by_different_nodes_keep_fifty_counters_on_three_masters_exact() {
    let cluster = RedisCluster::start();
    let a = server_on(&cluster, 0).await;
    let b = server_on(&cluster, 1).await;
    let names: Vec<String> = (0..50).map(|i| unique(&format!("spread{i}"))).collect();
    let owners: HashSet<usize> = names
        .iter()
        .map(|n| cluster.owner_of(cluster.slot_of(&format!("{{streamgate:lock:{n}}}:owner"))))
        .collect();
    assert_eq!(owners.len(), 3, "the 50 names live on all three masters");

    let counters = Counters::default();
    let (workers, rounds) = (6, 2);
    let (mut by_name, retried) = counter_run(&a, &b, &names, workers, rounds, &counters).await;
    assert_eq!(retried, 0, "a settled cluster never answers UNAVAILABLE");
    assert_eq!(by_name.len(), 50);
    assert_exact_with_rising_fences(&mut by_name, &counters, (workers * rounds) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_one_server_is_woken_by_a_release_on_the_other() {
    let cluster = RedisCluster::start();
    let a = server_on(&cluster, 0).await;
    let b = server_on(&cluster, 2).await;
    // Names on each master, so the sharded channel is on a different node each time.
    let mut covered = HashSet::new();
    for i in 0..30 {
        let name = unique(&format!("cross{i}"));
        let owner = cluster.owner_of(cluster.slot_of(&format!("{{streamgate:lock:{name}}}:wake")));
        if !covered.insert(owner) && covered.len() < 3 {
            continue;
        }
        let mut holder = client_for(&a).await;
        let held = acquire(&mut holder, &name, 30_000, 0).await;
        assert!(held.acquired);
        let mut w = client_for(&b).await;
        let n = name.clone();
        let waiter = tokio::spawn(async move {
            let g = acquire(&mut w, &n, 30_000, 10_000).await;
            (g, Instant::now())
        });
        until(Duration::from_secs(10), "the waiter queues", || {
            cluster.queued(&name) >= 1
        })
        .await;
        let released_at = Instant::now();
        assert!(release(&mut holder, &name, &held.token).await);
        let (g, granted_at) = waiter.await.unwrap();
        assert!(g.acquired);
        assert!(g.fencing_token > held.fencing_token);
        // The re-check is 20 s: a grant within a second is the sharded announcement.
        let latency = granted_at - released_at;
        assert!(
            latency < Duration::from_secs(1),
            "node {owner}: woken {latency:?} after the release"
        );
        if covered.len() == 3 {
            return;
        }
    }
    panic!("30 names never covered the three masters: {covered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_hot_locks_slot_mid_run_loses_nothing() {
    let cluster = RedisCluster::start();
    let a = server_on(&cluster, 0).await;
    let b = server_on(&cluster, 1).await;
    let hot = unique("hot");
    let names = vec![hot.clone(), unique("warm")];
    let slot = cluster.slot_of(&format!("{{streamgate:lock:{hot}}}:owner"));
    let from = cluster.owner_of(slot);
    let to = (from + 1) % 3;

    let counters = Counters::default();
    let (workers, rounds) = (4, 40);
    let run = counter_run(&a, &b, &names, workers, rounds, &counters);
    let mover = async {
        // Move once the run is well under way: waiters queued, leases held.
        until(Duration::from_secs(10), "the run gets going", || {
            counters.get(&hot) >= 20
        })
        .await;
        let moved_at = counters.get(&hot);
        let cluster = &cluster;
        tokio::task::block_in_place(|| cluster.move_slot(slot, to));
        moved_at
    };
    let ((mut by_name, retried), moved_at) = tokio::join!(run, mover);
    let total = (workers * rounds) as u64;
    assert!(moved_at < total, "the slot moved mid-run");
    assert_eq!(cluster.owner_of(slot), to, "the slot is on its new node");
    eprintln!("UNAVAILABLE answers retried during the move: {retried}");
    assert_exact_with_rising_fences(&mut by_name, &counters, total);
    // The wake-up channel followed the slot: a waiter on the other server still hears.
    let mut holder = client_for(&a).await;
    let held = acquire(&mut holder, &hot, 30_000, 0).await;
    let mut w = client_for(&b).await;
    let n = hot.clone();
    let waiter = tokio::spawn(async move { acquire(&mut w, &n, 30_000, 5_000).await });
    until(Duration::from_secs(10), "the waiter queues", || {
        cluster.queued(&hot) >= 1
    })
    .await;
    assert!(release(&mut holder, &hot, &held.token).await);
    let g = waiter.await.unwrap();
    assert!(
        g.acquired,
        "woken on the slot's new node within its 5 s wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_come_and_go_leave_no_keys_on_any_master() {
    let cluster = RedisCluster::start();
    let server =
        TestServer::start_with_args(&with_url(&cluster.url(), &SHORT_LEASE_REDIS_ARGS)).await;
    let mut c = client_for(&server).await;
    let mut last = HashMap::new();
    for i in 0..60 {
        let name = unique(&format!("gone{i}"));
        let g = acquire(&mut c, &name, 100, 0).await;
        assert!(g.acquired);
        if i % 3 == 0 {
            let mut w = client_for(&server).await;
            let _ = acquire(&mut w, &name, 100, 20).await;
        }
        last.insert(name, g.fencing_token);
    }
    assert!(cluster.keys() > 0, "live leases hold keys");
    let what = "every key expires after every lease ended";
    until(Duration::from_secs(20), what, || cluster.keys() == 0).await;
    for (name, fence) in &last {
        let g = acquire(&mut c, name, 5_000, 0).await;
        assert!(g.fencing_token > *fence, "{name}");
    }
}

/// A name whose keys live on node `node`.
fn name_on(cluster: &RedisCluster, node: usize, prefix: &str) -> String {
    for _ in 0..1_000 {
        let name = unique(prefix);
        if cluster.owner_of(cluster.slot_of(&format!("{{streamgate:lock:{name}}}:owner"))) == node {
            return name;
        }
    }
    panic!("no name on node {node} in 1,000 tries");
}

/// Calls AcquireLock (try once) until it grants, answering UNAVAILABLE meanwhile, for at
/// most `within`; each call must answer within 5 s.
async fn acquire_once_back(server: &TestServer, name: &str, within: Duration) {
    let mut c = client_for(server).await;
    let (g, _) = through_unavailable(within, "served again", || {
        let (mut c, req) = (c.clone(), acquire_req(name, 5_000, 0));
        async move {
            tokio::time::timeout(Duration::from_secs(5), c.acquire_lock(req))
                .await
                .expect("a call answers within 5 s")
        }
    })
    .await;
    assert!(g.acquired, "{name} is free");
    assert!(release(&mut c, name, &g.token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_before_its_cluster_serves_locks_once_it_is_up() {
    let ports = [cluster_port(), cluster_port(), cluster_port()];
    let url = format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        ports[0], ports[1]
    );
    let server = TestServer::start_with_args(&["--redis-url", &url]).await;
    let mut c = client_for(&server).await;
    let err = c
        .acquire_lock(acquire_req("early", 5_000, 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let _cluster = tokio::task::block_in_place(|| RedisCluster::start_on(ports));
    acquire_once_back(&server, "early", Duration::from_secs(20)).await;
}

const LOCK: &str = "streamgate.v1.LockService";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_gives_unavailable_without_hanging_and_serves_again_on_its_return() {
    let mut cluster = RedisCluster::start();
    // Without retries: a master that stays down answers UNAVAILABLE within the call's own
    // bound (a replica taking over is the test below).
    let server =
        TestServer::start_with_args(&["--redis-url", &cluster.url(), "--redis-retries", "0"]).await;
    let name = name_on(&cluster, 2, "killed-node");
    acquire_once_back(&server, &name, Duration::ZERO).await;

    cluster.nodes[2].kill();
    let mut c = client_for(&server).await;
    for _ in 0..3 {
        let call = c.acquire_lock(acquire_req(&name, 5_000, 1_000));
        let err = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("a call answers within 5 s with its master gone")
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    }
    wait_for_health(
        &server,
        LOCK,
        ServingStatus::NotServing,
        Duration::from_secs(20),
    )
    .await;

    let cluster = tokio::task::block_in_place(move || {
        cluster.nodes[2].restart();
        cluster.wait_until_ok();
        cluster
    });
    wait_for_health(
        &server,
        LOCK,
        ServingStatus::Serving,
        Duration::from_secs(20),
    )
    .await;
    acquire_once_back(&server, &name, Duration::from_secs(20)).await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_stopped_and_its_replica_promoted_keeps_locks_working_with_fences_rising() {
    let mut cluster = tokio::task::block_in_place(RedisCluster::start_with_replicas);
    let a = TestServer::start_with_args(&["--redis-url", &cluster.url()]).await;
    let b = TestServer::start_with_args(&["--redis-url", &cluster.url()]).await;
    let master = cluster.owner_of(16_383);
    let name = name_on(&cluster, master, "cluster-failover");
    let slot = cluster.slot_of(&format!("{{streamgate:lock:{name}}}:owner"));
    let replica = cluster
        .replica_of(master)
        .expect("every master has a replica");
    let (mut ca, mut cb) = (client_for(&a).await, client_for(&b).await);
    let mut last = 0;
    for i in 0..3 {
        let c = if i % 2 == 0 { &mut ca } else { &mut cb };
        let g = acquire(c, &name, 5_000, 0).await;
        assert!(g.acquired && g.fencing_token > last);
        last = g.fencing_token;
        assert!(release(c, &name, &g.token).await);
    }
    // Everything written so far is on the replica before its master stops.
    let synced: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5_000)
        .query(&mut cluster.nodes[master].conn())
        .expect("WAIT");
    assert_eq!(synced, 1, "the replica acknowledged the writes");

    cluster.nodes[master].kill();
    let stopped = Instant::now();
    // Calls on both servers until each has been granted the lock 5 times after the stop:
    // UNAVAILABLE meanwhile at worst, fences rising across the promotion. Bounded: 60 s.
    let deadline = stopped + Duration::from_secs(60);
    let (mut unavailable, mut grants) = (0, 0);
    let mut first_grant = None;
    while grants < 10 {
        let c = if grants % 2 == 0 { &mut ca } else { &mut cb };
        let mut call = tonic::Request::new(acquire_req(&name, 5_000, 0));
        call.set_timeout(Duration::from_secs(20));
        match tokio::time::timeout(Duration::from_secs(20), c.acquire_lock(call))
            .await
            .expect("a call answers within its deadline")
        {
            Ok(r) => {
                let g = r.into_inner();
                assert!(g.acquired, "{name} is free");
                assert!(
                    g.fencing_token > last,
                    "fence {} after {last} across the failover",
                    g.fencing_token
                );
                last = g.fencing_token;
                first_grant.get_or_insert_with(|| stopped.elapsed());
                grants += 1;
                assert!(release(c, &name, &g.token).await);
            }
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e:?}");
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert!(
            Instant::now() < deadline,
            "locks never worked again after the failover"
        );
    }
    eprintln!(
        "first grant {:?} after the master stopped; UNAVAILABLE answers meanwhile: {unavailable}",
        first_grant
    );
    assert_eq!(
        cluster.owner_of_via(replica, slot),
        replica,
        "the replica owns the slot now"
    );
}
