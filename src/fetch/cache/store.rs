//! The stored answers: a concurrent map bounded by bytes (`quick_cache`'s S3-FIFO eviction with
//! a weigher), each key holding the few variants of one resource.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{AGE, CONNECTION, HeaderName, HeaderValue};
use http_cache_semantics::{BeforeRequest, CachePolicy};
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};
use url::Url;

use super::key::{Credentials, StoreKey};
use super::rules::{self, StaleWindows};
use crate::config::CacheSettings;
use crate::metrics::FetchMetrics;

/// Variants kept per method and URL (by credentials and `Vary`'d headers); older ones go
/// first. A bound, so that one resource varying on a header with many values cannot fill
/// a key with thousands of variants.
const MAX_VARIANTS: usize = 8;

/// What one stored variant costs besides its body and headers (the policy's copies of the
/// request and response headers are counted with the headers; this covers the structs).
const VARIANT_OVERHEAD_BYTES: u64 = 512;

/// Connection-specific fields never replayed from the store (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// One stored response.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) policy: CachePolicy,
    pub(crate) credentials: Credentials,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) url: Url,
    /// When it stops being fresh (its time to live when stored, from then).
    pub(crate) fresh_until: SystemTime,
    pub(crate) windows: StaleWindows,
    /// Its `Age` is invalid ([`rules::age_is_invalid`]): stale from the start, revalidated
    /// before every use.
    freshness_invalid: bool,
    weight: u64,
}

impl Stored {
    pub(crate) fn new(
        policy: CachePolicy,
        credentials: Credentials,
        status: u16,
        headers: HeaderMap,
        body: Bytes,
        url: Url,
        now: SystemTime,
    ) -> Self {
        let headers = without_connection_fields(headers);
        let header_bytes: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        // The policy keeps its own copy of the request and response headers.
        let weight = body.len() as u64
            + 3 * header_bytes as u64
            + url.as_str().len() as u64
            + VARIANT_OVERHEAD_BYTES;
        let freshness_invalid = rules::age_is_invalid(&headers);
        let fresh_until = if freshness_invalid {
            now
        } else {
            now + policy.time_to_live(now)
        };
        Self {
            fresh_until,
            windows: StaleWindows::of(&headers),
            freshness_invalid,
            policy,
            credentials,
            status,
            headers,
            body,
            url,
            weight,
        }
    }

    /// How long it has been stale at `now` (zero while fresh).
    pub(crate) fn staleness(&self, now: SystemTime) -> std::time::Duration {
        now.duration_since(self.fresh_until).unwrap_or_default()
    }

    /// Seconds of freshness left at `now`, negative once stale (RFC 9211 `ttl`).
    pub(crate) fn ttl_seconds(&self, now: SystemTime) -> i64 {
        match self.fresh_until.duration_since(now) {
            Ok(left) => left.as_secs() as i64,
            Err(past) => -(past.duration().as_secs() as i64),
        }
    }

    /// The headers to answer with at `now`: as stored (connection-specific fields went
    /// before storage), with `Age` brought up to date (RFC 9111 §5.1).
    pub(crate) fn served_headers(&self, now: SystemTime) -> HeaderMap {
        let mut headers = self.headers.clone();
        let age = self.policy.age(now).as_secs();
        headers.insert(AGE, HeaderValue::from(age));
        headers
    }
}

/// Removes the fields that belong to one connection: those `Connection` names and the
/// hop-by-hop ones. RFC 9111 §3.1 lets a cache do so before storage, so that each hit need
/// not.
fn without_connection_fields(mut headers: HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named_by_connection {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers
}

/// The request that revalidates a stored answer (boxed: it is far larger than the rest).
pub(crate) type Revalidation = Box<http::request::Parts>;

/// A stored variant found for a request.
pub(crate) enum Found {
    /// Usable as it is.
    Fresh(Arc<Stored>),
    /// Needs the origin's word first; `revalidation` is the request to send (conditional when
    /// the stored response has a validator).
    Stale {
        stored: Arc<Stored>,
        revalidation: Revalidation,
    },
}

/// What the rules said of `stored` for a request, as the cache uses it.
fn found(stored: &Arc<Stored>, verdict: BeforeRequest) -> Option<Found> {
    match verdict {
        BeforeRequest::Fresh(_) => Some(Found::Fresh(stored.clone())),
        BeforeRequest::Stale {
            request,
            matches: true,
        } => Some(Found::Stale {
            stored: stored.clone(),
            revalidation: Box::new(request),
        }),
        BeforeRequest::Stale { matches: false, .. } => None,
    }
}

/// The variants of one method and URL, newest first.
#[derive(Debug, Default)]
pub(crate) struct Variants(Vec<Arc<Stored>>);

#[derive(Clone)]
struct ByBytes;

impl Weighter<StoreKey, Arc<Variants>> for ByBytes {
    fn weight(&self, key: &StoreKey, val: &Arc<Variants>) -> u64 {
        // Never 0: quick_cache never evicts a weightless item.
        key.url.len() as u64 + val.0.iter().map(|s| s.weight).sum::<u64>() + 1
    }
}

/// Counts evictions (items pushed out for room, not replaced or removed).
#[derive(Clone)]
struct CountEvictions(FetchMetrics);

impl Lifecycle<StoreKey, Arc<Variants>> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: StoreKey, _: Arc<Variants>) {
        self.0.cache_evicted();
    }
}

