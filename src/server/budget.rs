//! The bound on request messages received in part: a gRPC message is buffered whole before it
//! is decoded, so a caller announcing large messages and sending all but their last byte makes
//! the server hold them. Each service's message limit bounds one stream; this layer bounds
//! the sum, per connection (`--max-partial-message-bytes-per-connection`) and across the
//! server (`--max-partial-message-bytes`), by following the gRPC length-prefixed framing of
//! every request body. A frame that would go past either budget fails the call with
//! RESOURCE_EXHAUSTED naming the flag; a message once complete no longer counts (its handler
//! owns it), nor does any part of a call that ended.
//!
//! The same reading of the framing refuses a message whose announced length is over its
//! service's limit ([`super::message_limit`]) before any of it is buffered.
//!
//! A refused call's response trailers carry the refusal whatever its handler does with the
//! failed request stream ([`super::refusal`]).
//!
//! It sits after the gRPC-Web translation, so it sees binary gRPC framing for every call.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use super::conn::ConnState;
use super::message_limit::{MessageLimit, MessageLimits};
use super::refusal::{Answer, Refusal};

/// The two budgets and what is charged against the server-wide one.
pub(super) struct Budgets {
    per_connection: usize,
    per_server: usize,
    server: AtomicUsize,
}

impl Budgets {
    pub(super) fn new(per_connection: usize, per_server: usize) -> Arc<Self> {
        Arc::new(Self {
            per_connection,
            per_server,
            server: AtomicUsize::new(0),
        })
    }

    /// Charges `n` more bytes to `conn` and the server, or says which budget is spent.
    fn charge(&self, conn: &AtomicUsize, n: usize) -> Result<(), Status> {
        if conn.fetch_add(n, Ordering::AcqRel) + n > self.per_connection {
            conn.fetch_sub(n, Ordering::AcqRel);
            return Err(Status::resource_exhausted(format!(
                "this connection's request messages received in part exceed \
                 --max-partial-message-bytes-per-connection ({} bytes)",
                self.per_connection
            )));
        }
        if self.server.fetch_add(n, Ordering::AcqRel) + n > self.per_server {
            self.server.fetch_sub(n, Ordering::AcqRel);
            conn.fetch_sub(n, Ordering::AcqRel);
            return Err(Status::resource_exhausted(format!(
                "the server's request messages received in part exceed \
                 --max-partial-message-bytes ({} bytes); retry shortly",
                self.per_server
            )));
        }
        Ok(())
    }

    fn release(&self, conn: &AtomicUsize, n: usize) {
        conn.fetch_sub(n, Ordering::AcqRel);
        self.server.fetch_sub(n, Ordering::AcqRel);
    }
}

/// See the module doc.
#[derive(Clone)]
pub(super) struct BudgetLayer {
    budgets: Arc<Budgets>,
    limits: MessageLimits,
}

impl BudgetLayer {
    pub(super) fn new(budgets: Arc<Budgets>, limits: MessageLimits) -> Self {
        Self { budgets, limits }
    }
}

impl<S> Layer<S> for BudgetLayer {
    type Service = Budgeted<S>;

    fn layer(&self, inner: S) -> Budgeted<S> {
        Budgeted {
            inner,
            budgets: self.budgets.clone(),
            limits: self.limits.clone(),
        }
    }
}

/// See the module doc.
#[derive(Clone)]
pub(super) struct Budgeted<S> {
    inner: S,
    budgets: Arc<Budgets>,
    limits: MessageLimits,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Budgeted<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ReqBody: HttpBody<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // No connection state only outside the server (it tracks every connection): nothing
        // is charged then, but the message limit still holds.
        let conn = req.extensions().get::<Arc<ConnState>>().cloned();
        let budgets = self.budgets.clone();
        let limit = self.limits.for_path(req.uri().path());
        let refusal = Refusal::default();
        let body_refusal = refusal.clone();
        let answer = self.inner.call(req.map(|inner| {
            Body::new(PartialBody {
                inner,
                conn,
                budgets,
                framing: Framing {
                    limit,
                    ..Framing::default()
                },
                charged: 0,
                refusal: body_refusal,
            })
        }));
        Answer::new(answer, refusal)
    }
}

/// Where the body is in gRPC's framing: a 5-byte prefix (flag, big-endian length), then the
/// message.
#[derive(Default)]
struct Framing {
    /// The service's limit on one message; `None` for a path no service serves.
    limit: Option<MessageLimit>,
    prefix: [u8; 5],
    prefix_len: usize,
    remaining: usize,
    /// Bytes of the message in progress, prefix included.
    partial: usize,
}

