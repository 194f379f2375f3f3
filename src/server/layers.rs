//! The tower layers every service shares, in the order a call meets them (outermost first).
//! Each layer lives in a file of its own beside this one; add it to [`stack`] in its place.
//!
//! Browser support comes first, so every layer after it (trace context, metrics, auth, ...)
//! sees a gRPC-Web call as the ordinary gRPC call it is translated into: CORS answers
//! preflights and marks answers for the page's origin ([`super::cors`]), then gRPC-Web is
//! refused for client-streaming methods and translated ([`super::grpc_web`]). TCP_NODELAY and
//! TLS are set on the connection ([`super::incoming`]); message limits are per service
//! ([`super::App::serve`] builds them, [`super::budget`] applies them).

use std::sync::Arc;

use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};

use super::activity::ActivityLayer;
use super::auth::AuthLayer;
use super::budget::{BudgetLayer, Budgets};
use super::conn::Registry;
use super::cors::CorsLayer;
use super::grpc_metrics::GrpcMetricsLayer;
use super::grpc_web;
use super::message_limit::MessageLimits;
use super::trace::TraceLayer;
use crate::config::WebSettings;
use crate::edge::Gate;
use crate::metrics::Metrics;

/// The layers of [`stack`], as tower nests them: each `.layer(x)` added to the builder wraps
/// this type as `Stack<X, previous>` (innermost first).
pub(super) type Layers = Stack<
    AuthLayer,
    Stack<
        GrpcMetricsLayer,
        Stack<
            TraceLayer,
            Stack<
                BudgetLayer,
                Stack<
                    Stack<tonic_web::GrpcWebLayer, grpc_web::RefuseClientStreamingLayer>,
                    Stack<CorsLayer, Stack<ActivityLayer, Identity>>,
                >,
            >,
        >,
    >,
>;

/// The shared layers, outermost first.
pub(super) fn stack(
    web: &WebSettings,
    metrics: &Metrics,
    gate: Option<Arc<Gate>>,
    registry: Arc<Registry>,
    budgets: Arc<Budgets>,
    limits: MessageLimits,
    exporting_traces: bool,
) -> ServiceBuilder<Layers> {
    ServiceBuilder::new()
        // Outermost: every request, even one refused below, is activity on its connection.
        .layer(ActivityLayer::new(registry))
        // Browsers first (see the module doc): keep these two ahead of every other layer.
        .layer(CorsLayer::new(web))
        .layer(grpc_web::layer(&web.allowed_hosts))
        // After the translation, where every call is framed as gRPC.
        .layer(BudgetLayer::new(budgets, limits))
        // Trace context next, so everything after it (and its log lines) runs in the call's
        // span; gRPC metrics before auth, so the edge's refusals are counted under their codes.
        .layer(TraceLayer::new(exporting_traces))
        .layer(GrpcMetricsLayer::new(metrics.grpc()))
        .layer(AuthLayer::new(gate))
}
