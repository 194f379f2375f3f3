//! The shared HTTP cache of Fetch and ListPages (RFC 9111, shared-cache rules) and request
//! coalescing, in front of the one HTTP client (`http/`).
//!
//! Parts, one file each:
//! - `key.rs`: what identifies a stored answer (method + URL, then credentials and `Vary`)
//!   and a request in flight (every byte of the request that could change the answer);
//! - `rules.rs`: RFC 9111 through `http-cache-semantics` (storability, freshness, `Vary`,
//!   `Age`, conditional revalidation), plus what it lacks: RFC 5861's
//!   `stale-while-revalidate` and `stale-if-error`, no heuristic freshness, no cookies shared;
//! - `store.rs`: the answers, bounded in bytes (`--fetch-cache-bytes`, quick_cache);
//! - `flight.rs`: the exchanges in flight and the callers waiting on them;
//! - `status.rs`: the RFC 9211 `Cache-Status` of every answer, `answer.rs` what a call gets;
//! - this file: one call's way through them, by the Fetch standard's cache modes.
//!
//! With `--fetch-cache-bytes 0` (the default) none of it runs: a call goes straight to the
//! client, as before the cache existed.

mod answer;
mod flight;
mod key;
mod rules;
mod status;
mod store;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::header::{
    AGE, CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, HeaderValue, IF_MATCH,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, LAST_MODIFIED, LOCATION,
    PRAGMA, VARY,
};
use http::{HeaderMap, Method};
use http_cache_semantics::AfterResponse;
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::flight::{Flight, Flights, Joined, Outcome};
use self::key::{Credentials, FlightKey, StoreKey};
use self::store::{Found, Revalidation, Store, Stored};
use crate::config::CacheSettings;
use crate::fetch::error::FetchError;
use crate::fetch::http::{Fetcher, HttpRequest, HttpResponse};
use crate::fetch::upstream::UpstreamFault;
use crate::metrics::FetchMetrics;
use crate::telemetry::semconv::url_full;

pub(crate) use self::answer::Answer;
pub(crate) use self::status::CacheStatus;

/// Background revalidations (`stale-while-revalidate`) running at once; past it a stale
/// answer is still served but not refreshed until a later request, so a burst of stale keys
/// cannot spawn a task each.
const MAX_BACKGROUND_REVALIDATIONS: usize = 64;

/// URLs remembered as uncacheable at once (hit-for-miss); the oldest are forgotten first.
const MAX_HIT_FOR_MISS_KEYS: usize = 65_536;

/// The Fetch standard's cache modes (fetch.spec.whatwg.org, "request cache mode").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum CacheMode {
    /// Fresh answers from the store, stale ones revalidated, new ones stored.
    #[default]
    Default,
    /// Neither read nor written.
    NoStore,
    /// Not read; the answer is stored.
    Reload,
    /// A stored answer is always revalidated first.
    NoCache,
    /// A stored answer is used however stale; otherwise as `Default`.
    ForceCache,
    /// A stored answer is used however stale; otherwise HTTP 504, nothing sent upstream.
    OnlyIfCached,
}

/// The client with, when configured, the cache in front of it.
pub(crate) struct HttpCache {
    fetcher: Arc<Fetcher>,
    core: Option<Arc<Core>>,
}

impl HttpCache {
    /// The cache of `settings` in front of `fetcher` (none when its size is 0).
    pub(crate) fn new(
        fetcher: Arc<Fetcher>,
        settings: &CacheSettings,
        metrics: FetchMetrics,
    ) -> anyhow::Result<Self> {
        let core = if settings.enabled() {
            Some(Arc::new(Core {
                store: Store::new(settings, metrics.clone())?,
                flights: Flights::new(settings.max_waiters.get()),
                hit_for_miss: quick_cache::sync::Cache::new(MAX_HIT_FOR_MISS_KEYS),
                background: Mutex::new(JoinSet::new()),
                settings: settings.clone(),
                fetcher: fetcher.clone(),
                metrics,
            }))
        } else {
            None
        };
        Ok(Self { fetcher, core })
    }

    /// The families requests and pages are counted in.
    pub(crate) fn metrics(&self) -> &FetchMetrics {
        self.fetcher.metrics()
    }

