//! `cargo bench --bench scale`: three streamgate replicas on a three-master Redis Cluster
//! against one replica on one Redis server, same load, same run.
//!
//! - Pairs/s: 30 workers spread over the replicas, each taking a random one of 1,000 names,
//!   holding it 10 ms, releasing, for a fixed time.
//! - Hand-off p50/p99: release on one replica → the grant of a waiter on another (on the
//!   single setup, both on its one replica).
//! - Contended wall/floor: the 30 workers × 10 increments on one name, 10 ms held; the floor
//!   is 300 × 10 ms.
//!
//! On one machine the replicas and the Redis nodes share its cores: the ratios show what the
//! topology costs (more hops, sharded pub/sub), not the capacity it adds on separate hosts.
//!
//! Prints `RESULT <name> value=<v> baseline=<b> ratio=<v/b>` lines.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::common::lock::{acquire, client_for, release};
use support::common::redis_topology::RedisCluster;
use support::common::{RedisServer, TestServer};
use support::{ms, percentile, result};

const HELD: Duration = Duration::from_millis(10);
const WORKERS: usize = 30;
const NAMES: usize = 1_000;
const PAIRS_DURATION: Duration = Duration::from_secs(3);
const PAIRS_MAX_PER_WORKER: u64 = 10_000;
const CONTENDED_EACH: u64 = 10;
const HANDOFF_ROUNDS: usize = 200;

/// Holds for `d` precisely (tokio's timer rounds up to the next millisecond).
async fn hold(d: Duration) {
    tokio::task::spawn_blocking(move || std::thread::sleep(d))
        .await
        .expect("the hold thread");
}

