//! gRPC-Web on the gRPC port: `application/grpc-web` (`+proto`) and
//! `application/grpc-web-text` calls, over HTTP/1.1 or HTTP/2, translated by `tonic-web` into
//! ordinary gRPC calls before any later layer or service sees them. Native gRPC passes through.
//!
//! gRPC-Web has no client streaming: a browser sends the whole request body before it reads
//! the answer. A method whose client streams (SensorFeed) would then only ever see a closed
//! input, so a gRPC-Web call to one is refused here at once with UNIMPLEMENTED and a message
//! pointing to a native gRPC client or a WebSocket bridge, instead of a call that hangs or
//! half-works.
//!
//! A gRPC-Web call naming a host the server does not answer to (in `Host` or `:authority`) is
//! refused with 403 before any service runs: a page on `rebind.attacker.example`, a name its
//! owner points at 127.0.0.1, would otherwise call a loopback server as its own origin, past
//! CORS (DNS rebinding). Accepted: IP addresses (a page's origin is then that address, so CORS
//! applies), `localhost` and names under `.localhost` (RFC 6761: always loopback), and the
//! names of `--allowed-host`.

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use http::header::{self, HeaderValue};
use http::{Request, Response};
use prost::Message;
use tonic::body::Body;
use tower::layer::util::Stack;
use tower::{Layer, Service};

/// The gRPC-Web layers, outermost first: the refusal of foreign hosts and of client-streaming
/// methods, then `tonic-web`'s translation.
pub(super) fn layer(
    allowed_hosts: &[String],
) -> Stack<tonic_web::GrpcWebLayer, RefuseClientStreamingLayer> {
    // Stack::new(inner, outer).
    Stack::new(
        tonic_web::GrpcWebLayer::new(),
        RefuseClientStreamingLayer::from_descriptors(&[crate::proto::FILE_DESCRIPTOR_SET])
            .with_hosts(allowed_hosts),
    )
}

/// Whether a gRPC-Web call naming `host` (from `Host` or `:authority`, port removed) reaches
/// the server (see the module doc).
fn host_is_allowed(host: &str, listed: &HashSet<String>) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost")
        || listed.contains(&host)
}

/// The host a request names: `:authority` (HTTP/2, and absolute-form HTTP/1.1), else `Host`.
fn named_host<B>(req: &Request<B>) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        return Some(a.host().to_string());
    }
    let raw = req.headers().get(header::HOST)?.to_str().ok()?;
    let a: http::uri::Authority = raw.parse().ok()?;
    Some(a.host().to_string())
}

/// 403 for a gRPC-Web call naming a host the server does not answer to.
fn foreign_host(host: Option<&str>) -> Response<Body> {
    let mut res = Response::new(Body::new(format!(
        "gRPC-Web call refused: host {} is not one this server answers to (add it with --allowed-host)\n",
        host.unwrap_or("(none)")
    )));
    *res.status_mut() = http::StatusCode::FORBIDDEN;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Whether `content-type` is one of gRPC-Web's (binary or text, any sub-format).
fn is_grpc_web<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc-web"))
}

/// Refuses gRPC-Web calls to methods whose client streams.
#[derive(Clone)]
pub(super) struct RefuseClientStreamingLayer {
    /// `/package.Service/Method` of every client-streaming method.
    paths: Arc<HashSet<String>>,
    /// `--allowed-host`.
    hosts: Arc<HashSet<String>>,
}

impl RefuseClientStreamingLayer {
    /// Finds the client-streaming methods in encoded `FileDescriptorSet`s, so a streaming
    /// method added to the protos later is refused without anyone remembering to list it.
    fn from_descriptors(sets: &[&[u8]]) -> Self {
        let mut paths = HashSet::new();
        for set in sets {
            let set = prost_types::FileDescriptorSet::decode(*set)
                .expect("the descriptor set compiled into the binary decodes");
            for file in &set.file {
                for service in &file.service {
                    for method in &service.method {
                        if method.client_streaming() {
                            paths.insert(format!(
                                "/{}.{}/{}",
                                file.package(),
                                service.name(),
                                method.name()
                            ));
                        }
                    }
                }
            }
        }
        Self {
            paths: Arc::new(paths),
            hosts: Arc::default(),
        }
    }

