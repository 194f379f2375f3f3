//! The lock domain's validated types. A request is turned into these once, at the service
//! boundary; past that point nothing re-checks a name's length or a lease's bounds.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::config::LockSettings;

use super::claim::Claim;
use super::error::LockError;

/// Longest lock name, in bytes: long enough for any path-like key, short enough that a
/// client cannot make Redis keys (prefix + name + suffix) grow without bound.
pub(crate) const MAX_NAME_BYTES: usize = 256;

/// Longest token accepted by Release and Extend. Grants hand out UUIDs (36 bytes); anything
/// much longer cannot be one of ours, and is refused before it reaches the backend.
pub(crate) const MAX_TOKEN_BYTES: usize = 64;

/// Longest `owner` text, in bytes: it is only logged, so it gets the name's bound and no
/// client can make a log line (or a request held in memory while it queues) grow without one.
pub(crate) const MAX_OWNER_BYTES: usize = 256;

/// The free-text owner of an acquire request: 0 to [`MAX_OWNER_BYTES`] bytes, for
/// diagnostics only. Its `Debug` form is escaped, so that is the one to log: a caller cannot
/// forge log lines with newlines or terminal escapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockOwner(String);

impl LockOwner {
    /// Validates `owner`; the error names the field `owner`.
    pub(crate) fn new(owner: impl Into<String>) -> Result<Self, LockError> {
        let owner = owner.into();
        if owner.len() > MAX_OWNER_BYTES {
            return Err(LockError::invalid(
                "owner",
                format!(
                    "is {} bytes; at most {MAX_OWNER_BYTES} are allowed",
                    owner.len()
                ),
            ));
        }
        Ok(Self(owner))
    }

    /// The owner as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A lock name: 1 to [`MAX_NAME_BYTES`] bytes of UTF-8 without control characters (a name
/// ends up in log lines and Redis keys: a `\n` in one once forged a log line).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct LockName(String);

impl LockName {
    /// Validates `name`; the error names the field `name`.
    pub(crate) fn new(name: impl Into<String>) -> Result<Self, LockError> {
        let name = name.into();
        if name.is_empty() {
            return Err(LockError::invalid("name", "must not be empty"));
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(LockError::invalid(
                "name",
                format!(
                    "is {} bytes; at most {MAX_NAME_BYTES} are allowed",
                    name.len()
                ),
            ));
        }
        if let Some((at, c)) = name.char_indices().find(|(_, c)| c.is_control()) {
            return Err(LockError::invalid(
                "name",
                format!(
                    "has the control character U+{:04X} at byte {at}; names are printable text",
                    u32::from(c)
                ),
            ));
        }
        Ok(Self(name))
    }

    /// The name as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What starts the token of a semaphore or read-write grant.
const PERMITS_TOKEN_PREFIX: &str = "p-";

/// The proof of ownership of one grant: a fresh UUID per grant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LockToken(String);

impl LockToken {
    /// A fresh random token for a new grant (or a queued waiter, whose grant it becomes).
    pub(crate) fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// A fresh token for a semaphore or read-write grant: `p-` and a UUID, so Release and
    /// Extend find such a grant's state without a lookup, and mutex tokens stay plain UUIDs.
    pub(crate) fn generate_for_permits() -> Self {
        Self(format!("{PERMITS_TOKEN_PREFIX}{}", uuid::Uuid::new_v4()))
    }

    /// Whether this token names a semaphore or read-write grant (see
    /// [`Self::generate_for_permits`]).
    pub(crate) fn is_for_permits(&self) -> bool {
        self.0.starts_with(PERMITS_TOKEN_PREFIX)
    }

    /// Validates a token a client sent back; the error names the field `token`.
    pub(crate) fn parse(token: impl Into<String>) -> Result<Self, LockError> {
        let token = token.into();
        if token.is_empty() {
            return Err(LockError::invalid("token", "must not be empty"));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(LockError::invalid(
                "token",
                format!("is longer than {MAX_TOKEN_BYTES} bytes; it is not a grant's token"),
            ));
        }
        Ok(Self(token))
    }

