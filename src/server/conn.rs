//! One accepted connection's life after accept: the [`Tracked`] stream the HTTP server reads
//! and writes, which closes the connection when its peer does nothing, and the [`Registry`] of
//! live connections through which the [`super::activity`] layer counts each one's open
//! streams and the accept loop picks the longest-idle one to make room.
//!
//! The HTTP server (tonic's, over hyper) owns each connection and offers no hook to end one,
//! so the deadlines live in the stream it reads from: when one passes, the next read returns
//! end-of-file and hyper closes the connection as if the peer had left. An HTTP/2 connection
//! closed for being idle first gets a GOAWAY (NO_ERROR, last stream 2^31-1, RFC 9113 §6.8),
//! written between two of hyper's frames, so its client reconnects without failing a call
//! (grpc-go's `MaxConnectionIdle` does the same).
//!
//! The deadlines:
//! - until the first request's headers have arrived: accept + `--handshake-timeout` (the TLS
//!   handshake, if any, runs inside it);
//! - afterwards: `--idle-timeout` past the moment the last open stream ended.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;

/// GOAWAY, NO_ERROR, last stream 2^31-1 (RFC 9113 §6.8: "the server is shutting down, stop
/// opening streams"), on stream 0.
const GOAWAY: [u8; 17] = [
    0, 0, 8, // length
    7, // type GOAWAY
    0, // flags
    0, 0, 0, 0, // stream 0
    0x7f, 0xff, 0xff, 0xff, // last stream id
    0, 0, 0, 0, // NO_ERROR
];

/// The per-connection deadlines.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    /// From accept to the first request's headers.
    pub(super) handshake: Duration,
    /// Without an open stream.
    pub(super) idle: Duration,
}

/// The live connections by peer address (unique among one listener's connections), so a
/// request, which carries its peer address in tonic's connect info, finds its connection.
pub(super) struct Registry {
    conns: Mutex<HashMap<SocketAddr, Arc<ConnState>>>,
    /// The zero of every `idle_since` (milliseconds fit an atomic; an `Instant` does not).
    epoch: Instant,
}

impl Registry {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            conns: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        })
    }

    /// Registers a connection just accepted from `peer`.
    pub(super) fn add(self: &Arc<Self>, peer: SocketAddr) -> Arc<ConnState> {
        let state = Arc::new(ConnState {
            open: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            evict: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            partial: AtomicUsize::new(0),
        });
        self.lock().insert(peer, state.clone());
        state
    }

    /// The connection from `peer`, if it is still open.
    pub(super) fn get(&self, peer: &SocketAddr) -> Option<Arc<ConnState>> {
        self.lock().get(peer).cloned()
    }

    /// Forgets the connection from `peer` (closed, or its handshake failed).
    pub(super) fn remove(&self, peer: &SocketAddr, state: &Arc<ConnState>) {
        let mut conns = self.lock();
        // A new connection from a reused port may already have taken the key.
        if conns.get(peer).is_some_and(|s| Arc::ptr_eq(s, state)) {
            conns.remove(peer);
        }
    }

    /// Asks the connection idle longest (no open stream, not already closing) to close, and
    /// says whether there was one: its slot frees as soon as its task sees the request. A
    /// connection that has not sent a request yet goes before one that has: it is the silent
    /// peer these bounds are for, or a client that will reconnect when it needs to.
    pub(super) fn evict_longest_idle(&self) -> bool {
        let conns = self.lock();
        let victim = conns
            .values()
            .filter(|s| s.open.load(Ordering::Acquire) == 0 && !s.evict.load(Ordering::Acquire))
            .min_by_key(|s| {
                (
                    s.served.load(Ordering::Acquire),
                    s.idle_since_ms.load(Ordering::Acquire),
                )
            });
        match victim {
            Some(s) => {
                s.evict.store(true, Ordering::Release);
                s.waker.wake();
                true
            }
            None => false,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn instant_at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<ConnState>>> {
        // A panic while holding this lock leaves a consistent map (single inserts/removes).
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the rest of the server knows about one connection.
pub(super) struct ConnState {
    /// Streams (calls) in progress.
    open: AtomicUsize,
    /// Whether a first request's headers have arrived.
    served: AtomicBool,
    /// When the last stream ended (or the connection was accepted), in the registry's ms.
    idle_since_ms: AtomicU64,
    /// Set when the accept loop needs this connection's slot.
    evict: AtomicBool,
    /// The connection's task, woken to act on `evict` or a stream's end.
    waker: AtomicWaker,
    /// Bytes of request messages received in part (see [`super::budget`]).
    partial: AtomicUsize,
}

impl ConnState {
    /// The count of request-message bytes received in part on this connection.
    pub(super) fn partial_bytes(&self) -> &AtomicUsize {
        &self.partial
    }

    /// Ready once the accept loop asked this connection to make room.
    pub(super) fn poll_evicted(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.register(cx.waker());
        if self.evict.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Marks a stream open until the guard is dropped.
    pub(super) fn stream_opened(self: Arc<Self>, registry: Arc<Registry>) -> StreamGuard {
        self.served.store(true, Ordering::Release);
        self.open.fetch_add(1, Ordering::AcqRel);
        StreamGuard {
            state: self,
            registry,
        }
    }
}

/// An open stream; dropping it (when the response body ends or is abandoned) closes it.
pub(super) struct StreamGuard {
    state: Arc<ConnState>,
    registry: Arc<Registry>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        // Stamp before the count drops, so an eviction scan never sees a stale idle time.
        self.state
            .idle_since_ms
            .store(self.registry.now_ms(), Ordering::Release);
        if self.state.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state.waker.wake();
        }
    }
}

/// The protocol the peer speaks, from its first bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Unknown,
    Http2,
    Http1,
}

/// Where the connection is in its life.
enum Phase {
    Open,
    /// Writing the GOAWAY: how much of it is out.
    SayingGoodbye(usize),
    /// Every read answers end-of-file from now on.
    Closed,
}

/// An accepted connection as the HTTP server sees it: the stream, its place in the
/// `--max-connections` count (released on drop), and its deadlines.
pub(super) struct Tracked<S> {
    stream: S,
    peer: SocketAddr,
    state: Arc<ConnState>,
    registry: Arc<Registry>,
    timeouts: Timeouts,
    accepted: Instant,
    deadline: Pin<Box<Sleep>>,
    phase: Phase,
    proto: Proto,
    /// Bytes written since the last completed flush: while set, hyper may be half-way through
    /// a frame, so no GOAWAY goes in.
    unflushed: bool,
    _slot: OwnedSemaphorePermit,
}

impl<S> Tracked<S> {
    /// Tracks `stream` from `peer`, accepted at `accepted`, already registered as `state`.
    pub(super) fn new(
        stream: S,
        peer: SocketAddr,
        state: Arc<ConnState>,
        registry: Arc<Registry>,
        timeouts: Timeouts,
        accepted: Instant,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            stream,
            peer,
            state,
            registry,
            timeouts,
            accepted,
            deadline: Box::pin(tokio::time::sleep_until(accepted + timeouts.handshake)),
            phase: Phase::Open,
            proto: Proto::Unknown,
            unflushed: false,
            _slot: slot,
        }
    }

    /// The next deadline, or `None` when the connection must close now (and why).
    fn next_deadline(&self, now: Instant) -> Result<Instant, &'static str> {
        if self.state.evict.load(Ordering::Acquire) {
            if self.state.open.load(Ordering::Acquire) == 0 {
                return Err("closing the connection idle longest: --max-connections reached");
            }
            // A call started after it was picked: it stays, and the newcomer is refused.
            self.state.evict.store(false, Ordering::Release);
        }
        if !self.state.served.load(Ordering::Acquire) {
            let at = self.accepted + self.timeouts.handshake;
            return if now >= at {
                Err("no request within --handshake-timeout")
            } else {
                Ok(at)
            };
        }
        if self.state.open.load(Ordering::Acquire) > 0 {
            return Ok(now + self.timeouts.idle);
        }
        let since = self
            .registry
            .instant_at(self.state.idle_since_ms.load(Ordering::Acquire));
        let at = since + self.timeouts.idle;
        if now >= at {
            Err("no open stream for --idle-timeout")
        } else {
            Ok(at)
        }
    }
}