    /// Also accepts gRPC-Web calls naming one of `hosts` (lower case, no port).
    fn with_hosts(mut self, hosts: &[String]) -> Self {
        self.hosts = Arc::new(hosts.iter().cloned().collect());
        self
    }
}

impl<S> Layer<S> for RefuseClientStreamingLayer {
    type Service = RefuseClientStreaming<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RefuseClientStreaming {
            inner,
            paths: self.paths.clone(),
            hosts: self.hosts.clone(),
        }
    }
}

/// The service of [`RefuseClientStreamingLayer`].
#[derive(Clone)]
pub(super) struct RefuseClientStreaming<S> {
    inner: S,
    paths: Arc<HashSet<String>>,
    hosts: Arc<HashSet<String>>,
}

impl<S, ReqBody> Service<Request<ReqBody>> for RefuseClientStreaming<S>
where
    S: Service<Request<ReqBody>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response<Body>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if is_grpc_web(&req) {
            let host = named_host(&req);
            if !host
                .as_deref()
                .is_some_and(|h| host_is_allowed(h, &self.hosts))
            {
                return Either::Left(ready(Ok(foreign_host(host.as_deref()))));
            }
            if self.paths.contains(req.uri().path()) {
                return Either::Left(ready(Ok(refusal(&req))));
            }
        }
        Either::Right(self.inner.call(req))
    }
}

/// A trailers-only gRPC-Web answer (status in the headers, as the gRPC-Web spec allows),
/// in the encoding the caller asked for.
fn refusal<B>(req: &Request<B>) -> Response<Body> {
    let method = req.uri().path().rsplit('/').next().unwrap_or_default();
    let status = tonic::Status::unimplemented(format!(
        "{method} streams from the client, which gRPC-Web cannot carry: call it with a native \
         gRPC client over HTTP/2 (e.g. from a server) or through a WebSocket bridge"
    ));
    let text = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc-web-text"));
    let mut res = status.into_http::<Body>();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if text {
            "application/grpc-web-text+proto"
        } else {
            "application/grpc-web+proto"
        }),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_feed_is_the_client_streaming_method_found_in_the_protos() {
        let l = RefuseClientStreamingLayer::from_descriptors(&[crate::proto::FILE_DESCRIPTOR_SET]);
        let expected: HashSet<String> = ["/streamgate.v1.SensorService/SensorFeed".to_string()]
            .into_iter()
            .collect();
        assert_eq!(*l.paths, expected);
    }

    #[tokio::test]
    async fn a_grpc_web_call_to_sensor_feed_is_refused_and_a_grpc_one_passes() {
        let inner = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        });
        let mut svc =
            RefuseClientStreamingLayer::from_descriptors(&[crate::proto::FILE_DESCRIPTOR_SET])
                .layer(inner);
        let req = |ct: &str| {
            Request::builder()
                .method("POST")
                .uri("http://127.0.0.1:50051/streamgate.v1.SensorService/SensorFeed")
                .header(header::CONTENT_TYPE, ct)
                .body(())
                .unwrap()
        };
        let res = svc.call(req("application/grpc-web-text")).await.unwrap();
        assert_eq!(res.headers()["grpc-status"], "12");
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/grpc-web-text+proto"
        );
        let message = res.headers()["grpc-message"].to_str().unwrap();
        assert!(message.contains("SensorFeed"), "{message}");
        let res = svc.call(req("application/grpc")).await.unwrap();
        assert!(res.headers().get("grpc-status").is_none());
    }

    #[test]
    fn ip_addresses_localhost_and_listed_names_are_the_hosts_answered() {
        let listed: HashSet<String> = ["gate.internal".to_string()].into_iter().collect();
        for ok in [
            "127.0.0.1",
            "[::1]",
            "10.1.2.3",
            "localhost",
            "LOCALHOST.",
            "app.localhost",
            "gate.internal",
            "Gate.Internal",
        ] {
            assert!(host_is_allowed(ok, &listed), "{ok}");
        }
        for refused in [
            "rebind.attacker.example",
            "localhost.attacker.example",
            "gate.internal.attacker.example",
            "127.0.0.1.nip.io",
        ] {
            assert!(!host_is_allowed(refused, &listed), "{refused}");
        }
    }
}
