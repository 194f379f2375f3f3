//! Each service's limit on one request message, checked on the 5-byte gRPC prefix that
//! announces the message's length (by [`super::budget`], which reads that framing anyway), so
//! a message over its limit is refused before any of it is buffered, with RESOURCE_EXHAUSTED
//! naming the flag and both sizes. tonic's own decode limit stays set to the same figure as a
//! backstop, but it answers OUT_OF_RANGE ("decoded message length too large") and names no
//! flag; grpc-go and grpc-java answer RESOURCE_EXHAUSTED for a message over the receive
//! limit, and so does the contract for every limit.

use std::collections::HashMap;
use std::sync::Arc;

use tonic::Status;
use tonic::server::NamedService;

/// One service's limit and the flag that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MessageLimit {
    /// Largest request message, in bytes.
    bytes: usize,
    /// The flag whose value decides it.
    flag: &'static str,
    /// The flag's value, when the limit adds room to it (FetchService: the request body cap
    /// plus an envelope for the other fields).
    flag_bytes: usize,
}

impl MessageLimit {
    /// A limit that is the flag's value.
    pub(super) fn flag(flag: &'static str, bytes: usize) -> Self {
        Self {
            bytes,
            flag,
            flag_bytes: bytes,
        }
    }

    /// A limit of `bytes`, derived from the flag's `flag_bytes`.
    pub(super) fn derived(flag: &'static str, flag_bytes: usize, bytes: usize) -> Self {
        Self {
            bytes,
            flag,
            flag_bytes,
        }
    }

    /// Refuses a message announced as `len` bytes if it is over the limit.
    pub(super) fn check(&self, len: usize) -> Result<(), Status> {
        if len <= self.bytes {
            return Ok(());
        }
        let Self {
            bytes,
            flag,
            flag_bytes,
        } = *self;
        Err(Status::resource_exhausted(if bytes == flag_bytes {
            format!("request message of {len} bytes is over {flag} ({bytes})")
        } else {
            format!(
                "request message of {len} bytes is over {bytes} bytes ({flag} ({flag_bytes}) \
                 plus {} for the request's other fields)",
                bytes - flag_bytes
            )
        }))
    }
}

/// The limits by gRPC service name (`package.Service`, the first segment of a call's path).
#[derive(Clone, Debug, Default)]
pub(super) struct MessageLimits {
    by_service: Arc<HashMap<&'static str, MessageLimit>>,
}

impl MessageLimits {
    /// The limits with `service`'s added, named as the router serves it (so the table
    /// cannot drift from the services actually added).
    pub(super) fn with<S: NamedService>(mut self, _service: &S, limit: MessageLimit) -> Self {
        Arc::make_mut(&mut self.by_service).insert(S::NAME, limit);
        self
    }

    /// The limit of the service a call to `path` (`/package.Service/Method`) reaches; `None`
    /// for a path no service serves (the router answers UNIMPLEMENTED without reading it).
    pub(super) fn for_path(&self, path: &str) -> Option<MessageLimit> {
        let service = path.strip_prefix('/')?.split('/').next()?;
        self.by_service.get(service).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Locks;
    impl NamedService for Locks {
        const NAME: &'static str = "streamgate.v1.LockService";
    }

    #[test]
    fn a_message_over_the_limit_is_resource_exhausted_naming_the_flag_and_both_sizes() {
        let limit = MessageLimit::flag("--control-max-message-bytes", 65_536);
        assert!(limit.check(65_536).is_ok());
        let e = limit.check(70_000).unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            e.message(),
            "request message of 70000 bytes is over --control-max-message-bytes (65536)"
        );
        let fetch = MessageLimit::derived("--fetch-max-request-bytes", 1_000, 1_256);
        let e = fetch.check(2_000).unwrap_err();
        assert_eq!(
            e.message(),
            "request message of 2000 bytes is over 1256 bytes (--fetch-max-request-bytes (1000) \
             plus 256 for the request's other fields)"
        );
    }

    #[test]
    fn limits_are_found_by_the_service_segment_of_the_path() {
        let limit = MessageLimit::flag("--control-max-message-bytes", 10);
        let limits = MessageLimits::default().with(&Locks, limit);
        assert_eq!(
            limits.for_path("/streamgate.v1.LockService/AcquireLock"),
            Some(limit)
        );
        assert_eq!(limits.for_path("/streamgate.v1.Other/AcquireLock"), None);
        assert_eq!(limits.for_path("streamgate.v1.LockService/X"), None);
    }
}
