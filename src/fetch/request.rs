//! Validation of both RPCs at the boundary: a `FetchRequest` becomes an [`HttpRequest`] and
//! its timeout, a `ListPagesRequest` becomes a [`Plan`]. Every field is checked once here,
//! with INVALID_ARGUMENT naming the field; nothing past this point re-checks.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use tokio::time::Instant;

use super::cache::CacheMode;
use super::error::FetchError;
use super::http::{HttpRequest, RecentUrls, TargetUrl};
use super::pages::{Paging, ParamNames, Plan, Resume, RetryPolicy, Style, TokenKey, identity};
use crate::config::FetchSettings;
use crate::proto::{
    CacheMode as ProtoCacheMode, FetchRequest, Header, ListPagesRequest, PaginationStyle,
};
use crate::rpc;

/// Request headers a caller may not set: they frame the HTTP message or steer the
/// connection (the client's job), would tunnel it elsewhere or talk to a proxy, or change
/// how the upstream reads the exchange (`Expect: 100-continue`, trailers, h2c upgrade).
const RESERVED_HEADERS: [&str; 12] = [
    "connection",
    "content-length",
    "expect",
    "host",
    "http2-settings",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The methods a Fetch may use: those of plain request/response exchanges. CONNECT opens a
/// tunnel, TRACE reflects the request (headers included) back, and extension methods
/// (PURGE, ...) act on caches and servers in ways a gateway cannot vouch for.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Items per page when the request names none (the contract's default).
const DEFAULT_PAGE_SIZE: u32 = 20;

/// Longest query parameter name (in bytes) a ListPages request may give (`page_param`...): a name is
/// repeated in every page URL, so an unbounded one would bloat every upstream request.
const MAX_PARAM_NAME_BYTES: usize = 256;

/// Validates a Fetch call into the upstream request, its own timeout and its cache mode.
pub(crate) fn fetch(
    req: FetchRequest,
    settings: &FetchSettings,
    urls: &RecentUrls,
) -> Result<(HttpRequest, Duration, CacheMode), FetchError> {
    let url = urls
        .parse(&req.url)
        .map_err(|r| FetchError::invalid("url", r))?;
    let url = url.into_url();
    let method = parse_method(&req.method)?;
    let headers = parse_headers("headers", req.headers)?;
    if req.body.len() > settings.max_request_bytes {
        return Err(FetchError::ResourceExhausted(format!(
            "body: {} bytes is over the request body cap of {} bytes",
            req.body.len(),
            settings.max_request_bytes
        )));
    }
    let body_cap = match req.max_body_bytes {
        0 => settings.default_body_bytes,
        n => n.min(settings.max_body_bytes),
    };
    let timeout = requested_timeout("timeout", req.timeout, settings)?;
    let cache_mode = parse_cache_mode(req.cache_mode)?;
    Ok((
        HttpRequest {
            origin: url.origin(),
            url,
            method,
            headers,
            body: req.body,
            body_cap,
            // Set by the service from the call's metadata.
            trace: None,
            // Set by the service from the call's extensions; validation does not see it.
            caller: None,
            follow_redirects: !req.no_follow_redirects,
            use_cache: true,
        },
        timeout,
        cache_mode,
    ))
}

/// Validates a ListPages call into the plan its stream follows.
pub(crate) fn plan(
    req: ListPagesRequest,
    settings: &FetchSettings,
    token_key: &Arc<TokenKey>,
    call_deadline: Option<Instant>,
) -> Result<Plan, FetchError> {
    let base = TargetUrl::parse(&req.url).map_err(|r| FetchError::invalid("url", r))?;
    let style = parse_style(req.style)?;
    let defaults = ParamNames::default();
    let names = ParamNames {
        page: param_name("page_param", req.page_param, defaults.page)?,
        size: param_name("size_param", req.size_param, defaults.size)?,
        offset: param_name("offset_param", req.offset_param, defaults.offset)?,
        limit: param_name("limit_param", req.limit_param, defaults.limit)?,
        cursor: param_name("cursor_param", req.cursor_param, defaults.cursor)?,
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
        items_pointer: json_pointer("items_pointer", req.items_pointer, "")?,
        cursor_pointer: json_pointer("cursor_pointer", req.cursor_pointer, "/next_cursor")?,
    };
    let identity = identity(&paging);
    let start = if req.page_token.is_empty() {
        let start_page = req.start_page.max(1);
        Resume {
            position: paging.first_position(u64::from(start_page)),
            index: 1,
        }
    } else {
        token_key
            .verify(&identity, &req.page_token)
            .map_err(|why| FetchError::invalid("page_token", why))?
    };
    Ok(Plan {
        paging,
        start,
        max_pages: req.max_pages,
        prefetch: req.prefetch.clamp(1, settings.pages.max_prefetch.get()),
        headers: parse_headers("headers", req.headers)?,
        page_timeout: requested_timeout("page_timeout", req.page_timeout, settings)?,
        call_deadline,
        body_cap: settings.default_body_bytes,
        retry: RetryPolicy {
            max_attempts: settings.pages.max_attempts.get(),
            base: settings.pages.retry_base,
            max: settings.pages.retry_max,
        },
        token_key: token_key.clone(),
        identity,
        // Set by the service from the call's metadata.
        trace: None,
        caller: None,
        use_cache: true,
    })
}

/// The protobuf cache mode as the cache's; an unknown number is refused (a newer client's
/// mode this server does not know must not silently become `default`).
fn parse_cache_mode(raw: i32) -> Result<CacheMode, FetchError> {
    let mode = ProtoCacheMode::try_from(raw).map_err(|_| {
        FetchError::invalid("cache_mode", format!("{raw} is not a known cache mode"))
    })?;
    Ok(match mode {
        ProtoCacheMode::Unspecified | ProtoCacheMode::Default => CacheMode::Default,
        ProtoCacheMode::NoStore => CacheMode::NoStore,
        ProtoCacheMode::Reload => CacheMode::Reload,
        ProtoCacheMode::NoCache => CacheMode::NoCache,
        ProtoCacheMode::ForceCache => CacheMode::ForceCache,
        ProtoCacheMode::OnlyIfCached => CacheMode::OnlyIfCached,
    })
}

/// Parses a method name, case-insensitively; empty is GET, anything outside [`METHODS`] is
/// refused.
fn parse_method(raw: &str) -> Result<Method, FetchError> {
    if raw.is_empty() {
        return Ok(Method::GET);
    }
    METHODS
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(raw))
        .ok_or_else(|| {
            let shown: String = raw.chars().take(32).collect();
            FetchError::invalid(
                "method",
                format!(
                    "{shown:?} is not allowed; use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
                ),
            )
        })
}

