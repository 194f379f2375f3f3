//! Helpers for the FetchService tests: a tonic client, a server with an injected resolver and
//! allow list, and counting loopback upstreams.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use streamgate::Config;
use streamgate::fetch::{FetchHandler, FetchOptions, Lookup, LookupFuture};
use streamgate::proto::fetch_service_server::FetchServiceServer;
use streamgate::shutdown::Shutdown;
use streamgate_client::proto::FetchRequest;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Channel, Endpoint};

/// A connected FetchService client for `addr`.
pub async fn client_for(addr: SocketAddr) -> FetchServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("valid endpoint")
        .connect()
        .await
        .expect("connect to the test server");
    FetchServiceClient::new(channel)
}

/// A GET of `url` with every other field at its default.
pub fn get(url: impl Into<String>) -> FetchRequest {
    FetchRequest {
        url: url.into(),
        ..Default::default()
    }
}

/// The config of a server that refuses private networks (the production default).
pub fn guarded_config(extra: &[&str]) -> Config {
    let mut args = vec!["streamgate", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Config::from_args(args).expect("test flags parse")
}

/// A resolver with fixed answers; any other name fails as NXDOMAIN would, so no test ever
/// sends a DNS packet.
pub struct FixedLookup(pub HashMap<String, Vec<IpAddr>>);

impl FixedLookup {
    /// From `(name, addresses)` pairs.
    pub fn new(entries: &[(&str, &[&str])]) -> Arc<Self> {
        Arc::new(Self(
            entries
                .iter()
                .map(|(n, ips)| {
                    let ips = ips
                        .iter()
                        .map(|i| i.parse().expect("test IP parses"))
                        .collect();
                    (n.to_string(), ips)
                })
                .collect(),
        ))
    }
}

impl Lookup for FixedLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let answer = self.0.get(host).cloned();
        let host = host.to_string();
        Box::pin(async move {
            answer.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no such host {host} (test resolver)"),
                )
            })
        })
    }
}

/// A FetchService-only server built with [`FetchOptions`], for guard tests that need an
/// injected resolver or an allow list.
pub struct OptionsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl OptionsServer {
    /// Serves FetchService with `config` and `options` on a free loopback port.
    pub async fn start(config: Config, options: FetchOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("bound address");
        let handler =
            FetchHandler::with_options(&config, Shutdown::new(), options).expect("handler builds");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(FetchServiceServer::new(handler))
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            addr,
            stop: Some(tx),
            handle,
        }
    }

    /// A client of this server.
    pub async fn client(&self) -> FetchServiceClient<Channel> {
        client_for(self.addr).await
    }
}

impl Drop for OptionsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.abort();
    }
}

/// A shared hit counter for upstream handlers.
#[derive(Clone, Default)]
pub struct Hits(pub Arc<AtomicUsize>);

impl Hits {
    /// Counts one hit.
    pub fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Hits so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}
