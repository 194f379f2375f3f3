//! The lock domain's one error enum, and the single place it becomes a gRPC status, so the
//! README's status table can be read from one `match`.

use tonic::Status;

use super::claim::LockKind;
use crate::rpc::FieldError;
use crate::shutdown::Shutdown;

/// Everything that can go wrong in a lock call.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The request is malformed; the [`FieldError`] names the offending field.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// Too many callers are already queued on this lock name.
    #[error("lock {name:?} already has {limit} waiters queued")]
    TooManyWaiters {
        /// The lock.
        name: String,
        /// The server's `--lock-max-waiters`.
        limit: usize,
    },
    /// The in-process lock table already tracks its limit of names (held or waited on).
    #[error(
        "the server already tracks {limit} lock names (held or waited on), its --lock-max-names; \
         retry once some are released"
    )]
    TooManyNames {
        /// The server's `--lock-max-names`.
        limit: usize,
    },
    /// The name is in use as another kind (or with another limit) than the request asks.
    #[error("lock {name:?} is {held} while held or awaited; this request asks for {asked}")]
    KindMismatch {
        /// The lock.
        name: String,
        /// What the name is now.
        held: LockKind,
        /// What the request asked for.
        asked: LockKind,
    },
    /// The backend (Redis) cannot be reached or did not answer in time.
    #[error("lock backend unavailable: {0}")]
    Unavailable(String),
    /// The server is stopping; the call ends without a grant.
    #[error("server is shutting down")]
    ShuttingDown,
    /// The backend answered something this server does not understand (a bug, or a foreign
    /// writer under our key prefix).
    #[error("lock backend answered unexpectedly: {0}")]
    Backend(String),
}

impl LockError {
    /// An `InvalidArgument` naming `field`.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument(FieldError::new(field, reason))
    }
}

impl From<LockError> for Status {
    fn from(err: LockError) -> Self {
        match err {
            LockError::InvalidArgument(_) => Status::invalid_argument(err.to_string()),
            LockError::TooManyWaiters { .. } | LockError::TooManyNames { .. } => {
                Status::resource_exhausted(err.to_string())
            }
            LockError::KindMismatch { .. } => Status::failed_precondition(err.to_string()),
            LockError::Unavailable(_) => Status::unavailable(err.to_string()),
            LockError::ShuttingDown => Shutdown::status(),
            LockError::Backend(_) => Status::internal(err.to_string()),
        }
    }
}
