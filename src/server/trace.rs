//! Trace context and the call's span. A call with a valid W3C `traceparent` gets it as a
//! request extension ([`TraceContext`], which FetchService forwards upstream).
//!
//! With trace export on (`--otlp-endpoint`), every call the sampler picks runs in its
//! OpenTelemetry SERVER span (`rpc.system`, `rpc.service`, `rpc.method`, and
//! `rpc.grpc.status_code` once the status is out), a child of the caller's span. The
//! decision is taken first (`telemetry::sampling`), so a call left out creates no
//! OpenTelemetry span: a call that brought a `traceparent` gets the log-only `call` span
//! naming its trace id, and one without gets a trace id drawn here, passed upstream
//! unsampled, and no span. Without export, only a call that brought a `traceparent` gets a
//! span, that same `call` span.
//! Either way the handler and the response body (streams do their work while polled) run
//! inside it, and a call without one is passed through untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;
use tracing::instrument::{Instrument, Instrumented};

use crate::telemetry::sampling::{self, Decision};
use crate::telemetry::semconv;
use crate::trace_context::TraceContext;

/// gRPC's CANCELLED: a call whose response ended before its status went out.
const CANCELLED: i64 = 1;

/// See the module doc.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TraceLayer {
    /// Whether this server exports traces (SERVER span for every call).
    exporting: bool,
}

impl TraceLayer {
    /// `exporting`: the server's settings name an OTLP endpoint.
    pub(super) fn new(exporting: bool) -> Self {
        Self { exporting }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced {
            inner,
            exporting: self.exporting,
        }
    }
}

/// See the module doc.
#[derive(Clone, Debug)]
pub(super) struct Traced<S> {
    inner: S,
    exporting: bool,
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
        let mut caller = TraceContext::from_headers(req.headers());
        let path = req.uri().path();
        let span = if self.exporting {
            match sampling::decide(caller.as_ref(), path.trim_start_matches('/')) {
                Decision::Export { root } => semconv::server_span(path, caller.as_ref(), root),
                Decision::NoPipeline => semconv::server_span(path, caller.as_ref(), None),
                // Not exported: no OpenTelemetry span is made, and the upstream requests
                // carry the trace on, unsampled. A caller's trace is named in the log lines,
                // as without export; a root drawn here gets no log span: no one can look its
                // trace up, and the span (a registry entry, its field formatted, entered on
                // every poll) was what an unexported call paid for most.
                Decision::Skip { trace_id } => match &caller {
                    Some(ctx) => log_span(ctx),
                    None => {
                        caller = Some(TraceContext::unsampled_root(trace_id));
                        Span::none()
                    }
                },
            }
        } else if let Some(ctx) = &caller {
            log_span(ctx)
        } else {
            // A disabled span: entering it is a branch, and log lines carry nothing extra.
            Span::none()
        };
        if let Some(ctx) = caller {
            req.extensions_mut().insert(ctx);
        }
        let fut = self.inner.call(req);
        let inner = if span.is_none() {
            // A call in no trace: nothing to enter on each poll.
            Handler::Plain { fut }
        } else {
            Handler::InSpan {
                fut: fut.instrument(span.clone()),
            }
        };
        TracedFuture {
            inner,
            span: Some(span),
        }
    }
}

pin_project! {
    /// The handler's future, in the call's span; the response body gets the span too.
    pub(super) struct TracedFuture<F> {
        #[pin]
        inner: Handler<F>,
        span: Option<Span>,
    }
}

pin_project! {
    /// The handler's future, polled (and dropped) inside the call's span when it has one.
    #[project = HandlerProj]
    enum Handler<F> {
        InSpan { #[pin] fut: Instrumented<F> },
        Plain { #[pin] fut: F },
    }
}

impl<F, B, E> Future for TracedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TracedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(match this.inner.project() {
            HandlerProj::InSpan { fut } => fut.poll(cx),
            HandlerProj::Plain { fut } => fut.poll(cx),
        });
        let span = this.span.take().unwrap_or_else(Span::none);
        Poll::Ready(res.map(|resp| {
            // A trailers-only response (an error before any message) has its status here.
            let status_known = grpc_status(resp.headers()).is_some_and(|code| {
                semconv::record_grpc_status(&span, code);
                true
            });
            resp.map(|inner| TracedBody {
                inner,
                span,
                status_known,
            })
        }))
    }
}

pin_project! {
    /// A response body polled inside the call's span (streams do their work while polled);
    /// the status in its trailers goes on the span.
    pub(super) struct TracedBody<B> {
        #[pin]
        inner: B,
        span: Span,
        status_known: bool,
    }

    impl<B> PinnedDrop for TracedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.status_known && !this.span.is_none() {
                semconv::record_grpc_status(this.span, CANCELLED);
            }
        }
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
        // Entering a disabled span still costs calls (and `tracing`'s log-compatibility
        // check) on every frame.
        let _entered = (!this.span.is_none()).then(|| this.span.enter());
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        let trailers = frame.as_ref().and_then(|f| f.as_ref().ok());
        if let Some(code) = trailers.and_then(Frame::trailers_ref).and_then(grpc_status) {
            semconv::record_grpc_status(this.span, code);
            *this.status_known = true;
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

/// The log-only span of a call in a trace that is not exported: its log lines carry the
/// trace id.
fn log_span(ctx: &TraceContext) -> Span {
    tracing::info_span!("call", trace_id = %ctx.trace_id())
}

fn grpc_status(headers: &HeaderMap) -> Option<i64> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}
