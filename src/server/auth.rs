//! Authentication and call admission as a tower layer: each call's credentials (bearer
//! token, verified client certificate) go to the policy's [`Gate`], which refuses it
//! (UNAUTHENTICATED, PERMISSION_DENIED for `services`, RESOURCE_EXHAUSTED for the limits)
//! or lets it in with its [`crate::edge::Caller`] in the request extensions. A call let in
//! under `max_concurrent` keeps its place until its response body, stream included, ends.
//!
//! Health and reflection pass without a look; without `--policy` every call does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::AUTHORIZATION;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Status;
use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::edge::{Credentials, Gate, InFlight, Target};

/// The layer; `None`: no policy, every call passes untouched.
#[derive(Clone)]
pub(super) struct AuthLayer {
    gate: Option<Arc<Gate>>,
}

impl AuthLayer {
    pub(super) fn new(gate: Option<Arc<Gate>>) -> Self {
        Self { gate }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the routes.
#[derive(Clone)]
pub(super) struct Auth<S> {
    inner: S,
    gate: Option<Arc<Gate>>,
}

impl<S> Service<http::Request<Body>> for Auth<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let Some(gate) = &self.gate else {
            return AuthFuture::admitted(self.inner.call(req), None);
        };
        let target = Target::of_path(req.uri().path());
        if gate.open_to_all(target) {
            return AuthFuture::admitted(self.inner.call(req), None);
        }
        let certs = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        let creds = Credentials {
            authorization: req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()),
            peer_certs: certs.as_deref().map(Vec::as_slice),
        };
        match gate.admit(target, &creds) {
            Err(e) => AuthFuture::Refused {
                response: Some(Status::from(e).into_http()),
            },
            Ok(admission) => {
                // Nothing past this layer needs the token; gone, it cannot be logged.
                req.headers_mut().remove(AUTHORIZATION);
                req.extensions_mut().insert(admission.caller);
                AuthFuture::admitted(self.inner.call(req), admission.in_flight)
            }
        }
    }
}

pin_project! {
    /// The response of a refused call, or of the inner service with the call's place in
    /// `max_concurrent` moved into its body.
    #[project = AuthFutureProj]
    pub(super) enum AuthFuture<F> {
        Refused { response: Option<http::Response<Body>> },
        Admitted { #[pin] inner: F, in_flight: Option<InFlight> },
    }
}

impl<F> AuthFuture<F> {
    fn admitted(inner: F, in_flight: Option<InFlight>) -> Self {
        Self::Admitted { inner, in_flight }
    }
}

impl<F, E> Future for AuthFuture<F>
where
    F: Future<Output = Result<http::Response<Body>, E>>,
{
    type Output = Result<http::Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AuthFutureProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("AuthFuture polled after it completed"))),
            AuthFutureProj::Admitted { inner, in_flight } => {
                let res = ready!(inner.poll(cx))?;
                Poll::Ready(Ok(match in_flight.take() {
                    None => res,
                    Some(in_flight) => res.map(|body| {
                        Body::new(CountedBody {
                            inner: body,
                            _in_flight: in_flight,
                        })
                    }),
                }))
            }
        }
    }
}

/// A response body holding the call's place in `max_concurrent` until it ends or is dropped
/// (the client went away).
struct CountedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for CountedBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