/// Acquire (wait up to 30 s), hold 10 ms, release: pairs per second over the replicas.
async fn pairs_per_s(replicas: &[TestServer]) -> f64 {
    let names: Arc<Vec<String>> = Arc::new(
        (0..NAMES)
            .map(|i| format!("scale-{i}-{}", uuid::Uuid::new_v4()))
            .collect(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    let mut clients = Vec::new();
    for w in 0..WORKERS {
        clients.push(client_for(&replicas[w % replicas.len()]).await);
    }
    let started = Instant::now();
    for (w, mut c) in clients.into_iter().enumerate() {
        let names = names.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            // A cheap deterministic spread over the names, different per worker.
            let mut x = (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            while started.elapsed() < PAIRS_DURATION && n < PAIRS_MAX_PER_WORKER {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let name = &names[(x % NAMES as u64) as usize];
                let g = acquire(&mut c, name, 10_000, 30_000).await;
                assert!(g.acquired);
                hold(HELD).await;
                assert!(release(&mut c, name, &g.token).await);
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        total += r.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// The 30 workers × 10 increments of one counter under one lock; returns the wall time.
async fn contended_wall(replicas: &[TestServer]) -> Duration {
    let counter = Arc::new(AtomicU64::new(0));
    let name = format!("scale-contended-{}", uuid::Uuid::new_v4());
    let mut clients = Vec::new();
    for w in 0..WORKERS {
        clients.push(client_for(&replicas[w % replicas.len()]).await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in clients {
        let (counter, name) = (counter.clone(), name.clone());
        tasks.spawn(async move {
            for _ in 0..CONTENDED_EACH {
                let g = acquire(&mut c, &name, 10_000, 60_000).await;
                assert!(g.acquired);
                let v = counter.load(Ordering::SeqCst);
                hold(HELD).await;
                counter.store(v + 1, Ordering::SeqCst);
                assert!(release(&mut c, &name, &g.token).await);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let wall = started.elapsed();
    assert_eq!(
        counter.load(Ordering::SeqCst),
        WORKERS as u64 * CONTENDED_EACH,
        "lost update"
    );
    wall
}

/// Ping-pong between a client on `a` and one on `b`: release sent → the other's grant.
async fn handoff_latencies(a: &TestServer, b: &TestServer) -> Vec<Duration> {
    let name = format!("scale-handoff-{}", uuid::Uuid::new_v4());
    let mut holder = client_for(a).await;
    let mut waiter = client_for(b).await;
    let mut held = acquire(&mut holder, &name, 10_000, 0).await;
    let mut out = Vec::with_capacity(HANDOFF_ROUNDS);
    for _ in 0..HANDOFF_ROUNDS {
        let mut w = waiter.clone();
        let n = name.clone();
        let pending = tokio::spawn(async move {
            let g = acquire(&mut w, &n, 10_000, 10_000).await;
            (g, Instant::now())
        });
        // Let the waiter queue up before the release.
        tokio::time::sleep(Duration::from_millis(3)).await;
        let t0 = Instant::now();
        assert!(release(&mut holder, &name, &held.token).await);
        let (g, t1) = pending.await.unwrap();
        assert!(g.acquired);
        out.push(t1 - t0);
        held = g;
        std::mem::swap(&mut holder, &mut waiter);
    }
    out.sort();
    out
}

async fn run(server_rt: tokio::runtime::Handle) {
    let args = |url: &str| {
        streamgate::Config::from_args(["streamgate", "--listen", "127.0.0.1:0", "--redis-url", url])
            .expect("bench flags parse")
    };
    let cluster = RedisCluster::start();
    let mut on_cluster = Vec::new();
    for i in 0..3 {
        // Each replica is seeded by a different node, as separate deployments would be.
        on_cluster.push(
            TestServer::start_on(
                args(&cluster.seed_url(i)),
                streamgate::Deps::default(),
                &server_rt,
            )
            .await,
        );
    }
    let redis = RedisServer::start();
    let single = vec![
        TestServer::start_on(args(&redis.url()), streamgate::Deps::default(), &server_rt).await,
    ];

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "NOTE: 3 replicas + 3 Redis masters (cluster) and 1 replica + 1 Redis (single) share \
         this machine's {cores} cores: the ratios are the cost of the topology, not the \
         capacity it adds on separate hosts"
    );

    let pairs_cluster = pairs_per_s(&on_cluster).await;
    let pairs_single = pairs_per_s(&single).await;
    result(
        // The headline: lock pairs/s on the cluster over the same load on one Redis.
        "scale_cluster_vs_single",
        pairs_cluster,
        pairs_single,
    );
    // 30 workers holding 10 ms each can do at most 3,000 pairs/s.
    let ceiling = WORKERS as f64 / HELD.as_secs_f64();
    result(
        "scale_cluster_pairs_per_s_vs_ceiling",
        pairs_cluster,
        ceiling,
    );
    result("scale_single_pairs_per_s_vs_ceiling", pairs_single, ceiling);

    let lat_cluster = handoff_latencies(&on_cluster[0], &on_cluster[1]).await;
    let lat_single = handoff_latencies(&single[0], &single[0]).await;
    for (label, p) in [("p50", 0.50), ("p99", 0.99)] {
        result(
            &format!("scale_cluster_vs_single_handoff_{label}_ms"),
            ms(percentile(&lat_cluster, p)),
            ms(percentile(&lat_single, p)),
        );
    }

    let floor = HELD.as_secs_f64() * (WORKERS as u64 * CONTENDED_EACH) as f64;
    let wall_cluster = contended_wall(&on_cluster).await.as_secs_f64();
    let wall_single = contended_wall(&single).await.as_secs_f64();
    result(
        "scale_cluster_contended_wall_s_vs_floor",
        wall_cluster,
        floor,
    );
    result("scale_single_contended_wall_s_vs_floor", wall_single, floor);
    result(
        "scale_cluster_vs_single_contended_wall_s",
        wall_cluster,
        wall_single,
    );

    for s in on_cluster.into_iter().chain(single) {
        s.stop().await.unwrap();
    }
}

fn main() {
    // The servers get a runtime of their own, as in their own processes, so that the bench's
    // clients do not run on the servers' worker threads.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the servers' runtime");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run(server_rt.handle().clone()));
}
