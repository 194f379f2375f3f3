//! Validates a `ListPagesRequest` into a [`Plan`]: every field checked once, with
//! INVALID_ARGUMENT naming the field.

use std::sync::Arc;

use tokio::time::Instant;

use super::deadline::requested_timeout;
use super::error::FetchError;
use super::guard::TargetUrl;
use super::pages::Plan;
use super::paginate::{Paging, ParamNames, Style};
use super::retry::RetryPolicy;
use super::service::parse_headers;
use super::token::{Resume, TokenKey, identity};
use crate::config::FetchSettings;
use crate::proto::{ListPagesRequest, PaginationStyle};

/// Items per page when the request names none (the contract's default).
const DEFAULT_PAGE_SIZE: u32 = 20;

/// Builds the plan of a ListPages call.
pub fn plan(
    req: ListPagesRequest,
    settings: &FetchSettings,
    token_key: &Arc<TokenKey>,
    call_deadline: Option<Instant>,
) -> Result<Plan, FetchError> {
    let base = TargetUrl::parse(&req.url).map_err(|r| FetchError::invalid("url", r))?;
    let style = match PaginationStyle::try_from(req.style) {
        Ok(PaginationStyle::Unspecified | PaginationStyle::PageNumber) => Style::PageNumber,
        Ok(PaginationStyle::OffsetLimit) => Style::OffsetLimit,
        Ok(PaginationStyle::Cursor) => Style::Cursor,
        Ok(PaginationStyle::LinkHeader) => Style::LinkHeader,
        Err(_) => {
            return Err(FetchError::invalid(
                "style",
                format!("{} is not a PaginationStyle", req.style),
            ));
        }
    };
    let pointer = |field: &str, raw: String, default: &str| -> Result<String, FetchError> {
        if raw.is_empty() {
            Ok(default.to_string())
        } else if raw.starts_with('/') {
            Ok(raw)
        } else {
            Err(FetchError::invalid(
                field,
                format!("{raw:?} is not an RFC 6901 JSON pointer (it must start with /)"),
            ))
        }
    };
    let items_pointer = pointer("items_pointer", req.items_pointer, "")?;
    let cursor_pointer = pointer("cursor_pointer", req.cursor_pointer, "/next_cursor")?;
    let defaults = ParamNames::default();
    let name = |field: &str, raw: String, default: String| -> Result<String, FetchError> {
        if raw.is_empty() {
            Ok(default)
        } else if raw.len() > 256 || raw.chars().any(char::is_control) {
            Err(FetchError::invalid(
                field,
                "must be at most 256 characters without control characters",
            ))
        } else {
            Ok(raw)
        }
    };
    let names = ParamNames {
        page: name("page_param", req.page_param, defaults.page)?,
        size: name("size_param", req.size_param, defaults.size)?,
        offset: name("offset_param", req.offset_param, defaults.offset)?,
        limit: name("limit_param", req.limit_param, defaults.limit)?,
        cursor: name("cursor_param", req.cursor_param, defaults.cursor)?,
    };
    let paging = Paging {
        style,
        base: base.into_url(),
        page_size: if req.page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            req.page_size
        },
        names,
        items_pointer,
        cursor_pointer,
    };
    let identity = identity(&paging);
    let start = if req.page_token.is_empty() {
        let start_page = if req.start_page == 0 {
            1
        } else {
            req.start_page
        };
        Resume {
            position: paging.first_position(u64::from(start_page)),
            index: 1,
        }
    } else {
        token_key
            .verify(&identity, &req.page_token)
            .map_err(|why| FetchError::invalid("page_token", why))?
    };
    let page_timeout = requested_timeout(
        "page_timeout",
        req.page_timeout,
        settings.timeout,
        settings.max_timeout,
    )?;
    Ok(Plan {
        paging,
        start,
        max_pages: req.max_pages,
        prefetch: req.prefetch.clamp(1, settings.pages.max_prefetch.get()),
        headers: parse_headers("headers", &req.headers)?,
        page_timeout,
        call_deadline,
        body_cap: settings.default_body_bytes,
        retry: RetryPolicy {
            max_attempts: settings.pages.max_attempts.get(),
            base: settings.pages.retry_base,
            max: settings.pages.retry_max,
        },
        token_key: token_key.clone(),
        identity,
    })
}
