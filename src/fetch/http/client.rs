//! The one shared HTTP client: a keep-alive pool behind the guard (resolver and redirect
//! checks), the upstream connection slots, the deadline, and a body cap enforced while reading.
//!
//! Redirects are followed here, not by reqwest: its redirect policy can refuse a hop but not
//! change the headers that go along, and the contract's cross-origin rule needs exactly
//! that. Each hop is checked by the guard, and when its origin (scheme, host, port) differs
//! from the caller's, only [`CROSS_ORIGIN_HEADERS`] of the caller's headers go along (the
//! Fetch standard's and curl's rule: credentials stay with the origin they were meant for).
//! No hop ever carries a `Referer`.
//!
//! The redirect policy lives here (hops, headers, `--fetch-max-redirects`); what it asks of
//! others: `guard.rs` checks each hop's address, and the caller's `fetch_hosts` rule
//! (src/edge/rules.rs, asked through the [`Caller`](crate::edge::Caller) the request carries)
//! is checked again for each hop.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{
    ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    HeaderName, LOCATION, TRANSFER_ENCODING, USER_AGENT,
};
use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;
use tracing::Instrument;
use url::{Origin, Url};

use super::guard::{Refused, TargetGuard};
use super::resolve::{GuardedResolver, Lookup};
use super::slots::Slots;
use crate::config::FetchSettings;
use crate::edge::{Caller, Denied};
use crate::fetch::error::FetchError;
use crate::fetch::upstream::UpstreamFault;
use crate::metrics::FetchMetrics;
use crate::telemetry::semconv;
use crate::trace_context::TraceContext;

/// The caller's headers that go along to another origin.
pub(crate) const CROSS_ORIGIN_HEADERS: [HeaderName; 5] = [
    ACCEPT,
    ACCEPT_ENCODING,
    ACCEPT_LANGUAGE,
    CONTENT_TYPE,
    USER_AGENT,
];

/// One upstream request, already validated.
#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    /// Absolute http(s) URL (checked again by the guard before sending).
    pub(crate) url: Url,
    /// HTTP method.
    pub(crate) method: Method,
    /// Headers sent as given to `origin`; off it, only [`CROSS_ORIGIN_HEADERS`].
    pub(crate) headers: HeaderMap,
    /// The origin the caller addressed (a Fetch's URL, a ListPages request's URL): the one
    /// its headers are meant for.
    pub(crate) origin: Origin,
    /// Request body.
    pub(crate) body: Bytes,
    /// Largest response body accepted, in bytes.
    pub(crate) body_cap: u64,
    /// The call's trace, continued on this request (`traceparent` with a new parent id).
    pub(crate) trace: Option<TraceContext>,
    /// The caller whose `fetch_hosts` rule this URL and every redirect hop must pass,
    /// before the guard (`None`: no policy).
    pub(crate) caller: Option<Arc<Caller>>,
    /// Whether redirects are followed; when not, a 3xx is the answer.
    pub(crate) follow_redirects: bool,
    /// Whether the shared cache may answer or store this request (the caller's policy).
    pub(crate) use_cache: bool,
}

/// What came back.
#[derive(Clone, Debug)]
pub(crate) struct HttpResponse {
    /// HTTP status code.
    pub(crate) status: u16,
    /// Response headers.
    pub(crate) headers: HeaderMap,
    /// The whole (decoded) body, at most the request's cap.
    pub(crate) body: Bytes,
    /// The final URL after redirects.
    pub(crate) url: Url,
}

/// The process-wide HTTP client with its guard and connection slots.
pub(crate) struct Fetcher {
    client: reqwest::Client,
    policy: Arc<TargetGuard>,
    slots: Arc<Slots>,
    queue_timeout: Duration,
    connect_timeout: Duration,
    max_redirects: usize,
    metrics: FetchMetrics,
}

