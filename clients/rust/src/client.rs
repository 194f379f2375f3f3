//! [`Client`]: one HTTP/2 channel to a streamgate server shared by the three services.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::address::{self, Address};
use crate::error::{Error, Result};
use crate::proto::fetch_service_client::FetchServiceClient;
use crate::proto::lock_service_client::LockServiceClient;
use crate::proto::sensor_service_client::SensorServiceClient;

/// How long establishing the TCP (and TLS) connection may take before a call fails with
/// `UNAVAILABLE`: an address that drops packets must not hang a call that has no deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to a streamgate server.
///
/// Cheap to clone: every clone multiplexes its calls over the same HTTP/2 connection.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) fetch: FetchServiceClient<Channel>,
    pub(crate) lock: LockServiceClient<Channel>,
    pub(crate) sensor: SensorServiceClient<Channel>,
    /// `host:port` of the server, named in every `UNAVAILABLE` error ("" for `from_channel`).
    pub(crate) address: Arc<str>,
}

impl Client {
    /// Connects to `address` (`HOST:PORT`, `http://HOST:PORT` or `https://HOST:PORT`) and
    /// fails at once with `UNAVAILABLE` naming the address when nothing answers there. A
    /// malformed address is `INVALID_ARGUMENT`.
    pub async fn connect(address: impl AsRef<str>) -> Result<Self> {
        let parsed = address::parse(address.as_ref())?;
        let channel = endpoint(&parsed)?
            .connect()
            .await
            .map_err(|e| Error::from(e).at(&parsed.authority))?;
        Ok(Self::with_address(channel, &parsed.authority))
    }

    /// A client whose channel connects on its first call (and reconnects after failures):
    /// building it never blocks, and a dead address makes the first call fail with
    /// `UNAVAILABLE` naming it. A malformed address is `INVALID_ARGUMENT` here.
    pub fn connect_lazy(address: impl AsRef<str>) -> Result<Self> {
        let parsed = address::parse(address.as_ref())?;
        Ok(Self::with_address(
            endpoint(&parsed)?.connect_lazy(),
            &parsed.authority,
        ))
    }

    /// Wraps a channel the caller configured (TLS, timeouts, interceptors...).
    pub fn from_channel(channel: Channel) -> Self {
        Self::with_address(channel, "")
    }

    fn with_address(channel: Channel, address: &str) -> Self {
        Self {
            fetch: FetchServiceClient::new(channel.clone()),
            lock: LockServiceClient::new(channel.clone()),
            sensor: SensorServiceClient::new(channel),
            address: Arc::from(address),
        }
    }

    /// The server's `host:port` ("" for a client made by [`from_channel`](Self::from_channel)).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A failed call's status as this client's error, naming the server when unreachable.
    pub(crate) fn error(&self, status: tonic::Status) -> Error {
        Error::from(status).at(&self.address)
    }

    /// The generated FetchService client, for fields the typed layer does not cover.
    pub fn fetch_service(&self) -> FetchServiceClient<Channel> {
        self.fetch.clone()
    }

    /// The generated LockService client (Extend, raw AcquireLock...).
    pub fn lock_service(&self) -> LockServiceClient<Channel> {
        self.lock.clone()
    }

    /// The generated SensorService client.
    pub fn sensor_service(&self) -> SensorServiceClient<Channel> {
        self.sensor.clone()
    }
}

fn endpoint(address: &Address) -> Result<Endpoint> {
    let invalid = |e: &dyn std::fmt::Display| {
        Error::new(
            tonic::Code::InvalidArgument,
            format!("server address {:?}: {e}", address.authority),
        )
    };
    let endpoint = Endpoint::from_shared(address.uri())
        .map_err(|e| invalid(&e))?
        .connect_timeout(CONNECT_TIMEOUT);
    if address.tls {
        return tls(endpoint).map_err(|e| invalid(&e));
    }
    Ok(endpoint)
}

/// TLS with the system's root certificates, for `https://` addresses.
#[cfg(feature = "tls")]
fn tls(endpoint: Endpoint) -> std::result::Result<Endpoint, tonic::transport::Error> {
    endpoint.tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
}

/// Without the `tls` feature an `https://` address cannot be served.
#[cfg(not(feature = "tls"))]
fn tls(_endpoint: Endpoint) -> std::result::Result<Endpoint, &'static str> {
    Err("https needs the crate's `tls` feature")
}
