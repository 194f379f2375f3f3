//! The shared test harness: an in-process streamgate on a free port, a real `redis-server` on
//! a free port, and loopback HTTP upstreams. Every integration test starts its parts here.

#![allow(dead_code)]

pub mod binary;
pub mod edge;
pub mod eventually;
pub mod fetch;
pub mod frame_client;
pub mod h2raw;
pub mod lock;
pub mod logs;
pub mod metrics;
pub mod redis_topology;
pub mod sensor;

pub use eventually::{eventually, eventually_blocking, until};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use streamgate::FeedMetrics;
use streamgate::{App, Config, Deps, Shutdown};
use streamgate::{Decisions, Reloader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// A streamgate server running inside the test process, built by [`App::build`] as the
/// binary builds it.
pub struct TestServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The live counters of its SensorFeed streams.
    pub sensor_metrics: FeedMetrics,
    /// Its stop signal as the services see it (trigger it to test shutdown).
    pub shutdown: Shutdown,
    /// Re-reads TLS material and policy (what SIGHUP does).
    pub reloader: Reloader,
    /// The policy's refusal and report counters (`None` without `--policy`).
    pub decisions: Option<Arc<Decisions>>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server with `Config::for_tests()` (loopback upstreams allowed).
    pub async fn start() -> Self {
        Self::start_with(Config::for_tests()).await
    }

    /// Starts a server with the given config on a free loopback port (whatever `listen` says).
    pub async fn start_with(config: Config) -> Self {
        Self::start_on(config, Deps::default(), &tokio::runtime::Handle::current()).await
    }

    /// As [`Self::start_with`], with injected dependencies (a test resolver, guard exceptions).
    pub async fn start_with_deps(config: Config, deps: Deps) -> Self {
        Self::start_on(config, deps, &tokio::runtime::Handle::current()).await
    }

    /// As [`Self::start_with_deps`], with the server's tasks on `runtime` (benches give the
    /// server a runtime of its own, as it has in its own process, apart from their clients').
    pub async fn start_on(config: Config, deps: Deps, runtime: &tokio::runtime::Handle) -> Self {
        let settings = config.settings().expect("test settings are valid");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("bound address");
        let app = runtime
            .spawn(App::build(settings, deps))
            .await
            .expect("build task did not panic")
            .expect("the server builds");
        let sensor_metrics = app.sensor_metrics();
        let shutdown = app.shutdown();
        let reloader = app.reloader();
        let decisions = app.decisions();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = runtime.spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        let server = Self {
            addr,
            sensor_metrics,
            shutdown,
            reloader,
            decisions,
            stop: Some(tx),
            handle: Some(handle),
        };
        server.wait_ready().await;
        server
    }

    /// Starts a server with extra command-line flags on top of the test defaults.
    pub async fn start_with_args(extra: &[&str]) -> Self {
        Self::start_with_args_and_deps(extra, Deps::default()).await
    }

    /// As [`Self::start_with_args`], with injected dependencies (a test resolver).
    pub async fn start_with_args_and_deps(extra: &[&str], deps: Deps) -> Self {
        let mut args = vec![
            "streamgate",
            "--listen",
            "127.0.0.1:0",
            "--allow-private-networks",
        ];
        args.extend_from_slice(extra);
        Self::start_with_deps(Config::from_args(args).expect("test flags parse"), deps).await
    }

    /// `http://ADDR`, the endpoint URL for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A fresh connected channel.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(self.url())
            .expect("valid endpoint")
            .connect()
            .await
            .expect("connect to the test server")
    }

    async fn wait_ready(&self) {
        eventually(
            Duration::from_secs(10),
            "the test server accepts connections",
            || tokio::net::TcpStream::connect(self.addr),
        )
        .await;
    }

    /// Signals a graceful stop and waits for `serve` to return (at most 30 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let handle = self.handle.take().expect("stop is called once");
        tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .expect("server stopped within 30 s")
            .expect("server task did not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A real `redis-server` on a free loopback port, killed on drop.
pub struct RedisServer {
    /// The port it listens on.
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Spawns `redis-server` without persistence on a free port and waits for PING.
    ///
    /// Panics with `install redis-server` when the binary is missing: a lock test must never
    /// pass without a real Redis.
    pub fn start() -> Self {
        let port = free_port();
        Self::start_on(port)
    }

    /// Spawns `redis-server` on the given port (used to restart one on the same port).
    pub fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                dir.path().to_str().expect("utf-8 temp path"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install redis-server (apt-get install -y redis-server)")
            });
        let server = Self {
            port,
            child: Some(child),
            dir,
        };
        server.wait_ready();
        server
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_ready(&self) {
        let what = format!("redis-server on port {} answers PING", self.port);
        eventually_blocking(Duration::from_secs(10), &what, || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
            s.write_all(b"PING\r\n")?;
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf)?;
            if buf[..n].starts_with(b"+PONG") {
                Ok(())
            } else {
                Err(std::io::Error::other(format!("answered {:?}", &buf[..n])))
            }
        });
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback TCP port (bound then released; a race is possible but rare).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A loopback HTTP server running an axum router, stopped on drop.
pub struct Upstream {
    /// The address it listens on.
    pub addr: SocketAddr,
    handle: JoinHandle<()>,
}

impl Upstream {
    /// Serves `router` on a free loopback port.
    pub async fn start(router: axum::Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, handle }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Path of the `streamgate` binary built for this test run.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_streamgate"))
}

/// Waits until `server` reports `want` for `service`, on the health `Watch` stream (the change
/// itself is awaited, not polled); fails after `within` naming the last status seen.
pub async fn wait_for_health(
    server: &TestServer,
    service: &str,
    want: tonic_health::ServingStatus,
    within: Duration,
) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let want = tonic_health::pb::health_check_response::ServingStatus::from(want);
    let mut health = HealthClient::new(server.channel().await);
    let req = HealthCheckRequest {
        service: service.into(),
    };
    let mut updates = health.watch(req).await.expect("Watch").into_inner();
    let mut last = None;
    let seen = tokio::time::timeout(within, async {
        while let Some(update) = updates.message().await.expect("the Watch stream") {
            last = Some(update.status());
            if update.status() == want {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        seen,
        Ok(true),
        "{service} never reported {want:?} within {within:?}; last: {last:?}"
    );
}
