//! `cargo bench --bench locks`: LockService against its baselines, in one run.
//!
//! - The seed's counter case (N workers × M increments, lock held 10 ms each time) through
//!   streamgate on Redis and in-process, against the 10 ms × N × M floor and against the
//!   seed's own algorithm (SET NX EX, sleep 0.5 s while taken) run here on the same Redis.
//! - Hand-off latency: release → the next waiter's grant, p50/p99.
//! - Uncontended acquire+release pairs/s, 16 clients on distinct names, against the same
//!   operations sent straight to Redis with redis-rs (SET NX PX + EVALSHA release).
//!
//! Prints `RESULT <name> value=<v> baseline=<b> ratio=<v/b>` lines.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::common::lock::{acquire, client_for, release};
use support::common::{RedisServer, TestServer};
use support::{percentile, result};

const HELD: Duration = Duration::from_millis(10);
const PAIRS_CLIENTS: usize = 16;
const PAIRS_DURATION: Duration = Duration::from_secs(2);
const PAIRS_MAX_PER_CLIENT: u64 = 50_000;
const HANDOFF_ROUNDS: usize = 300;

/// Holds for `d`, precisely. tokio's timer wheel rounds a sleep up to the next millisecond
/// tick, so `sleep(10ms)` lasts 10-11 ms and by itself would put the counter case 5-10 %
/// above its floor; a thread sleep off the runtime overshoots by tens of microseconds.
async fn hold(d: Duration) {
    tokio::task::spawn_blocking(move || std::thread::sleep(d))
        .await
        .expect("the hold thread");
}

