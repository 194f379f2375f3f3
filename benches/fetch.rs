//! To add a run: write `pub async fn run(bench: &Bench)` in `benches/fetch/<topic>.rs`, printing
//! its figures with `support::result`; declare it below (`#[path]` + `mod <topic>;`, one pair
//! per topic) and add one line `bench.run(<topic>::run);` to `main`. Nothing else changes.
//!
//! Fetch throughput and cost (and what metrics add to it): 20,000 GETs of a 1 KiB body at concurrency 64 through
//! streamgate's Fetch RPC and, as the baseline in the same run, straight to the same loopback
//! upstream with reqwest, and the same load of health checks (what the gRPC hop alone allows on
//! this machine). Every topic compares against these shared runs ([`Baselines`]).
//!
//! Run: `cargo bench --bench fetch`

#[path = "support/mod.rs"]
mod support;

#[path = "fetch/cost.rs"]
mod cost;
#[path = "fetch/edge.rs"]
mod edge;
#[path = "fetch/grpc_web.rs"]
mod grpc_web;
#[path = "fetch/metrics.rs"]
mod metrics;
#[path = "fetch/throughput.rs"]
mod throughput;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use streamgate_client::proto::FetchRequest;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use support::{Load, TestServer, load};

/// Calls per load run.
pub const REQUESTS: usize = 20_000;
/// Calls in flight at once.
pub const CONCURRENCY: usize = 64;
/// Calls made before each measured run (connections, allocator).
const WARM_UP: usize = 100;
/// The upstream's body size.
pub const BODY_BYTES: usize = 1024;

fn main() {
    let bench = Bench::start();
    bench.run(throughput::run);
    bench.run(cost::run);
    bench.run(grpc_web::run);
    bench.run(metrics::run);
    bench.run(edge::run);
    bench.stop();
}

/// The shared setup: runtimes, the upstream, the server, and the baseline runs.
pub struct Bench {
    /// The clients' runtime; topics run on it.
    rt: Runtime,
    _server_rt: Runtime,
    _upstream_rt: Runtime,
    server: Option<TestServer>,
    /// The upstream's 1 KiB resource.
    pub url: String,
    /// A plain reqwest client, the direct path.
    pub direct: reqwest::Client,
    /// The runs every topic compares against.
    pub base: Baselines,
}

/// Runs measured once and shared by every topic.
pub struct Baselines {
    /// The load straight to the upstream with reqwest.
    pub direct: Load,
    /// The load of health checks on one channel: the gRPC hop alone.
    pub health: Load,
    /// The load through Fetch on one channel.
    pub fetch: Load,
}

impl Bench {
    /// Starts the upstream and the server on runtimes of their own, and measures the
    /// baselines.
    fn start() -> Self {
        let rt = support::runtime("bench");
        let server_rt = support::runtime("server");
        let upstream_rt = support::runtime("upstream");
        let url = upstream_rt.block_on(start_upstream());
        let server = rt.block_on(start_server(&server_rt));
        let direct = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("reqwest client");
        let base = rt.block_on(measure_baselines(&direct, &url, server.addr));
        Self {
            rt,
            _server_rt: server_rt,
            _upstream_rt: upstream_rt,
            server: Some(server),
            url,
            direct,
            base,
        }
    }

    /// Runs one topic on the clients' runtime.
    fn run<'a, F, Fut>(&'a self, topic: F)
    where
        F: FnOnce(&'a Bench) -> Fut,
        Fut: Future<Output = ()> + 'a,
    {
        self.rt.block_on(topic(self));
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("the server runs").addr
    }

    /// A request of the upstream resource straight from the bench, true when it came back
    /// whole.
    pub fn direct_call(&self) -> impl Future<Output = bool> + use<> {
        direct_call(&self.direct, &self.url)
    }

    /// A Fetch call of the upstream resource on `client`, true when it came back whole.
    pub fn fetch_call(
        &self,
        client: &FetchServiceClient<Channel>,
    ) -> impl Future<Output = bool> + use<> {
        fetch_call(client, &self.url)
    }

    fn stop(mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.stop());
        }
    }
}

/// A loopback upstream answering `GET /kib` with a 1 KiB body.
async fn start_upstream() -> String {
    let up = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = up.local_addr().expect("upstream address");
    let body = vec![b'x'; BODY_BYTES];
    let router = Router::new().route("/kib", get(move || std::future::ready(body.clone())));
    tokio::spawn(async move { axum::serve(up, router).await });
    format!("http://{addr}/kib")
}

/// streamgate, with as many upstream slots as the load has calls in flight.
async fn start_server(server_rt: &Runtime) -> TestServer {
    let config = streamgate::Config::from_args([
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
    TestServer::start_on(config, streamgate::Deps::default(), server_rt.handle()).await
}

async fn measure_baselines(direct: &reqwest::Client, url: &str, addr: SocketAddr) -> Baselines {
    let direct_call = |_| direct_call(direct, url);
    warm_up(direct_call).await;
    let direct = load(REQUESTS, CONCURRENCY, direct_call).await;

    // The cheapest call the server answers, same load, one channel: the ceiling the gRPC
    // hop alone puts on any unary call here.
    let health = HealthClient::new(support::connect(addr).await);
    let check = |_| health_call(&health);
    warm_up(check).await;
    let health = load(REQUESTS, CONCURRENCY, check).await;

    let client = FetchServiceClient::new(support::connect(addr).await);
    let fetch = |_| fetch_call(&client, url);
    warm_up(fetch).await;
    let fetch = load(REQUESTS, CONCURRENCY, fetch).await;
    Baselines {
        direct,
        health,
        fetch,
    }
}

/// Makes [`WARM_UP`] calls, unmeasured.
pub async fn warm_up<F, Fut>(call: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    for i in 0..WARM_UP {
        call(i).await;
    }
}

/// A health check of FetchService, true when it answers SERVING.
pub fn health_call(client: &HealthClient<Channel>) -> impl Future<Output = bool> + use<> {
    let mut c = client.clone();
    let req = HealthCheckRequest {
        service: "streamgate.v1.FetchService".into(),
    };
    async move {
        c.check(req)
            .await
            .map(|r| r.get_ref().status == 1)
            .unwrap_or(false)
    }
}

fn direct_call(client: &reqwest::Client, url: &str) -> impl Future<Output = bool> + use<> {
    let req = client.get(url);
    async move {
        match req.send().await {
            Ok(r) => r
                .bytes()
                .await
                .map(|b| b.len() == BODY_BYTES)
                .unwrap_or(false),
            Err(_) => false,
        }
    }
}

fn fetch_call(
    client: &FetchServiceClient<Channel>,
    url: &str,
) -> impl Future<Output = bool> + use<> {
    let mut c = client.clone();
    let req = FetchRequest {
        url: url.to_string(),
        ..Default::default()
    };
    async move {
        match c.fetch(req).await {
            Ok(r) => r.get_ref().status == 200 && r.get_ref().body.len() == BODY_BYTES,
            Err(_) => false,
        }
    }
}
