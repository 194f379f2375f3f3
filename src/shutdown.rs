//! The server-wide stop signal handed to every service, so that long-lived streams (ListPages,
//! Hold, SensorFeed) end with a status when the server stops instead of keeping it alive.

use tokio_util::sync::CancellationToken;

/// A cloneable handle on the server's stop signal.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal; every clone sees it.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the signal fires (at once if it already has).
    pub async fn recv(&self) {
        self.token.cancelled().await
    }

    /// A child token, cancelled with the server or on its own (e.g. per stream).
    pub fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }

    /// The status an open stream ends with when the server stops.
    pub fn status() -> tonic::Status {
        tonic::Status::unavailable("server is shutting down")
    }
}
