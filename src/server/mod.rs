//! The one way to build the server: [`App::build`] turns checked [`Settings`] and injected
//! [`Deps`] into the three services, health and reflection; [`App::serve`] runs them on a
//! listener until a stop signal, then shuts down gracefully. The binary, every test harness
//! and every bench go through it, so a layer added here is in every test.
//!
//! A call meets, in order: the listener ([`incoming`]: `--max-connections`, TCP_NODELAY), the
//! HTTP/2 server (`--max-streams-per-connection` advertised and enforced), the
//! tower layers of [`layers`] (shared by every service), then the service's own wrapper (the
//! ListPages progress tracker) and handler.

mod health;
mod incoming;
mod layers;

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::config::{Config, Settings};
use crate::fetch::{FetchHandler, Lookup, SystemLookup};
use crate::lock::LockHandler;
use crate::proto::fetch_service_server::FetchServiceServer;
use crate::proto::lock_service_server::LockServiceServer;
use crate::proto::sensor_service_server::SensorServiceServer;
use crate::sensor::{FeedMetrics, SensorHandler};
use crate::shutdown::Shutdown;

pub use health::SERVICE_NAMES;

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
}

impl App {
    /// Builds every service from its own part of `settings`. A Redis that is down does not
    /// fail this: lock calls answer UNAVAILABLE until it is back.
    pub async fn build(settings: Settings, deps: Deps) -> anyhow::Result<Self> {
        let shutdown = Shutdown::new();
        let fetch = FetchHandler::new(
            &settings.fetch,
            deps.lookup,
            deps.allowed_addresses,
            shutdown.clone(),
        )
        .context("starting FetchService")?;
        let lock = LockHandler::new(&settings.lock, shutdown.clone())
            .await
            .context("starting LockService")?;
        let sensor = SensorHandler::new(&settings.sensor, shutdown.clone());
        Ok(Self {
            settings,
            shutdown,
            fetch,
            lock,
            sensor,
        })
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
        } = self;
        let local = listener.local_addr().context("reading the bound address")?;
        let health = health::Health::start(lock.availability(), shutdown.clone()).await;
        let reflection_v1 = reflection_builder()
            .build_v1()
            .context("building reflection v1")?;
        let reflection_v1alpha = reflection_builder()
            .build_v1alpha()
            .context("building reflection v1alpha")?;

        let reporter = health.clone();
        let stop_streams = shutdown.clone();
        let signal = async move {
            stop.await;
            reporter.not_serving().await;
            stop_streams.trigger();
        };

        let router = Server::builder()
            .max_concurrent_streams(settings.server.max_streams_per_connection.get())
            .layer(layers::stack())
            .add_service(health.service())
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(crate::fetch::track_pages(
                FetchServiceServer::new(fetch)
                    .max_decoding_message_size(settings.fetch.max_message_bytes()),
            ))
            .add_service(LockServiceServer::new(lock))
            .add_service(
                SensorServiceServer::new(sensor)
                    .max_decoding_message_size(settings.sensor.max_message_bytes.get()),
            );

        tracing::info!("listening on {local}");
        let server = router.serve_with_incoming_shutdown(
            incoming::accept(listener, settings.server.max_connections.get()),
            signal,
        );
        tokio::pin!(server);
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
        tracing::info!("stopped");
        Ok(())
    }
}

/// Builds the server from a parsed command line with the real dependencies and serves it
/// (see [`App::serve`]).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = config.settings()?;
    App::build(settings, Deps::default())
        .await?
        .serve(listener, stop)
        .await
}

/// Reflection v1 (current grpcurl, grpcui) and v1alpha (grpcurl 1.8.6), over the
/// streamgate and health descriptors.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
