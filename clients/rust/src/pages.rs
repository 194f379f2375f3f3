//! `ListPages`: a paginated HTTP API read lazily, as a `Stream` of pages.

use std::time::Duration;

use futures::{Stream, TryStreamExt, stream};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::json::value_to_json;
use crate::proto::{self, PaginationStyle};
use crate::time::to_proto_duration;

/// How to walk a collection. `Default` is the seed's: `?page=N&size=20` from page 1 until the
/// first empty page, the body being the array of items.
#[derive(Clone, Debug, Default)]
pub struct PagesOptions {
    request: proto::ListPagesRequest,
    headers: Vec<(String, String)>,
}

impl PagesOptions {
    /// The seed's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Items per page asked of the API (0 = 20).
    pub fn page_size(mut self, n: u32) -> Self {
        self.request.page_size = n;
        self
    }

    /// First page number for page-number pagination (0 = 1).
    pub fn start_page(mut self, n: u32) -> Self {
        self.request.start_page = n;
        self
    }

    /// Stop after this many pages (0 = until the API's end).
    pub fn max_pages(mut self, n: u32) -> Self {
        self.request.max_pages = n;
        self
    }

    /// RFC 6901 pointer to the items array in each body (`""` = the body is the array).
    pub fn items_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.request.items_pointer = pointer.into();
        self
    }

    /// A header sent with every page request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Resume after the page that returned this token ([`Page::next_page_token`]).
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.request.page_token = token.into();
        self
    }

    /// Pagination style (page number, offset/limit, cursor, `Link` header).
    pub fn style(mut self, style: PaginationStyle) -> Self {
        self.request.style = style as i32;
        self
    }

    /// Names of the query parameters, for APIs that do not use `page`/`size`/`offset`/
    /// `limit`/`cursor`; `None` keeps the default.
    pub fn param_names(
        mut self,
        page: Option<&str>,
        size: Option<&str>,
        offset: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Self {
        let set = |field: &mut String, v: Option<&str>| {
            if let Some(v) = v {
                *field = v.to_string();
            }
        };
        set(&mut self.request.page_param, page);
        set(&mut self.request.size_param, size);
        set(&mut self.request.offset_param, offset);
        set(&mut self.request.limit_param, limit);
        set(&mut self.request.cursor_param, cursor);
        self
    }

    /// RFC 6901 pointer to the next cursor in each body (cursor style; default `/next_cursor`).
    pub fn cursor_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.request.cursor_pointer = pointer.into();
        self
    }

    /// Pages the server may fetch ahead of the consumer (0 = 1; capped by the server).
    pub fn prefetch(mut self, n: u32) -> Self {
        self.request.prefetch = n;
        self
    }

    /// Timeout of each page request, retries included.
    pub fn page_timeout(mut self, timeout: Duration) -> Self {
        self.request.page_timeout = Some(to_proto_duration(timeout));
        self
    }

    fn into_request(self, url: &str) -> proto::ListPagesRequest {
        let mut request = self.request;
        request.url = url.to_string();
        request.headers = self
            .headers
            .into_iter()
            .map(|(name, value)| proto::Header { name, value })
            .collect();
        request
    }
}

/// One page of a collection.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The API's page number, or the 1-based index of the page for styles without numbers.
    pub number: u32,
    /// The page's items.
    pub items: Vec<serde_json::Value>,
    /// Pass to [`PagesOptions::page_token`] to resume after this page; empty on the last one.
    pub next_page_token: String,
    /// The URL the page was read from.
    pub url: String,
}

impl Page {
    /// The items decoded into `T` (any `serde::Deserialize` type), or `INVALID_ARGUMENT`
    /// naming the first item that does not fit.
    pub fn items_as<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                T::deserialize(item).map_err(|e| {
                    Error::new(
                        tonic::Code::InvalidArgument,
                        format!("page {} item {i}: {e}", self.number),
                    )
                })
            })
            .collect()
    }
}

impl From<proto::Page> for Page {
    fn from(p: proto::Page) -> Self {
        Self {
            number: p.number,
            items: p.items.iter().map(value_to_json).collect(),
            next_page_token: p.next_page_token,
            url: p.url,
        }
    }
}

impl Client {
    /// Reads the collection at `url` page by page. Nothing is sent until the stream is first
    /// polled, and the server reads ahead only `prefetch` pages; dropping the stream cancels
    /// the call, and the server drops its upstream request in flight.
    pub fn list_pages(
        &self,
        url: &str,
        options: PagesOptions,
    ) -> impl Stream<Item = Result<Page>> + Send + 'static {
        let mut fetch = self.fetch.clone();
        let request = options.into_request(url);
        let (open_address, page_address) = (self.address.clone(), self.address.clone());
        stream::once(async move { fetch.list_pages(request).await })
            .map_ok(move |response| {
                let page_address = page_address.clone();
                response
                    .into_inner()
                    .map_ok(Page::from)
                    .map_err(move |s| Error::from(s).at(&page_address))
            })
            .map_err(move |s| Error::from(s).at(&open_address))
            .try_flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_decode_into_a_caller_type_or_name_the_bad_item() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct User {
            id: u32,
        }
        let page = Page {
            number: 2,
            items: vec![serde_json::json!({"id": 1}), serde_json::json!({"id": "x"})],
            next_page_token: String::new(),
            url: String::new(),
        };
        let err = page.items_as::<User>().unwrap_err();
        assert!(err.message().starts_with("page 2 item 1:"), "{err}");
        let ok = Page {
            items: page.items[..1].to_vec(),
            ..page
        };
        assert_eq!(ok.items_as::<User>().unwrap(), [User { id: 1 }]);
    }

    #[test]
    fn options_fill_the_request_they_name() {
        let r = PagesOptions::new()
            .page_size(5)
            .max_pages(2)
            .items_pointer("/data")
            .style(PaginationStyle::Cursor)
            .param_names(None, None, None, Some("n"), Some("after"))
            .header("Accept", "application/json")
            .into_request("http://127.0.0.1/items");
        assert_eq!(r.url, "http://127.0.0.1/items");
        assert_eq!((r.page_size, r.max_pages), (5, 2));
        assert_eq!(r.items_pointer, "/data");
        assert_eq!(r.style, PaginationStyle::Cursor as i32);
        assert_eq!(
            (r.limit_param.as_str(), r.cursor_param.as_str()),
            ("n", "after")
        );
        assert_eq!(r.page_param, "");
        assert_eq!(r.headers.len(), 1);
    }
}
