//! The one shared HTTP client: a keep-alive pool behind the guard (resolver and redirect
//! policy), the upstream connection slots, the deadline, and a body cap enforced while reading.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use tokio::time::Instant;
use url::{Position, Url};

use super::guard::{Policy, Refused};
use super::resolve::{GuardedResolver, Lookup};
use super::slots::Slots;
use crate::config::FetchSettings;
use crate::fetch::error::FetchError;

/// One upstream request, already validated.
#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    /// Absolute http(s) URL (checked again by the guard before sending).
    pub(crate) url: Url,
    /// HTTP method.
    pub(crate) method: Method,
    /// Headers sent as given.
    pub(crate) headers: HeaderMap,
    /// Request body.
    pub(crate) body: Bytes,
    /// Largest response body accepted, in bytes.
    pub(crate) body_cap: u64,
}

/// What came back.
#[derive(Debug)]
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
    policy: Arc<Policy>,
    slots: Arc<Slots>,
    queue_timeout: Duration,
    connect_timeout: Duration,
}

impl Fetcher {
    /// Builds the client from the config, resolving names through `lookup`.
    pub(crate) fn new(
        settings: &FetchSettings,
        lookup: Arc<dyn Lookup>,
        policy: Policy,
    ) -> anyhow::Result<Self> {
        let policy = Arc::new(policy);
        let max_redirects = settings.max_redirects;
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(lookup, policy.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds every URL visited so far, the first one included. Past the
                // limit the redirect response itself is returned, as the caller's answer.
                if attempt.previous().len() > max_redirects {
                    return attempt.stop();
                }
                let url = attempt.url();
                if url.scheme() != "http" && url.scheme() != "https" {
                    let refused = Refused::scheme(url);
                    return attempt.error(refused);
                }
                match redirect_policy.check_url(url) {
                    Ok(()) => attempt.follow(),
                    Err(r) => {
                        let r = r.with_context(&format!("redirect to {url}"));
                        attempt.error(r)
                    }
                }
            }))
            .connect_timeout(settings.connect_timeout)
            // A proxy from the environment would resolve names itself, around the guard.
            .no_proxy()
            .pool_max_idle_per_host(settings.max_per_host.get())
            .user_agent(concat!("streamgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy,
            slots: Slots::new(settings.max_concurrency.get(), settings.max_per_host.get()),
            queue_timeout: settings.queue_timeout,
            connect_timeout: settings.connect_timeout,
        })
    }

    /// Sends `req` and reads the whole response by `deadline`, queueing for a slot first.
    pub(crate) async fn execute(
        &self,
        req: HttpRequest,
        deadline: Instant,
    ) -> Result<HttpResponse, FetchError> {
        self.policy.check_url(&req.url)?;
        let queue_deadline = Instant::now() + self.queue_timeout;
        let _permit = self
            .slots
            .acquire(&host_key(&req.url), deadline, queue_deadline)
            .await?;
        let HttpRequest {
            url,
            method,
            headers,
            body,
            body_cap,
        } = req;
        // reqwest takes the URL; ours names it in errors and is the answer's URL unless a
        // redirect was followed.
        let request = self
            .client
            .request(method, url.clone())
            .headers(headers)
            .body(body);
        match tokio::time::timeout_at(deadline, self.send(request, &url, body_cap)).await {
            Ok(Ok((status, headers, body, redirected))) => Ok(HttpResponse {
                status,
                headers,
                body,
                url: redirected.unwrap_or(url),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(FetchError::DeadlineExceeded(format!(
                "no complete response from {url} within the timeout"
            ))),
        }
    }

    /// Sends the request and reads the whole body: the status, headers, body and, when a
    /// redirect was followed, the final URL.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
        cap: u64,
    ) -> Result<(u16, HeaderMap, Bytes, Option<Url>), FetchError> {
        let mut resp = request
            .send()
            .await
            .map_err(|e| classify(e, url, self.connect_timeout))?;
        let body = self.read_body(&mut resp, url, cap).await?;
        let redirected = (resp.url() != url).then(|| resp.url().clone());
        Ok((
            resp.status().as_u16(),
            std::mem::take(resp.headers_mut()),
            body,
            redirected,
        ))
    }

    /// The whole body, refused past `cap` bytes. A body that arrives in one chunk (the usual
    /// case for small bodies) is passed on as it came, without a copy.
    async fn read_body(
        &self,
        resp: &mut reqwest::Response,
        url: &Url,
        cap: u64,
    ) -> Result<Bytes, FetchError> {
        let too_large = |n: &dyn std::fmt::Display| {
            FetchError::ResourceExhausted(format!(
                "response body from {url} is {n} bytes, over the cap of {cap} bytes (max_body_bytes)"
            ))
        };
        let content_length = resp.content_length();
        if let Some(len) = content_length.filter(|&l| l > cap) {
            return Err(too_large(&len));
        }
        let mut next_chunk = async || {
            resp.chunk()
                .await
                .map_err(|e| classify(e, url, self.connect_timeout))
        };
        let Some(first) = next_chunk().await? else {
            return Ok(Bytes::new());
        };
        if first.len() as u64 > cap {
            return Err(too_large(&format!("more than {cap}")));
        }
        let Some(second) = next_chunk().await? else {
            return Ok(first);
        };
        let expected = content_length.unwrap_or(0).min(cap).min(1 << 20) as usize;
        let mut body = BytesMut::with_capacity(expected.max(first.len() + second.len()));
        body.extend_from_slice(&first);
        let mut pending = Some(second);
        loop {
            let chunk = match pending.take() {
                Some(c) => c,
                None => match next_chunk().await? {
                    Some(c) => c,
                    None => break,
                },
            };
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(too_large(&format!("more than {cap}")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// The key of a URL's per-host slots, `host:port` (the scheme's port when none is given).
/// Borrowed from the URL when the port is written in it, as for most internal upstreams.
fn host_key(url: &Url) -> std::borrow::Cow<'_, str> {
    match url.port() {
        Some(_) => std::borrow::Cow::Borrowed(&url[Position::BeforeHost..Position::AfterPort]),
        None => std::borrow::Cow::Owned(format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        )),
    }
}

/// Maps a reqwest failure to the contract's statuses, finding a guard refusal anywhere in
/// the error's chain (it comes back wrapped by the resolver or the redirect policy).
fn classify(e: reqwest::Error, url: &Url, connect_timeout: Duration) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return FetchError::Refused(r.clone());
        }
        source = s.source();
    }
    let chain = error_chain(&e);
    if e.is_timeout() && e.is_connect() {
        FetchError::DeadlineExceeded(format!(
            "could not connect to {url} within the connect timeout of {} \
             (--fetch-connect-timeout): {chain}",
            humantime::format_duration(connect_timeout)
        ))
    } else if e.is_timeout() {
        FetchError::DeadlineExceeded(format!("timed out talking to {url}: {chain}"))
    } else if e.is_connect() {
        FetchError::Unavailable(format!("cannot connect to {url}: {chain}"))
    } else if e.is_body() || e.is_decode() {
        FetchError::Unavailable(format!("reading the response from {url} failed: {chain}"))
    } else {
        FetchError::Unavailable(format!("request to {url} failed: {chain}"))
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
    fn host_keys_name_host_and_port_with_the_scheme_default_filled_in() {
        let key = |u: &str| host_key(&Url::parse(u).unwrap()).into_owned();
        assert_eq!(key("http://127.0.0.1:8080/a?b"), "127.0.0.1:8080");
        assert_eq!(key("https://example.com/x"), "example.com:443");
        assert_eq!(key("http://example.com:80/x"), "example.com:80");
        assert_eq!(key("http://[::1]:9000/"), "[::1]:9000");
        assert!(matches!(
            host_key(&Url::parse("http://h:1/").unwrap()),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
