//! `Hold`: a lock kept for as long as a stream is open. The server renews the lease, and
//! dropping the [`HoldHandle`] ends the stream, which releases the lock.

use tonic::Code;
use tonic::codec::Streaming;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::lock::{LOCK_DEADLINE_MARGIN, LockOptions, Wait};
use crate::proto::{self, hold_event::Event, lock_service_client::LockServiceClient};
use crate::time::to_proto_duration;

/// Lease, wait and owner of a hold: the same settings as a lock.
pub type HoldOptions = LockOptions;

/// A lock held by an open `Hold` stream. Dropping the handle cancels the stream and the server
/// releases the lock at once; [`release`](Self::release) does the same and waits for it.
#[derive(Debug)]
pub struct HoldHandle {
    name: String,
    grant: proto::AcquireLockResponse,
    events: Streaming<proto::HoldEvent>,
    client: LockServiceClient<crate::security::Transport>,
    address: std::sync::Arc<str>,
    lost: Option<String>,
}

impl HoldHandle {
    /// The grant the server sent first (token, fencing token, first lease expiry).
    pub fn acquired(&self) -> &proto::AcquireLockResponse {
        &self.grant
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The grant's fencing token, for the guarded resource to reject stale holders.
    pub fn fencing_token(&self) -> u64 {
        self.grant.fencing_token
    }

    /// Completes when the lock is lost, with the reason: the server's `lost` event (its lease
    /// could not be renewed), the stream ending, or the connection failing. Cancel-safe, so it
    /// can sit in a `select!` next to the work the lock protects; once lost, it returns at once.
    pub async fn lost(&mut self) -> String {
        if let Some(reason) = &self.lost {
            return reason.clone();
        }
        let reason = loop {
            match self.events.message().await {
                Ok(Some(proto::HoldEvent {
                    event: Some(Event::Lost(lost)),
                })) => break lost.reason,
                // A repeated grant carries nothing new for a holder; keep waiting.
                Ok(Some(_)) => continue,
                Ok(None) => break "the server ended the hold stream".to_string(),
                Err(status) => break Error::from(status).to_string(),
            }
        };
        self.lost = Some(reason.clone());
        reason
    }

    /// Releases the lock and waits for the server to confirm it; `false` when it was no longer
    /// held. The stream is cancelled either way.
    pub async fn release(mut self) -> Result<bool> {
        let response = self
            .client
            .release(proto::ReleaseRequest {
                name: self.name.clone(),
                token: self.grant.token.clone(),
            })
            .await
            .map_err(|s| Error::from(s).at(&self.address))?;
        Ok(response.into_inner().released)
    }
}

impl Client {
    /// Takes lock `name` and keeps it while the returned handle lives, however long that is:
    /// the server renews the lease every ttl/3. The wait is as for [`lock`](Self::lock)
    /// (unset: until granted); not getting it in time is an error for which
    /// [`Error::is_not_acquired`] is true.
    pub async fn hold(&self, name: &str, options: HoldOptions) -> Result<HoldHandle> {
        let wait = Wait::new(options.wait);
        loop {
            let (round, last) = wait.next_round();
            if let Some(handle) = self.hold_once(name, &options, round).await? {
                return Ok(handle);
            }
            if last {
                return Err(wait.not_acquired(name));
            }
        }
    }

    /// One Hold stream waiting up to `wait` for its grant; `None` when the wait passed.
    async fn hold_once(
        &self,
        name: &str,
        options: &HoldOptions,
        wait: std::time::Duration,
    ) -> Result<Option<HoldHandle>> {
        let mut client = self.lock.clone();
        let request = proto::HoldRequest {
            name: name.to_string(),
            ttl: options.ttl.map(to_proto_duration),
            wait_timeout: Some(to_proto_duration(wait)),
            owner: options.owner.clone(),
            limit: options.limit,
            mode: options.mode.into(),
            permits: options.permits,
        };
        // The stream itself has no deadline (it lives as long as the hold); only getting the
        // first event is bounded, like one AcquireLock call.
        let deadline = wait.saturating_add(LOCK_DEADLINE_MARGIN);
        let first = async {
            let mut events = client.hold(request).await?.into_inner();
            let event = events.message().await?;
            Ok::<_, tonic::Status>((events, event))
        };
        let (events, event) = tokio::time::timeout(deadline, first)
            .await
            .map_err(|_| {
                Error::new(
                    Code::DeadlineExceeded,
                    format!("no answer to Hold({name:?}) within {deadline:?}"),
                )
            })?
            .map_err(|s| self.error(s))?;
        match event.and_then(|e| e.event) {
            Some(Event::Acquired(grant)) if grant.acquired => Ok(Some(HoldHandle {
                name: name.to_string(),
                grant,
                events,
                client,
                address: self.address.clone(),
                lost: None,
            })),
            Some(Event::Acquired(_)) => Ok(None),
            Some(Event::Lost(lost)) => Err(Error::new(
                Code::Aborted,
                format!(
                    "lock {name:?} was lost before it was granted: {}",
                    lost.reason
                ),
            )),
            None => Err(Error::new(
                Code::Unavailable,
                format!("the server ended Hold({name:?}) without a grant"),
            )
            .at(&self.address)),
        }
    }
}
