//! Trace context: a call with a valid W3C `traceparent` gets it as a request extension
//! ([`TraceContext`], which FetchService forwards upstream) and runs, handler and response
//! body alike, inside a `call` span carrying its `trace_id`, so every log line of the call
//! names the trace. A call without one is passed through untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;
use tracing::instrument::{Instrument, Instrumented};

use crate::trace_context::TraceContext;

/// See the module doc.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced { inner }
    }
}

/// See the module doc.
#[derive(Clone, Debug)]
pub(super) struct Traced<S> {
    inner: S,
}

impl<S, ReqBody, B> Service<Request<ReqBody>> for Traced<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
{
    type Response = Response<TracedBody<B>>;
    type Error = S::Error;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let span = match TraceContext::from_headers(req.headers()) {
            Some(ctx) => {
                let span = tracing::info_span!("call", trace_id = %ctx.trace_id());
                req.extensions_mut().insert(ctx);
                span
            }
            // A disabled span: entering it is a branch, and log lines carry nothing extra.
            None => Span::none(),
        };
        TracedFuture {
            inner: self.inner.call(req).instrument(span.clone()),
            span: Some(span),
        }
    }
}

pin_project! {
    /// The handler's future, in the call's span; the response body gets the span too.
    pub(super) struct TracedFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        span: Option<Span>,
    }
}

impl<F, B, E> Future for TracedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TracedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        let span = this.span.take().unwrap_or_else(Span::none);
        Poll::Ready(res.map(|resp| resp.map(|inner| TracedBody { inner, span })))
    }
}

pin_project! {
    /// A response body polled inside the call's span (streams do their work while polled).
    pub(super) struct TracedBody<B> {
        #[pin]
        inner: B,
        span: Span,
    }
}

impl<B: Body<Data = Bytes>> Body for TracedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let _entered = this.span.enter();
        this.inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
