//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` a call
//! arrived with, carried on to every upstream request of that call with the same trace id
//! and a fresh parent id (this server is a hop of its own), `tracestate` unchanged.
//!
//! The server layer (`server::trace`) parses it once into a request extension; FetchService
//! reads it from there. A call without a valid `traceparent` has none, and sends none.

use http::{HeaderMap, HeaderValue};

/// The header names.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// The vendor-specific companion, forwarded as received.
pub(crate) const TRACESTATE: &str = "tracestate";

/// The trace a call belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
    tracestate: Option<HeaderValue>,
}

impl TraceContext {
    /// The context of `headers`, or `None` without a valid `traceparent` (an invalid one is
    /// ignored, as the spec asks: the call then starts no trace here).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(TRACEPARENT)?.to_str().ok()?;
        let (trace_id, parent_id, flags) = parse_traceparent(value)?;
        Some(Self {
            trace_id,
            parent_id,
            flags,
            // Only one tracestate line is forwarded; several are rare and may be joined by
            // proxies anyway.
            tracestate: headers.get(TRACESTATE).cloned(),
        })
    }

    /// A trace this server starts and does not sample (`trace_id` non-zero): the call's
    /// upstream requests carry it with the sampled flag clear, as they would under an
    /// unsampled OpenTelemetry span, so the trace goes on downstream.
    pub(crate) fn unsampled_root(trace_id: [u8; 16]) -> Self {
        let mut parent_id = [0u8; 8];
        while parent_id == [0; 8] {
            parent_id = rand::random();
        }
        Self {
            trace_id,
            parent_id,
            flags: 0,
            tracestate: None,
        }
    }

    /// The trace id as 32 lowercase hex digits (what the call's log lines carry).
    pub(crate) fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// The parent id the call arrived with, as 16 hex digits.
    #[cfg(test)]
    fn parent_id(&self) -> String {
        hex(&self.parent_id)
    }

    /// The caller's span as OpenTelemetry's remote parent (trace id, span id, flags and
    /// `tracestate`), for the call's SERVER span.
    pub(crate) fn remote_parent(&self) -> opentelemetry::trace::SpanContext {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        let state = self
            .tracestate
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<TraceState>().ok())
            .unwrap_or_default();
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.parent_id),
            TraceFlags::new(self.flags),
            true,
            state,
        )
    }

    /// The `tracestate` the call arrived with, forwarded unchanged.
    pub(crate) fn tracestate(&self) -> Option<&HeaderValue> {
        self.tracestate.as_ref()
    }

    /// The headers of one upstream request: `traceparent` with the same trace id, a new
    /// random parent id and the same flags; `tracestate` as received.
    pub(crate) fn upstream_headers(&self) -> Vec<(&'static str, HeaderValue)> {
        let mut parent = [0u8; 8];
        while parent == [0; 8] {
            // An all-zero parent id is invalid.
            parent = rand::random();
        }
        let value = format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&parent),
            self.flags
        );
        let mut out = vec![(
            TRACEPARENT,
            HeaderValue::from_str(&value).expect("hex digits and dashes are a valid header"),
        )];
        if let Some(state) = &self.tracestate {
            out.push((TRACESTATE, state.clone()));
        }
        out
    }
}

/// `version-traceid-parentid-flags`. Version `00` is exactly that; a later version may
/// append fields, which are ignored (spec §3.2.4); `ff` is invalid.
fn parse_traceparent(s: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    let s = s.trim();
    let version = s.get(0..2)?;
    if version == "ff" || s.get(2..3)? != "-" {
        return None;
    }
    let version = from_hex::<1>(version)?[0];
    let rest = &s[3..];
    if (version == 0 && rest.len() != 52) || rest.len() < 52 {
        return None;
    }
    if rest.len() > 52 && rest.as_bytes()[52] != b'-' {
        return None;
    }
    // traceid (32) '-' parentid (16) '-' flags (2)
    let (trace, rest) = (rest.get(0..32)?, &rest[32..]);
    if rest.as_bytes()[0] != b'-' || rest.as_bytes()[17] != b'-' {
        return None;
    }
    let parent = rest.get(1..17)?;
    let flags = from_hex::<1>(rest.get(18..20)?)?[0];
    let trace_id = from_hex::<16>(trace)?;
    let parent_id = from_hex::<8>(parent)?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some((trace_id, parent_id, flags))
}

/// Lowercase hex only, as the spec requires.
fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(tp: &str, ts: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, tp.parse().unwrap());
        if let Some(ts) = ts {
            h.insert(TRACESTATE, ts.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_spec_example_parses() {
        let ctx = TraceContext::from_headers(&headers(EXAMPLE, None)).unwrap();
        assert_eq!(ctx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.parent_id(), "00f067aa0ba902b7");
        assert_eq!(ctx.flags, 1);
    }

    #[test]
    fn upstream_headers_keep_the_trace_and_state_with_a_new_parent() {
        let ctx = TraceContext::from_headers(&headers(EXAMPLE, Some("congo=t61rcWkgMzE"))).unwrap();
        let out = ctx.upstream_headers();
        let tp = out[0].1.to_str().unwrap();
        let (trace, parent, flags) = parse_traceparent(tp).unwrap();
        assert_eq!(hex(&trace), ctx.trace_id());
        assert_ne!(hex(&parent), ctx.parent_id());
        assert_eq!(flags, 1);
        assert!(tp.starts_with("00-"));
        assert_eq!(out[1], (TRACESTATE, "congo=t61rcWkgMzE".parse().unwrap()));
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let tp = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
        assert!(parse_traceparent(tp).is_some());
    }
}