    /// Answers `req` by `deadline` under `mode`, from the store or upstream. `use_cache`
    /// false (the caller's policy turns the cache off) is `no-store`.
    pub(crate) async fn execute(
        &self,
        req: HttpRequest,
        deadline: Instant,
        mode: CacheMode,
    ) -> Result<Answer, FetchError> {
        match &self.core {
            Some(core) if req.use_cache => core.execute(req, deadline, mode).await,
            Some(_) => {
                let response = self.fetcher.execute(req, deadline).await?;
                Ok(Answer::new(
                    response,
                    CacheStatus::forward(status::Fwd::Bypass).detail("policy"),
                ))
            }
            None => Ok(Answer {
                response: self.fetcher.execute(req, deadline).await?,
                status: None,
            }),
        }
    }
}

/// The cache proper.
struct Core {
    store: Store,
    flights: Flights,
    /// URLs (by method) whose last answer could not be stored, until when: their requests go
    /// upstream at once instead of queueing behind each other (Varnish's hit-for-miss).
    hit_for_miss: quick_cache::sync::Cache<StoreKey, Instant>,
    /// Background revalidations; aborted when the cache is dropped.
    background: Mutex<JoinSet<()>>,
    settings: CacheSettings,
    fetcher: Arc<Fetcher>,
    metrics: FetchMetrics,
}

/// One call's request as the cache handles it.
#[derive(Clone)]
struct Call {
    req: HttpRequest,
    parts: http::request::Parts,
    key: StoreKey,
    credentials: Credentials,
    principal: Option<String>,
    deadline: Instant,
}

/// What the upstream exchange of a call decided.
enum Decision {
    /// Fresh and stored (or a stale answer allowed on error): others may have it.
    Shareable(Answer),
    /// Only for the caller that asked; `uncacheable` remembers the key (hit-for-miss).
    Own {
        answer: Answer,
        uncacheable: bool,
    },
    Failed(FetchError),
}

