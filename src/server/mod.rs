//! The one way to build the server: [`App::build`] turns checked [`Settings`] and injected
//! [`Deps`] into the three services, health and reflection; [`App::serve`] runs them on a
//! listener until a stop signal, then shuts down gracefully. The binary, every test harness
//! and every bench go through it, so a layer added here is in every test.
//!
//! A call meets, in order: the listener ([`incoming`]: `--max-connections`, TCP_NODELAY, the
//! TLS handshake), the HTTP/2 server (`--max-streams-per-connection` advertised and
//! enforced; or HTTP/1.1, which gRPC-Web from browsers may use), the tower layers of
//! [`layers`] (shared by every service: CORS and the gRPC-Web translation first, then trace
//! context, gRPC metrics, [`auth`]), then the ListPages progress tracker and the handler,
//! which asks the caller's per-message rules (`fetch_methods`, `lock_prefixes`) where it
//! validates the request.
//!
//! With `--metrics-listen`, the builder also makes the server's [`Metrics`], hands each
//! service its part, and serves `/metrics` on that address for as long as the server runs.

mod activity;
mod auth;
mod budget;
mod conn;
mod cors;
mod grpc_metrics;
mod grpc_web;
mod health;
mod incoming;
mod layers;
mod message_limit;
mod refusal;
mod trace;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::Server;

use message_limit::{MessageLimit, MessageLimits};

use crate::config::Settings;
use crate::edge::{Decisions, Gate, Reloader, TlsStore};
use crate::fetch::{FetchHandler, Lookup, SystemLookup};
use crate::lock::LockHandler;
use crate::metrics::Metrics;
use crate::proto::fetch_service_server::FetchServiceServer;
use crate::proto::lock_service_server::LockServiceServer;
use crate::proto::sensor_service_server::SensorServiceServer;
use crate::sensor::{FeedMetrics, SensorHandler};
use crate::shutdown::Shutdown;

/// What an embedder or a test injects instead of the real thing.
#[derive(Clone)]
pub struct Deps {
    /// The resolver every named Fetch/ListPages host goes through (default: the system's).
    pub lookup: Arc<dyn Lookup>,
    /// Exact addresses the target guard lets through even inside refused ranges.
    pub allowed_addresses: Vec<IpAddr>,
}

impl Default for Deps {
    fn default() -> Self {
        Self {
            lookup: Arc::new(SystemLookup),
            allowed_addresses: Vec::new(),
        }
    }
}

/// A built server, ready to serve.
pub struct App {
    settings: Settings,
    shutdown: Shutdown,
    fetch: FetchHandler,
    lock: LockHandler,
    sensor: SensorHandler,
    metrics: Metrics,
    /// Bound at build time, so a taken port fails the start rather than the first scrape.
    metrics_listener: Option<TcpListener>,
    tls: Option<Arc<TlsStore>>,
    gate: Option<Arc<Gate>>,
}

