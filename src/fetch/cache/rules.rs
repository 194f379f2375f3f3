//! The RFC 9111 rules, in shared-cache mode: storability, freshness, `Vary`, `Age` and
//! conditional revalidation come from `http-cache-semantics`; what it leaves out is here:
//! RFC 5861's `stale-while-revalidate` and `stale-if-error`, the refusal to store or share a
//! response that sets a cookie, and no heuristic freshness (a response without `max-age`,
//! `s-maxage` or `Expires` is stored only to be revalidated, never served unchecked).

use std::time::{Duration, SystemTime};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, StatusCode};
use http_cache_semantics::{CacheOptions, CachePolicy};

use crate::fetch::http::{HttpRequest, HttpResponse};

/// The options every policy is made with.
fn options() -> CacheOptions {
    CacheOptions {
        shared: true,
        // RFC 9111 §4.2.2 allows a heuristic lifetime; the issue asks for none by default, so
        // an answer is served without asking the origin only when the origin said how long.
        cache_heuristic: 0.0,
        immutable_min_time_to_live: Duration::ZERO,
        ignore_cargo_cult: false,
    }
}

/// The request as the rules see it; `None` when its URL is not a valid `http::Uri` (such a
/// request is simply not cached).
pub(crate) fn request_parts(req: &HttpRequest) -> Option<http::request::Parts> {
    let (mut parts, ()) = http::Request::builder()
        .method(req.method.clone())
        .uri(req.url.as_str())
        .body(())
        .ok()?
        .into_parts();
    parts.headers = req.headers.clone();
    Some(parts)
}

/// The response as the rules see it.
pub(crate) fn response_parts(resp: &HttpResponse) -> http::response::Parts {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
    parts.headers = resp.headers.clone();
    parts
}

/// The policy of `resp`, received at `now`, for `req`.
pub(crate) fn policy(
    req: &http::request::Parts,
    resp: &http::response::Parts,
    now: SystemTime,
) -> CachePolicy {
    CachePolicy::new_options(req, resp, now, options())
}

/// Whether `resp` may be stored and handed to other callers: the RFC's storability, and
/// neither `Set-Cookie` (a cookie is one client's state; RFC 9111 §7.3 leaves it to the cache,
/// unjs/ocache#61 shows what sharing it does) nor `Vary: *` (never matches a later request).
pub(crate) fn storable(policy: &CachePolicy, headers: &HeaderMap) -> bool {
    policy.is_storable()
        && !headers.contains_key(SET_COOKIE)
        && !headers.get_all(VARY).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|n| n.trim() == "*"))
        })
}

/// How long past its freshness a stored response may still be used (RFC 5861).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StaleWindows {
    /// Served while one background request revalidates it.
    pub(crate) while_revalidate: Duration,
    /// Served when the origin cannot be reached or answers 500, 502, 503 or 504.
    pub(crate) if_error: Duration,
}

impl StaleWindows {
    /// The windows a response's `Cache-Control` grants. `must-revalidate`,
    /// `proxy-revalidate`, `s-maxage` (for a shared cache, RFC 9111 §5.2.2.10) and `no-cache`
    /// forbid serving it stale at all, so they close both.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut windows = Self::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',') {
                let (name, arg) = match directive.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                let seconds = || {
                    arg.and_then(|a| a.parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .unwrap_or_default()
                };
                match name.to_ascii_lowercase().as_str() {
                    "stale-while-revalidate" => windows.while_revalidate = seconds(),
                    "stale-if-error" => windows.if_error = seconds(),
                    "must-revalidate" | "proxy-revalidate" | "s-maxage" | "no-cache" => {
                        return Self::default();
                    }
                    _ => {}
                }
            }
        }
        windows
    }
}

/// Whether an upstream answer counts as an error for `stale-if-error` (RFC 5861 §4).
pub(crate) fn is_error_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cc(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn stale_windows_are_read_and_closed_by_revalidation_directives() {
        let w = StaleWindows::of(&cc(
            "max-age=1, stale-while-revalidate=30, stale-if-error=60",
        ));
        assert_eq!(w.while_revalidate, Duration::from_secs(30));
        assert_eq!(w.if_error, Duration::from_secs(60));
        let closed = StaleWindows::of(&cc("max-age=1, stale-if-error=60, must-revalidate"));
        assert_eq!(closed, StaleWindows::default());
        assert_eq!(
            StaleWindows::of(&cc("max-age=1, stale-if-error=x")).if_error,
            Duration::ZERO
        );
    }

    #[test]
    fn set_cookie_and_vary_star_are_never_storable() {
        let req = http::Request::get("http://a.test/")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut resp = http::Response::new(()).into_parts().0;
        resp.headers = cc("max-age=60, public");
        let p = policy(&req, &resp, SystemTime::now());
        assert!(storable(&p, &resp.headers));
        let mut with_cookie = resp.headers.clone();
        with_cookie.insert(SET_COOKIE, HeaderValue::from_static("s=1"));
        assert!(!storable(&p, &with_cookie));
        let mut vary_star = resp.headers.clone();
        vary_star.insert(VARY, HeaderValue::from_static("accept, *"));
        assert!(!storable(&p, &vary_star));
    }

    #[test]
    fn no_heuristic_freshness_without_an_explicit_lifetime() {
        let req = http::Request::get("http://a.test/")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut resp = http::Response::new(()).into_parts().0;
        resp.headers.insert(
            "last-modified",
            HeaderValue::from_static("Mon, 01 Jan 2001 00:00:00 GMT"),
        );
        let p = policy(&req, &resp, SystemTime::now());
        assert!(p.is_storable(), "stored, for revalidation");
        assert!(
            p.is_stale(SystemTime::now()),
            "but never fresh by heuristic"
        );
    }
}