impl<S> Drop for Tracked<S> {
    fn drop(&mut self) {
        self.registry.remove(&self.peer, &self.state);
    }
}

impl<S: Connected> Connected for Tracked<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> S::ConnectInfo {
        self.stream.connect_info()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match this.phase {
                Phase::Open => {
                    this.state.waker.register(cx.waker());
                    // A stream's end or an eviction wakes this task without the timer firing.
                    let check = this.state.evict.load(Ordering::Acquire)
                        || this.deadline.as_mut().poll(cx).is_ready();
                    if check {
                        match this.next_deadline(Instant::now()) {
                            Ok(at) => {
                                this.deadline.as_mut().reset(at);
                                if this.deadline.as_mut().poll(cx).is_pending() {
                                    return this.read_stream(cx, buf);
                                }
                                continue;
                            }
                            Err(why) => {
                                tracing::debug!(peer = %this.peer, "closing a connection: {why}");
                                this.phase = if this.proto == Proto::Http2 && !this.unflushed {
                                    Phase::SayingGoodbye(0)
                                } else {
                                    Phase::Closed
                                };
                            }
                        }
                    } else {
                        return this.read_stream(cx, buf);
                    }
                }
                Phase::SayingGoodbye(sent) if sent < GOAWAY.len() => {
                    match Pin::new(&mut this.stream).poll_write(cx, &GOAWAY[sent..]) {
                        Poll::Ready(Ok(n)) if n > 0 => this.phase = Phase::SayingGoodbye(sent + n),
                        Poll::Ready(_) => this.phase = Phase::Closed,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Phase::SayingGoodbye(_) => {
                    if Pin::new(&mut this.stream).poll_flush(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.phase = Phase::Closed;
                }
                // End-of-file: hyper ends the connection and drops this stream.
                Phase::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> Tracked<S> {
    fn read_stream(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.stream).poll_read(cx, buf);
        if self.proto == Proto::Unknown {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                // The HTTP/2 preface starts "PRI * HTTP/2.0"; no HTTP/1.1 method is PRI.
                let n = read.len().min(4);
                self.proto = if read[..n] == b"PRI "[..n] {
                    Proto::Http2
                } else {
                    Proto::Http1
                };
            }
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.unflushed = true;
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.unflushed = true;
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = Pin::new(&mut self.stream).poll_flush(cx);
        if matches!(res, Poll::Ready(Ok(()))) {
            self.unflushed = false;
        }
        res
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
