//! The accepted connections, before HTTP/2 sees them: plain TCP, or TLS handshaken here
//! with the material current at accept time (so a reload reaches new connections only).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};

use crate::edge::TlsStore;

/// Handshakes in progress at once; past it, accepting waits for one to end, so a flood of
/// connections that never finish their handshake holds at most this many sockets.
const MAX_PENDING_HANDSHAKES: usize = 256;

/// Pause after a failed accept (e.g. out of file descriptors) before the next, so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The connections accepted on `listener`, each with TCP_NODELAY set: Nagle's algorithm
/// would hold each small response back until the client's delayed ACK (~40 ms a call), and
/// tonic only sets it on listeners it binds itself.
pub(super) fn accept(listener: TcpListener) -> impl Stream<Item = io::Result<TcpStream>> {
    TcpListenerStream::new(listener).map(|conn| conn.inspect(set_nodelay))
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
) -> impl Stream<Item = io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(MAX_PENDING_HANDSHAKES);
    // Owned by the channel: the task ends once the server drops the stream.
    tokio::spawn(handshake_loop(listener, tls, handshake_timeout, tx));
    ReceiverStream::new(rx).map(Ok)
}

async fn handshake_loop(
    listener: TcpListener,
    tls: Arc<TlsStore>,
    handshake_timeout: Duration,
    tx: mpsc::Sender<TlsStream<TcpStream>>,
) {
    let mut handshakes: JoinSet<(SocketAddr, io::Result<TlsStream<TcpStream>>)> = JoinSet::new();
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            accepted = listener.accept(), if handshakes.len() < MAX_PENDING_HANDSHAKES => {
                match accepted {
                    Ok((stream, peer)) => {
                        set_nodelay(&stream);
                        let acceptor = tls.acceptor();
                        handshakes.spawn(async move {
                            let done = tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                                .await
                                .unwrap_or_else(|_| Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    format!("no complete handshake within {handshake_timeout:?}"),
                                )));
                            (peer, done)
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
