//! Fetch throughput: 20,000 GETs of a 1 KiB body at concurrency 64, through streamgate's
//! Fetch RPC and, as the baseline in the same run, straight to the same loopback upstream
//! with reqwest. Prints `RESULT` lines (ratio = streamgate / baseline), and the same load
//! of health checks: what the gRPC hop alone allows on this machine.
//!
//! Run: `cargo bench --bench fetch`

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use futures::StreamExt;
use streamgate::Config;
use streamgate_client::proto::FetchRequest;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 64;

struct Run {
    wall: Duration,
    latencies: Vec<Duration>,
    /// CPU time the whole process (clients, server, upstream) spent on the run.
    cpu: Duration,
}

/// User + system CPU time of this process so far, from /proc/self/stat (clock ticks, 100 Hz:
/// fine for runs of seconds). Unlike throughput, it hardly moves when other processes share
/// the cores.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

impl Run {
    fn cpu_us_per_call(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.latencies.len() as f64
    }

    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        self.latencies.sort();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

/// Runs `REQUESTS` calls of `call`, `CONCURRENCY` at once, timing each.
async fn load<F, Fut>(call: F) -> Run
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let cpu = process_cpu();
    let latencies: Vec<Duration> = futures::stream::iter(0..REQUESTS)
        .map(|i| {
            let fut = call(i);
            async move {
                let t = Instant::now();
                assert!(fut.await, "request {i} failed");
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    Run {
        wall: start.elapsed(),
        latencies,
        cpu: process_cpu() - cpu,
    }
}

async fn connect(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to streamgate")
}

fn result(name: &str, value: f64, baseline: f64) {
    println!(
        "RESULT {name} value={value:.3} baseline={baseline:.3} ratio={:.3}",
        value / baseline
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The server gets a runtime of its own, as in its own process, apart from the bench's
    // clients and upstream.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .enable_all()
        .build()
        .expect("the server's runtime");
    // So does the upstream: both paths then cross runtimes (threads) as they would cross
    // processes, rather than the direct baseline alone being served on the threads that
    // send it.
    let upstream_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("upstream")
        .enable_all()
        .build()
        .expect("the upstream's runtime");
    rt.block_on(async {
        let up = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let up_addr = up.local_addr().expect("upstream address");
        let body = vec![b'x'; 1024];
        let router = Router::new().route("/kib", get(move || std::future::ready(body.clone())));
        upstream_rt.spawn(async move { axum::serve(up, router).await });
        let url = format!("http://{up_addr}/kib");

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind server");
        let addr = listener.local_addr().expect("server address");
        let config = Config::from_args([
            "streamgate",
            "--listen",
            "127.0.0.1:0",
            "--allow-private-networks",
            "--fetch-max-concurrency",
            "64",
            "--fetch-max-per-host",
            "64",
        ])
        .expect("bench flags parse");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = server_rt.spawn(streamgate::serve(config, listener, async move {
            let _ = stop_rx.await;
        }));

        // Baseline: the same load straight to the upstream.
        let direct = reqwest::Client::builder().no_proxy().build().expect("reqwest client");
        let warm = |c: reqwest::Client, u: String| async move { c.get(u).send().await.is_ok() };
        for _ in 0..100 {
            warm(direct.clone(), url.clone()).await;
        }
        let mut base = load(|_| {
            let (c, u) = (direct.clone(), url.clone());
            async move {
                match c.get(u).send().await {
                    Ok(r) => r.bytes().await.map(|b| b.len() == 1024).unwrap_or(false),
                    Err(_) => false,
                }
            }
        })
        .await;

        // One channel is how a gRPC client is meant to be used (calls multiplexed on one
        // HTTP/2 connection); four show what a client pool of separate connections gets.
        let mut runs = Vec::new();
        for channels in [1usize, 4] {
            let mut clients = Vec::new();
            for _ in 0..channels {
                clients.push(FetchServiceClient::new(connect(addr).await));
            }
            let fetch = |i: usize| {
                let mut c = clients[i % channels].clone();
                let req = FetchRequest { url: url.clone(), ..Default::default() };
                async move {
                    match c.fetch(req).await {
                        Ok(r) => r.get_ref().status == 200 && r.get_ref().body.len() == 1024,
                        Err(_) => false,
                    }
                }
            };
            for i in 0..100 {
                fetch(i).await;
            }
            runs.push((channels, load(fetch).await));
        }

        // The cheapest call the server answers (a health check), same load, one channel: the
        // ceiling the gRPC hop alone puts on any unary call here.
        let health = HealthClient::new(connect(addr).await);
        let check = |_| {
            let mut c = health.clone();
            let req = HealthCheckRequest { service: "streamgate.v1.FetchService".into() };
            async move { c.check(req).await.map(|r| r.get_ref().status == 1).unwrap_or(false) }
        };
        let ceiling = load(check).await;

        let (_, sg) = &mut runs[0];
        println!(
            "fetch: {REQUESTS} GETs of 1 KiB at concurrency {CONCURRENCY}: direct {:.2}s, via streamgate {:.2}s (one channel)",
            base.wall.as_secs_f64(),
            sg.wall.as_secs_f64()
        );
        result("fetch_throughput_rps", sg.per_sec(), base.per_sec());
        let (p50, b50) = (sg.percentile_ms(0.5), base.percentile_ms(0.5));
        let (p99, b99) = (sg.percentile_ms(0.99), base.percentile_ms(0.99));
        result("fetch_p50_ms", p50, b50);
        result("fetch_p99_ms", p99, b99);
        println!("fetch: added p50 latency {:.3} ms", p50 - b50);
        let one = sg.per_sec();
        for (channels, run) in &runs[1..] {
            result(
                &format!("fetch_throughput_rps_{channels}_channels"),
                run.per_sec(),
                base.per_sec(),
            );
        }
        result("health_check_rps_vs_direct", ceiling.per_sec(), base.per_sec());
        // CPU per call (clients, server and upstream together): the machine-load-proof view.
        result("fetch_cpu_us_per_call", runs[0].1.cpu_us_per_call(), base.cpu_us_per_call());
        result("health_check_cpu_us_per_call", ceiling.cpu_us_per_call(), base.cpu_us_per_call());
        result("fetch_rps_vs_health_check_rps", one, ceiling.per_sec());

        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    });
}