    /// The token's text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The lease and wait bounds of [`LockSettings`], checked on every request against the
/// settings themselves (no copy of them to drift).
pub(crate) trait LeaseBounds {
    /// Validates a lease; `None` means the default. `field` names it in the error.
    fn ttl(&self, field: &'static str, ttl: Option<Duration>) -> Result<Ttl, LockError>;
    /// Validates a wait; `None` or zero means "try once".
    fn wait(&self, field: &'static str, wait: Option<Duration>) -> Result<Duration, LockError>;
}

impl LeaseBounds for LockSettings {
    fn ttl(&self, field: &'static str, ttl: Option<Duration>) -> Result<Ttl, LockError> {
        let Some(ttl) = ttl else {
            return Ok(Ttl(self.default_ttl));
        };
        if ttl < self.min_ttl || ttl > self.max_ttl {
            return Err(LockError::invalid(
                field,
                format!(
                    "{} is outside {}..={}",
                    humantime::format_duration(ttl),
                    humantime::format_duration(self.min_ttl),
                    humantime::format_duration(self.max_ttl)
                ),
            ));
        }
        Ok(Ttl(ttl))
    }

    fn wait(&self, field: &'static str, wait: Option<Duration>) -> Result<Duration, LockError> {
        let wait = wait.unwrap_or_default();
        if wait > self.max_wait {
            return Err(LockError::invalid(
                field,
                format!(
                    "{} is longer than the server's limit {}",
                    humantime::format_duration(wait),
                    humantime::format_duration(self.max_wait)
                ),
            ));
        }
        Ok(wait)
    }
}

/// A lease length within the server's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ttl(Duration);

impl Ttl {
    /// A lease of `d`, unchecked, for tests of what holds one.
    #[cfg(test)]
    pub(crate) fn unchecked(d: Duration) -> Self {
        Self(d)
    }

    /// The lease as a duration.
    pub(crate) fn get(self) -> Duration {
        self.0
    }

    /// The lease in whole milliseconds (at least 1), as Redis `PX` wants it.
    pub(crate) fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

/// One validated acquire request.
#[derive(Clone, Debug)]
pub(crate) struct AcquireRequest {
    /// The lock.
    pub name: LockName,
    /// The lease the grant gets.
    pub ttl: Ttl,
    /// How long to queue; zero = try once.
    pub wait: Duration,
    /// Free text for diagnostics (logged escaped, never interpreted).
    pub owner: LockOwner,
    /// What the grant takes: the name (a mutex), permits, or a side of a read-write lock.
    pub claim: Claim,
}

/// A granted lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    /// Proof of ownership for Release and Extend.
    pub token: LockToken,
    /// Strictly greater than every earlier grant of the same name.
    pub fence: u64,
    /// When the lease ends unless extended (wall clock of this server).
    pub expires_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded defaults: leases of 10 ms..=1 h (10 s by default), waits up to 1 h.
    fn limits() -> LockSettings {
        crate::config::Config::for_tests()
            .settings()
            .expect("the test settings are valid")
            .lock
    }

    #[test]
    fn empty_and_oversized_names_are_refused_naming_the_field() {
        assert!(LockName::new("").unwrap_err().to_string().contains("name"));
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(
            LockName::new(long)
                .unwrap_err()
                .to_string()
                .contains("name")
        );
        assert!(LockName::new("x".repeat(MAX_NAME_BYTES)).is_ok());
    }

    #[test]
    fn names_with_control_characters_are_refused_naming_the_field() {
        for bad in [
            "a\nb",
            "a\rb",
            "\u{1b}[2J",
            "tab\there",
            "nul\0",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            let err = LockName::new(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("name: ") && err.contains("control character"),
                "{bad:?}: {err}"
            );
        }
        assert!(LockName::new("billing/ünïcode ok").is_ok());
    }

    #[test]
    fn oversized_owners_are_refused_naming_the_field_and_empty_ones_accepted() {
        let err = LockOwner::new("o".repeat(MAX_OWNER_BYTES + 1)).unwrap_err();
        assert!(err.to_string().starts_with("owner"), "{err}");
        assert!(LockOwner::new("o".repeat(MAX_OWNER_BYTES)).is_ok());
        assert!(LockOwner::new("").is_ok());
    }

    #[test]
    fn owners_log_escaped() {
        let owner = LockOwner::new("evil\n2026-01-01 INFO forged\u{1b}[2J").unwrap();
        let logged = format!("{owner:?}");
        assert!(
            !logged.contains('\n') && !logged.contains('\u{1b}'),
            "{logged}"
        );
    }

    #[test]
    fn ttl_defaults_when_unset_and_is_bounded() {
        let l = limits();
        assert_eq!(l.ttl("ttl", None).unwrap().get(), Duration::from_secs(10));
        let err = l.ttl("ttl", Some(Duration::from_millis(1))).unwrap_err();
        assert!(err.to_string().starts_with("ttl"), "{err}");
        assert!(l.ttl("ttl", Some(Duration::from_secs(3601))).is_err());
        assert_eq!(
            l.ttl("ttl", Some(Duration::from_millis(10)))
                .unwrap()
                .as_millis(),
            10
        );
    }

    #[test]
    fn wait_zero_means_try_once_and_is_bounded() {
        let l = limits();
        assert_eq!(l.wait("wait_timeout", None).unwrap(), Duration::ZERO);
        assert!(
            l.wait("wait_timeout", Some(Duration::from_secs(7200)))
                .is_err()
        );
    }

    #[test]
    fn tokens_must_be_non_empty_and_short() {
        assert!(LockToken::parse("").is_err());
        assert!(LockToken::parse("y".repeat(MAX_TOKEN_BYTES + 1)).is_err());
        let t = LockToken::generate();
        assert_eq!(LockToken::parse(t.as_str()).unwrap(), t);
    }
}
