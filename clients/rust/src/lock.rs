//! Locks as guards: [`Client::lock`] returns a [`LockGuard`] that releases the lock on
//! [`LockGuard::release`], or in the background when it is dropped.

use std::time::{Duration, SystemTime};

use tonic::transport::Channel;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::proto::{self, lock_service_client::LockServiceClient};
use crate::time::{from_proto_timestamp, to_proto_duration};

/// Extra time the gRPC deadline of AcquireLock gets on top of the wait, so that a server that
/// hangs cannot hang the caller, while a slow grant at the end of the wait still arrives.
const ACQUIRE_DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Deadline of the Release sent by a dropped guard: nobody awaits it, so it must end alone.
const BACKGROUND_RELEASE_DEADLINE: Duration = Duration::from_secs(5);

/// Lease, wait and owner of a lock request. `Default`: the server's lease (10 s), try once.
#[derive(Clone, Debug, Default)]
pub struct LockOptions {
    pub(crate) ttl: Option<Duration>,
    pub(crate) wait: Option<Duration>,
    pub(crate) owner: String,
}

impl LockOptions {
    /// The server's lease, no wait.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lease length; the lock expires this long after the grant unless extended.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How long to queue for the lock (waiters are served first come, first served).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// `wait(Duration::from_secs(secs))`.
    pub fn wait_secs(self, secs: u64) -> Self {
        self.wait(Duration::from_secs(secs))
    }

    /// Free text the server shows in diagnostics (who holds this?).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// The gRPC deadline that covers the whole wait.
    pub(crate) fn deadline(&self) -> Duration {
        self.wait
            .unwrap_or(Duration::ZERO)
            .saturating_add(ACQUIRE_DEADLINE_MARGIN)
    }
}

/// A held lock. Release it with [`release`](Self::release); a guard that is dropped instead
/// releases the lock in the background (on the current tokio runtime, never blocking), and if
/// there is no runtime the lease simply runs out.
#[derive(Debug)]
pub struct LockGuard {
    name: String,
    token: String,
    fencing_token: u64,
    expires_at: Option<SystemTime>,
    client: LockServiceClient<Channel>,
    released: bool,
}

impl LockGuard {
    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Proof of ownership (what Release and Extend need).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Strictly greater than every earlier grant of this name: hand it to the guarded resource
    /// so that it can refuse writes from a holder whose lease ran out.
    pub fn fencing_token(&self) -> u64 {
        self.fencing_token
    }

    /// When the lease runs out unless extended.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Renews the lease to `ttl` from now; `false` when the lock was lost already.
    pub async fn extend(&mut self, ttl: Duration) -> Result<bool> {
        let response = self
            .client
            .extend(proto::ExtendRequest {
                name: self.name.clone(),
                token: self.token.clone(),
                ttl: Some(to_proto_duration(ttl)),
            })
            .await?
            .into_inner();
        if response.extended {
            self.expires_at = response.expires_at.as_ref().map(from_proto_timestamp);
        }
        Ok(response.extended)
    }

    /// Releases the lock; `false` when this guard no longer held it (the lease ran out).
    pub async fn release(mut self) -> Result<bool> {
        self.released = true;
        let response = self
            .client
            .release(proto::ReleaseRequest {
                name: self.name.clone(),
                token: self.token.clone(),
            })
            .await?;
        Ok(response.into_inner().released)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Not owned by anyone on purpose: the guard is gone, and the task ends on its own
        // within BACKGROUND_RELEASE_DEADLINE. Without a runtime the lease expires by itself.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut client = self.client.clone();
            let mut request = tonic::Request::new(proto::ReleaseRequest {
                name: std::mem::take(&mut self.name),
                token: std::mem::take(&mut self.token),
            });
            request.set_timeout(BACKGROUND_RELEASE_DEADLINE);
            runtime.spawn(async move {
                let _ = client.release(request).await;
            });
        }
    }
}

impl Client {
    /// Takes lock `name`, queueing up to the options' wait. Not getting it in time is an
    /// [`Error`] with code `ABORTED` for which [`Error::is_not_acquired`] is true.
    pub async fn lock(&self, name: &str, options: LockOptions) -> Result<LockGuard> {
        self.try_lock(name, options)
            .await?
            .ok_or_else(|| Error::not_acquired(name))
    }

    /// Like [`lock`](Self::lock), but not getting the lock in time is `Ok(None)`.
    pub async fn try_lock(&self, name: &str, options: LockOptions) -> Result<Option<LockGuard>> {
        let mut request = tonic::Request::new(proto::AcquireLockRequest {
            name: name.to_string(),
            ttl: options.ttl.map(to_proto_duration),
            wait_timeout: options.wait.map(to_proto_duration),
            owner: options.owner.clone(),
        });
        request.set_timeout(options.deadline());
        let mut client = self.lock.clone();
        let grant = client.acquire_lock(request).await?.into_inner();
        if !grant.acquired {
            return Ok(None);
        }
        Ok(Some(LockGuard {
            name: name.to_string(),
            token: grant.token,
            fencing_token: grant.fencing_token,
            expires_at: grant.expires_at.as_ref().map(from_proto_timestamp),
            client,
            released: false,
        }))
    }
}
