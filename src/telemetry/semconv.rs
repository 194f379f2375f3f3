//! The spans and span events streamgate exports, named and attributed as the OpenTelemetry
//! semantic conventions say (RPC spans: `rpc.*`; HTTP client spans: `http.*`, `url.full`,
//! `server.address`; database client spans: `db.*`), in one place so the names are spelled
//! one way.
//!
//! Every helper returns a disabled span (and adds no event) when the code runs outside a
//! call's span: the SERVER span is only created for a server exporting traces, so a server
//! without export pays one branch per site.

use std::borrow::Cow;

use http::HeaderValue;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use url::Url;

use crate::trace_context::{TRACEPARENT, TRACESTATE, TraceContext};

/// The SERVER span of one gRPC call to `path` (`/package.Service/Method`), child of the
/// caller's span when it sent a valid `traceparent`. `rpc.grpc.status_code` is recorded
/// when the status is known ([`record_grpc_status`]).
///
/// `root`: the trace id sampling drew for a call without a caller ([`super::sampling`]); the
/// span starts with it.
pub(crate) fn server_span(
    path: &str,
    caller: Option<&TraceContext>,
    root: Option<opentelemetry::trace::TraceId>,
) -> Span {
    match root {
        Some(trace_id) => {
            super::sampling::with_root_trace_id(trace_id, || start_server_span(path, caller))
        }
        None => start_server_span(path, caller),
    }
}

/// [`server_span`], started (its OpenTelemetry span built) before it returns.
fn start_server_span(path: &str, caller: Option<&TraceContext>) -> Span {
    let name = path.trim_start_matches('/');
    let (service, method) = name.split_once('/').unwrap_or(("unknown", "unknown"));
    let span = tracing::info_span!(
        target: "streamgate::rpc",
        "call",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if let Some(caller) = caller {
        let parent = opentelemetry::Context::new().with_remote_span_context(caller.remote_parent());
        let _ = span.set_parent(parent);
    }
    // The log lines of the call name its trace (the caller's, or the one started here).
    let sc = span_context(&span);
    if sc.is_valid() {
        span.record("trace_id", tracing::field::display(sc.trace_id()));
    } else if let Some(caller) = caller {
        span.record("trace_id", tracing::field::display(caller.trace_id()));
    }
    span
}

/// Records a call's gRPC status code on its SERVER span; the span's status is ERROR for the
/// codes the conventions count as server errors (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
/// INTERNAL, UNAVAILABLE, DATA_LOSS), unset otherwise.
pub(crate) fn record_grpc_status(span: &Span, code: i64) {
    span.record("rpc.grpc.status_code", code);
    if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
        span.record("otel.status_code", "ERROR");
    }
}

