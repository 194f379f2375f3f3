//! The RFC 9111 rules, in shared-cache mode: storability, freshness, `Vary`, `Age` and
//! conditional revalidation come from `http-cache-semantics`; what it leaves out is here:
//! RFC 5861's `stale-while-revalidate` and `stale-if-error`, the refusal to store or share a
//! response that sets a cookie, no heuristic freshness (a response without `max-age`,
//! `s-maxage` or `Expires` is stored only to be revalidated, never served unchecked),
//! directive names compared without regard to case, an invalid `Age` taken as stale, and the
//! answer to a caller's own `If-None-Match` / `If-Modified-Since` from a stored response.

use std::time::{Duration, SystemTime};

use http::header::{
    AGE, CACHE_CONTROL, DATE, ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    PRAGMA, SET_COOKIE, VARY,
};
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
    lowercase_directives(&mut parts.headers);
    Some(parts)
}

/// The response as the rules see it.
pub(crate) fn response_parts(resp: &HttpResponse) -> http::response::Parts {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
    parts.headers = resp.headers.clone();
    lowercase_directives(&mut parts.headers);
    parts
}

/// Puts `Cache-Control` and `Pragma` in lower case: RFC 9111 §5.2 compares directive names
/// case-insensitively (`No-CaChE` is `no-cache`), `http-cache-semantics` as written. Their
/// arguments are numbers or field names, which are case-insensitive too. Left alone when
/// already lower case, the common case, so that a hit copies nothing more.
fn lowercase_directives(headers: &mut HeaderMap) {
    for name in [CACHE_CONTROL, PRAGMA] {
        if !headers
            .get_all(&name)
            .iter()
            .any(|v| v.as_bytes().iter().any(u8::is_ascii_uppercase))
        {
            continue;
        }
        let lowered: Vec<HeaderValue> = headers
            .get_all(&name)
            .iter()
            .map(|v| HeaderValue::from_bytes(&v.as_bytes().to_ascii_lowercase()))
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        if lowered.is_empty() {
            continue;
        }
        headers.remove(&name);
        for v in lowered {
            headers.append(name.clone(), v);
        }
    }
}

/// `req` as if it carried `Cache-Control: no-cache`: the rules then hand back a revalidation
/// request even for a fresh stored answer.
pub(crate) fn demanding_revalidation(req: &http::request::Parts) -> http::request::Parts {
    let mut req = req.clone();
    req.headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    req
}

/// Whether `headers` carry an `Age` the cache cannot rely on: more than one field line, or a
/// value that is not one `delta-seconds` (RFC 9111 §5.1: digits only, no sign, fraction,
/// list or parameter). RFC 9111 §4.2.1 encourages taking invalid freshness information as
/// stale, the safe reading: such a response is stored to be revalidated, never served as
/// fresh (where `http-cache-semantics` would read it as `Age: 0`).
pub(crate) fn age_is_invalid(headers: &HeaderMap) -> bool {
    let mut ages = headers.get_all(AGE).iter();
    match (ages.next(), ages.next()) {
        (None, _) => false,
        (Some(age), None) => !age.to_str().is_ok_and(|v| {
            let v = v.trim_matches([' ', '\t']);
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
        }),
        (Some(_), Some(_)) => true,
    }
}

/// The 304 to a revalidation as the rules should read it: one without validators of its own
/// gets the stored response's. The conditional request named only that response's
/// validators, so the 304 can only be about it; RFC 9110 §15.4.5 asks origins to repeat
/// `ETag`, but many do not, and `http-cache-semantics` would then refuse to refresh anything.
pub(crate) fn not_modified_parts(
    not_modified: &HttpResponse,
    stored: &HeaderMap,
) -> http::response::Parts {
    let mut parts = response_parts(not_modified);
    if !parts.headers.contains_key(ETAG) && !parts.headers.contains_key(LAST_MODIFIED) {
        for name in [ETAG, LAST_MODIFIED] {
            if let Some(v) = stored.get(&name) {
                parts.headers.insert(name, v.clone());
            }
        }
    }
    parts
}

/// Whether a caller's own `If-None-Match` or `If-Modified-Since` is answered `304 Not
/// Modified` by a stored 200 with `stored` headers (RFC 9111 §4.3.2; the conditions of RFC
/// 9110 §13.1.2 and §13.1.3 in the order of §13.2.2: `If-None-Match` first, with the weak
/// comparison, `If-Modified-Since` only without it, against `Last-Modified` or else `Date`).
pub(crate) fn not_modified(req: &HeaderMap, stored: &HeaderMap) -> bool {
    if req.contains_key(IF_NONE_MATCH) {
        let Some(etag) = stored.get(ETAG).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
        let etag = opaque(etag);
        return req
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == "*" || opaque(tag) == etag);
    }
    let date = |headers: &HeaderMap, name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
    };
    let Some(since) = date(req, IF_MODIFIED_SINCE) else {
        return false;
    };
    date(stored, LAST_MODIFIED)
        .or_else(|| date(stored, DATE))
        .is_some_and(|modified| modified <= since)
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

    fn req_with(name: &'static str, v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn an_age_is_valid_only_as_one_line_of_digits() {
        assert!(!age_is_invalid(&HeaderMap::new()));
        assert!(!age_is_invalid(&req_with("age", "7200")));
        for bad in ["abc", "-1", "1.0", "0,7200", "0, 0", "7200;a=b", ""] {
            assert!(age_is_invalid(&req_with("age", bad)), "{bad:?}");
        }
        let mut two = req_with("age", "0");
        two.append(AGE, HeaderValue::from_static("0"));
        assert!(age_is_invalid(&two));
    }

    #[test]
    fn directive_names_are_read_without_regard_to_case() {
        let resp = HttpResponse {
            status: 200,
            headers: cc("max-age=10000, No-CaChE"),
            body: bytes::Bytes::new(),
            url: url::Url::parse("http://a.test/").unwrap(),
        };
        let parts = response_parts(&resp);
        assert_eq!(parts.headers[CACHE_CONTROL], "max-age=10000, no-cache");
        let req = http::Request::get("http://a.test/")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let p = policy(&req, &parts, SystemTime::now());
        assert!(p.is_stale(SystemTime::now()), "no-cache read as such");
    }

    #[test]
    fn callers_validators_are_compared_as_rfc_9110_says() {
        let mut stored = req_with("etag", "W/\"v1\"");
        stored.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Mon, 01 Jan 2001 00:00:00 GMT"),
        );
        assert!(not_modified(
            &req_with("if-none-match", "\"x\", \"v1\""),
            &stored
        ));
        assert!(not_modified(&req_with("if-none-match", "*"), &stored));
        assert!(!not_modified(&req_with("if-none-match", "\"v2\""), &stored));
        let mut both = req_with("if-none-match", "\"v2\"");
        both.insert(
            IF_MODIFIED_SINCE,
            HeaderValue::from_static("Tue, 01 Jan 2030 00:00:00 GMT"),
        );
        assert!(!not_modified(&both, &stored), "If-None-Match decides alone");
        let since = |d| req_with("if-modified-since", d);
        assert!(not_modified(
            &since("Mon, 01 Jan 2001 00:00:00 GMT"),
            &stored
        ));
        assert!(!not_modified(
            &since("Sun, 31 Dec 2000 00:00:00 GMT"),
            &stored
        ));
        assert!(!not_modified(&since("yesterday"), &stored));
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
