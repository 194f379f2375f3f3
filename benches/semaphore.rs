//! `cargo bench --bench semaphore`: semaphores and read-write locks against their ideal
//! schedules, in one run.
//!
//! - `semaphore_counter_vs_floor`: N workers × M grants of one permit of a semaphore of k,
//!   each held 10 ms, on Redis; the floor is the ideal k-way schedule, 10 ms × N × M / k.
//!   `semaphore_counter_in_process_vs_floor`: the same in-process.
//!   `semaphore_counter_vs_uncontended_schedule`: the same wall time against the k-way
//!   schedule of grants that each cost what one uncontended grant (acquire, hold, release)
//!   cost in this run: near 1 when hand-offs add no wait of their own (`_in_process_` too).
//! - `redisson_permit_semaphore_vs_floor`: the same workload on Redisson's
//!   `RPermitExpirableSemaphore` (benches/redisson/, run with `java`) against the same kind
//!   of redis-server; `semaphore_counter_vs_redisson` = streamgate's wall / Redisson's
//!   (below 1: streamgate is ahead). Needs a JDK 17 and Maven; without them this part fails,
//!   after the figures above are printed.
//! - `rwlock_readers_vs_floor`: R readers × M read grants held 10 ms on Redis; readers alone
//!   proceed in parallel, so the floor is 10 ms × M. `rwlock_readers_vs_one_reader`: their
//!   wall time against one reader taking M grants alone (R if readers serialized, 1 if not).
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
use support::{redisson, result};

const HELD: Duration = Duration::from_millis(10);
const WORKERS: usize = 12;
const LIMIT: usize = 4;
const EACH: usize = 20;
const READERS: usize = 8;
/// Every grant's lease: far longer than a hold, so no grant expires mid-bench.
const LEASE: Duration = Duration::from_secs(10);
/// How long an acquire may wait: far longer than the whole run.
const WAIT: Duration = Duration::from_secs(60);

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
    permits_req(name, LIMIT as u32, 1, millis(LEASE), millis(WAIT))
}

fn reader(name: &str) -> AcquireLockRequest {
    rw_req(name, LockMode::Shared, millis(LEASE), millis(WAIT))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).expect("bench durations fit")
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
    // One untimed grant per worker first, as the Redisson side warms up: connections, script
    // loading and first-call allocations are not what the figures compare.
    run_workers(&on_redis, WORKERS, 1, permit).await;
    run_workers(&in_process, WORKERS, 1, permit).await;

    let grants = WORKERS * EACH;
    let floor = HELD.as_secs_f64() * grants as f64 / LIMIT as f64;
    let cpu = support::process_cpu();
    let (ours, most) = run_workers(&on_redis, WORKERS, EACH, permit).await;
    let cpu = support::process_cpu().saturating_sub(cpu);
    assert!(most <= LIMIT, "{most} holders of a semaphore of {LIMIT}");
    // What the calls cost in CPU (this process: clients and server; Redis apart). On a debug
    // build it is milliseconds per grant, which is most of the gap to the floor.
    eprintln!(
        "process CPU per grant on Redis: {:.2} ms",
        cpu.as_secs_f64() * 1e3 / grants as f64
    );
    result("semaphore_counter_vs_floor", ours.as_secs_f64(), floor);
    // The same grants with nobody waiting: what one grant costs without any hand-off (the
    // acquire and release calls and the hold). The ideal schedule at that cost is the floor a
    // hand-off path without needless waits reaches; the first ratio minus this one is the
    // part the calls themselves cost (large in a debug build).
    let (alone, _) = run_workers(&on_redis, 1, EACH, permit).await;
    let cycle = alone.as_secs_f64() / EACH as f64;
    eprintln!(
        "one uncontended grant (acquire, hold {} ms, release) on Redis: {:.2} ms",
        HELD.as_millis(),
        cycle * 1e3
    );
    result(
        "semaphore_counter_vs_uncontended_schedule",
        ours.as_secs_f64(),
        cycle * grants as f64 / LIMIT as f64,
    );
    let (wall, most) = run_workers(&in_process, WORKERS, EACH, permit).await;
    assert!(most <= LIMIT, "{most} holders of a semaphore of {LIMIT}");
    result(
        "semaphore_counter_in_process_vs_floor",
        wall.as_secs_f64(),
        floor,
    );
    let (alone, _) = run_workers(&in_process, 1, EACH, permit).await;
    result(
        "semaphore_counter_in_process_vs_uncontended_schedule",
        wall.as_secs_f64(),
        alone.as_secs_f64() / EACH as f64 * grants as f64 / LIMIT as f64,
    );

    let (wall, most) = run_workers(&on_redis, READERS, EACH, reader).await;
    eprintln!("readers held at once, at most: {most} of {READERS}");
    result(
        "rwlock_readers_vs_floor",
        wall.as_secs_f64(),
        HELD.as_secs_f64() * EACH as f64,
    );
    // Readers that serialized anywhere (server, script, client) would take READERS times as
    // long as one reader taking the same grants; in parallel they take about as long.
    let (one, _) = run_workers(&on_redis, 1, EACH, reader).await;
    result(
        "rwlock_readers_vs_one_reader",
        wall.as_secs_f64(),
        one.as_secs_f64(),
    );

    // Last, so that a machine without Java or Maven still printed every figure above.
    let theirs = redisson::permit_semaphore(
        &redis.url(),
        &redisson::SemaphoreWorkload {
            workers: WORKERS,
            limit: LIMIT,
            each: EACH,
            hold: HELD,
            lease: LEASE,
            wait: WAIT,
        },
    );
    assert!(
        theirs.most <= LIMIT,
        "Redisson: {} holders of a semaphore of {LIMIT}",
        theirs.most
    );
    result(
        "redisson_permit_semaphore_vs_floor",
        theirs.wall.as_secs_f64(),
        floor,
    );
    // Below 1: streamgate ran the same workload in less wall time than Redisson.
    result(
        "semaphore_counter_vs_redisson",
        ours.as_secs_f64(),
        theirs.wall.as_secs_f64(),
    );
}

fn main() {
    let server_rt = support::runtime("server");
    support::runtime("bench").block_on(run(server_rt.handle().clone()));
}
