//! Counts each connection's open streams for its idle deadline and for the choice of the
//! connection idle longest (see [`super::conn`]): a stream is open from the moment its request
//! headers reach the stack until its response body is done or dropped. The outermost layer,
//! so a refused or preflight request counts as activity too. It also hands the connection's
//! state to later layers as a request extension (`Arc<ConnState>`, for [`super::budget`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use super::conn::{Registry, StreamGuard};

/// See the module doc.
#[derive(Clone)]
pub(super) struct ActivityLayer {
    registry: Arc<Registry>,
}

impl ActivityLayer {
    pub(super) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl<S> Layer<S> for ActivityLayer {
    type Service = Activity<S>;

    fn layer(&self, inner: S) -> Activity<S> {
        Activity {
            inner,
            registry: self.registry.clone(),
        }
    }
}

/// See the module doc.
#[derive(Clone)]
pub(super) struct Activity<S> {
    inner: S,
    registry: Arc<Registry>,
}

impl<S> Activity<S> {
    fn guard<B>(&self, req: &mut Request<B>) -> Option<StreamGuard> {
        let ext = req.extensions();
        let peer = ext
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .or_else(|| {
                ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                    .and_then(|i| i.get_ref().remote_addr())
            })?;
        let state = self.registry.get(&peer)?;
        req.extensions_mut().insert(state.clone());
        Some(state.stream_opened(self.registry.clone()))
    }
}

impl<S, ReqBody, B> Service<Request<ReqBody>> for Activity<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
{
    type Response = Response<ActiveBody<B>>;
    type Error = S::Error;
    type Future = ActiveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let guard = self.guard(&mut req);
        ActiveFuture {
            inner: self.inner.call(req),
            guard,
        }
    }
}

pin_project! {
    /// The handler's future; the stream stays open in its response body.
    pub(super) struct ActiveFuture<F> {
        #[pin]
        inner: F,
        guard: Option<StreamGuard>,
    }
}

impl<F, B, E> Future for ActiveFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ActiveBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        let guard = this.guard.take();
        Poll::Ready(res.map(|resp| resp.map(|inner| ActiveBody { inner, guard })))
    }
}

pin_project! {
    /// A response body holding its stream open until it ends or is dropped.
    pub(super) struct ActiveBody<B> {
        #[pin]
        inner: B,
        guard: Option<StreamGuard>,
    }
}

impl<B: Body<Data = Bytes>> Body for ActiveBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            this.guard.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
