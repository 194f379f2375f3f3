//! The `/metrics` endpoint: plain HTTP/1.1 on a port of its own (`--metrics-listen`), so
//! scrapers need neither gRPC nor the caller credentials of the gRPC port.
//!
//! Bounded like the gRPC port, more tightly: at most [`MAX_CONNECTIONS`] connections at once
//! (one beyond it is closed at once), and each connection must deliver every request's
//! headers within `--handshake-timeout` of being ready for them, so a silent or slow peer, or
//! a scraper's idle keep-alive connection, frees its descriptor within that time. Unbounded,
//! a thousand idle connections here once used up the process's descriptors and took the gRPC
//! port down with it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Metrics;

/// Connections the endpoint serves at once: a scraper or two and an operator's curl need a
/// handful; 16 descriptors at most, whatever a peer does.
pub(super) const MAX_CONNECTIONS: usize = 16;

/// Pause after a failed accept (out of descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `GET /metrics` (everything else: 404) on `listener` until `stop` is cancelled;
/// `header_timeout` bounds the wait for each request's headers.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    header_timeout: Duration,
    stop: CancellationToken,
) {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(metrics);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::debug!("the metrics endpoint cannot accept: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "closing a metrics connection: {MAX_CONNECTIONS} already open");
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let stop = stop.clone();
        conns.spawn(async move {
            let _slot = slot;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => if let Err(e) = res {
                    tracing::debug!(%peer, "metrics connection ended: {e}");
                },
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    // Scrapes in flight finish (the caller bounds the wait); idle connections close now.
    while conns.join_next().await.is_some() {}
}

/// The OpenMetrics media type, as Prometheus asks for it when exemplar storage is on.
const OPENMETRICS: &str = "application/openmetrics-text";
/// What an OpenMetrics answer is labelled with.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The Prometheus text format by default; OpenMetrics (with exemplars) for a scraper whose
/// `Accept` lists it, as Prometheus's does.
async fn scrape(State(metrics): State<Metrics>, headers: HeaderMap) -> impl IntoResponse {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(OPENMETRICS));
    if openmetrics {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            metrics.encode_openmetrics(),
        )
    } else {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode())
    }
}
