//! The accepted connections, before HTTP/2 sees them.

use std::io;

use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};

/// The connections accepted on `listener`, each with TCP_NODELAY set: Nagle's algorithm
/// would hold each small response back until the client's delayed ACK (~40 ms a call), and
/// tonic only sets it on listeners it binds itself.
pub(super) fn accept(listener: TcpListener) -> impl Stream<Item = io::Result<TcpStream>> {
    TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        })
    })
}