impl Core {
    async fn execute(
        self: &Arc<Self>,
        mut req: HttpRequest,
        deadline: Instant,
        mut mode: CacheMode,
    ) -> Result<Answer, FetchError> {
        if req.method != Method::GET && req.method != Method::HEAD {
            return self.pass_method(req, deadline).await;
        }
        // A caller's own `If-None-Match` / `If-Modified-Since` is answered from a fresh stored
        // 200 (RFC 9111 §4.3.2), otherwise by the origin, not stored: its answer (often a 304)
        // is for that caller alone. The other preconditions (`If-Match`, `If-Unmodified-Since`,
        // `If-Range`) are the origin's to judge, as the Fetch standard does with all of them.
        let mut validating = false;
        if mode == CacheMode::Default {
            if [IF_UNMODIFIED_SINCE, IF_MATCH, IF_RANGE]
                .iter()
                .any(|h| req.headers.contains_key(h))
            {
                mode = CacheMode::NoStore;
            } else {
                validating = [IF_MODIFIED_SINCE, IF_NONE_MATCH]
                    .iter()
                    .any(|h| req.headers.contains_key(h));
            }
        }
        add_mode_headers(&mut req.headers, mode);
        if mode == CacheMode::NoStore {
            let response = self.fetcher.execute(req, deadline).await?;
            return Ok(Answer::new(
                response,
                CacheStatus::forward(status::Fwd::Bypass).detail("no-store"),
            ));
        }
        // The caller's host rule and the guard first: the store never answers for a URL the
        // caller may not reach.
        self.fetcher.check_target(&req)?;
        let Some(parts) = rules::request_parts(&req) else {
            let response = self.fetcher.execute(req, deadline).await?;
            return Ok(Answer::new(
                response,
                CacheStatus::forward(status::Fwd::Bypass),
            ));
        };
        let principal = req.caller.as_ref().map(|c| c.name().to_owned());
        let call = Call {
            key: StoreKey::of(&req),
            credentials: Credentials::of(&req.headers, principal.as_deref()),
            principal,
            parts,
            req,
            deadline,
        };
        let now = SystemTime::now();
        let found = match mode {
            CacheMode::Reload => None,
            CacheMode::NoCache => {
                let parts = rules::demanding_revalidation(&call.parts);
                self.store.find(&call.key, &call.credentials, &parts, now)
            }
            _ => self
                .store
                .find(&call.key, &call.credentials, &call.parts, now),
        };
        if validating {
            return match found {
                Some(Found::Fresh(stored)) if stored.status == 200 => {
                    self.metrics.cache_hit();
                    Ok(validated_hit(&stored, &call.req.headers, now))
                }
                _ => {
                    let mut req = call.req;
                    add_mode_headers(&mut req.headers, CacheMode::NoStore);
                    let response = self.fetcher.execute(req, deadline).await?;
                    let mut status =
                        CacheStatus::forward(status::Fwd::Bypass).detail("conditional");
                    status.fwd_status = Some(response.status);
                    Ok(Answer::new(response, status))
                }
            };
        }
        match (mode, found) {
            (CacheMode::ForceCache | CacheMode::OnlyIfCached, Some(f)) => {
                let stored = match f {
                    Found::Fresh(s) | Found::Stale { stored: s, .. } => s,
                };
                self.metrics.cache_hit();
                Ok(hit(&stored, now, None))
            }
            (CacheMode::OnlyIfCached, None) => {
                self.metrics.cache_miss();
                // What browsers answer: a network error there, a 504 here, nothing sent.
                let response = HttpResponse {
                    status: 504,
                    headers: HeaderMap::new(),
                    body: bytes::Bytes::new(),
                    url: call.req.url.clone(),
                };
                Ok(Answer::new(
                    response,
                    CacheStatus::forward(status::Fwd::UriMiss).detail("only-if-cached"),
                ))
            }
            (_, Some(Found::Fresh(stored))) => {
                self.metrics.cache_hit();
                Ok(hit(&stored, now, None))
            }
            (
                _,
                Some(Found::Stale {
                    stored,
                    revalidation,
                }),
            ) => {
                if mode == CacheMode::Default
                    && stored.staleness(now) <= stored.windows.while_revalidate
                {
                    self.metrics.cache_hit();
                    self.revalidate_in_background(call, stored.clone(), revalidation);
                    return Ok(hit(&stored, now, Some("stale-while-revalidate")));
                }
                self.metrics.cache_miss();
                let why = if mode == CacheMode::NoCache {
                    status::Fwd::Request
                } else {
                    status::Fwd::Stale
                };
                self.forward(call, Some((stored, revalidation)), why).await
            }
            (_, None) => {
                self.metrics.cache_miss();
                let why = if mode == CacheMode::Reload {
                    status::Fwd::Request
                } else if self.store.has(&call.key) {
                    status::Fwd::VaryMiss
                } else {
                    status::Fwd::UriMiss
                };
                self.forward(call, None, why).await
            }
        }
    }

    /// An unsafe (or uncacheable) method: straight upstream; a non-error answer to an unsafe
    /// one invalidates the URL and its `Location` and `Content-Location` (RFC 9111 §4.4).
    async fn pass_method(&self, req: HttpRequest, deadline: Instant) -> Result<Answer, FetchError> {
        let unsafe_method = !matches!(req.method, Method::OPTIONS);
        let url = req.url.clone();
        let response = self.fetcher.execute(req, deadline).await?;
        if unsafe_method && (200..400).contains(&response.status) {
            self.store.invalidate(&url);
            for name in [LOCATION, CONTENT_LOCATION] {
                let target = response
                    .headers
                    .get(&name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| url.join(v).ok());
                // Only within the origin: another origin's entries are not this one's to drop.
                if let Some(target) = target.filter(|t| t.origin() == url.origin()) {
                    self.store.invalidate(&target);
                }
            }
        }
        let mut status = CacheStatus::forward(status::Fwd::Method);
        status.fwd_status = Some(response.status);
        Ok(Answer::new(response, status))
    }

