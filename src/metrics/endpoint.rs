//! The `/metrics` endpoint: plain HTTP/1.1 on a port of its own (`--metrics-listen`), so
//! scrapers need neither gRPC nor the caller credentials of the gRPC port.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Metrics;

/// Serves `GET /metrics` (everything else: 404) on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, metrics: Metrics, stop: CancellationToken) {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(metrics);
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::warn!("the metrics endpoint stopped: {e}");
    }
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode())
}
