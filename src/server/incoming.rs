//! The accepted connections, before HTTP/2 sees them: TCP_NODELAY, and the cap on
//! connections served at once (`--max-connections`).
//!
//! A connection accepted while the cap is reached is closed at once rather than left in the
//! listen backlog: the client learns immediately that it was turned away (its call fails with
//! UNAVAILABLE, which clients retry) instead of hanging until its own connect timeout, and the
//! accept loop keeps draining the backlog so the kernel never starts dropping SYNs for
//! connections that would fit a moment later.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The connections accepted on `listener`, each with TCP_NODELAY set (Nagle's algorithm
/// would hold each small response back until the client's delayed ACK, ~40 ms a call, and
/// tonic only sets it on listeners it binds itself), at most `max` at once.
pub(super) fn accept(listener: TcpListener, max: usize) -> impl Stream<Item = io::Result<Counted>> {
    let slots = Arc::new(Semaphore::new(max));
    TcpListenerStream::new(listener).filter_map(move |conn| {
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => return Some(Err(e)),
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Dropping the stream closes it: see the module doc for why not to wait.
            tracing::debug!(
                peer = ?stream.peer_addr().ok(),
                "closing a connection: --max-connections ({max}) reached"
            );
            return None;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        Some(Ok(Counted {
            stream,
            _slot: permit,
        }))
    })
}

/// An accepted connection holding one of the `--max-connections` slots until it is dropped
/// (when HTTP/2 is done with it).
pub(super) struct Counted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl Connected for Counted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
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