    /// Goes upstream for `call`, sharing the exchange with identical calls in flight.
    async fn forward(
        self: &Arc<Self>,
        call: Call,
        candidate: Option<(Arc<Stored>, Revalidation)>,
        why: status::Fwd,
    ) -> Result<Answer, FetchError> {
        loop {
            if Instant::now() >= call.deadline {
                return Err(FetchError::DeadlineExceeded(format!(
                    "no answer from {} within the timeout",
                    url_full(&call.req.url)
                )));
            }
            if self.is_hit_for_miss(&call.key) {
                return self.alone(call, candidate, why, Some("hit-for-miss")).await;
            }
            let flight_key = FlightKey::of(&call.req, call.principal.as_deref());
            let core = self.clone();
            let task_call = call.clone();
            let task_candidate = candidate.clone();
            let joined = self.flights.join(
                flight_key,
                Box::new(move |tx, done| {
                    tokio::spawn(async move {
                        let decision = core.exchange(&task_call, task_candidate, why).await;
                        let outcome = match decision {
                            Decision::Shareable(a) => Outcome::Shared(a),
                            Decision::Own {
                                answer,
                                uncacheable,
                            } => {
                                if uncacheable {
                                    core.remember_uncacheable(&task_call.key);
                                }
                                Outcome::Own(Mutex::new(Some(answer)))
                            }
                            Decision::Failed(e) => Outcome::Failed(Mutex::new(Some(e))),
                        };
                        let _ = tx.send(Some(Arc::new(outcome)));
                        done.finish();
                    })
                    .abort_handle()
                }),
            );
            match joined {
                Joined::Leader(flight) => return lead(&flight, &call).await,
                Joined::Full => {
                    return self
                        .alone(call, candidate, why, Some("waiting-list-full"))
                        .await;
                }
                Joined::Follower(flight) => {
                    self.metrics.cache_coalesced();
                    let lock_deadline =
                        (Instant::now() + self.settings.lock_timeout).min(call.deadline);
                    let outcome = match tokio::time::timeout_at(lock_deadline, flight.outcome())
                        .await
                    {
                        Ok(outcome) => outcome,
                        Err(_) if lock_deadline >= call.deadline => {
                            // The identical request is the one the upstream is slow to answer.
                            return Err(FetchError::UpstreamTimeout(
                                format!(
                                    "waited for an identical request to {} in flight past the \
                                     deadline",
                                    url_full(&call.req.url)
                                ),
                                UpstreamFault::of(&call.req.url),
                            ));
                        }
                        Err(_) => {
                            return self.alone(call, candidate, why, Some("lock-timeout")).await;
                        }
                    };
                    if let Some(Outcome::Shared(answer)) = outcome.as_deref() {
                        let mut answer = answer.clone();
                        if let Some(s) = &mut answer.status {
                            s.collapsed = true;
                        }
                        return Ok(answer);
                    }
                    // Own: the key is now hit-for-miss, the next turn goes alone. Failed or
                    // abandoned: the next turn elects a new leader.
                }
            }
        }
    }

    /// Goes upstream for `call` without joining anyone.
    async fn alone(
        self: &Arc<Self>,
        call: Call,
        candidate: Option<(Arc<Stored>, Revalidation)>,
        why: status::Fwd,
        detail: Option<&'static str>,
    ) -> Result<Answer, FetchError> {
        let mut answer = match self.exchange(&call, candidate, why).await {
            Decision::Shareable(a) => a,
            Decision::Own {
                answer,
                uncacheable,
            } => {
                if uncacheable {
                    self.remember_uncacheable(&call.key);
                }
                answer
            }
            Decision::Failed(e) => return Err(e),
        };
        if let (Some(s), Some(d)) = (&mut answer.status, detail) {
            s.detail.get_or_insert(d);
        }
        Ok(answer)
    }