impl App {
    /// Builds every service from its own part of `settings`. A Redis that is down does not
    /// fail this: lock calls answer UNAVAILABLE until it is back.
    pub async fn build(settings: Settings, deps: Deps) -> anyhow::Result<Self> {
        let shutdown = Shutdown::new();
        let (metrics, metrics_listener) = match settings.metrics.listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?;
                (Metrics::new(settings.lock.redis.is_some()), Some(listener))
            }
            None => (Metrics::off(), None),
        };
        let fetch = FetchHandler::new(
            &settings.fetch,
            deps.lookup,
            deps.allowed_addresses,
            metrics.fetch(),
            shutdown.clone(),
        )
        .context("starting FetchService")?;
        let lock = LockHandler::new(&settings.lock, metrics.lock(), shutdown.clone())
            .await
            .context("starting LockService")?;
        let sensor = SensorHandler::new(&settings.sensor, metrics.sensor(), shutdown.clone());
        let tls = settings
            .edge
            .tls
            .as_ref()
            .map(|t| Arc::new(TlsStore::new(t.files.clone(), t.config.clone())));
        let gate = settings.edge.policy.as_ref().map(|p| {
            Arc::new(Gate::with_sink(
                p.path.clone(),
                p.policy.clone(),
                Some(Arc::new(metrics.edge())),
            ))
        });
        Ok(Self {
            settings,
            shutdown,
            fetch,
            lock,
            sensor,
            metrics,
            metrics_listener,
            tls,
            gate,
        })
    }

    /// What re-reads the TLS material and the policy (the binary calls it on SIGHUP).
    pub fn reloader(&self) -> Reloader {
        Reloader::new(self.tls.clone(), self.gate.clone())
    }

    /// The counters of the policy's refusals and reports (`None` without `--policy`).
    pub fn decisions(&self) -> Option<Arc<Decisions>> {
        self.gate.as_ref().map(|g| g.decisions().clone())
    }

    /// The server's metrics (off without `--metrics-listen`); the edge records through
    /// [`Metrics::edge`].
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Where `/metrics` is served, once bound (`None` without `--metrics-listen`).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The live counters of SensorFeed streams (tests watch them for leaks).
    pub fn sensor_metrics(&self) -> FeedMetrics {
        self.sensor.metrics()
    }

    /// The server's stop signal as the services see it: triggering it ends open streams
    /// with UNAVAILABLE and starts the shutdown grace, as a SIGTERM does.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves on `listener` until `stop` completes, then shuts down gracefully: health
    /// turns NOT_SERVING, no new connections are accepted, open streams end with
    /// UNAVAILABLE, unary calls in flight get up to `--shutdown-grace` to finish.
    ///
    /// Logs `listening on ADDR` once it serves.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            settings,
            shutdown,
            fetch,
            lock,
            sensor,
            metrics,
            metrics_listener,
            tls,
            gate,
        } = self;
        let local = listener.local_addr().context("reading the bound address")?;
        let health = health::Health::start(lock.availability(), shutdown.clone()).await;
        let metrics_tasks = start_metrics(
            &metrics,
            metrics_listener,
            settings.server.handshake_timeout,
            lock.availability(),
        );
        // Each service's message limit, set twice from one figure: checked on the announced
        // length by the budget layer (RESOURCE_EXHAUSTED naming the flag, nothing buffered),
        // and as tonic's decode limit behind it.
        let control_limit = settings.server.control_max_message_bytes.get();
        let control = MessageLimit::flag("--control-max-message-bytes", control_limit);
        let fetch_limit = MessageLimit::derived(
            "--fetch-max-request-bytes",
            settings.fetch.max_request_bytes,
            settings.fetch.max_message_bytes(),
        );
        let sensor_limit = settings.sensor.max_message_bytes.get();
        let reflection_v1 = reflection_builder()
            .build_v1()
            .context("building reflection v1")?
            .max_decoding_message_size(control_limit);
        let reflection_v1alpha = reflection_builder()
            .build_v1alpha()
            .context("building reflection v1alpha")?
            .max_decoding_message_size(control_limit);
        let health_service = health.service().max_decoding_message_size(control_limit);
        let fetch_service = FetchServiceServer::new(fetch)
            .max_decoding_message_size(settings.fetch.max_message_bytes());
        let lock_service = LockServiceServer::new(lock).max_decoding_message_size(control_limit);
        let sensor_service =
            SensorServiceServer::new(sensor).max_decoding_message_size(sensor_limit);
        let limits = MessageLimits::default()
            .with(&health_service, control)
            .with(&reflection_v1, control)
            .with(&reflection_v1alpha, control)
            .with(&fetch_service, fetch_limit)
            .with(&lock_service, control)
            .with(
                &sensor_service,
                MessageLimit::flag("--sensor-max-message-bytes", sensor_limit),
            );

        let reporter = health.clone();
        let stop_streams = shutdown.clone();
        let signal = async move {
            stop.await;
            reporter.not_serving().await;
            stop_streams.trigger();
        };

        let registry = conn::Registry::new();
        let router = Server::builder()
            .max_concurrent_streams(settings.server.max_streams_per_connection.get())
            .http2_keepalive_interval(Some(settings.server.keepalive_interval))
            .http2_keepalive_timeout(Some(settings.server.keepalive_timeout))
            .initial_stream_window_size(settings.server.windows.stream_bytes.get())
            .initial_connection_window_size(settings.server.windows.connection_bytes.get())
            // gRPC-Web callers may speak HTTP/1.1; native gRPC still needs HTTP/2 (tonic-web
            // answers a non-gRPC-Web HTTP/1.1 request with 400).
            .accept_http1(true)
            .layer(layers::stack(
                &settings.web,
                &metrics,
                gate.clone(),
                registry.clone(),
                budget::Budgets::new(
                    settings
                        .server
                        .max_partial_message_bytes_per_connection
                        .get(),
                    settings.server.max_partial_message_bytes.get(),
                ),
                limits,
                settings.trace.is_some(),
            ))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(crate::fetch::track_pages(fetch_service))
            .add_service(lock_service)
            .add_service(sensor_service);

        let accept = incoming::Accept {
            max: settings.server.max_connections.get(),
            timeouts: conn::Timeouts {
                handshake: settings.server.handshake_timeout,
                idle: settings.server.idle_timeout,
            },
            registry,
        };
        tracing::info!(
            "listening on {local}{}{}",
            match (&tls, &settings.edge.tls) {
                (Some(_), Some(t)) if t.files.client_ca.is_some() =>
                    " (TLS, client certificates required)",
                (Some(_), _) => " (TLS)",
                _ => "",
            },
            match gate.as_ref().map(|g| g.policy().mode()) {
                Some(crate::edge::Mode::Enforce) => " with a policy",
                Some(crate::edge::Mode::Report) => " with a policy in report mode",
                None => "",
            }
        );
        let mut server: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> =
            match tls {
                Some(store) => Box::pin(router.serve_with_incoming_shutdown(
                    incoming::accept(listener, move |tcp| store.acceptor().accept(tcp), accept),
                    signal,
                )),
                None => Box::pin(router.serve_with_incoming_shutdown(
                    incoming::accept(listener, |tcp| std::future::ready(Ok(tcp)), accept),
                    signal,
                )),
            };
        let grace = settings.server.shutdown_grace;
        tokio::select! {
            res = &mut server => res.context("serving gRPC")?,
            _ = shutdown.recv() => {
                // Streams have been told to end; give in-flight calls the grace period.
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(res) => res.context("serving gRPC")?,
                    Err(_) => tracing::warn!("calls still open after {grace:?}; exiting anyway"),
                }
            }
        }
        health.stop();
        metrics_tasks.stop().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The tasks serving `/metrics` and following Redis for `streamgate_redis_up`.
