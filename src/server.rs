//! Assembles the tonic server: the three services, health, reflection (v1 and v1alpha), and
//! graceful shutdown.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::config::Config;
use crate::fetch::FetchHandler;
use crate::lock::LockHandler;
use crate::proto::fetch_service_server::FetchServiceServer;
use crate::proto::lock_service_server::LockServiceServer;
use crate::proto::sensor_service_server::SensorServiceServer;
use crate::sensor::SensorHandler;
use crate::shutdown::Shutdown;

/// LockService's name in health, the one whose status follows Redis.
const LOCK_SERVICE: &str = "streamgate.v1.LockService";

/// The fully qualified names health reports on, one per service.
pub const SERVICE_NAMES: [&str; 3] = [
    "streamgate.v1.FetchService",
    LOCK_SERVICE,
    "streamgate.v1.SensorService",
];

/// Runs the server on `listener` until `stop` completes, then shuts down gracefully: health
/// turns NOT_SERVING, no new connections are accepted, open streams end with UNAVAILABLE,
/// unary calls in flight get up to `--shutdown-grace` to finish.
///
/// Logs `listening on ADDR` once it serves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let shutdown = Shutdown::new();
    let local = listener.local_addr().context("reading the bound address")?;

    let fetch = FetchHandler::new(&config, shutdown.clone()).context("starting FetchService")?;
    let lock = LockHandler::new(&config, shutdown.clone())
        .await
        .context("starting LockService")?;
    let sensor = SensorHandler::new(&config, shutdown.clone());

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    for name in SERVICE_NAMES {
        health_reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;

    let lock_health = lock.availability().map(|up| {
        tokio::spawn(report_lock_health(
            up,
            health_reporter.clone(),
            shutdown.clone(),
        ))
    });

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building reflection v1")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    let grace = config.shutdown_grace;
    let stop_streams = shutdown.clone();
    let reporter = health_reporter.clone();
    let signal = async move {
        stop.await;
        for name in SERVICE_NAMES.into_iter().chain([""]) {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        stop_streams.trigger();
    };

    let router = Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(crate::fetch::track_pages(FetchServiceServer::new(fetch)))
        .add_service(LockServiceServer::new(lock))
        .add_service(
            SensorServiceServer::new(sensor)
                .max_decoding_message_size(config.sensor_max_message_bytes),
        );

    tracing::info!("listening on {local}");
    // Nagle's algorithm would hold each small response back until the client's delayed ACK
    // (~40 ms a call); tonic only sets TCP_NODELAY on listeners it binds itself.
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        })
    });
    let server = router.serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(server);
    tokio::select! {
        res = &mut server => res.context("serving gRPC")?,
        _ = shutdown.recv() => {
            // Streams have been told to end; give in-flight calls the grace period.
            match tokio::time::timeout(grace.max(Duration::from_millis(1)), &mut server).await {
                Ok(res) => res.context("serving gRPC")?,
                Err(_) => tracing::warn!("calls still open after {grace:?}; exiting anyway"),
            }
        }
    }
    if let Some(task) = lock_health {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Keeps LockService's health in step with its store: NOT_SERVING while Redis is unreachable
/// (calls answer UNAVAILABLE then), SERVING once it is back. The other services and the
/// server as a whole ("") stay SERVING. Stops at shutdown, which sets NOT_SERVING for all.
async fn report_lock_health(
    mut up: tokio::sync::watch::Receiver<bool>,
    reporter: tonic_health::server::HealthReporter,
    shutdown: Shutdown,
) {
    loop {
        let status = if *up.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if shutdown.is_triggered() {
            return;
        }
        reporter.set_service_status(LOCK_SERVICE, status).await;
        tokio::select! {
            changed = up.changed() => if changed.is_err() { return },
            _ = shutdown.recv() => return,
        }
    }
}
