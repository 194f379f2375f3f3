//! The tower layers every service shares, in the order a call meets them (outermost first).
//! Each layer lives in a file of its own beside this one; add it to [`stack`] in its place.
//!
//! TCP_NODELAY and TLS are set on the connection ([`super::incoming`]); message limits are
//! per service ([`super::App::serve`]).

use std::sync::Arc;

use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};

use super::auth::AuthLayer;
use super::grpc_metrics::GrpcMetricsLayer;
use super::trace::TraceLayer;
use crate::edge::Gate;
use crate::metrics::Metrics;

/// The layer types of [`stack`], innermost first (tower nests them that way).
pub(super) type Layers = Stack<AuthLayer, Stack<GrpcMetricsLayer, Stack<TraceLayer, Identity>>>;

/// The shared layers, outermost first: trace context (so everything after it, and its log
/// lines, runs in the call's span), gRPC metrics (so refusals by the edge are counted under
/// their codes), then authentication and admission ([`AuthLayer`], a pass-through without a
/// policy).
pub(super) fn stack(metrics: &Metrics, gate: Option<Arc<Gate>>) -> ServiceBuilder<Layers> {
    ServiceBuilder::new()
        .layer(TraceLayer)
        .layer(GrpcMetricsLayer::new(metrics.grpc()))
        .layer(AuthLayer::new(gate))
}
