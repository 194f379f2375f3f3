//! Locks as guards: [`Client::lock`] returns a [`LockGuard`] that releases the lock on
//! [`LockGuard::release`], or in the background when it is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::proto::{self, lock_service_client::LockServiceClient};
use crate::time::{from_proto_timestamp, to_proto_duration};

/// Longest wait one AcquireLock or Hold call asks of the server; longer and unbounded waits
/// are rounds of it, so a request never exceeds the server's `--lock-max-wait`
/// (docs/clients.md, "Locks").
pub(crate) const WAIT_FOREVER_CHUNK: Duration = Duration::from_secs(60);

/// Extra time the gRPC deadline of one wait call gets on top of its wait, so that the server's
/// `acquired = false` at the end of the wait arrives, while a server that hangs cannot hang the
/// caller.
pub(crate) const LOCK_DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// Deadline of the Release sent by a dropped guard: nobody awaits it, so it must end alone.
const RELEASE_DEADLINE: Duration = Duration::from_secs(5);

/// Lease, wait and owner of a lock request. `Default`: the server's lease (10 s); `lock` and
/// `hold` wait until granted, `try_lock` tries once.
#[derive(Clone, Debug, Default)]
pub struct LockOptions {
    pub(crate) ttl: Option<Duration>,
    pub(crate) wait: Option<Duration>,
    pub(crate) owner: String,
    pub(crate) limit: u32,
    pub(crate) mode: proto::LockMode,
    pub(crate) permits: u32,
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

    /// How long to queue for the lock (waiters are served first come, first served); zero
    /// tries once. Unset, `lock` and `hold` wait until granted.
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

    /// Makes the name a semaphore of `limit` permits (at most `limit` grants at once, each
    /// with its own fence); the grant takes one permit unless [`Self::permits`] says more.
    pub fn semaphore(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// How many of a semaphore's permits the grant takes.
    pub fn permits(mut self, permits: u32) -> Self {
        self.permits = permits;
        self
    }

    /// Takes a read share of a read-write lock (with other readers, no writer).
    pub fn read(mut self) -> Self {
        self.mode = proto::LockMode::Shared;
        self
    }

    /// Takes the write side of a read-write lock (alone).
    pub fn write(mut self) -> Self {
        self.mode = proto::LockMode::Exclusive;
        self
    }
}

/// How a lock call waits: rounds of at most [`WAIT_FOREVER_CHUNK`], until granted or, for a
/// bounded wait, until it is spent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    Forever,
    Until { end: Instant, total: Duration },
}

impl Wait {
    pub(crate) fn new(wait: Option<Duration>) -> Self {
        match wait {
            None => Self::Forever,
            Some(total) => Self::Until {
                end: Instant::now() + total,
                total,
            },
        }
    }

    /// The wait of the next round, and whether it is the last one.
    pub(crate) fn next_round(&self) -> (Duration, bool) {
        match self {
            Self::Forever => (WAIT_FOREVER_CHUNK, false),
            Self::Until { end, .. } => {
                let remaining = end.saturating_duration_since(Instant::now());
                (
                    remaining.min(WAIT_FOREVER_CHUNK),
                    remaining <= WAIT_FOREVER_CHUNK,
                )
            }
        }
    }

    /// The error of a wait that passed without a grant.
    pub(crate) fn not_acquired(&self, name: &str) -> Error {
        match self {
            Self::Forever => Error::not_acquired(name, Duration::MAX),
            Self::Until { total, .. } => Error::not_acquired(name, *total),
        }
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
    client: LockServiceClient<crate::security::Transport>,
    address: Arc<str>,
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
            .await
            .map_err(|s| Error::from(s).at(&self.address))?
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
            .await
            .map_err(|s| Error::from(s).at(&self.address))?;
        Ok(response.into_inner().released)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Not owned by anyone on purpose: the guard is gone, and the task ends on its own
        // within RELEASE_DEADLINE. Without a runtime the lease expires by itself.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut client = self.client.clone();
            let mut request = tonic::Request::new(proto::ReleaseRequest {
                name: std::mem::take(&mut self.name),
                token: std::mem::take(&mut self.token),
            });
            request.set_timeout(RELEASE_DEADLINE);
            runtime.spawn(async move {
                let _ = client.release(request).await;
            });
        }
    }
}

impl Client {
    /// Takes lock `name`, queueing up to the options' wait (unset: until granted, in rounds of
    /// 60 s). Not getting it in time is an [`Error`] with code `ABORTED` for which
    /// [`Error::is_not_acquired`] is true.
    pub async fn lock(&self, name: &str, options: LockOptions) -> Result<LockGuard> {
        let wait = Wait::new(options.wait);
        self.acquire(name, &options, wait)
            .await?
            .ok_or_else(|| wait.not_acquired(name))
    }

    /// Like [`lock`](Self::lock), but not getting the lock in time is `Ok(None)`, and an
    /// unset wait tries once.
    pub async fn try_lock(&self, name: &str, options: LockOptions) -> Result<Option<LockGuard>> {
        let wait = Wait::new(Some(options.wait.unwrap_or(Duration::ZERO)));
        self.acquire(name, &options, wait).await
    }

    async fn acquire(
        &self,
        name: &str,
        options: &LockOptions,
        wait: Wait,
    ) -> Result<Option<LockGuard>> {
        loop {
            let (round, last) = wait.next_round();
            if let Some(guard) = self.acquire_once(name, options, round).await? {
                return Ok(Some(guard));
            }
            if last {
                return Ok(None);
            }
        }
    }

    /// One AcquireLock call waiting up to `wait`, with a deadline `LOCK_DEADLINE_MARGIN` later.
    async fn acquire_once(
        &self,
        name: &str,
        options: &LockOptions,
        wait: Duration,
    ) -> Result<Option<LockGuard>> {
        let mut request = tonic::Request::new(proto::AcquireLockRequest {
            name: name.to_string(),
            ttl: options.ttl.map(to_proto_duration),
            wait_timeout: Some(to_proto_duration(wait)),
            owner: options.owner.clone(),
            limit: options.limit,
            mode: options.mode.into(),
            permits: options.permits,
        });
        request.set_timeout(wait.saturating_add(LOCK_DEADLINE_MARGIN));
        let mut client = self.lock.clone();
        let grant = client
            .acquire_lock(request)
            .await
            .map_err(|s| self.error(s))?
            .into_inner();
        if !grant.acquired {
            return Ok(None);
        }
        Ok(Some(LockGuard {
            name: name.to_string(),
            token: grant.token,
            fencing_token: grant.fencing_token,
            expires_at: grant.expires_at.as_ref().map(from_proto_timestamp),
            client,
            address: self.address.clone(),
            released: false,
        }))
    }
}
