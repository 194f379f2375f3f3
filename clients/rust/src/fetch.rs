//! `Fetch`: one HTTP request made by the server's pooled, guarded client.

use std::time::Duration;

use tonic::Code;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::proto;
use crate::time::{from_proto_duration, to_proto_duration};

/// Extra time the gRPC deadline gets on top of the HTTP timeout, so the server's own timeout
/// fires first and its DEADLINE_EXCEEDED message says which request timed out.
const FETCH_DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// How to make one request: method, headers, body and limits. `Default` is a plain GET with the
/// server's default timeout and body cap.
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    max_body_bytes: u64,
    cache_mode: proto::CacheMode,
    no_follow_redirects: bool,
}

impl FetchOptions {
    /// A GET with the server's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The HTTP method (`GET` when never set).
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Adds a request header; repeated names are all sent, in order.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The request body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Whole-request timeout (the server caps it at its `--fetch-max-timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Response body cap in bytes; a larger body fails with RESOURCE_EXHAUSTED.
    pub fn max_body_bytes(mut self, max: u64) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// How the server's shared HTTP cache treats the request (the Fetch standard's cache
    /// modes; `Default` when never set). Only matters on a server with `--fetch-cache-bytes`.
    pub fn cache_mode(mut self, mode: proto::CacheMode) -> Self {
        self.cache_mode = mode;
        self
    }

    /// Returns a redirect (3xx) as the answer instead of following it.
    pub fn no_follow_redirects(mut self) -> Self {
        self.no_follow_redirects = true;
        self
    }

    fn into_request(self, url: &str) -> tonic::Request<proto::FetchRequest> {
        let timeout = self.timeout;
        let mut request = tonic::Request::new(proto::FetchRequest {
            url: url.to_string(),
            method: self.method,
            headers: self
                .headers
                .into_iter()
                .map(|(name, value)| proto::Header { name, value })
                .collect(),
            body: self.body,
            timeout: timeout.map(to_proto_duration),
            max_body_bytes: self.max_body_bytes,
            cache_mode: self.cache_mode.into(),
            no_follow_redirects: self.no_follow_redirects,
        });
        if let Some(t) = timeout {
            request.set_timeout(t.saturating_add(FETCH_DEADLINE_MARGIN));
        }
        request
    }
}

/// The upstream's answer. A 4xx or 5xx is a response like any other, not an [`Error`].
#[derive(Clone, Debug)]
pub struct FetchResponse {
    /// The upstream HTTP status.
    pub status: u16,
    /// Response headers in the order received, repeated names kept.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
    /// The final URL, after redirects.
    pub url: String,
    /// How long the server took to get the whole response.
    pub elapsed: Duration,
    /// The RFC 9211 `Cache-Status` of the answer (`streamgate; hit; ttl=42`, ...); empty when
    /// the server has no cache.
    pub cache_status: String,
}

impl FetchResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl TryFrom<proto::FetchResponse> for FetchResponse {
    type Error = Error;

    fn try_from(r: proto::FetchResponse) -> Result<Self> {
        let status = u16::try_from(r.status).map_err(|_| {
            Error::new(
                Code::Internal,
                format!("server sent HTTP status {} out of range", r.status),
            )
        })?;
        Ok(Self {
            status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
            url: r.url,
            elapsed: r
                .elapsed
                .as_ref()
                .map_or(Duration::ZERO, from_proto_duration),
            cache_status: r.cache_status,
        })
    }
}

impl Client {
    /// Fetches `url` through the server: `client.fetch(url, FetchOptions::new().header(..))`.
    pub async fn fetch(&self, url: &str, options: FetchOptions) -> Result<FetchResponse> {
        let response = self
            .fetch
            .clone()
            .fetch(options.into_request(url))
            .await
            .map_err(|s| self.error(s))?;
        response.into_inner().try_into()
    }

    /// `fetch(url, FetchOptions::new())`.
    pub async fn get(&self, url: &str) -> Result<FetchResponse> {
        self.fetch(url, FetchOptions::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_sets_a_grpc_deadline_just_above_it() {
        let request = FetchOptions::new()
            .timeout(Duration::from_secs(2))
            .into_request("http://127.0.0.1/");
        let header = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert!(header.is_some(), "no grpc-timeout header was set");
        assert_eq!(
            request.get_ref().timeout,
            Some(prost_types::Duration {
                seconds: 2,
                nanos: 0
            })
        );
    }

    #[test]
    fn repeated_headers_keep_their_order() {
        let request = FetchOptions::new()
            .header("X-A", "1")
            .header("X-A", "2")
            .into_request("http://127.0.0.1/");
        let values: Vec<_> = request
            .get_ref()
            .headers
            .iter()
            .map(|h| h.value.as_str())
            .collect();
        assert_eq!(values, ["1", "2"]);
    }
}
