//! [`Client`]: one HTTP/2 channel to a streamgate server shared by the three services.

use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result};
use crate::proto::fetch_service_client::FetchServiceClient;
use crate::proto::lock_service_client::LockServiceClient;
use crate::proto::sensor_service_client::SensorServiceClient;

/// A connection to a streamgate server.
///
/// Cheap to clone: every clone multiplexes its calls over the same HTTP/2 connection, the way
/// the seed's pool shared one `aiohttp` session.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) fetch: FetchServiceClient<Channel>,
    pub(crate) lock: LockServiceClient<Channel>,
    pub(crate) sensor: SensorServiceClient<Channel>,
}

impl Client {
    /// Connects to `url` (`http://HOST:PORT`) and fails at once with `UNAVAILABLE` when
    /// nothing answers there, rather than on the first call.
    pub async fn connect(url: impl Into<String>) -> Result<Self> {
        let channel = endpoint(url.into())?.connect().await?;
        Ok(Self::from_channel(channel))
    }

    /// A client whose channel connects on its first call (and reconnects after failures).
    pub fn connect_lazy(url: impl Into<String>) -> Result<Self> {
        Ok(Self::from_channel(endpoint(url.into())?.connect_lazy()))
    }

    /// Wraps a channel the caller configured (TLS, timeouts, interceptors...).
    pub fn from_channel(channel: Channel) -> Self {
        Self {
            fetch: FetchServiceClient::new(channel.clone()),
            lock: LockServiceClient::new(channel.clone()),
            sensor: SensorServiceClient::new(channel),
        }
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

fn endpoint(url: String) -> Result<Endpoint> {
    Endpoint::from_shared(url.clone()).map_err(|e| {
        Error::new(
            Code::InvalidArgument,
            format!("server url {url:?} is not a valid URI: {e}"),
        )
    })
}
