//! What a call gets from the cache: the response and how the cache came by it.

use super::status::CacheStatus;
use crate::fetch::http::HttpResponse;

/// What a call gets: the response, and how the cache came by it (`None`: cache off).
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) response: HttpResponse,
    pub(crate) status: Option<CacheStatus>,
}

impl Answer {
    pub(crate) fn new(response: HttpResponse, status: CacheStatus) -> Self {
        Self {
            response,
            status: Some(status),
        }
    }
}