/// The bounded store.
pub(crate) struct Store {
    map: Cache<StoreKey, Arc<Variants>, ByBytes, DefaultHashBuilder, CountEvictions>,
    max_entry_bytes: u64,
    metrics: FetchMetrics,
}

impl Store {
    /// A store of `settings.bytes` bytes. quick_cache divides its capacity among shards and
    /// refuses an item larger than a shard, so there are only as many shards (at most 16) as
    /// leave room for four of the largest entries in each.
    pub(crate) fn new(settings: &CacheSettings, metrics: FetchMetrics) -> anyhow::Result<Self> {
        let room = settings.bytes / settings.max_entry_bytes.saturating_mul(4).max(1);
        let shards = (room.clamp(1, 16) as usize + 1).next_power_of_two() / 2;
        let options = OptionsBuilder::new()
            .shards(shards.max(1))
            // A guess of 8 KiB per entry sizes the index; it grows if entries are smaller.
            .estimated_items_capacity((settings.bytes / 8192).clamp(16, 1 << 20) as usize)
            .weight_capacity(settings.bytes)
            .build()
            .map_err(|e| anyhow::anyhow!("--fetch-cache-bytes: {e:?}"))?;
        Ok(Self {
            map: Cache::with_options(
                options,
                ByBytes,
                DefaultHashBuilder::default(),
                CountEvictions(metrics.clone()),
            ),
            max_entry_bytes: settings.max_entry_bytes,
            metrics,
        })
    }

    /// The stored variant `req` (with `credentials`) may use, if any.
    pub(crate) fn find(
        &self,
        key: &StoreKey,
        credentials: &Credentials,
        req: &http::request::Parts,
        now: SystemTime,
    ) -> Option<Found> {
        let variants = self.map.get(key)?;
        variants
            .0
            .iter()
            .filter(|s| &s.credentials == credentials)
            .find_map(|s| {
                let forced;
                let req = if s.freshness_invalid {
                    forced = rules::demanding_revalidation(req);
                    &forced
                } else {
                    req
                };
                found(s, s.policy.before_request(req, now))
            })
    }

    /// Stores `stored` for `req`, replacing the variant it supersedes (same credentials and
    /// `Vary`'d headers). Returns false when it is larger than `--fetch-cache-max-entry-bytes`.
    pub(crate) fn insert(
        &self,
        key: StoreKey,
        req: &http::request::Parts,
        stored: Arc<Stored>,
        now: SystemTime,
    ) -> bool {
        if stored.weight > self.max_entry_bytes {
            return false;
        }
        let mut variants = vec![stored.clone()];
        if let Some(old) = self.map.get(&key) {
            variants.extend(
                old.0
                    .iter()
                    .filter(|s| {
                        s.credentials != stored.credentials
                            || !matches!(
                                s.policy.before_request(req, now),
                                BeforeRequest::Fresh(_)
                                    | BeforeRequest::Stale { matches: true, .. }
                            )
                    })
                    .take(MAX_VARIANTS - 1)
                    .cloned(),
            );
        }
        self.map.insert(key, Arc::new(Variants(variants)));
        self.metrics.cache_stored_bytes(self.map.weight());
        true
    }

    /// Forgets every variant of `url` (RFC 9111 §4.4: after an unsafe method).
    pub(crate) fn invalidate(&self, url: &Url) {
        for method in [http::Method::GET, http::Method::HEAD] {
            self.map.remove(&StoreKey {
                method,
                url: url.as_str().to_owned(),
            });
        }
        self.metrics.cache_stored_bytes(self.map.weight());
    }

    /// Whether anything at all is stored for `key` (a miss on it is a `Vary` or credentials
    /// miss, not a URL miss).
    pub(crate) fn has(&self, key: &StoreKey) -> bool {
        self.map.contains_key(key)
    }
}
