//! The accepted connections, before HTTP/2 sees them: plain TCP, or TLS handshaken here
//! with the material current at accept time (so a reload reaches new connections only),
//! TCP_NODELAY, and the cap on connections served at once (`--max-connections`).
//!
//! A connection accepted while the cap is reached is closed at once rather than left in the
//! listen backlog: the client learns immediately that it was turned away (its call fails with
//! UNAVAILABLE, which clients retry) instead of hanging until its own connect timeout, and the
//! accept loop keeps draining the backlog so the kernel never starts dropping SYNs for
//! connections that would fit a moment later. A TLS connection takes its slot before its
//! handshake, so handshakes in progress count too.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::Connected;

use crate::edge::TlsStore;

/// Handshakes in progress at once; past it, accepting waits for one to end, so a flood of
/// connections that never finish their handshake holds at most this many sockets.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// Pause after a failed accept (e.g. out of file descriptors) before the next, so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The connections accepted on `listener`, each with TCP_NODELAY set (Nagle's algorithm
/// would hold each small response back until the client's delayed ACK, ~40 ms a call, and
/// tonic only sets it on listeners it binds itself), at most `max` at once.
pub(super) fn accept(
    listener: TcpListener,
    max: usize,
) -> impl Stream<Item = io::Result<Counted<TcpStream>>> {
    let slots = Arc::new(Semaphore::new(max));
    TcpListenerStream::new(listener).filter_map(move |conn| {
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => return Some(Err(e)),
        };
        let slot = take_slot(&slots, &stream, max)?;
        set_nodelay(&stream);
        Some(Ok(Counted {
            stream,
            _slot: slot,
        }))
    })
}

/// One of the `max` slots, or `None` (and the connection closed by the caller dropping it).
fn take_slot(
    slots: &Arc<Semaphore>,
    stream: &TcpStream,
    max: usize,
) -> Option<OwnedSemaphorePermit> {
    let slot = slots.clone().try_acquire_owned().ok();
    if slot.is_none() {
        tracing::debug!(
            peer = ?stream.peer_addr().ok(),
            "closing a connection: --max-connections ({max}) reached"
        );
    }
    slot
}

/// The TLS connections completed on `listener`. Handshakes run concurrently (one slow
/// client does not hold up the others), each bounded by `handshake_timeout`; a failed one
/// (plaintext client, no or foreign client certificate) is logged and dropped, never
/// handed to the server. tonic reads the verified client certificate from each
/// `TlsStream` through its `Connected` impl.
pub(super) fn accept_tls(
    listener: TcpListener,
    tls: Arc<TlsStore>,
    handshake_timeout: Duration,
    max: usize,
) -> impl Stream<Item = io::Result<Counted<TlsStream<TcpStream>>>> {
    let (tx, rx) = mpsc::channel(MAX_PENDING_HANDSHAKES);
    // Owned by the channel: the task ends once the server drops the stream.
    tokio::spawn(handshake_loop(listener, tls, handshake_timeout, max, tx));
    ReceiverStream::new(rx).map(Ok)
}

async fn handshake_loop(
    listener: TcpListener,
    tls: Arc<TlsStore>,
    handshake_timeout: Duration,
    max: usize,
    tx: mpsc::Sender<Counted<TlsStream<TcpStream>>>,
) {
    let slots = Arc::new(Semaphore::new(max));
    let mut handshakes: JoinSet<(SocketAddr, io::Result<Counted<TlsStream<TcpStream>>>)> =
        JoinSet::new();
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            accepted = listener.accept(), if handshakes.len() < MAX_PENDING_HANDSHAKES => {
                match accepted {
                    Ok((stream, peer)) => {
                        let Some(slot) = take_slot(&slots, &stream, max) else {
                            continue;
                        };
                        set_nodelay(&stream);
                        let acceptor = tls.acceptor();
                        handshakes.spawn(async move {
                            let done = tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                                .await
                                .unwrap_or_else(|_| Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    format!("no complete handshake within {handshake_timeout:?}"),
                                )));
                            (peer, done.map(|stream| Counted { stream, _slot: slot }))
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                }
            }
            Some(done) = handshakes.join_next() => match done {
                Ok((_, Ok(stream))) => {
                    if tx.send(stream).await.is_err() {
                        return;
                    }
                }
                // Port scanners and plaintext clients end here: debug, not warn.
                Ok((peer, Err(e))) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                Err(e) => tracing::warn!("a TLS handshake task failed: {e}"),
            },
        }
    }
}

fn set_nodelay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
}

/// An accepted connection holding one of the `--max-connections` slots until it is dropped
/// (when HTTP/2 is done with it).
pub(super) struct Counted<S> {
    stream: S,
    _slot: OwnedSemaphorePermit,
}

impl<S: Connected> Connected for Counted<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> S::ConnectInfo {
        self.stream.connect_info()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
