//! CORS for gRPC-Web: lets pages from the origins of `--cors-allow-origin` call the server
//! from a browser, and tells every other origin nothing.
//!
//! Written here rather than taken from tower-http because its preflight answer carries
//! `Access-Control-Allow-Methods`/`-Headers` even for an origin it refuses; here a refused
//! preflight gets `403` and no CORS header at all, and a call without an `Origin` (every
//! native gRPC client) passes through untouched.
//!
//! A gRPC-Web call is never a "simple" request (its content type and `x-grpc-web` header see
//! to that), so a browser always asks first with a preflight `OPTIONS`; refusing that is what
//! stops the page's call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::config::{AllowedOrigins, WebSettings};

/// Request headers a gRPC-Web page may send: the protocol's own (connect-web and grpc-web
/// send `x-grpc-web`, `x-user-agent`, `grpc-timeout`; `grpc-accept-encoding`/`grpc-encoding`
/// when compressing), `authorization` for the auth layer, and W3C trace context
/// (`traceparent`, `tracestate`) which the trace layer continues.
const ALLOW_HEADERS: &str = "content-type, x-grpc-web, x-user-agent, grpc-timeout, grpc-accept-encoding, grpc-encoding, authorization, traceparent, tracestate";

/// Response headers a page's script may read: the status of a trailers-only response comes
/// in headers, not in the body's trailer frame; `streamgate-upstream` names the upstream a
/// failure is blamed on (src/fetch/upstream.rs).
const EXPOSE_HEADERS: &str =
    "grpc-status, grpc-message, grpc-status-details-bin, streamgate-upstream";

/// gRPC-Web calls are POSTs only.
const ALLOW_METHODS: &str = "POST";

/// How long a browser may cache a preflight answer, in seconds (Chromium caps it at 7200).
const PREFLIGHT_MAX_AGE_SECS: &str = "7200";

/// Private Network Access (WICG): the preflight's question and the answer that allows it.
const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");

/// The CORS layer; with no origin configured it only refuses preflights.
#[derive(Clone)]
pub(super) struct CorsLayer {
    policy: Arc<CorsPolicy>,
}

struct CorsPolicy {
    origins: AllowedOrigins,
    allow_credentials: bool,
}

impl CorsLayer {
    pub(super) fn new(settings: &WebSettings) -> Self {
        Self {
            policy: Arc::new(CorsPolicy {
                origins: settings.allowed_origins.clone(),
                allow_credentials: settings.allow_credentials,
            }),
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service [`CorsLayer`] wraps around the stack.
#[derive(Clone)]
pub(super) struct Cors<S> {
    inner: S,
    policy: Arc<CorsPolicy>,
}

impl CorsPolicy {
    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            AllowedOrigins::None => None,
            AllowedOrigins::Any => Some(HeaderValue::from_static("*")),
            AllowedOrigins::List(list) => list
                .iter()
                .any(|o| o.as_bytes() == origin.as_bytes())
                .then(|| origin.clone()),
        }
    }

    /// The headers every answer to an allowed origin carries.
    fn common_headers(&self, allow_origin: HeaderValue) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(4);
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.allow_credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        // The answer depends on the Origin (a listed one is echoed), so caches must key on it.
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        h
    }
}