    /// One upstream exchange for `call` (conditional when `candidate` has validators) and
    /// what to do with its answer.
    async fn exchange(
        &self,
        call: &Call,
        candidate: Option<(Arc<Stored>, Revalidation)>,
        why: status::Fwd,
    ) -> Decision {
        let mut req = call.req.clone();
        if let Some((_, revalidation)) = &candidate {
            for name in [IF_NONE_MATCH, IF_MODIFIED_SINCE] {
                if let Some(v) = revalidation.headers.get(&name) {
                    req.headers.insert(name, v.clone());
                }
            }
        }
        let sent_at = SystemTime::now();
        let result = self.fetcher.execute(req, call.deadline).await;
        let now = SystemTime::now();
        let stale_on_error =
            |stored: &Arc<Stored>| stored.staleness(now) <= stored.windows.if_error;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                return match &candidate {
                    Some((stored, _)) if stale_on_error(stored) => {
                        Decision::Shareable(hit(stored, now, Some("stale-if-error")))
                    }
                    _ => Decision::Failed(e),
                };
            }
        };
        let mut status = CacheStatus::forward(why);
        status.fwd_status = Some(response.status);
        if let Some((stored, _)) = &candidate {
            if response.status == 304 {
                return self.refresh(call, stored, &response, status, now);
            }
            if rules::is_error_status(response.status) && stale_on_error(stored) {
                return Decision::Shareable(hit(stored, now, Some("stale-if-error")));
            }
        }
        let response_parts = rules::response_parts(&response);
        let policy = rules::policy(&call.parts, &response_parts, sent_at);
        // An answer reached through a redirect is the final URL's, not the requested one's.
        let cacheable = response.url == call.req.url && rules::storable(&policy, &response.headers);
        if !cacheable {
            return Decision::Own {
                answer: Answer::new(response, status),
                uncacheable: true,
            };
        }
        let stored = Arc::new(Stored::new(
            policy,
            call.credentials.clone(),
            response.status,
            response.headers.clone(),
            response.body.clone(),
            response.url.clone(),
            sent_at,
        ));
        status.stored = self
            .store
            .insert(call.key.clone(), &call.parts, stored.clone(), now);
        if stored.ttl_seconds(now) > 0 || stored.fresh_until > now {
            status.ttl = Some(stored.ttl_seconds(now));
            Decision::Shareable(Answer::new(
                HttpResponse {
                    headers: stored.served_headers(now),
                    ..response
                },
                status,
            ))
        } else {
            // Stored to be revalidated later, but not fresh: nobody else may use it unchecked.
            Decision::Own {
                answer: Answer::new(response, status),
                uncacheable: false,
            }
        }
    }

    /// A 304 to a revalidation: the stored answer with the new headers, stored again.
    fn refresh(
        &self,
        call: &Call,
        stored: &Arc<Stored>,
        not_modified: &HttpResponse,
        mut status: CacheStatus,
        now: SystemTime,
    ) -> Decision {
        self.metrics.cache_revalidated();
        let parts_304 = rules::not_modified_parts(not_modified, &stored.headers);
        let AfterResponse::NotModified(policy, _) =
            stored.policy.after_response(&call.parts, &parts_304, now)
        else {
            // The 304's validators do not match what is stored: nothing to reuse.
            return Decision::Own {
                answer: Answer::new(not_modified.clone(), status),
                uncacheable: false,
            };
        };
        let mut headers = stored.headers.clone();
        for name in not_modified.headers.keys() {
            // RFC 9111 §3.2: the 304's fields replace the stored ones, except those that
            // describe the stored body (`Content-MD5`, RFC 1864, is a digest of the body of
            // the message it comes in, and a 304 has none).
            if matches!(
                name.as_str(),
                "content-length"
                    | "content-encoding"
                    | "transfer-encoding"
                    | "content-range"
                    | "content-md5"
            ) {
                continue;
            }
            headers.remove(name);
            for v in not_modified.headers.get_all(name) {
                headers.append(name.clone(), v.clone());
            }
        }
        let fresh = Arc::new(Stored::new(
            policy,
            call.credentials.clone(),
            stored.status,
            headers,
            stored.body.clone(),
            stored.url.clone(),
            now,
        ));
        status.stored = self
            .store
            .insert(call.key.clone(), &call.parts, fresh.clone(), now);
        status.ttl = Some(fresh.ttl_seconds(now));
        let answer = Answer::new(
            HttpResponse {
                status: fresh.status,
                headers: fresh.served_headers(now),
                body: fresh.body.clone(),
                url: fresh.url.clone(),
            },
            status,
        );
        if fresh.fresh_until > now {
            Decision::Shareable(answer)
        } else {
            Decision::Own {
                answer,
                uncacheable: false,
            }
        }
    }

    /// Starts refreshing a stale answer served under `stale-while-revalidate`, unless as many
    /// refreshes as allowed are running already. Identical refreshes share one exchange.
    fn revalidate_in_background(
        self: &Arc<Self>,
        call: Call,
        stored: Arc<Stored>,
        revalidation: Revalidation,
    ) {
        let mut background = self.background.lock().unwrap_or_else(|p| p.into_inner());
        while background.try_join_next().is_some() {}
        if background.len() >= MAX_BACKGROUND_REVALIDATIONS {
            return;
        }
        let core = self.clone();
        background.spawn(async move {
            let _ = core
                .forward(call, Some((stored, revalidation)), status::Fwd::Stale)
                .await;
        });
    }

    fn is_hit_for_miss(&self, key: &StoreKey) -> bool {
        self.hit_for_miss
            .get(key)
            .is_some_and(|until| Instant::now() < until)
    }

    fn remember_uncacheable(&self, key: &StoreKey) {
        if !self.settings.hit_for_miss.is_zero() {
            self.hit_for_miss
                .insert(key.clone(), Instant::now() + self.settings.hit_for_miss);
        }
    }
}