impl Framing {
    /// Follows `chunk`; the bytes of the message still incomplete after it, or the refusal
    /// of a message announced over the limit.
    fn follow(&mut self, chunk: &[u8]) -> Result<usize, Status> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.prefix_len < 5 {
                let take = (5 - self.prefix_len).min(rest.len());
                self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&rest[..take]);
                self.prefix_len += take;
                self.partial += take;
                rest = &rest[take..];
                if self.prefix_len == 5 {
                    let len = u32::from_be_bytes([
                        self.prefix[1],
                        self.prefix[2],
                        self.prefix[3],
                        self.prefix[4],
                    ]);
                    self.remaining = len as usize;
                    if let Some(limit) = &self.limit {
                        limit.check(self.remaining)?;
                    }
                }
            } else {
                let take = self.remaining.min(rest.len());
                self.remaining -= take;
                self.partial += take;
                rest = &rest[take..];
            }
            if self.prefix_len == 5 && self.remaining == 0 {
                *self = Self {
                    limit: self.limit,
                    ..Self::default()
                };
            }
        }
        Ok(self.partial)
    }
}

pin_project_lite::pin_project! {
    /// A request body whose incomplete message is charged to the budgets.
    struct PartialBody<B> {
        #[pin]
        inner: B,
        conn: Option<Arc<ConnState>>,
        budgets: Arc<Budgets>,
        framing: Framing,
        charged: usize,
        refusal: Refusal,
    }

    impl<B> PinnedDrop for PartialBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(conn) = this.conn {
                this.budgets.release(conn.partial_bytes(), *this.charged);
            }
        }
    }
}

impl<B> HttpBody for PartialBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        let frame = match std::task::ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(Status::from_error(e.into())))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let partial = this
                .framing
                .follow(data)
                .map_err(|e| this.refusal.refuse(e))?;
            let Some(conn) = this.conn else {
                return Poll::Ready(Some(Ok(frame)));
            };
            let counter = conn.partial_bytes();
            if partial > *this.charged {
                this.budgets
                    .charge(counter, partial - *this.charged)
                    .map_err(|e| this.refusal.refuse(e))?;
            } else {
                this.budgets.release(counter, *this.charged - partial);
            }
            *this.charged = partial;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_counts_only_the_incomplete_message() {
        let mut f = Framing::default();
        // A whole 3-byte message, then the prefix and 2 bytes of a 10-byte one.
        assert_eq!(
            f.follow(&[0, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 10, 1, 2])
                .unwrap(),
            7
        );
        assert_eq!(f.follow(&[0; 7]).unwrap(), 14);
        assert_eq!(f.follow(&[0]).unwrap(), 0, "complete: nothing held in part");
        assert_eq!(
            f.follow(&[0, 0, 0]).unwrap(),
            3,
            "a prefix split across chunks"
        );
        assert_eq!(
            f.follow(&[0, 0]).unwrap(),
            0,
            "an empty message is complete at once"
        );
    }

    #[test]
    fn a_message_announced_over_the_limit_is_refused_at_its_prefix() {
        let mut f = Framing {
            limit: Some(MessageLimit::flag("--control-max-message-bytes", 10)),
            ..Framing::default()
        };
        // A 10-byte message is within the limit, and the limit outlives it.
        assert_eq!(f.follow(&[0, 0, 0, 0, 10]).unwrap(), 5);
        assert_eq!(f.follow(&[0; 10]).unwrap(), 0);
        // The prefix of an 11-byte message, split across chunks, is refused once whole.
        assert_eq!(f.follow(&[0, 0, 0]).unwrap(), 3);
        let e = f.follow(&[0, 11]).unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        assert!(e.message().contains("11 bytes"), "{e}");
    }

    #[test]
    fn a_charge_past_either_budget_is_refused_and_rolled_back() {
        let b = Budgets::new(10, 15);
        let (c1, c2) = (AtomicUsize::new(0), AtomicUsize::new(0));
        b.charge(&c1, 8).unwrap();
        let e = b.charge(&c1, 3).unwrap_err();
        assert!(e.message().contains("per-connection"), "{e}");
        assert_eq!(c1.load(Ordering::Acquire), 8);
        let e = b.charge(&c2, 8).unwrap_err();
        assert!(e.message().contains("--max-partial-message-bytes "), "{e}");
        assert_eq!(c2.load(Ordering::Acquire), 0);
        b.release(&c1, 8);
        b.charge(&c2, 8).unwrap();
    }
}
