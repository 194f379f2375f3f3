//! The `/metrics` endpoint: plain HTTP/1.1 on a port of its own (`--metrics-listen`), so
//! scrapers need neither gRPC nor the caller credentials of the gRPC port.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
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
