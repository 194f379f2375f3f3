//! What every bench shares, so that figures are computed and printed one way: the test
//! harness's servers ([`common`]), the runtimes that keep server, upstream and clients on
//! threads of their own, a closed-loop [`load`] with per-call CPU, [`percentile`], and the
//! one [`result`] printer of `RESULT <name> value=.. baseline=.. ratio=..` lines.
//!
//! A bench includes it with `#[path = "support/mod.rs"] mod support;`; each uses a part.

#![allow(dead_code)]

#[path = "../../tests/it/common/mod.rs"]
#[allow(unused_imports)]
pub mod common;
pub mod echo;
pub mod forwarder;
pub mod process;
pub mod redisson;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::runtime::Runtime;
use tonic::transport::{Channel, Endpoint};

#[allow(unused_imports)]
pub use common::TestServer;

/// A multi-threaded runtime whose threads are called `name`. The server and the upstream
/// each get one, as they would have in their own processes, so that neither runs on the
/// threads of the clients that load it.
pub fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(name)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A connected channel to a server at `addr`.
pub async fn connect(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the server")
}

/// Prints one figure against its baseline: `RESULT name value=.. baseline=.. ratio=..`,
/// ratio = value / baseline.
pub fn result(name: &str, value: f64, baseline: f64) {
    println!(
        "RESULT {name} value={value:.3} baseline={baseline:.3} ratio={:.3}",
        value / baseline
    );
}

/// The nearest-rank percentile `p` (0 < p ≤ 1) of `sorted` (ascending): the smallest sample
/// with at least a fraction `p` of all samples at or below it.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    assert!(!sorted.is_empty(), "a percentile of no samples");
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// User + system CPU time of this process so far, from /proc/self/stat (clock ticks, 100 Hz:
/// fine for runs of seconds). Unlike throughput, it hardly moves when other processes share
/// the cores.
pub fn process_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

/// User + system CPU time of the process whose `/proc/PID/stat` is at `path`.
pub fn cpu_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// One closed-loop load run.
pub struct Load {
    /// Wall time of the whole run.
    pub wall: Duration,
    /// Every call's latency, ascending.
    pub latencies: Vec<Duration>,
    /// CPU time the whole process (clients, server, upstream) spent on the run.
    pub cpu: Duration,
}

impl Load {
    /// Calls per second.
    pub fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// CPU microseconds per call, everything in the process counted.
    pub fn cpu_us_per_call(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.latencies.len() as f64
    }

    /// Latency percentile `p`, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        ms(percentile(&self.latencies, p))
    }
}

/// Runs `calls` calls of `call`, `concurrency` at once, timing each; panics on a call that
/// reports failure.
pub async fn load<F, Fut>(calls: usize, concurrency: usize, call: F) -> Load
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let cpu = process_cpu();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..calls)
        .map(|i| {
            let fut = call(i);
            async move {
                let t = Instant::now();
                assert!(fut.await, "call {i} failed");
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let cpu = process_cpu() - cpu;
    let wall = start.elapsed();
    latencies.sort_unstable();
    Load {
        wall,
        latencies,
        cpu,
    }
}
