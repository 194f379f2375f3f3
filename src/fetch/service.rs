//! The tonic face of FetchService: protobuf in, validated domain types, protobuf out.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderMap;
use tokio::time::Instant;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::cache::{Answer, HttpCache};
use super::error::FetchError;
use super::http::{Fetcher, HttpResponse, Lookup, RecentUrls, TargetGuard};
use super::pages::{PageOut, PageProgress, TokenKey, page_stream};
use super::request;
use super::value::json_to_proto;
use crate::config::FetchSettings;
use crate::edge::Caller;
use crate::metrics::FetchMetrics;
use crate::proto::{FetchRequest, FetchResponse, Header, ListPagesRequest, Page};
use crate::rpc::{call_deadline, effective_deadline};
use crate::shutdown::Shutdown;
use crate::trace_context::TraceContext;

/// The RFC 9211 response field.
const CACHE_STATUS: http::HeaderName = http::HeaderName::from_static("cache-status");

/// Serves `streamgate.v1.FetchService`.
pub(crate) struct FetchHandler {
    cache: Arc<HttpCache>,
    settings: Arc<FetchSettings>,
    token_key: Arc<TokenKey>,
    urls: RecentUrls,
    shutdown: Shutdown,
}

impl FetchHandler {
    /// Builds the shared HTTP client and limits, resolving names through `lookup` and
    /// letting `allowed_addresses` through the guard even inside refused ranges; requests,
    /// refusals and pages are counted in `metrics`.
    pub(crate) fn new(
        settings: &FetchSettings,
        lookup: Arc<dyn Lookup>,
        allowed_addresses: Vec<IpAddr>,
        metrics: FetchMetrics,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let policy = TargetGuard {
            allow_private: settings.allow_private_networks,
            allowed: allowed_addresses,
        };
        let fetcher = Arc::new(Fetcher::new(settings, lookup, policy, metrics.clone())?);
        let cache = HttpCache::new(fetcher, &settings.cache, metrics)?;
        Ok(Self {
            cache: Arc::new(cache),
            settings: Arc::new(settings.clone()),
            token_key: Arc::new(TokenKey::new(settings.pages.page_token_key.as_deref())),
            urls: RecentUrls::new(),
            shutdown,
        })
    }
}

fn to_proto_headers(headers: &HeaderMap) -> Vec<Header> {
    let mut out = Vec::with_capacity(headers.len());
    out.extend(headers.iter().map(|(n, v)| Header {
        name: n.as_str().to_owned(),
        value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
    }));
    out
}

fn to_proto_duration(d: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
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
/// Each page is counted in `streamgate_pages_total` as it goes to the client.
fn until_shutdown(
    pages: Pin<Box<dyn Stream<Item = Result<PageOut, FetchError>> + Send>>,
    shutdown: Shutdown,
    metrics: FetchMetrics,
) -> impl Stream<Item = Result<Page, Status>> + Send {
    futures::stream::unfold(Some((pages, shutdown, metrics)), |state| async move {
        let (mut pages, shutdown, metrics) = state?;
        tokio::select! {
            biased;
            _ = shutdown.recv() => Some((Err(Shutdown::status()), None)),
            item = pages.next() => match item {
                Some(Ok(p)) => {
                    metrics.page_sent();
                    Some((Ok(to_proto_page(p)), Some((pages, shutdown, metrics))))
                }
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
        let call = call_deadline(req.metadata(), start);
        let trace = req.extensions().get::<TraceContext>().cloned();
        let caller = req.extensions().get::<Arc<Caller>>().cloned();
        let (mut http_req, timeout, cache_mode) =
            request::fetch(req.into_inner(), &self.settings, &self.urls)?;
        if let Some(caller) = &caller {
            // The caller's `fetch_methods`, asked of the method Fetch has just parsed.
            caller.method_allowed(&http_req.method)?;
        }
        http_req.use_cache = caller.as_ref().is_none_or(|c| c.fetch_cache_allowed());
        http_req.trace = trace;
        http_req.caller = caller;
        let deadline = effective_deadline(start, timeout, call);
        let Answer {
            response:
                HttpResponse {
                    status,
                    mut headers,
                    body,
                    url,
                },
            status: cache_status,
        } = self.cache.execute(http_req, deadline, cache_mode).await?;
        let cache_status = cache_status.map(|s| s.header_value()).unwrap_or_default();
        if !cache_status.is_empty() {
            if let Ok(value) = http::HeaderValue::from_str(&cache_status) {
                if !headers.contains_key(CACHE_STATUS) {
                    headers.insert(CACHE_STATUS, value);
                } else {
                    // RFC 9211 §2: a cache prepends its entry to those of caches before it.
                    let earlier: Vec<_> = headers.get_all(CACHE_STATUS).iter().cloned().collect();
                    headers.remove(CACHE_STATUS);
                    headers.append(CACHE_STATUS, value);
                    for v in earlier {
                        headers.append(CACHE_STATUS, v);
                    }
                }
            }
        }
        Ok(Response::new(FetchResponse {
            status: u32::from(status),
            headers: to_proto_headers(&headers),
            body,
            url: url.into(),
            elapsed: Some(to_proto_duration(start.elapsed())),
            cache_status,
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
        let call = call_deadline(req.metadata(), Instant::now());
        let progress = req.extensions().get::<PageProgress>().map(|p| p.0.clone());
        let trace = req.extensions().get::<TraceContext>().cloned();
        let caller = req.extensions().get::<Arc<Caller>>().cloned();
        let mut plan = request::plan(req.into_inner(), &self.settings, &self.token_key, call)?;
        plan.use_cache = caller.as_ref().is_none_or(|c| c.fetch_cache_allowed());
        plan.trace = trace;
        plan.caller = caller;
        let pages = Box::pin(page_stream(self.cache.clone(), plan, progress));
        Ok(Response::new(Box::pin(until_shutdown(
            pages,
            self.shutdown.clone(),
            self.cache.metrics().clone(),
        ))))
    }
}
