//! The tonic face of FetchService: protobuf in, validated domain types, protobuf out.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use tokio::time::Instant;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::client::{Fetcher, HttpRequest, HttpResponse};
use super::deadline::{call_deadline, effective_deadline, requested_timeout};
use super::error::FetchError;
use super::guard::{Policy, TargetUrl};
use super::pages::{PageOut, page_stream};
use super::resolve::Lookup;
use super::token::TokenKey;
use super::transport::PageProgress;
use super::value::json_to_proto;
use crate::config::FetchSettings;
use crate::proto::{FetchRequest, FetchResponse, Header, ListPagesRequest, Page};
use crate::shutdown::Shutdown;

/// Request headers a caller may not set: they frame the HTTP message, which is the
/// client's job, or would tunnel it elsewhere.
const RESERVED_HEADERS: [&str; 8] = [
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// Serves `streamgate.v1.FetchService`.
pub struct FetchHandler {
    fetcher: Arc<Fetcher>,
    settings: Arc<FetchSettings>,
    token_key: Arc<TokenKey>,
    shutdown: Shutdown,
}

impl FetchHandler {
    /// Builds the shared HTTP client and limits, resolving names through `lookup` and
    /// letting `allowed_addresses` through the guard even inside refused ranges.
    pub fn new(
        settings: &FetchSettings,
        lookup: Arc<dyn Lookup>,
        allowed_addresses: Vec<IpAddr>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let policy = Policy {
            allow_private: settings.allow_private_networks,
            allowed: allowed_addresses,
        };
        let fetcher = Fetcher::new(settings, lookup, policy)?;
        Ok(Self {
            fetcher: Arc::new(fetcher),
            settings: Arc::new(settings.clone()),
            token_key: Arc::new(TokenKey::new(settings.pages.page_token_key.as_deref())),
            shutdown,
        })
    }

    fn validate_fetch(
        &self,
        req: FetchRequest,
    ) -> Result<(HttpRequest, std::time::Duration), FetchError> {
        let url = TargetUrl::parse(&req.url).map_err(|r| FetchError::invalid("url", r))?;
        let method = parse_method(&req.method)?;
        let headers = parse_headers("headers", &req.headers)?;
        if req.body.len() > self.settings.max_request_bytes {
            return Err(FetchError::ResourceExhausted(format!(
                "body: {} bytes is over the request body cap of {} bytes",
                req.body.len(),
                self.settings.max_request_bytes
            )));
        }
        let body_cap = match req.max_body_bytes {
            0 => self.settings.default_body_bytes,
            n => n.min(self.settings.max_body_bytes),
        };
        let timeout = requested_timeout(
            "timeout",
            req.timeout,
            self.settings.timeout,
            self.settings.max_timeout,
        )?;
        Ok((
            HttpRequest {
                url: url.into_url(),
                method,
                headers,
                body: Bytes::from(req.body),
                body_cap,
            },
            timeout,
        ))
    }
}

/// Parses a method name; empty is GET, CONNECT is refused (it opens a tunnel).
pub(crate) fn parse_method(raw: &str) -> Result<Method, FetchError> {
    if raw.is_empty() {
        return Ok(Method::GET);
    }
    let m = Method::from_bytes(raw.as_bytes()).map_err(|_| {
        FetchError::invalid("method", format!("{raw:?} is not an HTTP method token"))
    })?;
    if m == Method::CONNECT {
        return Err(FetchError::invalid("method", "CONNECT is not allowed"));
    }
    Ok(m)
}

/// Turns protobuf headers into a `HeaderMap`, keeping repeated names in order.
pub(crate) fn parse_headers(field: &str, headers: &[Header]) -> Result<HeaderMap, FetchError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
            FetchError::invalid(
                format!("{field}[{i}].name"),
                format!("{:?} is not a header name", h.name),
            )
        })?;
        if RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(FetchError::invalid(
                format!("{field}[{i}].name"),
                format!("{name} is set by the server and may not be given"),
            ));
        }
        let value = HeaderValue::from_str(&h.value).map_err(|_| {
            FetchError::invalid(
                format!("{field}[{i}].value"),
                "contains characters not allowed in a header value",
            )
        })?;
        map.append(name, value);
    }
    Ok(map)
}

fn to_proto_headers(headers: &HeaderMap) -> Vec<Header> {
    headers
        .iter()
        .map(|(n, v)| Header {
            name: n.as_str().to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect()
}

fn to_proto_duration(d: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn grpc_timeout<T>(req: &Request<T>) -> Option<&str> {
    req.metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
}

fn to_proto_page(p: PageOut) -> Page {
    Page {
        number: p.number,
        items: p.items.into_iter().map(json_to_proto).collect(),
        next_page_token: p.next_token,
        url: p.url.to_string(),
    }
}

/// Converts domain pages to protobuf and ends the stream with [`Shutdown::status`] when the
/// server stops, dropping the page stream (and its requests in flight) at once.
fn until_shutdown(
    pages: Pin<Box<dyn Stream<Item = Result<PageOut, FetchError>> + Send>>,
    shutdown: Shutdown,
) -> impl Stream<Item = Result<Page, Status>> + Send {
    futures::stream::unfold(Some((pages, shutdown)), |state| async move {
        let (mut pages, shutdown) = state?;
        tokio::select! {
            biased;
            _ = shutdown.recv() => Some((Err(Shutdown::status()), None)),
            item = pages.next() => match item {
                Some(Ok(p)) => Some((Ok(to_proto_page(p)), Some((pages, shutdown)))),
                Some(Err(e)) => Some((Err(Status::from(e)), None)),
                None => None,
            },
        }
    })
}

type PageStream = Pin<Box<dyn Stream<Item = Result<Page, Status>> + Send>>;

#[tonic::async_trait]
impl crate::proto::fetch_service_server::FetchService for FetchHandler {
    async fn fetch(&self, req: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        let start = Instant::now();
        let call = call_deadline(grpc_timeout(&req), start);
        let (http_req, timeout) = self.validate_fetch(req.into_inner())?;
        let deadline = effective_deadline(start, timeout, call);
        let HttpResponse {
            status,
            headers,
            body,
            url,
        } = self.fetcher.execute(http_req, deadline).await?;
        Ok(Response::new(FetchResponse {
            status: u32::from(status),
            headers: to_proto_headers(&headers),
            body: body.into(),
            url: url.to_string(),
            elapsed: Some(to_proto_duration(start.elapsed())),
        }))
    }

    type ListPagesStream = PageStream;

    async fn list_pages(
        &self,
        req: Request<ListPagesRequest>,
    ) -> Result<Response<Self::ListPagesStream>, Status> {
        if self.shutdown.is_triggered() {
            return Err(Shutdown::status());
        }
        let call = call_deadline(grpc_timeout(&req), Instant::now());
        let progress = req.extensions().get::<PageProgress>().map(|p| p.0.clone());
        let plan =
            super::list_request::plan(req.into_inner(), &self.settings, &self.token_key, call)?;
        let pages = Box::pin(page_stream(self.fetcher.clone(), plan, progress));
        Ok(Response::new(Box::pin(until_shutdown(
            pages,
            self.shutdown.clone(),
        ))))
    }
}