fn is_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let allowed = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| self.policy.allow_origin(o));
        if is_preflight(&req) {
            let mut res = Response::new(ResBody::default());
            match allowed {
                Some(origin) => {
                    *res.status_mut() = StatusCode::NO_CONTENT;
                    let mut h = self.policy.common_headers(origin);
                    h.insert(
                        header::ACCESS_CONTROL_ALLOW_METHODS,
                        HeaderValue::from_static(ALLOW_METHODS),
                    );
                    h.insert(
                        header::ACCESS_CONTROL_ALLOW_HEADERS,
                        HeaderValue::from_static(ALLOW_HEADERS),
                    );
                    h.insert(
                        header::ACCESS_CONTROL_MAX_AGE,
                        HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
                    );
                    // Chromium's Private Network Access: a page on a public address asks
                    // before calling a server on a private or loopback one. A listed origin
                    // was allowed on purpose, wherever the server runs; `*` names no one, and
                    // granting it would invite every public page onto the private network.
                    if matches!(self.policy.origins, AllowedOrigins::List(_))
                        && req
                            .headers()
                            .get(REQUEST_PRIVATE_NETWORK)
                            .is_some_and(|v| v == "true")
                    {
                        h.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
                    }
                    res.headers_mut().extend(h);
                }
                // An origin not listed (or CORS off): no CORS header, so the browser stops.
                None => *res.status_mut() = StatusCode::FORBIDDEN,
            }
            return CorsFuture::Preflight {
                response: Some(res),
            };
        }
        let add = allowed.map(|origin| {
            let mut h = self.policy.common_headers(origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
            h
        });
        CorsFuture::Call {
            future: self.inner.call(req),
            add,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Cors`]: a preflight answered here, or the inner call with the CORS
    /// headers added to its response.
    #[project = CorsProj]
    pub(super) enum CorsFuture<F, B> {
        /// A preflight, answered without calling the stack.
        Preflight { response: Option<Response<B>> },
        /// A call; `add` holds the headers for an allowed origin.
        Call {
            #[pin]
            future: F,
            add: Option<HeaderMap>,
        },
    }
}

impl<F, B, E> Future for CorsFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsProj::Preflight { response } => Poll::Ready(Ok(response
                .take()
                .expect("a preflight future is not polled after it completed"))),
            CorsProj::Call { future, add } => {
                let mut res = std::task::ready!(future.poll(cx))?;
                if let Some(h) = add.take() {
                    append_all(res.headers_mut(), h);
                }
                Poll::Ready(Ok(res))
            }
        }
    }
}

/// Adds `extra` to `headers`, keeping what the inner service set (a `Vary` of its own stays).
fn append_all(headers: &mut HeaderMap, extra: HeaderMap) {
    let mut name: Option<HeaderName> = None;
    for (k, v) in extra {
        if let Some(k) = k {
            name = Some(k);
        }
        if let Some(n) = &name {
            headers.append(n.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn layer(origins: AllowedOrigins, allow_credentials: bool) -> CorsLayer {
        CorsLayer::new(&WebSettings {
            allowed_origins: origins,
            allow_credentials,
            allowed_hosts: Vec::new(),
        })
    }

    /// The stack behind CORS: answers 200 with a marker header.
    fn ok_service()
    -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send>
    {
        tower::service_fn(|_req: Request<()>| async {
            let mut r = Response::new(String::new());
            r.headers_mut()
                .insert("x-inner", HeaderValue::from_static("1"));
            Ok::<_, Infallible>(r)
        })
    }

    async fn call(l: &CorsLayer, req: Request<()>) -> Response<String> {
        let mut svc = l.layer(ok_service());
        svc.call(req).await.unwrap()
    }

    fn preflight(origin: &str) -> Request<()> {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/streamgate.v1.FetchService/Fetch")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(())
            .unwrap()
    }

    fn post(origin: Option<&str>) -> Request<()> {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri("/streamgate.v1.FetchService/Fetch");
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        b.body(()).unwrap()
    }

    fn cors_headers(res: &Response<String>) -> Vec<String> {
        res.headers()
            .keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| k.starts_with("access-control-"))
            .collect()
    }

    #[tokio::test]
    async fn a_listed_origin_gets_its_preflight_answered() {
        let l = layer(AllowedOrigins::List(vec!["http://a.test".into()]), true);
        let res = call(&l, preflight("http://a.test")).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let h = res.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://a.test");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let allowed = h[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap();
        for name in [
            "x-grpc-web",
            "x-user-agent",
            "grpc-timeout",
            "content-type",
            "authorization",
        ] {
            assert!(allowed.contains(name), "{name} missing from {allowed}");
        }
        assert!(
            h.get("x-inner").is_none(),
            "a preflight never reaches the services"
        );
        assert!(h.get(ALLOW_PRIVATE_NETWORK).is_none(), "only when asked");
    }

    #[tokio::test]
    async fn a_listed_origin_may_reach_a_server_on_a_private_network() {
        let l = layer(AllowedOrigins::List(vec!["https://a.test".into()]), false);
        let mut req = preflight("https://a.test");
        req.headers_mut()
            .insert(REQUEST_PRIVATE_NETWORK, HeaderValue::from_static("true"));
        let res = call(&l, req).await;
        assert_eq!(res.headers()[ALLOW_PRIVATE_NETWORK], "true");
        let mut req = preflight("https://b.test");
        req.headers_mut()
            .insert(REQUEST_PRIVATE_NETWORK, HeaderValue::from_static("true"));
        let res = call(&l, req).await;
        assert!(cors_headers(&res).is_empty());
    }

    #[tokio::test]
    async fn an_unlisted_origin_or_cors_off_gets_no_cors_header() {
        let l = layer(AllowedOrigins::List(vec!["http://a.test".into()]), false);
        for req in [preflight("http://b.test"), preflight("http://a.test:81")] {
            let res = call(&l, req).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            assert!(cors_headers(&res).is_empty(), "{:?}", res.headers());
        }
        let res = call(&l, post(Some("http://b.test"))).await;
        assert!(cors_headers(&res).is_empty(), "{:?}", res.headers());
        let off = layer(AllowedOrigins::None, false);
        let res = call(&off, preflight("http://a.test")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(cors_headers(&res).is_empty());
    }

    #[tokio::test]
    async fn a_call_from_a_listed_origin_exposes_the_grpc_status() {
        let l = layer(AllowedOrigins::List(vec!["http://a.test".into()]), false);
        let res = call(&l, post(Some("http://a.test"))).await;
        let h = res.headers();
        assert_eq!(h["x-inner"], "1");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://a.test");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let exposed = h[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap();
        assert!(exposed.contains("grpc-status") && exposed.contains("grpc-message"));
    }

    #[tokio::test]
    async fn the_wildcard_answers_star_and_a_call_without_origin_is_untouched() {
        let l = layer(AllowedOrigins::Any, false);
        let res = call(&l, post(Some("http://anything.test"))).await;
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let res = call(&l, post(None)).await;
        assert_eq!(res.headers()["x-inner"], "1");
        assert!(cors_headers(&res).is_empty());
    }

    #[tokio::test]
    async fn the_wildcard_never_grants_private_network_access() {
        let l = layer(AllowedOrigins::Any, false);
        let mut req = preflight("https://public.example");
        req.headers_mut()
            .insert(REQUEST_PRIVATE_NETWORK, HeaderValue::from_static("true"));
        let res = call(&l, req).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(res.headers().get(ALLOW_PRIVATE_NETWORK).is_none());
    }
}
