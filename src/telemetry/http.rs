//! OTLP/HTTP through reqwest 0.12, the server's own HTTP client crate: the exporter's
//! built-in client would bring a second reqwest into the build.

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry_http::{HttpClient, HttpError};

/// Collector answers are small (a partial-success message at most); a bigger one is
/// refused rather than buffered.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A reqwest client for the collector (not the guarded upstream client: the collector is
/// configured by the operator, typically on a private address).
#[derive(Debug)]
pub(super) struct ReqwestClient {
    client: reqwest::Client,
}

impl ReqwestClient {
    pub(super) fn new(timeout: std::time::Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self { client }
    }
}

#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut resp = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let mut out = Response::builder().status(resp.status().as_u16());
        if let Some(h) = out.headers_mut() {
            *h = std::mem::take(resp.headers_mut());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!("collector answer over {MAX_RESPONSE_BYTES} bytes").into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(out.body(Bytes::from(body))?)
    }
}