impl Fetcher {
    /// Builds the client from the config, resolving names through `lookup`.
    pub(crate) fn new(
        settings: &FetchSettings,
        lookup: Arc<dyn Lookup>,
        policy: TargetGuard,
        metrics: FetchMetrics,
    ) -> anyhow::Result<Self> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(lookup, policy.clone())))
            // Followed in `send`, hop by hop (see the module doc).
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(settings.connect_timeout)
            // A proxy from the environment would resolve names itself, around the guard.
            .no_proxy()
            .pool_max_idle_per_host(settings.max_per_host.get())
            .user_agent(concat!("streamgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy,
            slots: Slots::new(
                settings.max_concurrency.get(),
                settings.max_per_host.get(),
                settings.max_queue.get(),
            ),
            queue_timeout: settings.queue_timeout,
            connect_timeout: settings.connect_timeout,
            max_redirects: settings.max_redirects,
            metrics,
        })
    }

    /// The families requests and pages are counted in.
    pub(crate) fn metrics(&self) -> &FetchMetrics {
        &self.metrics
    }

    /// Sends `req` and reads the whole response by `deadline`, queueing for a slot first.
    /// Every guard refusal on the way (URL, resolved address, redirect) is counted by kind.
    pub(crate) async fn execute(
        &self,
        req: HttpRequest,
        deadline: Instant,
    ) -> Result<HttpResponse, FetchError> {
        if let Some(caller) = &req.caller {
            caller.host_allowed(&req.url)?;
        }
        let res = self.queue_and_send(req, deadline).await;
        if let Err(FetchError::Refused(r)) = &res {
            self.metrics.refused(r.kind);
        }
        res
    }

    /// The caller's `fetch_hosts` rule and the guard's verdict on `req`'s URL, as
    /// [`Fetcher::execute`] applies them first: the cache asks before it answers from its store.
    pub(crate) fn check_target(&self, req: &HttpRequest) -> Result<(), FetchError> {
        if let Some(caller) = &req.caller {
            caller.host_allowed(&req.url)?;
        }
        self.policy.check_url(&req.url).map_err(|r| {
            self.metrics.refused(r.kind);
            r.into()
        })
    }

    async fn queue_and_send(
        &self,
        req: HttpRequest,
        deadline: Instant,
    ) -> Result<HttpResponse, FetchError> {
        self.policy.check_url(&req.url)?;
        let host_key = format!(
            "{}:{}",
            req.url.host_str().unwrap_or_default(),
            req.url.port_or_known_default().unwrap_or(0)
        );
        let queued = Instant::now();
        let queue_deadline = queued + self.queue_timeout;
        let _permit = self
            .slots
            .acquire(&host_key, deadline, queue_deadline)
            .await?;
        let _in_flight = self.metrics.slot_granted(queued.elapsed());
        let url = req.url.clone();
        let sent = Instant::now();
        let res = match tokio::time::timeout_at(deadline, self.send(req)).await {
            Ok(res) => res,
            Err(_) => Err(FetchError::UpstreamTimeout(
                format!(
                    "no complete response from {} within the timeout",
                    semconv::url_full(&url)
                ),
                UpstreamFault::of(&url),
            )),
        };
        match &res {
            Ok(r) => self.metrics.upstream(Some(r.status), sent.elapsed()),
            // Refused by the resolver or a redirect: nothing (more) went upstream.
            Err(FetchError::Refused(_)) => {}
            Err(_) => self.metrics.upstream(None, sent.elapsed()),
        }
        res
    }

    /// Sends `req`, following up to `--fetch-max-redirects` redirects; past the limit the
    /// redirect response itself is the answer.
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, FetchError> {
        let HttpRequest {
            mut url,
            mut method,
            mut headers,
            origin,
            mut body,
            body_cap,
            trace,
            caller,
            follow_redirects,
            use_cache: _,
        } = req;
        let mut redirects = 0;
        let resp = loop {
            let mut hop_headers = if url.origin() == origin {
                headers.clone()
            } else {
                cross_origin(&headers)
            };
            // Each hop is an HTTP request of its own: its own CLIENT span, whose context the
            // trace headers carry (they go to every hop, whatever its origin).
            let span = semconv::http_client_span(&method, &url);
            for (name, value) in semconv::upstream_trace_headers(&span, trace.as_ref()) {
                hop_headers.insert(name, value);
            }
            let resp = self
                .client
                .request(method.clone(), url.clone())
                .headers(hop_headers)
                .body(body.clone())
                .send()
                .instrument(span.clone())
                .await
                .map_err(|e| {
                    semconv::record_http_error(&span, "no_response");
                    classify(e, &url, self.connect_timeout)
                })?;
            semconv::record_http_status(&span, resp.status().as_u16());
            let Some(next) = redirect_target(&resp, &url) else {
                break resp;
            };
            if !follow_redirects || redirects >= self.max_redirects {
                break resp;
            }
            // The caller's `fetch_hosts` rule first, then the address guard.
            if let Some(caller) = &caller {
                caller
                    .host_allowed(&next)
                    .map_err(|d| d.in_context(&redirect_context(&next)))?;
            }
            self.check_hop(&next)?;
            redirects += 1;
            if rewrites_to_get(resp.status(), &method) {
                // As browsers and reqwest do: 301/302 after a POST and every 303 fetch the
                // new location with GET, without the request body and the headers that
                // describe it.
                method = Method::GET;
                body = Bytes::new();
                for h in [
                    CONTENT_TYPE,
                    CONTENT_LENGTH,
                    CONTENT_ENCODING,
                    TRANSFER_ENCODING,
                ] {
                    headers.remove(h);
                }
            }
            url = next;
        };
        read_capped(resp, &url, body_cap, self.connect_timeout).await
    }

    /// The guard's verdict on a redirect target (named hosts are checked again by the
    /// resolver when they are looked up).
    fn check_hop(&self, next: &Url) -> Result<(), FetchError> {
        let context = redirect_context(next);
        if next.scheme() != "http" && next.scheme() != "https" {
            return Err(Refused::scheme(next).with_context(&context).into());
        }
        self.policy
            .check_url(next)
            .map_err(|r| r.with_context(&context).into())
    }
}

/// What a failure at a redirect hop is prefixed with, its URL redacted like every URL in a
/// status message.
fn redirect_context(next: &Url) -> String {
    format!("redirect to {}", semconv::url_full(next))
}

