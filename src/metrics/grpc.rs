//! The gRPC server families, with go-grpc-prometheus's names, labels and values, so that the
//! dashboards written for Go servers work unchanged.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tonic::Code;

use super::{TraceExemplar, current_exemplar, latency_buckets};

/// `grpc_type`, `grpc_service`, `grpc_method`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    grpc_type: &'static str,
    grpc_service: &'static str,
    grpc_method: &'static str,
}

/// The method labels and `grpc_code`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HandledLabels {
    grpc_type: &'static str,
    grpc_service: &'static str,
    grpc_method: &'static str,
    grpc_code: &'static str,
}

/// Latency histograms carry the trace of a sampled call as their exemplar (OpenMetrics).
type HistogramFamily<S> =
    Family<S, HistogramWithExemplars<TraceExemplar>, fn() -> HistogramWithExemplars<TraceExemplar>>;

#[derive(Debug)]
pub(super) struct Families {
    started: Family<MethodLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    received: Family<MethodLabels, Counter>,
    sent: Family<MethodLabels, Counter>,
    handling: HistogramFamily<MethodLabels>,
}

impl Families {
    pub(super) fn register(r: &mut Registry) -> Self {
        let f = Self {
            started: Family::default(),
            handled: Family::default(),
            received: Family::default(),
            sent: Family::default(),
            handling: Family::new_with_constructor(|| {
                HistogramWithExemplars::new(latency_buckets())
            }),
        };
        r.register(
            "grpc_server_started",
            "Total number of RPCs started on the server",
            f.started.clone(),
        );
        r.register(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure",
            f.handled.clone(),
        );
        r.register(
            "grpc_server_msg_received",
            "Total number of RPC stream messages received on the server",
            f.received.clone(),
        );
        r.register(
            "grpc_server_msg_sent",
            "Total number of gRPC stream messages sent by the server",
            f.sent.clone(),
        );
        r.register(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server",
            f.handling.clone(),
        );
        // Every method's series exist from the start (go-grpc-prometheus's
        // InitializeMetrics), so rates and dashboards see zeros rather than nothing.
        for m in METHODS {
            let labels = m.labels();
            f.started.get_or_create_owned(&labels);
            f.received.get_or_create_owned(&labels);
            f.sent.get_or_create_owned(&labels);
            f.handling.get_or_create_owned(&labels);
            f.handled.get_or_create_owned(&m.handled_labels(Code::Ok));
        }
        f
    }
}

/// One method as the metrics name it: a fixed table, so a client inventing paths cannot
/// invent label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Method {
    /// `unary`, `server_stream` or `bidi_stream`.
    pub grpc_type: &'static str,
    /// The fully qualified service name.
    pub grpc_service: &'static str,
    /// The method name.
    pub grpc_method: &'static str,
}

const UNARY: &str = "unary";
const SERVER_STREAM: &str = "server_stream";
const BIDI_STREAM: &str = "bidi_stream";

/// Every method the server answers, with its streaming kind (from the `.proto` files).
const METHODS: &[Method] = &[
    m(UNARY, "streamgate.v1.FetchService", "Fetch"),
    m(SERVER_STREAM, "streamgate.v1.FetchService", "ListPages"),
    m(UNARY, "streamgate.v1.LockService", "AcquireLock"),
    m(UNARY, "streamgate.v1.LockService", "Release"),
    m(UNARY, "streamgate.v1.LockService", "Extend"),
    m(SERVER_STREAM, "streamgate.v1.LockService", "Hold"),
    m(BIDI_STREAM, "streamgate.v1.SensorService", "SensorFeed"),
    m(UNARY, "grpc.health.v1.Health", "Check"),
    m(SERVER_STREAM, "grpc.health.v1.Health", "Watch"),
    m(UNARY, "grpc.health.v1.Health", "List"),
    m(
        BIDI_STREAM,
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
    ),
    m(
        BIDI_STREAM,
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
    ),
];

/// What any other path counts as (tonic answers it UNIMPLEMENTED).
const UNKNOWN: Method = m(UNARY, "unknown", "unknown");