/// Turns protobuf headers into a `HeaderMap`, keeping repeated names in order. The values'
/// bytes move into the map without a copy.
fn parse_headers(field: &str, headers: Vec<Header>) -> Result<HeaderMap, FetchError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (i, h) in headers.into_iter().enumerate() {
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
        let value = HeaderValue::from_maybe_shared(Bytes::from(h.value)).map_err(|_| {
            FetchError::invalid(
                format!("{field}[{i}].value"),
                "contains characters not allowed in a header value",
            )
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// A request's own timeout: unset or zero means the server's default, longer than the
/// server's maximum is capped.
fn requested_timeout(
    field: &str,
    requested: Option<prost_types::Duration>,
    settings: &FetchSettings,
) -> Result<Duration, FetchError> {
    Ok(match rpc::duration(field, requested)? {
        None => settings.timeout,
        Some(d) if d.is_zero() => settings.timeout,
        Some(d) => d.min(settings.max_timeout),
    })
}

fn parse_style(raw: i32) -> Result<Style, FetchError> {
    match PaginationStyle::try_from(raw) {
        Ok(PaginationStyle::Unspecified | PaginationStyle::PageNumber) => Ok(Style::PageNumber),
        Ok(PaginationStyle::OffsetLimit) => Ok(Style::OffsetLimit),
        Ok(PaginationStyle::Cursor) => Ok(Style::Cursor),
        Ok(PaginationStyle::LinkHeader) => Ok(Style::LinkHeader),
        Err(_) => Err(FetchError::invalid(
            "style",
            format!("{raw} is not a PaginationStyle"),
        )),
    }
}

/// An RFC 6901 JSON pointer, or `default` when empty.
fn json_pointer(field: &str, raw: String, default: &str) -> Result<String, FetchError> {
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
}

/// A query parameter name, or `default` when empty.
fn param_name(field: &str, raw: String, default: String) -> Result<String, FetchError> {
    if raw.is_empty() {
        Ok(default)
    } else if raw.len() > MAX_PARAM_NAME_BYTES || raw.chars().any(char::is_control) {
        Err(FetchError::invalid(
            field,
            format!("must be at most {MAX_PARAM_NAME_BYTES} bytes without control characters"),
        ))
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn methods_default_to_get_and_only_the_plain_ones_pass_in_any_case() {
        assert_eq!(parse_method("").unwrap(), Method::GET);
        assert_eq!(parse_method("PATCH").unwrap(), Method::PATCH);
        assert_eq!(parse_method("delete").unwrap(), Method::DELETE);
        assert_eq!(parse_method("Options").unwrap(), Method::OPTIONS);
        for bad in [
            "CONNECT",
            "connect",
            "TRACE",
            "trace",
            "PURGE",
            "BAD METHOD",
            "GET ",
        ] {
            let err = parse_method(bad).unwrap_err();
            assert!(err.to_string().starts_with("method: "), "{bad}: {err}");
        }
    }

    #[test]
    fn headers_that_steer_the_connection_or_a_proxy_are_refused() {
        for name in [
            "Expect",
            "Trailer",
            "Proxy-Authorization",
            "Proxy-Connection",
            "Keep-Alive",
            "HTTP2-Settings",
        ] {
            let err = parse_headers("headers", vec![header(name, "x")]).unwrap_err();
            assert!(
                err.to_string().starts_with("headers[0].name: "),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn headers_keep_repeats_in_order_and_refuse_framing_ones() {
        let map = parse_headers("headers", vec![header("x-a", "1"), header("x-a", "2")]).unwrap();
        let values: Vec<_> = map.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        let err =
            parse_headers("headers", vec![header("x", "1"), header("Host", "h")]).unwrap_err();
        assert!(err.to_string().starts_with("headers[1].name: "), "{err}");
        let err = parse_headers("headers", vec![header("x", "a\nb")]).unwrap_err();
        assert!(err.to_string().starts_with("headers[0].value: "), "{err}");
    }

    #[test]
    fn parameter_names_and_pointers_are_bounded_and_checked() {
        assert_eq!(
            param_name("page_param", String::new(), "page".into()).unwrap(),
            "page"
        );
        let long = "p".repeat(MAX_PARAM_NAME_BYTES + 1);
        assert!(param_name("page_param", long, "page".into()).is_err());
        assert!(json_pointer("items_pointer", "data".into(), "").is_err());
        assert_eq!(
            json_pointer("items_pointer", "/data".into(), "").unwrap(),
            "/data"
        );
    }
}
