//! The tower layers every service shares, in the order a call meets them (outermost first).
//! Each layer lives in a file of its own beside this one; add it to [`stack`] in its place.
//!
//! TCP_NODELAY is set on the connection ([`super::incoming`]) and message limits are per
//! service ([`super::App::serve`]).

use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};

use super::grpc_metrics::GrpcMetricsLayer;
use super::trace::TraceLayer;
use crate::metrics::Metrics;

/// The shared layers, outermost first.
pub(super) fn stack(
    metrics: &Metrics,
) -> ServiceBuilder<Stack<GrpcMetricsLayer, Stack<TraceLayer, Identity>>> {
    ServiceBuilder::new()
        // Trace context first, so everything after it (and its log lines) runs in the call's span.
        .layer(TraceLayer)
        .layer(GrpcMetricsLayer::new(metrics.grpc()))
}
