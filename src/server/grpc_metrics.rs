//! The gRPC server metrics layer (go-grpc-prometheus's families): a call is counted as
//! started when it arrives, its request and response messages as the bodies carry them (by
//! the 5-byte gRPC frame headers, so streams are counted message by message), and as handled
//! with the status it ends with: from the `grpc-status` response header (trailers-only
//! responses, e.g. an error before any message) or from the trailers. A call whose response
//! is dropped before its status went out (client cancel, disconnect) counts as `Canceled`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::Code;
use tower::{Layer, Service};

use crate::metrics::GrpcMetrics;
use crate::metrics::grpc::{Call, Method};

/// Adds the gRPC server metrics to every service.
#[derive(Clone, Debug)]
pub(super) struct GrpcMetricsLayer {
    metrics: GrpcMetrics,
}

impl GrpcMetricsLayer {
    pub(super) fn new(metrics: GrpcMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See the module doc.
#[derive(Clone, Debug)]
pub(super) struct Metered<S> {
    inner: S,
    metrics: GrpcMetrics,
}

impl<S, B> Service<Request<tonic::body::Body>> for Metered<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<B>>,
    B: Body<Data = Bytes>,
{
    type Response = Response<MeteredBody<B>>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        let call = self
            .metrics
            .start(Method::from_path(req.uri().path()))
            .map(Arc::new);
        let req = match &call {
            Some(call) => {
                let call = call.clone();
                req.map(|body| {
                    tonic::body::Body::new(CountedRequest {
                        inner: body,
                        frames: Frames::default(),
                        call,
                    })
                })
            }
            None => req,
        };
        MeteredFuture {
            inner: self.inner.call(req),
            end: End(call),
        }
    }
}

/// Records the call's end once: with a code, or as `Canceled` when dropped before.
#[derive(Debug)]
struct End(Option<Arc<Call>>);

impl End {
    fn record(&mut self, code: Code) {
        if let Some(call) = self.0.take() {
            call.handled(code);
        }
    }
}

impl Drop for End {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

pin_project! {
    /// The response future: a trailers-only response ends the call here.
    pub(super) struct MeteredFuture<F> {
        #[pin]
        inner: F,
        end: End,
    }
}

impl<F, B, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MeteredBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        let mut end = End(this.end.0.take());
        Poll::Ready(match res {
            Ok(resp) => {
                if let Some(code) = status_of(resp.headers()) {
                    end.record(code);
                }
                let call = end.0.as_ref().map(Arc::clone);
                Ok(resp.map(|inner| MeteredBody {
                    inner,
                    frames: Frames::default(),
                    call,
                    end,
                }))
            }
            Err(e) => {
                end.record(Code::Unknown);
                Err(e)
            }
        })
    }
}

pin_project! {
    /// The response body: counts messages sent, and ends the call at its trailers.
    pub(super) struct MeteredBody<B> {
        #[pin]
        inner: B,
        frames: Frames,
        call: Option<Arc<Call>>,
        end: End,
    }
}

impl<B: Body<Data = Bytes>> Body for MeteredBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if let Some(call) = this.call {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(data) = f.data_ref() {
                        call.sent(this.frames.count(data.chunk()));
                    } else if let Some(trailers) = f.trailers_ref() {
                        this.end
                            .record(status_of(trailers).unwrap_or(Code::Unknown));
                    }
                }
                Some(Err(_)) => this.end.record(Code::Unknown),
                // Ended without trailers (a tonic response always has them): nothing says
                // how it went.
                None => this.end.record(Code::Unknown),
            }
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

pin_project! {
    /// The request body: counts messages received.
    struct CountedRequest {
        #[pin]
        inner: tonic::body::Body,
        frames: Frames,
        call: Arc<Call>,
    }
}

impl Body for CountedRequest {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if let Some(Ok(f)) = &frame {
            if let Some(data) = f.data_ref() {
                this.call.received(this.frames.count(data.chunk()));
            }
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

/// The `grpc-status` of a header or trailer map.
fn status_of(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|v| Code::from_bytes(v.as_bytes()))
}

/// Counts gRPC messages in a byte stream cut into arbitrary chunks: each message is a 5-byte
/// header (flag, 4-byte big-endian length) and its payload.
#[derive(Debug, Default)]
struct Frames {
    /// Header bytes of the next message seen so far.
    header: [u8; 5],
    have: usize,
    /// Payload bytes of the current message still to skip.
    remaining: u64,
}

impl Frames {
    /// The messages whose header completes in `data`.
    fn count(&mut self, mut data: &[u8]) -> u64 {
        let mut messages = 0;
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = self.remaining.min(data.len() as u64);
                self.remaining -= skip;
                data = &data[skip as usize..];
                continue;
            }
            let take = (5 - self.have).min(data.len());
            self.header[self.have..self.have + take].copy_from_slice(&data[..take]);
            self.have += take;
            data = &data[take..];
            if self.have == 5 {
                messages += 1;
                self.have = 0;
                let len = [
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ];
                self.remaining = u64::from(u32::from_be_bytes(len));
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: u32) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend(std::iter::repeat_n(7u8, len as usize));
        m
    }

    #[test]
    fn messages_are_counted_across_any_chunking() {
        let stream: Vec<u8> = [message(3), message(0), message(300), message(1)].concat();
        for chunk in [1, 2, 4, 5, 7, 64, stream.len()] {
            let mut frames = Frames::default();
            let n: u64 = stream.chunks(chunk).map(|c| frames.count(c)).sum();
            assert_eq!(n, 4, "chunks of {chunk}");
        }
    }

    #[test]
    fn status_is_read_from_grpc_status() {
        let mut h = HeaderMap::new();
        assert_eq!(status_of(&h), None);
        h.insert("grpc-status", "7".parse().unwrap());
        assert_eq!(status_of(&h), Some(Code::PermissionDenied));
    }
}
