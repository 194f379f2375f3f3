//! Prometheus metrics: one registry per server, the families every part records into, and
//! the `/metrics` endpoint that exports them (see `docs/observability.md` for the list).
//!
//! The registry belongs to one [`crate::App`] and is handed to each service by the builder,
//! not kept in a process global: tests run several servers in one process, and each must
//! count only its own calls. With `--metrics-listen` unset the handle is *off*: every
//! recording function returns at its first branch and the gRPC layer passes calls through,
//! which is what the benches compare against.
//!
//! Label values come only from small fixed sets (`&'static str` from a table, or an enum
//! spelled here); nothing a client sends (URL, host, lock name, token, sensor id) ever
//! becomes a label.

pub(crate) mod edge;
mod endpoint;
pub(crate) mod fetch;
pub(crate) mod grpc;
pub(crate) mod lock;
mod process;
pub(crate) mod sensor;
mod trace;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use edge::AuthFailure;
pub(crate) use edge::EdgeMetrics;
pub(crate) use endpoint::serve as serve_endpoint;
pub(crate) use fetch::{FetchMetrics, RefusalKind};
pub(crate) use grpc::GrpcMetrics;
pub(crate) use lock::LockMetrics;
pub(crate) use sensor::SensorMetrics;

/// The metrics of one server; cheap to clone (one `Arc`), off when built with
/// [`Metrics::off`].
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    inner: Option<Arc<Families>>,
}

/// Every family, and the registry that exports them.
#[derive(Debug)]
struct Families {
    registry: Registry,
    grpc: grpc::Families,
    fetch: fetch::Families,
    lock: lock::Families,
    sensor: sensor::Families,
    edge: edge::Families,
    redis_up: Option<Gauge>,
}

impl Metrics {
    /// A registry with every family registered. `with_redis`: the lock store is a Redis,
    /// so `streamgate_redis_up` is exported (it is absent with the in-process store, where
    /// there is nothing to be down).
    pub fn new(with_redis: bool) -> Self {
        let mut registry = Registry::default();
        let grpc = grpc::Families::register(&mut registry);
        let fetch = fetch::Families::register(&mut registry);
        let lock = lock::Families::register(&mut registry);
        let sensor = sensor::Families::register(&mut registry);
        let edge = edge::Families::register(&mut registry);
        let redis_up = with_redis.then(|| {
            let up = Gauge::default();
            registry.register(
                "streamgate_redis_up",
                "Whether the lock store's Redis answers (1) or not (0)",
                up.clone(),
            );
            up
        });
        registry.register_collector(Box::new(process::ProcessCollector));
        registry.register_collector(Box::new(trace::TraceExportCollector));
        Self {
            inner: Some(Arc::new(Families {
                registry,
                grpc,
                fetch,
                lock,
                sensor,
                edge,
                redis_up,
            })),
        }
    }

    /// Metrics turned off: nothing is recorded or exported.
    pub fn off() -> Self {
        Self::default()
    }

    /// Whether this handle records anything.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Everything registered, in the Prometheus text format (version 0.0.4); empty when off.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Some(f) = &self.inner {
            // Writing into a String cannot fail; a collector error would only cut the output.
            if let Err(e) =
                prometheus_client::encoding::prometheus_text::encode(&mut out, &f.registry)
            {
                tracing::warn!("encoding metrics failed: {e}");
            }
        }
        out
    }

    /// Everything registered in the OpenMetrics text format (1.0.0), which carries the
    /// latency histograms' exemplars; empty when off.
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        if let Some(f) = &self.inner {
            if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &f.registry) {
                tracing::warn!("encoding metrics failed: {e}");
            }
        }
        out
    }

    /// The gRPC server families, for the layer in `server::metrics`.
    pub fn grpc(&self) -> GrpcMetrics {
        GrpcMetrics::new(self.inner.clone())
    }

    /// FetchService's families (upstream requests, queue, refusals, pages).
    pub fn fetch(&self) -> FetchMetrics {
        FetchMetrics::new(self.inner.clone())
    }

    /// LockService's families (grants, waiters, wait time).
    pub fn lock(&self) -> LockMetrics {
        LockMetrics::new(self.inner.clone())
    }

    /// SensorService's families (streams, readings, alerts, rejections).
    pub fn sensor(&self) -> SensorMetrics {
        SensorMetrics::new(self.inner.clone())
    }

    /// The edge's families (authentication failures, policy denials).
    pub fn edge(&self) -> EdgeMetrics {
        EdgeMetrics::new(self.inner.clone())
    }

    /// Records whether the lock store's Redis answers (no-op without Redis or when off).
    pub fn set_redis_up(&self, up: bool) {
        if let Some(g) = self.inner.as_ref().and_then(|f| f.redis_up.as_ref()) {
            g.set(i64::from(up));
        }
    }
}

/// Seconds buckets for latencies from 0.5 ms to ~65 s (go-grpc-prometheus's defaults stop at
/// 10 s; fetches and lock waits run longer).
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 18)
}

/// A latency observation's exemplar: the trace of the call it belongs to, so a dashboard's
/// slow bucket links to a trace (`{trace_id="<32 hex>"}` in OpenMetrics).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TraceExemplar {
    trace_id: String,
}

/// The exemplar of the current call when it is in a sampled, exported trace.
fn current_exemplar() -> Option<TraceExemplar> {
    crate::telemetry::semconv::sampled_trace_id().map(|trace_id| TraceExemplar { trace_id })
}
