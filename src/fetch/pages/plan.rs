//! [`Plan`]: everything one ListPages stream follows, built once by `fetch/request.rs` from
//! the validated request and shared (read-only) by the driver and every page task.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;

use super::paginate::Paging;
use super::retry::RetryPolicy;
use super::token::{Resume, TokenKey};

/// Everything a stream needs, validated.
pub(crate) struct Plan {
    /// How the collection is walked: style, URL, page size, parameter names, pointers.
    pub(crate) paging: Paging,
    /// Where to start, and the index of that page.
    pub(crate) start: Resume,
    /// Pages to deliver at most (0 = until the end).
    pub(crate) max_pages: u32,
    /// Pages fetched ahead of the one being delivered (at least 1).
    pub(crate) prefetch: u32,
    /// Headers of every page request.
    pub(crate) headers: HeaderMap,
    /// Timeout of each page, retries included.
    pub(crate) page_timeout: Duration,
    /// The call's deadline, if the client set one.
    pub(crate) call_deadline: Option<Instant>,
    /// Response body cap per page.
    pub(crate) body_cap: u64,
    /// How a failed page request is retried.
    pub(crate) retry: RetryPolicy,
    /// Signs resume tokens.
    pub(crate) token_key: Arc<TokenKey>,
    /// The request identity tokens are bound to.
    pub(crate) identity: String,
    /// The call's trace, continued on every page request.
    pub(crate) trace: Option<crate::trace_context::TraceContext>,
    /// The caller whose `fetch_hosts` rule every page URL and redirect hop must pass
    /// (`None`: no policy).
    pub(crate) caller: Option<Arc<crate::edge::Caller>>,
    /// Whether pages may come from (and go into) the shared cache.
    pub(crate) use_cache: bool,
}
