//! A request stream refused by [`super::budget`] (a message over its limit, a spent budget)
//! surfaces to the handler as an error from its request stream. A unary handler fails with it;
//! a streaming handler may not pass it on: tonic-reflection ends its response stream with OK
//! when its request stream fails. So the refusal is also kept beside the call, and the
//! response's trailers carry it in place of whatever status the handler ended with.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;

/// The refusal of one call's request stream, once there is one.
#[derive(Clone, Default)]
pub(super) struct Refusal(Arc<OnceLock<Status>>);

impl Refusal {
    /// Records `status` (the first refusal wins) and gives it back to fail the request body.
    pub(super) fn refuse(&self, status: Status) -> Status {
        let _ = self.0.set(status.clone());
        status
    }

    /// Trailers carrying the refusal, if there was one.
    fn trailers(&self) -> Option<HeaderMap> {
        let status = self.0.get()?;
        let mut trailers = HeaderMap::new();
        // Only fails on a message that cannot be a header value; ours are plain ASCII.
        status.add_header(&mut trailers).ok()?;
        Some(trailers)
    }
}

pin_project_lite::pin_project! {
    /// The service's answer, its body reporting `refusal` in its trailers.
    pub(super) struct Answer<F> {
        #[pin]
        inner: F,
        refusal: Refusal,
    }
}

impl<F> Answer<F> {
    pub(super) fn new(inner: F, refusal: Refusal) -> Self {
        Self { inner, refusal }
    }
}

impl<F, B, E> Future for Answer<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx))?;
        let refusal = this.refusal.clone();
        Poll::Ready(Ok(
            res.map(|inner| Body::new(RefusedTrailers { inner, refusal }))
        ))
    }
}

pin_project_lite::pin_project! {
    /// A response body whose trailers are replaced by the request's refusal, if any.
    struct RefusedTrailers<B> {
        #[pin]
        inner: B,
        refusal: Refusal,
    }
}

impl<B> HttpBody for RefusedTrailers<B>
where
    B: HttpBody<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) if frame.is_trailers() => match this.refusal.trailers() {
                Some(trailers) => Some(Ok(Frame::trailers(trailers))),
                None => Some(Ok(frame)),
            },
            other => other,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
