//! `cargo bench --bench semaphore`: semaphores and read-write locks against their ideal
//! schedules, in one run.
//!
//! - `semaphore_counter_vs_floor`: N workers × M grants of one permit of a semaphore of k,
//!   each held 10 ms, on Redis; the floor is the ideal k-way schedule, 10 ms × N × M / k.
//!   `semaphore_counter_in_process_vs_floor`: the same in-process.
//! - `rwlock_readers_vs_floor`: R readers × M read grants held 10 ms on Redis; readers alone
//!   proceed in parallel, so the floor is 10 ms × M.
//!
//! Prints `RESULT <name> value=<wall s> baseline=<floor s> ratio=<value/baseline>` lines.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use streamgate_client::proto::{AcquireLockRequest, LockMode};
use support::common::lock::{acquire_with, client_for, permits_req, release, rw_req};
use support::common::{RedisServer, TestServer};
use support::result;

const HELD: Duration = Duration::from_millis(10);
const WORKERS: usize = 12;
const LIMIT: usize = 4;
const EACH: usize = 20;
const READERS: usize = 8;

/// Holds for `d` precisely (a thread sleep off the runtime; see benches/locks.rs).
async fn hold(d: Duration) {
    tokio::task::spawn_blocking(move || std::thread::sleep(d))
        .await
        .expect("the hold thread");
}

/// `workers` clients each taking `each` grants of `req(name)`, holding each for [`HELD`].
/// Returns the wall time and the most grants seen held at once.
async fn run_workers(
    server: &TestServer,
    workers: usize,
    each: usize,
    req: fn(&str) -> AcquireLockRequest,
) -> (Duration, usize) {
    let name = format!("bench-sem-{}", uuid::Uuid::new_v4());
    let (inside, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for _ in 0..workers {
        clients.push(client_for(server).await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in clients {
        let (name, inside, most) = (name.clone(), inside.clone(), most.clone());
        tasks.spawn(async move {
            for _ in 0..each {
                let g = acquire_with(&mut c, req(&name)).await;
                assert!(g.acquired, "granted within the wait");
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                hold(HELD).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                assert!(release(&mut c, &name, &g.token).await);
            }
        });
    }
    while let Some(res) = tasks.join_next().await {
        res.expect("a worker panicked");
    }
    (started.elapsed(), most.load(Ordering::SeqCst))
}

fn permit(name: &str) -> AcquireLockRequest {
    permits_req(name, LIMIT as u32, 1, 10_000, 60_000)
}

fn reader(name: &str) -> AcquireLockRequest {
    rw_req(name, LockMode::Shared, 10_000, 60_000)
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

    let floor = HELD.as_secs_f64() * (WORKERS * EACH) as f64 / LIMIT as f64;
    let (wall, most) = run_workers(&on_redis, WORKERS, EACH, permit).await;
    assert!(most <= LIMIT, "{most} holders of a semaphore of {LIMIT}");
    result("semaphore_counter_vs_floor", wall.as_secs_f64(), floor);
    let (wall, most) = run_workers(&in_process, WORKERS, EACH, permit).await;
    assert!(most <= LIMIT, "{most} holders of a semaphore of {LIMIT}");
    result(
        "semaphore_counter_in_process_vs_floor",
        wall.as_secs_f64(),
        floor,
    );

    let (wall, most) = run_workers(&on_redis, READERS, EACH, reader).await;
    eprintln!("readers held at once, at most: {most} of {READERS}");
    result(
        "rwlock_readers_vs_floor",
        wall.as_secs_f64(),
        HELD.as_secs_f64() * EACH as f64,
    );
}

fn main() {
    let server_rt = support::runtime("server");
    support::runtime("bench").block_on(run(server_rt.handle().clone()));
}
