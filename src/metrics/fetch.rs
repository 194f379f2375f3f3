//! FetchService's families: upstream requests (Envoy's per-upstream stats, by status class),
//! the concurrency queue, guard refusals by kind, and ListPages pages and retries.
//!
//! Where each is recorded: upstream requests and the queue in src/fetch/http/ (client.rs,
//! slots.rs), guard refusals where a refusal becomes an error (src/fetch/error.rs), a page
//! sent in src/fetch/service.rs once it is handed to the connection (counted as written by
//! src/fetch/pages/transport.rs), a retry in src/fetch/pages/page_fetch.rs.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{TraceExemplar, current_exemplar, latency_buckets};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusClass {
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug)]
pub(super) struct Families {
    upstream_requests: Family<StatusClass, Counter>,
    /// With the trace of a sampled call as exemplar (OpenMetrics).
    upstream_seconds: HistogramWithExemplars<TraceExemplar>,
    queue_seconds: Histogram,
    in_flight: Gauge,
    refused: Family<Reason, Counter>,
    pages: Counter,
    page_retries: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_coalesced: Counter,
    cache_revalidations: Counter,
    cache_stored_bytes: Gauge,
    cache_evictions: Counter,
}

impl Families {
    pub(super) fn register(r: &mut Registry) -> Self {
        let f = Self {
            upstream_requests: Family::default(),
            upstream_seconds: HistogramWithExemplars::new(latency_buckets()),
            queue_seconds: Histogram::new(latency_buckets()),
            in_flight: Gauge::default(),
            refused: Family::default(),
            pages: Counter::default(),
            page_retries: Counter::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_coalesced: Counter::default(),
            cache_revalidations: Counter::default(),
            cache_stored_bytes: Gauge::default(),
            cache_evictions: Counter::default(),
        };
        r.register(
            "streamgate_fetch_upstream_requests",
            "HTTP requests sent upstream (a Fetch, a ListPages page, each retry), by the final response's status class; `error` = no complete response",
            f.upstream_requests.clone(),
        );
        r.register(
            "streamgate_fetch_upstream_seconds",
            "Time from sending an upstream request to its complete response (or failure), redirects included",
            f.upstream_seconds.clone(),
        );
        r.register(
            "streamgate_fetch_queue_seconds",
            "Time a Fetch or ListPages page waited for a concurrency slot (--fetch-max-concurrency, --fetch-max-per-host)",
            f.queue_seconds.clone(),
        );
        r.register(
            "streamgate_fetch_in_flight",
            "Upstream requests holding a concurrency slot now",
            f.in_flight.clone(),
        );
        r.register(
            "streamgate_fetch_refused",
            "Targets the guard refused, by kind of address",
            f.refused.clone(),
        );
        r.register(
            "streamgate_pages",
            "ListPages pages sent to clients",
            f.pages.clone(),
        );
        r.register(
            "streamgate_pages_retries",
            "ListPages page requests retried (connection trouble, 429, 5xx)",
            f.page_retries.clone(),
        );
        r.register(
            "streamgate_fetch_cache_hits",
            "Fetch calls and ListPages pages answered from the shared cache (stale answers served under stale-while-revalidate included)",
            f.cache_hits.clone(),
        );
        r.register(
            "streamgate_fetch_cache_misses",
            "Cacheable requests the shared cache could not answer alone (nothing stored, or stored but stale)",
            f.cache_misses.clone(),
        );
        r.register(
            "streamgate_fetch_cache_coalesced",
            "Requests that waited on an identical request in flight instead of going upstream",
            f.cache_coalesced.clone(),
        );
        r.register(
            "streamgate_fetch_cache_revalidations",
            "Stored answers the origin confirmed with 304 Not Modified",
            f.cache_revalidations.clone(),
        );
        r.register(
            "streamgate_fetch_cache_stored_bytes",
            "Bytes the shared cache holds (bodies, headers, bookkeeping), at most --fetch-cache-bytes",
            f.cache_stored_bytes.clone(),
        );
        r.register(
            "streamgate_fetch_cache_evictions",
            "Stored answers pushed out for room (or refused for it)",
            f.cache_evictions.clone(),
        );
        // The fixed label values exist from the start, at zero.
        for class in ["1xx", "2xx", "3xx", "4xx", "5xx", "error"] {
            f.upstream_requests.get_or_create_owned(&StatusClass {
                status_class: class,
            });
        }
        for kind in RefusalKind::ALL {
            f.refused.get_or_create_owned(&Reason {
                reason: refusal_label(kind),
            });
        }
        f
    }
}

