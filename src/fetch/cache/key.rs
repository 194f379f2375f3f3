//! What identifies a stored answer and a request in flight.
//!
//! A stored answer is found by method and URL ([`StoreKey`]); among the variants stored
//! there, one is usable only by a request carrying the same credentials ([`Credentials`]) and
//! the same values of the headers its response named in `Vary` (checked by the RFC 9111 rules,
//! `rules.rs`). A request in flight is joined only by an identical one ([`FlightKey`]): same
//! method, URL, every header in order, body cap, redirect choice and credentials, so a
//! follower can never receive an answer meant for other headers, whatever the response's
//! `Vary` turns out to say.

use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue};
use http::{HeaderMap, Method};

use crate::fetch::http::HttpRequest;

/// Where the variants of one resource are stored: GET and HEAD are kept apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StoreKey {
    pub(crate) method: Method,
    pub(crate) url: String,
}

impl StoreKey {
    pub(crate) fn of(req: &HttpRequest) -> Self {
        Self {
            method: req.method.clone(),
            url: req.url.as_str().to_owned(),
        }
    }
}

/// The credentials a request carries: its `Authorization` and `Cookie` values and, when it
/// carries any, the principal that sent it. An answer stored for one set is never given to a
/// request with another (Squid GHSA-96r9-hr2x-h9g7): a request without credentials shares
/// only with other requests without credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Credentials {
    principal: Option<String>,
    values: Vec<(HeaderName, HeaderValue)>,
}

impl Credentials {
    /// The credentials of `headers` sent by `principal`.
    pub(crate) fn of(headers: &HeaderMap, principal: Option<&str>) -> Self {
        let values: Vec<_> = [AUTHORIZATION, COOKIE]
            .into_iter()
            .flat_map(|name| {
                headers
                    .get_all(&name)
                    .iter()
                    .map(move |v| (name.clone(), v.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let principal = if values.is_empty() {
            None
        } else {
            principal.map(str::to_owned)
        };
        Self { principal, values }
    }

    /// Whether the request carries no credentials at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Identifies requests that may share one upstream exchange.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FlightKey {
    method: Method,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body_cap: u64,
    follow_redirects: bool,
    principal: Option<String>,
}

impl FlightKey {
    /// The key of `req`, sent by `principal`; the caller's headers as given (repeats and
    /// order kept), so only byte-identical requests meet.
    pub(crate) fn of(req: &HttpRequest, principal: Option<&str>) -> Self {
        let headers: Vec<_> = req
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let principal = if Credentials::of(&req.headers, principal).is_empty() {
            None
        } else {
            principal.map(str::to_owned)
        };
        Self {
            method: req.method.clone(),
            url: req.url.as_str().to_owned(),
            headers,
            body_cap: req.body_cap,
            follow_redirects: req.follow_redirects,
            principal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn credentials_differ_by_value_and_by_principal_only_when_present() {
        let alice = Credentials::of(&headers(&[("authorization", "Bearer a")]), Some("alice"));
        let bob_same_token =
            Credentials::of(&headers(&[("authorization", "Bearer a")]), Some("bob"));
        let other_token =
            Credentials::of(&headers(&[("authorization", "Bearer b")]), Some("alice"));
        let cookie = Credentials::of(&headers(&[("cookie", "s=1")]), Some("alice"));
        assert_ne!(alice, bob_same_token);
        assert_ne!(alice, other_token);
        assert_ne!(alice, cookie);
        let anon_a = Credentials::of(&headers(&[("accept", "x")]), Some("alice"));
        let anon_b = Credentials::of(&HeaderMap::new(), Some("bob"));
        assert_eq!(anon_a, anon_b, "no credentials: shared across principals");
        assert!(anon_a.is_empty());
    }
}