/// The leader's wait: its own exchange's outcome, whatever kind.
async fn lead(flight: &Arc<Flight>, call: &Call) -> Result<Answer, FetchError> {
    let outcome = match tokio::time::timeout_at(call.deadline, flight.outcome()).await {
        Ok(Some(outcome)) => outcome,
        Ok(None) => {
            return Err(FetchError::Unavailable(format!(
                "the request to {} ended without an answer",
                url_full(&call.req.url)
            )));
        }
        Err(_) => {
            return Err(FetchError::UpstreamTimeout(
                format!(
                    "no complete response from {} within the timeout",
                    url_full(&call.req.url)
                ),
                UpstreamFault::of(&call.req.url),
            ));
        }
    };
    match &*outcome {
        Outcome::Shared(answer) => Ok(answer.clone()),
        Outcome::Own(answer) => lock(answer).take().ok_or_else(|| taken(call)),
        Outcome::Failed(error) => Err(lock(error).take().unwrap_or_else(|| taken(call))),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Only the leader takes its own outcome, once; a second take is a bug, reported as such.
fn taken(call: &Call) -> FetchError {
    FetchError::Unavailable(format!(
        "the answer from {} was already taken (a cache bug)",
        url_full(&call.req.url)
    ))
}

/// A stored answer at `now`.
fn hit(stored: &Stored, now: SystemTime, detail: Option<&'static str>) -> Answer {
    let mut status = CacheStatus::hit(stored.ttl_seconds(now));
    status.detail = detail;
    Answer::new(
        HttpResponse {
            status: stored.status,
            headers: stored.served_headers(now),
            body: stored.body.clone(),
            url: stored.url.clone(),
        },
        status,
    )
}

/// A fresh stored 200 answering a caller's own `If-None-Match` / `If-Modified-Since`: a 304
/// when the condition says not modified, carrying only the fields RFC 9110 §15.4.5 lists
/// (and `Last-Modified` and `Age`, which guide the caller's cache), else the stored 200.
fn validated_hit(stored: &Stored, req: &HeaderMap, now: SystemTime) -> Answer {
    let mut answer = hit(stored, now, None);
    if rules::not_modified(req, &stored.headers) {
        let full = std::mem::take(&mut answer.response.headers);
        for name in [
            CACHE_CONTROL,
            CONTENT_LOCATION,
            DATE,
            ETAG,
            EXPIRES,
            VARY,
            LAST_MODIFIED,
            AGE,
        ] {
            for v in full.get_all(&name) {
                answer.response.headers.append(name.clone(), v.clone());
            }
        }
        answer.response.status = 304;
        answer.response.body = bytes::Bytes::new();
    }
    answer
}

/// The request headers the Fetch standard adds for a cache mode, unless the caller set them.
fn add_mode_headers(headers: &mut HeaderMap, mode: CacheMode) {
    match mode {
        CacheMode::NoStore | CacheMode::Reload => {
            if !headers.contains_key(PRAGMA) {
                headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
            }
            if !headers.contains_key(CACHE_CONTROL) {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            }
        }
        CacheMode::NoCache if !headers.contains_key(CACHE_CONTROL) => {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
        }
        _ => {}
    }
}