/// Why the guard refused a target: the `reason` label of `streamgate_fetch_refused_total`. The
/// guard tags each row of its range tables with one (the message keeps the exact range), and
/// [`refusal_label`] maps it to the label; it lives here so the guard's module needs nothing
/// of the metrics but this type, and metrics need nothing of fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, fc00::/7, fec0::/10.
    Private,
    /// 169.254.0.0/16 (cloud metadata), fe80::/10.
    LinkLocal,
    /// 100.64.0.0/10 (carrier-grade NAT).
    Shared,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// Documentation, benchmarking, IETF protocol, reserved, broadcast, discard, Teredo.
    Reserved,
    /// Not an `http`/`https` URL, or no host.
    BadScheme,
}

impl RefusalKind {
    /// Every kind, in the order of the docs.
    pub(crate) const ALL: [Self; 8] = [
        Self::Loopback,
        Self::Private,
        Self::LinkLocal,
        Self::Shared,
        Self::Unspecified,
        Self::Multicast,
        Self::Reserved,
        Self::BadScheme,
    ];
}

/// The `reason` label of `streamgate_fetch_refused_total` for a guard refusal.
fn refusal_label(kind: RefusalKind) -> &'static str {
    match kind {
        RefusalKind::Loopback => "loopback",
        RefusalKind::Private => "private",
        RefusalKind::LinkLocal => "link_local",
        RefusalKind::Shared => "shared",
        RefusalKind::Unspecified => "unspecified",
        RefusalKind::Multicast => "multicast",
        RefusalKind::Reserved => "reserved",
        RefusalKind::BadScheme => "bad_scheme",
    }
}

/// The class of an upstream response status: the `status_class` label.
fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        // No response, or a status outside HTTP's classes.
        _ => "error",
    }
}

/// FetchService's families (off when metrics are).
#[derive(Clone, Debug, Default)]
pub struct FetchMetrics {
    inner: Option<Arc<super::Families>>,
}

impl FetchMetrics {
    pub(super) fn new(inner: Option<Arc<super::Families>>) -> Self {
        Self { inner }
    }

    fn families(&self) -> Option<&Families> {
        self.inner.as_deref().map(|f| &f.fetch)
    }

    /// One upstream request ended: with a response status, or `None` when no response came
    /// (connection failure, timeout), after `elapsed`.
    pub fn upstream(&self, status: Option<u16>, elapsed: Duration) {
        if let Some(f) = self.families() {
            f.upstream_requests
                .get_or_create(&StatusClass {
                    status_class: status_class(status),
                })
                .inc();
            f.upstream_seconds
                .observe(elapsed.as_secs_f64(), current_exemplar(), None);
        }
    }

    /// A concurrency slot was granted after waiting `waited`; the returned guard counts the
    /// request as in flight until dropped.
    pub fn slot_granted(&self, waited: Duration) -> InFlight {
        InFlight(self.families().map(|f| {
            f.queue_seconds.observe(waited.as_secs_f64());
            f.in_flight.inc();
            f.in_flight.clone()
        }))
    }

    /// The guard refused a target.
    pub(crate) fn refused(&self, kind: RefusalKind) {
        if let Some(f) = self.families() {
            f.refused
                .get_or_create(&Reason {
                    reason: refusal_label(kind),
                })
                .inc();
        }
    }

    /// A ListPages page went to the client.
    pub fn page_sent(&self) {
        if let Some(f) = self.families() {
            f.pages.inc();
        }
    }

    /// A ListPages page request is tried again.
    pub fn page_retried(&self) {
        if let Some(f) = self.families() {
            f.page_retries.inc();
        }
    }
}

impl FetchMetrics {
    /// The shared cache answered without going upstream.
    pub fn cache_hit(&self) {
        if let Some(f) = self.families() {
            f.cache_hits.inc();
        }
    }

    /// The shared cache could not answer alone.
    pub fn cache_miss(&self) {
        if let Some(f) = self.families() {
            f.cache_misses.inc();
        }
    }

    /// A request waits on an identical one in flight.
    pub fn cache_coalesced(&self) {
        if let Some(f) = self.families() {
            f.cache_coalesced.inc();
        }
    }

    /// A stored answer was confirmed by a 304.
    pub fn cache_revalidated(&self) {
        if let Some(f) = self.families() {
            f.cache_revalidations.inc();
        }
    }

    /// The cache now holds `bytes`.
    pub fn cache_stored_bytes(&self, bytes: u64) {
        if let Some(f) = self.families() {
            f.cache_stored_bytes
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }

    /// An answer was pushed out of the cache for room.
    pub fn cache_evicted(&self) {
        if let Some(f) = self.families() {
            f.cache_evictions.inc();
        }
    }
}

/// Counts one upstream request in `streamgate_fetch_in_flight` while it lives.
#[derive(Debug)]
#[must_use = "the request counts as in flight only while the guard lives"]
pub struct InFlight(Option<Gauge>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class_and_no_response_is_an_error() {
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(Some(404)), "4xx");
        assert_eq!(status_class(Some(700)), "error");
        assert_eq!(status_class(None), "error");
    }
}