const fn m(
    grpc_type: &'static str,
    grpc_service: &'static str,
    grpc_method: &'static str,
) -> Method {
    Method {
        grpc_type,
        grpc_service,
        grpc_method,
    }
}

impl Method {
    /// The method of a request path (`/package.Service/Method`), or `unknown`.
    pub fn from_path(path: &str) -> Self {
        let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
            return UNKNOWN;
        };
        METHODS
            .iter()
            .find(|m| m.grpc_method == method && m.grpc_service == service)
            .copied()
            .unwrap_or(UNKNOWN)
    }

    fn handled_labels(self, code: Code) -> HandledLabels {
        HandledLabels {
            grpc_type: self.grpc_type,
            grpc_service: self.grpc_service,
            grpc_method: self.grpc_method,
            grpc_code: code_name(code),
        }
    }

    fn labels(self) -> MethodLabels {
        MethodLabels {
            grpc_type: self.grpc_type,
            grpc_service: self.grpc_service,
            grpc_method: self.grpc_method,
        }
    }
}

/// A status code as grpc-go spells it (`codes.Code.String()`), the `grpc_code` value.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// The gRPC server families (off when metrics are).
#[derive(Clone, Debug, Default)]
pub struct GrpcMetrics {
    inner: Option<Arc<super::Families>>,
}

impl GrpcMetrics {
    pub(super) fn new(inner: Option<Arc<super::Families>>) -> Self {
        Self { inner }
    }

    /// Counts a call as started and returns its recorder; `None` when metrics are off.
    pub fn start(&self, method: Method) -> Option<Call> {
        let f = self.inner.as_ref()?;
        let labels = method.labels();
        f.grpc.started.get_or_create(&labels).inc();
        // Handles resolved once per call: a message then costs one atomic add, not a
        // lookup in the family's map.
        Some(Call {
            received: f.grpc.received.get_or_create_owned(&labels),
            sent: f.grpc.sent.get_or_create_owned(&labels),
            families: f.clone(),
            method,
            started: Instant::now(),
        })
    }
}

/// The recorder of one call: messages both ways, then its end (once).
#[derive(Debug)]
pub struct Call {
    families: Arc<super::Families>,
    received: Counter,
    sent: Counter,
    method: Method,
    started: Instant,
}

impl Call {
    /// `n` request messages read.
    pub fn received(&self, n: u64) {
        if n > 0 {
            self.received.inc_by(n);
        }
    }

    /// `n` response messages written.
    pub fn sent(&self, n: u64) {
        if n > 0 {
            self.sent.inc_by(n);
        }
    }

    /// The call ended with `code`: `grpc_server_handled_total` and the handling time.
    pub fn handled(&self, code: Code) {
        let f = &self.families.grpc;
        let labels = self.method.labels();
        f.handling.get_or_create(&labels).observe(
            self.started.elapsed().as_secs_f64(),
            current_exemplar(),
            None,
        );
        f.handled
            .get_or_create(&self.method.handled_labels(code))
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_found_by_path_and_others_are_unknown() {
        assert_eq!(
            Method::from_path("/streamgate.v1.FetchService/ListPages").grpc_type,
            "server_stream"
        );
        assert_eq!(
            Method::from_path("/streamgate.v1.SensorService/SensorFeed").grpc_type,
            "bidi_stream"
        );
        assert_eq!(
            Method::from_path("/grpc.health.v1.Health/Watch").grpc_type,
            "server_stream"
        );
        let odd = Method::from_path("/streamgate.v1.FetchService/https://example.com/x");
        assert_eq!((odd.grpc_service, odd.grpc_method), ("unknown", "unknown"));
        assert_eq!(Method::from_path("nonsense"), UNKNOWN);
    }

    #[test]
    fn codes_are_spelled_as_grpc_go_spells_them() {
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::Cancelled), "Canceled");
        assert_eq!(code_name(Code::InvalidArgument), "InvalidArgument");
        assert_eq!(code_name(Code::PermissionDenied), "PermissionDenied");
    }
}