/// The CLIENT span of one upstream HTTP request (each redirect hop is a request of its own).
/// `http.response.status_code` is recorded by [`record_http_status`].
pub(crate) fn http_client_span(method: &http::Method, url: &Url) -> Span {
    if !in_exported_span() {
        return Span::none();
    }
    tracing::info_span!(
        target: "streamgate::upstream",
        "upstream",
        otel.name = %method,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        url.full = %url_full(url),
        server.address = url.host_str().unwrap_or_default(),
        server.port = i64::from(url.port_or_known_default().unwrap_or(0)),
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// The response status of an upstream request; 4xx and 5xx mark a CLIENT span as failed.
pub(crate) fn record_http_status(span: &Span, status: u16) {
    span.record("http.response.status_code", i64::from(status));
    if status >= 400 {
        span.record("otel.status_code", "ERROR");
        // The conventions' `error.type` for an HTTP error status is the code as a string.
        span.record("error.type", tracing::field::display(status));
    }
}

/// An upstream request that got no response (`kind` a short fixed word).
pub(crate) fn record_http_error(span: &Span, kind: &'static str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", kind);
}

/// The trace headers of one upstream request: the CLIENT span's own context when it is
/// exported (so the upstream's spans are its children), else the caller's trace continued
/// with a fresh parent id; `tracestate` as the caller sent it. Empty for a call that is in
/// no trace.
pub(crate) fn upstream_trace_headers(
    span: &Span,
    caller: Option<&TraceContext>,
) -> Vec<(&'static str, HeaderValue)> {
    let sc = span_context(span);
    if !sc.is_valid() {
        return caller
            .map(TraceContext::upstream_headers)
            .unwrap_or_default();
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    let mut out = vec![(
        TRACEPARENT,
        HeaderValue::from_str(&traceparent).expect("hex digits and dashes are a valid header"),
    )];
    if let Some(state) = caller.and_then(TraceContext::tracestate) {
        out.push((TRACESTATE, state.clone()));
    }
    out
}

/// A Redis script call's CLIENT span (`EVALSHA`, falling back to `EVAL` inside redis-rs).
pub(crate) fn redis_script_span() -> Span {
    if !in_exported_span() {
        return Span::none();
    }
    tracing::info_span!(
        target: "streamgate::redis",
        "redis",
        otel.name = "EVALSHA",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        db.system.name = "redis",
        db.operation.name = "EVALSHA",
        error.type = tracing::field::Empty,
    )
}

/// A Redis call that failed.
pub(crate) fn record_redis_error(span: &Span) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", "redis");
}

/// One span per SensorFeed stream; its counts are recorded when it ends
/// ([`record_stream_counts`]).
pub(crate) fn stream_span() -> Span {
    if !in_exported_span() {
        return Span::none();
    }
    tracing::info_span!(
        target: "streamgate::sensor",
        "sensor_stream",
        otel.name = "SensorFeed stream",
        otel.kind = "internal",
        sensor.readings = tracing::field::Empty,
        sensor.rejected = tracing::field::Empty,
        sensor.alerts = tracing::field::Empty,
        sensor.configs_rejected = tracing::field::Empty,
    )
}

/// A SensorFeed stream's totals.
pub(crate) fn record_stream_counts(
    span: &Span,
    readings: u64,
    rejected: u64,
    alerts: u64,
    configs: u64,
) {
    // As i64: tracing-opentelemetry exports a `u64` recorded on an existing span as a
    // string, and a backend's numeric queries (`sensor.readings > 1000`) need a number.
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    span.record("sensor.readings", count(readings));
    span.record("sensor.rejected", count(rejected));
    span.record("sensor.alerts", count(alerts));
    span.record("sensor.configs_rejected", count(configs));
}

/// A span event on the current span (a lock wait, a hand-off): exported with the span,
/// not logged.
pub(crate) fn event(name: &'static str, attributes: Vec<KeyValue>) {
    if in_exported_span() {
        Span::current().add_event(Cow::Borrowed(name), attributes);
    }
}

/// The trace id (32 hex digits) of the current call when it is sampled for export.
pub(crate) fn sampled_trace_id() -> Option<String> {
    if !in_exported_span() {
        return None;
    }
    let sc = span_context(&Span::current());
    (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id().to_string())
}

/// Whether the current span is one made for export (they all name their `otel.kind`), so a
/// child span, an event or an exemplar has an exported trace to join. A call that is not
/// exported runs in no span or in the log-only `call` span (`server::trace`), and its
/// children are not created: an `otel.kind` span under it would start a trace of its own.
pub(crate) fn in_exported_span() -> bool {
    // The dispatcher's current span, read without cloning a `Span` handle.
    tracing::dispatcher::get_default(|d| {
        d.current_span()
            .metadata()
            .is_some_and(|m| m.fields().field("otel.kind").is_some())
    })
}

/// The OpenTelemetry context of `span` (invalid when no trace is exported).
fn span_context(span: &Span) -> SpanContext {
    if span.is_none() {
        return SpanContext::empty_context();
    }
    span.context().span().span_context().clone()
}

/// `url.full` as the conventions ask: credentials replaced by `REDACTED`; query values too
/// (a query often carries an API key or a signature, and which parameter does is not
/// knowable here), keeping the parameter names.
pub(crate) fn url_full(url: &Url) -> String {
    if url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
    {
        // Nothing to redact (most upstream URLs): no copy to edit and re-serialise.
        return url.as_str().to_owned();
    }
    let mut out = url.clone();
    if !out.username().is_empty() {
        let _ = out.set_username("REDACTED");
    }
    if out.password().is_some() {
        let _ = out.set_password(Some("REDACTED"));
    }
    if let Some(query) = url.query() {
        out.set_query(Some(&redact_query(query)));
    }
    out.set_fragment(None);
    out.to_string()
}

/// A query string with every value replaced by `REDACTED`, the names kept.
fn redact_query(query: &str) -> String {
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) => format!("{k}=REDACTED"),
            None => pair.to_owned(),
        })
        .collect();
    redacted.join("&")
}

/// A URL as a caller wrote it, that did not parse, redacted as [`url_full`] would: its query
/// values and fragment (credentials cannot be told apart reliably in text that is not a URL,
/// so everything before the last `@` of the authority goes too).
pub(crate) fn raw_url_redacted(raw: &str) -> String {
    let (rest, query) = match raw.split_once('?') {
        Some((rest, query)) => (rest, Some(query.split('#').next().unwrap_or_default())),
        None => (raw.split('#').next().unwrap_or_default(), None),
    };
    let rest = match rest.split_once("://") {
        Some((scheme, after)) => {
            let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://REDACTED@{host}{path}"),
                None => rest.to_owned(),
            }
        }
        None => rest.to_owned(),
    };
    match query {
        Some(q) => format!("{rest}?{}", redact_query(q)),
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_full_carries_no_credentials_or_query_values() {
        let url =
            Url::parse("https://alice:s3cret@api.example/v1/items?api_key=k3y&page=2&flag#frag")
                .unwrap();
        let full = url_full(&url);
        assert_eq!(
            full,
            "https://REDACTED:REDACTED@api.example/v1/items?api_key=REDACTED&page=REDACTED&flag"
        );
        assert!(!full.contains("s3cret") && !full.contains("k3y") && !full.contains("alice"));
        assert_eq!(
            url_full(&Url::parse("http://h:8080/p").unwrap()),
            "http://h:8080/p"
        );
    }

    #[test]
    fn a_url_that_did_not_parse_is_redacted_as_text() {
        assert_eq!(
            raw_url_redacted("http://u:p@h:99999/x?key=s3cret&flag#frag"),
            "http://REDACTED@h:99999/x?key=REDACTED&flag"
        );
        assert_eq!(raw_url_redacted("not a url#x"), "not a url");
    }

    #[test]
    fn without_a_call_span_nothing_is_created_and_the_caller_trace_goes_on() {
        let span = http_client_span(&http::Method::GET, &Url::parse("http://h/").unwrap());
        assert!(span.is_none());
        assert!(upstream_trace_headers(&span, None).is_empty());
        let mut h = http::HeaderMap::new();
        h.insert(
            TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let caller = TraceContext::from_headers(&h).unwrap();
        let out = upstream_trace_headers(&span, Some(&caller));
        assert!(
            out[0]
                .1
                .to_str()
                .unwrap()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
    }
}