struct MetricsTasks {
    stop: tokio_util::sync::CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl MetricsTasks {
    /// Stops both and waits for the endpoint to close its listener (scrapes in flight get
    /// a second to finish).
    async fn stop(self) {
        self.stop.cancel();
        if tokio::time::timeout(std::time::Duration::from_secs(1), self.tasks.join_all())
            .await
            .is_err()
        {
            tracing::debug!("the metrics endpoint did not stop within 1 s; dropping it");
        }
    }
}

/// Starts serving `/metrics` on `listener` and keeping `streamgate_redis_up` in step with
/// `redis_up`, until [`MetricsTasks::stop`].
fn start_metrics(
    metrics: &Metrics,
    listener: Option<TcpListener>,
    header_timeout: std::time::Duration,
    redis_up: Option<tokio::sync::watch::Receiver<bool>>,
) -> MetricsTasks {
    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = listener {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        tasks.spawn(crate::metrics::serve_endpoint(
            listener,
            metrics.clone(),
            header_timeout,
            stop.clone(),
        ));
    }
    if let (true, Some(mut up)) = (metrics.is_on(), redis_up) {
        let metrics = metrics.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            loop {
                metrics.set_redis_up(*up.borrow_and_update());
                tokio::select! {
                    changed = up.changed() => if changed.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
    MetricsTasks { stop, tasks }
}

/// Reflection v1 (current grpcurl, grpcui) and v1alpha (grpcurl 1.8.6), over the
/// streamgate and health descriptors.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