/// The caller's headers that may go to another origin.
fn cross_origin(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in &CROSS_ORIGIN_HEADERS {
        for value in headers.get_all(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// Where a redirect response points, resolved against the URL it came from; `None` for any
/// other response (or a redirect without a usable Location, which is then the answer).
fn redirect_target(resp: &reqwest::Response, url: &Url) -> Option<Url> {
    if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = resp.headers().get(LOCATION)?.to_str().ok()?;
    url.join(location).ok()
}

/// Whether a redirect with `status` turns `method` into a GET without a body (RFC 9110
/// §15.4: 303 always, 301/302 for POST by long-standing practice; 307/308 never).
fn rewrites_to_get(status: StatusCode, method: &Method) -> bool {
    match status {
        StatusCode::SEE_OTHER => method != Method::GET && method != Method::HEAD,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => method == Method::POST,
        _ => false,
    }
}

/// Reads `resp`'s whole body, refusing more than `cap` bytes.
async fn read_capped(
    mut resp: reqwest::Response,
    url: &Url,
    cap: u64,
    connect_timeout: Duration,
) -> Result<HttpResponse, FetchError> {
    let too_large = |n: &dyn std::fmt::Display| {
        FetchError::ResourceExhausted(format!(
            "response body from {} is {n} bytes, over the cap of {cap} bytes (max_body_bytes)",
            semconv::url_full(url)
        ))
    };
    if let Some(len) = resp.content_length().filter(|&l| l > cap) {
        return Err(too_large(&len));
    }
    let reserve = resp.content_length().unwrap_or(0).min(cap).min(1 << 20) as usize;
    let mut body = BytesMut::with_capacity(reserve);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| classify(e, url, connect_timeout))?
    {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_large(&format!("more than {cap}")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status: resp.status().as_u16(),
        url: resp.url().clone(),
        headers: std::mem::take(resp.headers_mut()),
        body: body.freeze(),
    })
}

/// Maps a reqwest failure to the contract's statuses, finding a guard refusal anywhere in
/// the error's chain (it comes back wrapped by the resolver or the redirect policy).
fn classify(e: reqwest::Error, url: &Url, connect_timeout: Duration) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return FetchError::Refused(r.clone());
        }
        if let Some(d) = s.downcast_ref::<Denied>() {
            return FetchError::Denied(d.clone());
        }
        source = s.source();
    }
    // reqwest names the full URL in its message; the caller gets it redacted, as the
    // ErrorInfo marker and the spans have it (query values often carry keys).
    let e = e.without_url();
    let chain = error_chain(&e);
    let fault = UpstreamFault::of(url);
    let url = semconv::url_full(url);
    if e.is_timeout() && e.is_connect() {
        let message = format!(
            "could not connect to {url} within the connect timeout of {} \
             (--fetch-connect-timeout): {chain}",
            humantime::format_duration(connect_timeout)
        );
        FetchError::UpstreamTimeout(message, fault)
    } else if e.is_timeout() {
        FetchError::UpstreamTimeout(format!("timed out talking to {url}: {chain}"), fault)
    } else if e.is_connect() {
        FetchError::UpstreamUnavailable(format!("cannot connect to {url}: {chain}"), fault)
    } else if e.is_body() || e.is_decode() {
        let message = format!("reading the response from {url} failed: {chain}");
        FetchError::UpstreamUnavailable(message, fault)
    } else {
        FetchError::UpstreamUnavailable(format!("request to {url} failed: {chain}"), fault)
    }
}

/// Every message in an error's source chain, joined, so the cause (e.g. "Connection
/// refused") reaches the caller.
fn error_chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_303_and_a_post_redirected_by_301_or_302_become_a_get() {
        let see_other = StatusCode::SEE_OTHER;
        assert!(rewrites_to_get(see_other, &Method::POST));
        assert!(rewrites_to_get(see_other, &Method::PUT));
        assert!(!rewrites_to_get(see_other, &Method::HEAD));
        assert!(rewrites_to_get(StatusCode::FOUND, &Method::POST));
        assert!(!rewrites_to_get(StatusCode::FOUND, &Method::PUT));
        assert!(!rewrites_to_get(
            StatusCode::TEMPORARY_REDIRECT,
            &Method::POST
        ));
        assert!(!rewrites_to_get(
            StatusCode::PERMANENT_REDIRECT,
            &Method::POST
        ));
    }

    #[test]
    fn only_the_harmless_headers_cross_origins_repeats_kept() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Bearer t"),
            ("x-api-key", "k"),
            ("cookie", "c"),
            ("accept", "a/1"),
            ("accept", "a/2"),
            ("content-type", "text/plain"),
        ] {
            h.append(HeaderName::from_static(n), v.parse().unwrap());
        }
        let kept = cross_origin(&h);
        assert_eq!(kept.len(), 3, "{kept:?}");
        let accept: Vec<_> = kept.get_all(ACCEPT).iter().collect();
        assert_eq!(accept, ["a/1", "a/2"]);
        assert_eq!(kept[CONTENT_TYPE], "text/plain");
    }
}
