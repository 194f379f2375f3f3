//! What a grant takes of its name: the whole name (a mutex), some permits of a semaphore, or
//! one side of a read-write lock. Validated once from the request's `limit`, `mode` and
//! `permits`; the backends only ever see a [`Claim`] that makes sense.

use std::fmt;

use crate::rpc::FieldError;

/// Largest semaphore `limit`. Far above any sensible count of concurrent holders, and small
/// enough that permit sums stay exact in Redis Lua (doubles, exact below 2^53).
pub(crate) const MAX_LIMIT: u32 = 1_000_000;

/// The weight of a read-write lock's write side, and that lock's capacity: a writer takes
/// all of it, a reader one unit, so "fits in what is free" is the one admission rule for
/// semaphores and read-write locks alike. Above any count of simultaneous readers.
pub(crate) const RW_CAPACITY: u64 = 1 << 31;

/// The side of a read-write lock a request names (the protobuf `LockMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Not a read-write lock: a mutex, or a semaphore when `limit` > 1.
    Unset,
    /// The write side.
    Exclusive,
    /// A read share.
    Shared,
}

/// What one grant takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The name, alone: today's lock.
    Mutex,
    /// A read share of a read-write lock.
    Read,
    /// The write side of a read-write lock.
    Write,
    /// `permits` of a semaphore of `limit` permits (1 <= permits <= limit, limit >= 2).
    Permits {
        /// The semaphore's size.
        limit: u32,
        /// How many this grant takes.
        permits: u32,
    },
}

/// What a name is while anyone holds or waits on it; fixed until it is idle again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// One holder at a time.
    Mutex,
    /// Readers together or one writer.
    ReadWrite,
    /// Up to this many permits held at once.
    Semaphore(u32),
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mutex => f.write_str("a mutex"),
            Self::ReadWrite => f.write_str("a read-write lock"),
            Self::Semaphore(limit) => write!(f, "a semaphore with limit {limit}"),
        }
    }
}

impl LockKind {
    /// Permits the name has: what grants on it may take in total.
    pub fn capacity(self) -> u64 {
        match self {
            Self::Mutex => 1,
            Self::ReadWrite => RW_CAPACITY,
            Self::Semaphore(limit) => u64::from(limit),
        }
    }

    /// The kind's code in Redis: -1 mutex, 0 read-write lock, N semaphore of N.
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Mutex => -1,
            Self::ReadWrite => 0,
            Self::Semaphore(limit) => i64::from(limit),
        }
    }

    /// The kind a Redis code names (see [`Self::code`]); `None` for a code no kind has.
    pub(crate) fn from_code(code: i64) -> Option<Self> {
        match code {
            -1 => Some(Self::Mutex),
            0 => Some(Self::ReadWrite),
            n => u32::try_from(n)
                .ok()
                .filter(|n| (2..=MAX_LIMIT).contains(n))
                .map(Self::Semaphore),
        }
    }
}

impl Claim {
    /// Validates the request fields; errors name the field at fault.
    pub(crate) fn new(limit: u32, mode: Mode, permits: u32) -> Result<Self, FieldError> {
        if limit > MAX_LIMIT {
            return Err(FieldError::new(
                "limit",
                format!("{limit} is above the largest semaphore, {MAX_LIMIT}"),
            ));
        }
        if mode != Mode::Unset && limit > 1 {
            return Err(FieldError::new(
                "limit",
                format!("a read-write lock (mode set) has no limit; got {limit}"),
            ));
        }
        if permits > limit.max(1) {
            return Err(FieldError::new(
                "permits",
                format!("{permits} is more than the limit {}", limit.max(1)),
            ));
        }
        Ok(match (mode, limit) {
            (Mode::Exclusive, _) => Self::Write,
            (Mode::Shared, _) => Self::Read,
            (Mode::Unset, 0 | 1) => Self::Mutex,
            (Mode::Unset, limit) => Self::Permits {
                limit,
                permits: permits.max(1),
            },
        })
    }

    /// The kind of name this claim is for.
    pub(crate) fn kind(self) -> LockKind {
        match self {
            Self::Mutex => LockKind::Mutex,
            Self::Read | Self::Write => LockKind::ReadWrite,
            Self::Permits { limit, .. } => LockKind::Semaphore(limit),
        }
    }

    /// How much of the name's [`LockKind::capacity`] a grant of this claim takes.
    pub(crate) fn weight(self) -> u64 {
        match self {
            Self::Mutex => 1,
            Self::Read => 1,
            Self::Write => RW_CAPACITY,
            Self::Permits { permits, .. } => u64::from(permits),
        }
    }

    /// Whether this claim is a read-write lock's write side (ends a write phase when it goes).
    pub(crate) fn is_writer(self) -> bool {
        self == Self::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_are_todays_mutex() {
        assert_eq!(Claim::new(0, Mode::Unset, 0).unwrap(), Claim::Mutex);
        assert_eq!(Claim::new(1, Mode::Unset, 1).unwrap(), Claim::Mutex);
    }

    #[test]
    fn limits_and_modes_make_semaphores_and_read_write_locks() {
        assert_eq!(
            Claim::new(5, Mode::Unset, 0).unwrap(),
            Claim::Permits {
                limit: 5,
                permits: 1
            }
        );
        assert_eq!(Claim::new(0, Mode::Shared, 0).unwrap(), Claim::Read);
        assert_eq!(Claim::new(1, Mode::Exclusive, 0).unwrap(), Claim::Write);
        assert_eq!(Claim::new(5, Mode::Unset, 3).unwrap().weight(), 3);
        assert_eq!(Claim::Write.weight(), LockKind::ReadWrite.capacity());
    }

    #[test]
    fn nonsense_is_refused_naming_the_field() {
        let field = |r: Result<Claim, FieldError>| r.unwrap_err().to_string();
        assert!(field(Claim::new(5, Mode::Unset, 6)).starts_with("permits"));
        assert!(field(Claim::new(0, Mode::Unset, 2)).starts_with("permits"));
        assert!(field(Claim::new(3, Mode::Shared, 0)).starts_with("limit"));
        assert!(field(Claim::new(MAX_LIMIT + 1, Mode::Unset, 0)).starts_with("limit"));
    }

    #[test]
    fn kinds_round_trip_through_their_redis_code_and_read_well() {
        for kind in [
            LockKind::Mutex,
            LockKind::ReadWrite,
            LockKind::Semaphore(2),
            LockKind::Semaphore(MAX_LIMIT),
        ] {
            assert_eq!(LockKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(LockKind::from_code(1), None);
        assert_eq!(
            LockKind::Semaphore(5).to_string(),
            "a semaphore with limit 5"
        );
    }
}