/// N workers × M increments of a shared in-process counter (read, 10 ms, write) under the
/// streamgate lock. Returns the wall time; panics if an increment was lost.
async fn counter_through_streamgate(server: &TestServer, workers: u64, each: u64) -> Duration {
    let counter = Arc::new(AtomicU64::new(0));
    let name = format!("bench-counter-{}", uuid::Uuid::new_v4());
    let mut clients = Vec::new();
    for _ in 0..workers {
        clients.push(client_for(server).await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in clients {
        let (counter, name) = (counter.clone(), name.clone());
        tasks.spawn(async move {
            for _ in 0..each {
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
        workers * each,
        "lost update"
    );
    wall
}

const SEED_RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// The seed's algorithm, verbatim in Rust: SET NX EX 10, sleep 0.5 s while taken, Lua release.
async fn counter_with_seed_polling(redis_url: &str, workers: u64, each: u64) -> Duration {
    let client = redis::Client::open(redis_url).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let key = format!("lock:seed-{}", uuid::Uuid::new_v4());
    let script = redis::Script::new(SEED_RELEASE);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let (counter, key, script) = (counter.clone(), key.clone(), script.clone());
        tasks.spawn(async move {
            for _ in 0..each {
                let token = uuid::Uuid::new_v4().to_string();
                loop {
                    let ok: Option<String> = redis::cmd("SET")
                        .arg(&key)
                        .arg(&token)
                        .arg("NX")
                        .arg("EX")
                        .arg(10)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    if ok.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                let v = counter.load(Ordering::SeqCst);
                hold(HELD).await;
                counter.store(v + 1, Ordering::SeqCst);
                let _: i64 = script
                    .key(&key)
                    .arg(&token)
                    .invoke_async(&mut conn)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), workers * each);
    started.elapsed()
}

/// Ping-pong between two clients: each round, the holder releases and the waiter's grant
/// arrives; latency = release sent → grant received.
async fn handoff_latencies(server: &TestServer) -> Vec<Duration> {
    let name = format!("bench-handoff-{}", uuid::Uuid::new_v4());
    let mut holder = client_for(server).await;
    let mut waiter = client_for(server).await;
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

/// Acquire+release pairs per second, 16 clients on distinct names, for PAIRS_DURATION.
async fn pairs_through_streamgate(server: &TestServer) -> f64 {
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for i in 0..PAIRS_CLIENTS {
        let mut c = client_for(server).await;
        let name = format!("bench-pairs-{i}-{}", uuid::Uuid::new_v4());
        tasks.spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < PAIRS_DURATION && n < PAIRS_MAX_PER_CLIENT {
                let g = acquire(&mut c, &name, 10_000, 0).await;
                assert!(g.acquired);
                assert!(release(&mut c, &name, &g.token).await);
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

/// Pairs of the cheapest call the server answers (a health check), same clients and
/// concurrency: the ceiling the gRPC hop alone puts on any pair of unary calls here.
async fn pairs_of_health_checks(server: &TestServer) -> f64 {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for _ in 0..PAIRS_CLIENTS {
        let channel = tonic::transport::Endpoint::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = HealthClient::new(channel);
        tasks.spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < PAIRS_DURATION && n < PAIRS_MAX_PER_CLIENT {
                for _ in 0..2 {
                    let req = HealthCheckRequest {
                        service: "streamgate.v1.LockService".into(),
                    };
                    assert_eq!(c.check(req).await.unwrap().get_ref().status, 1);
                }
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

/// The same pairs straight to Redis: SET NX PX, then the compare-and-delete by EVALSHA.
async fn pairs_raw_redis(redis_url: &str) -> f64 {
    let client = redis::Client::open(redis_url).unwrap();
    let script = redis::Script::new(SEED_RELEASE);
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for i in 0..PAIRS_CLIENTS {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = format!("raw-pairs-{i}-{}", uuid::Uuid::new_v4());
        let script = script.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < PAIRS_DURATION && n < PAIRS_MAX_PER_CLIENT {
                let token = uuid::Uuid::new_v4().to_string();
                let ok: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(10_000)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert!(ok.is_some());
                let released: i64 = script
                    .key(&key)
                    .arg(&token)
                    .invoke_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(released, 1);
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

async fn run(server_rt: tokio::runtime::Handle) {
    let redis = RedisServer::start();
    let args = |extra: &[&str]| {
        let mut args = vec!["streamgate", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        streamgate::Config::from_args(args).expect("bench flags parse")
    };
    let on_redis = TestServer::start_on(
        args(&["--redis-url", &redis.url()]),
        streamgate::Deps::default(),
        &server_rt,
    )
    .await;
    let in_process = TestServer::start_on(args(&[]), streamgate::Deps::default(), &server_rt).await;

    // What the critical section alone costs, 300 times in a row with no lock at all.
    let started = Instant::now();
    for _ in 0..300 {
        hold(HELD).await;
    }
    let holds = started.elapsed().as_secs_f64();
    result(
        "hold_300x10ms_wall_s_vs_floor",
        holds,
        HELD.as_secs_f64() * 300.0,
    );
    let started = Instant::now();
    for _ in 0..300 {
        tokio::time::sleep(HELD).await;
    }
    result(
        "tokio_sleep_300x10ms_wall_s_vs_floor",
        started.elapsed().as_secs_f64(),
        HELD.as_secs_f64() * 300.0,
    );

    for (workers, each) in [(3u64, 100u64), (10, 20)] {
        let floor = HELD.as_secs_f64() * (workers * each) as f64;
        let tag = format!("{workers}x{each}");
        let wall = counter_through_streamgate(&on_redis, workers, each).await;
        result(
            &format!("counter_{tag}_redis_wall_s_vs_floor"),
            wall.as_secs_f64(),
            floor,
        );
        let mem = counter_through_streamgate(&in_process, workers, each).await;
        result(
            &format!("counter_{tag}_memory_wall_s_vs_floor"),
            mem.as_secs_f64(),
            floor,
        );
        let seed = counter_with_seed_polling(&redis.url(), workers, each).await;
        result(
            &format!("counter_{tag}_seed_polling_wall_s_vs_floor"),
            seed.as_secs_f64(),
            floor,
        );
        result(
            &format!("counter_{tag}_redis_wall_s_vs_seed_polling"),
            wall.as_secs_f64(),
            seed.as_secs_f64(),
        );
    }

    for (label, server) in [("redis", &on_redis), ("memory", &in_process)] {
        let lat = handoff_latencies(server).await;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        result(
            &format!("handoff_{label}_p50_ms_vs_target"),
            ms(percentile(&lat, 0.50)),
            2.0,
        );
        result(
            &format!("handoff_{label}_p99_ms_vs_target"),
            ms(percentile(&lat, 0.99)),
            2.0,
        );
    }

    let raw = pairs_raw_redis(&redis.url()).await;
    let ours = pairs_through_streamgate(&on_redis).await;
    result("uncontended_pairs_per_s_redis_vs_raw_redis", ours, raw);
    let mem = pairs_through_streamgate(&in_process).await;
    result("uncontended_pairs_per_s_memory_vs_raw_redis", mem, raw);
    let ceiling = pairs_of_health_checks(&on_redis).await;
    result("health_check_pairs_per_s_vs_raw_redis", ceiling, raw);
    result(
        "uncontended_pairs_per_s_redis_vs_health_check_pairs",
        ours,
        ceiling,
    );

    on_redis.stop().await.unwrap();
    in_process.stop().await.unwrap();
}

fn main() {
    // The servers get a runtime of their own, as in their own process, so that the bench's
    // clients do not run on the server's worker threads.
    let server_rt = support::runtime("server");
    support::runtime("bench").block_on(run(server_rt.handle().clone()));
}
