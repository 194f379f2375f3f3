//! One ListPages page request: sent through the shared client, retried with backoff on
//! 429/502/503/504 and connection errors, and interpreted by the pagination strategy.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use tokio::time::Instant;
use url::Url;

use super::paginate::{Position, Step};
use super::plan::Plan;
use super::retry::{is_retryable_status, retry_after};
use crate::fetch::cache::{CacheMode, HttpCache};
use crate::fetch::error::FetchError;
use crate::fetch::http::HttpRequest;
use crate::fetch::upstream::UpstreamFault;
use crate::rpc::effective_deadline;

/// A page request's result: what the response means, and where it came from.
pub(crate) struct Fetched {
    pub(crate) step: Step,
    pub(crate) url: Url,
}

/// Fetches one page, retrying 429/502/503/504 and connection errors with backoff.
pub(crate) async fn fetch_page(
    cache: Arc<HttpCache>,
    plan: Arc<Plan>,
    pos: Position,
) -> Result<Fetched, FetchError> {
    let url = plan.paging.request_url(&pos);
    // The caller's headers are meant for the origin of its request URL; a next page (or a
    // redirect) elsewhere gets only the harmless ones.
    let origin = plan.paging.base.origin();
    let deadline = effective_deadline(Instant::now(), plan.page_timeout, plan.call_deadline);
    let mut attempt = 1;
    loop {
        let req = HttpRequest {
            url: url.clone(),
            method: Method::GET,
            headers: plan.headers.clone(),
            origin: origin.clone(),
            body: Bytes::new(),
            body_cap: plan.body_cap,
            trace: plan.trace.clone(),
            caller: plan.caller.clone(),
            follow_redirects: true,
            use_cache: plan.use_cache,
        };
        // A page re-read within its freshness comes from the shared cache.
        let result = cache
            .execute(req, deadline, CacheMode::Default)
            .await
            .map(|a| a.response);
        let (retryable, hint, failure, fault) = match &result {
            Ok(r) if is_retryable_status(r.status) => (
                true,
                retry_after(&r.headers),
                format!("upstream answered HTTP {}", r.status),
                Some(UpstreamFault::answered(&r.url, r.status)),
            ),
            Err(e) if e.is_retryable() => (true, None, e.to_string(), e.upstream_fault().cloned()),
            _ => (false, None, String::new(), None),
        };
        if !retryable {
            let resp = result?;
            let step =
                plan.paging
                    .interpret(&pos, resp.status, &resp.headers, &resp.url, &resp.body)?;
            return Ok(Fetched {
                step,
                url: resp.url,
            });
        }
        // The last attempt's upstream is the one blamed; a failure of streamgate's own
        // (shutting down) stays unmarked.
        let give_up = |why: &str| {
            let message = format!("{failure} after {attempt} attempt(s){why}");
            match &fault {
                Some(f) => FetchError::UpstreamUnavailable(message, f.clone()),
                None => FetchError::Unavailable(message),
            }
        };
        if attempt >= plan.retry.max_attempts {
            return Err(give_up(""));
        }
        let Some(wait) = plan.retry.delay(attempt, hint) else {
            return Err(give_up(
                "; its Retry-After is longer than --pages-retry-max",
            ));
        };
        if Instant::now() + wait >= deadline {
            return Err(give_up("; the next retry would pass the deadline"));
        }
        tokio::time::sleep(wait).await;
        cache.metrics().page_retried();
        attempt += 1;
    }
}
