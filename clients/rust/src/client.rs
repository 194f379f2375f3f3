//! [`Client`]: one HTTP/2 channel to a streamgate server shared by the three services.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::address::{self, Address};
use crate::error::{Error, Result};
use crate::proto::fetch_service_client::FetchServiceClient;
use crate::proto::lock_service_client::LockServiceClient;
use crate::proto::sensor_service_client::SensorServiceClient;
use crate::security::{Bearer, ConnectOptions, Transport};

/// How long establishing the TCP (and TLS) connection may take before a call fails with
/// `UNAVAILABLE`: an address that drops packets must not hang a call that has no deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to a streamgate server.
///
/// Cheap to clone: every clone multiplexes its calls over the same HTTP/2 connection.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) fetch: FetchServiceClient<Transport>,
    pub(crate) lock: LockServiceClient<Transport>,
    pub(crate) sensor: SensorServiceClient<Transport>,
    /// `host:port` of the server, named in every `UNAVAILABLE` error ("" for `from_channel`).
    pub(crate) address: Arc<str>,
}

impl Client {
    /// Connects to `address` (`HOST:PORT`, `http://HOST:PORT` or `https://HOST:PORT`) and
    /// fails at once with `UNAVAILABLE` naming the address when nothing answers there. A
    /// malformed address is `INVALID_ARGUMENT`.
    pub async fn connect(address: impl AsRef<str>) -> Result<Self> {
        Self::connect_with(address, &ConnectOptions::default()).await
    }

    /// [`connect`](Self::connect) with TLS settings and a bearer token (docs/clients.md, "TLS
    /// and tokens"): a CA file or a client certificate turns TLS on as `https://` does, and
    /// the token goes with every call as `authorization: Bearer TOKEN`. A bad option (a lone
    /// cert, an unreadable file, a token bound for a plaintext non-loopback host) is
    /// `INVALID_ARGUMENT` before any traffic.
    pub async fn connect_with(address: impl AsRef<str>, options: &ConnectOptions) -> Result<Self> {
        let parsed = address::parse(address.as_ref())?;
        let bearer = options.bearer(&parsed)?;
        let channel = endpoint(&parsed, options)?
            .connect()
            .await
            .map_err(|e| Error::from(e).at(&parsed.authority))?;
        Ok(Self::with_address(channel, bearer, &parsed.authority))
    }

    /// A client whose channel connects on its first call (and reconnects after failures):
    /// building it never blocks, and a dead address makes the first call fail with
    /// `UNAVAILABLE` naming it. A malformed address is `INVALID_ARGUMENT` here.
    pub fn connect_lazy(address: impl AsRef<str>) -> Result<Self> {
        Self::connect_lazy_with(address, &ConnectOptions::default())
    }

    /// [`connect_lazy`](Self::connect_lazy) with TLS settings and a bearer token, as
    /// [`connect_with`](Self::connect_with).
    pub fn connect_lazy_with(address: impl AsRef<str>, options: &ConnectOptions) -> Result<Self> {
        let parsed = address::parse(address.as_ref())?;
        let bearer = options.bearer(&parsed)?;
        Ok(Self::with_address(
            endpoint(&parsed, options)?.connect_lazy(),
            bearer,
            &parsed.authority,
        ))
    }

    /// Wraps a channel the caller configured (TLS, timeouts, interceptors...).
    pub fn from_channel(channel: Channel) -> Self {
        Self::with_address(channel, Bearer::default(), "")
    }

    fn with_address(channel: Channel, bearer: Bearer, address: &str) -> Self {
        Self {
            fetch: FetchServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            lock: LockServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            sensor: SensorServiceClient::with_interceptor(channel, bearer),
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
    pub fn fetch_service(&self) -> FetchServiceClient<Transport> {
        self.fetch.clone()
    }

    /// The generated LockService client (Extend, raw AcquireLock...).
    pub fn lock_service(&self) -> LockServiceClient<Transport> {
        self.lock.clone()
    }

    /// The generated SensorService client.
    pub fn sensor_service(&self) -> SensorServiceClient<Transport> {
        self.sensor.clone()
    }
}

fn endpoint(address: &Address, options: &ConnectOptions) -> Result<Endpoint> {
    let invalid = |e: &dyn std::fmt::Display| {
        Error::new(
            tonic::Code::InvalidArgument,
            format!("server address {:?}: {e}", address.authority),
        )
    };
    let uri = if options.tls(address) {
        format!("https://{}", address.authority)
    } else {
        address.uri()
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| invalid(&e))?
        .connect_timeout(CONNECT_TIMEOUT);
    tls(endpoint, address, options)
}

/// TLS as the address and options ask: the CA file or the system's roots, a client identity.
#[cfg(feature = "tls")]
fn tls(endpoint: Endpoint, address: &Address, options: &ConnectOptions) -> Result<Endpoint> {
    match options.tls_config(address)? {
        None => Ok(endpoint),
        Some(config) => endpoint.tls_config(config).map_err(|e| {
            Error::new(
                tonic::Code::InvalidArgument,
                format!("TLS settings for {:?}: {e}", address.authority),
            )
        }),
    }
}

/// Without the `tls` feature neither `https://` nor TLS options can be served.
#[cfg(not(feature = "tls"))]
fn tls(endpoint: Endpoint, address: &Address, options: &ConnectOptions) -> Result<Endpoint> {
    if options.tls(address) {
        return Err(Error::new(
            tonic::Code::InvalidArgument,
            format!(
                "server address {:?}: TLS needs the crate's `tls` feature",
                address.authority
            ),
        ));
    }
    Ok(endpoint)
}
