//! The Lua scripts that make each lock operation one atomic step in Redis, the key layout
//! they share, and the parsing of their replies.
//!
//! Every key of one lock lives under one hash tag, `{<prefix><name>}`, so Redis Cluster puts
//! them in one slot and a script may touch them all.

use std::time::Duration;

use redis::{Script, ScriptInvocation};

use super::wakeups::Handed;
use crate::lock::claim::{Claim, LockKind};
use crate::lock::error::LockError;
use crate::lock::types::{LockName, LockToken, Ttl};

const PRELUDE: &str = include_str!("../scripts/prelude.lua");
const PERMITS_PRELUDE: &str = include_str!("../scripts/permits_prelude.lua");

/// How the scripts announce hand-offs: PUBLISH on one server (every server's pattern
/// subscription hears it), SPUBLISH on Redis Cluster (only the slot's node carries it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Announce {
    Publish,
    ShardedPublish,
}

/// The four scripts, loaded once; redis-rs sends EVALSHA and falls back to loading the script
/// when Redis answers NOSCRIPT (after a restart, SCRIPT FLUSH or a failover).
pub(super) struct Scripts {
    acquire: Script,
    release: Script,
    extend: Script,
    leave: Script,
    permits: PermitScripts,
}

/// The semaphore and read-write scripts (permits_*.lua): the same four operations.
struct PermitScripts {
    acquire: Script,
    release: Script,
    extend: Script,
    leave: Script,
}

impl Scripts {
    pub(super) fn new(announce: Announce) -> Self {
        let publish = match announce {
            Announce::Publish => "PUBLISH",
            Announce::ShardedPublish => "SPUBLISH",
        };
        let with_prelude = |body: &str| {
            Script::new(&format!(
                "local PUBLISH_CMD = '{publish}'\n{PRELUDE}\n{body}"
            ))
        };
        let with_preludes = |body: &str| {
            Script::new(&format!(
                "local PUBLISH_CMD = '{publish}'\n{PRELUDE}\n{PERMITS_PRELUDE}\n{body}"
            ))
        };
        Self {
            permits: PermitScripts {
                acquire: with_preludes(include_str!("../scripts/permits_acquire.lua")),
                release: with_preludes(include_str!("../scripts/permits_release.lua")),
                extend: with_preludes(include_str!("../scripts/permits_extend.lua")),
                leave: with_preludes(include_str!("../scripts/permits_leave.lua")),
            },
            acquire: with_prelude(include_str!("../scripts/acquire.lua")),
            release: with_prelude(include_str!("../scripts/release.lua")),
            extend: with_prelude(include_str!("../scripts/extend.lua")),
            leave: with_prelude(include_str!("../scripts/leave.lua")),
        }
    }

    /// Take the lock (or the permits `claim` names), or (when `join`) queue for it /
    /// refresh the queue entry.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn acquire<'a>(
        &'a self,
        keys: &LockKeys,
        token: &LockToken,
        claim: Claim,
        ttl: Ttl,
        join: bool,
        waiter_lease: Duration,
        max_waiters: usize,
    ) -> ScriptInvocation<'a> {
        let script = match claim {
            Claim::Mutex => &self.acquire,
            _ => &self.permits.acquire,
        };
        let mut inv = script.prepare_invoke();
        keys.apply(&mut inv, claim != Claim::Mutex);
        inv.arg(&keys.channel)
            .arg(token.as_str())
            .arg(ttl.as_millis())
            .arg(u8::from(join))
            .arg(millis(waiter_lease))
            .arg(max_waiters);
        if claim != Claim::Mutex {
            inv.arg(claim.kind().code())
                .arg(claim.weight())
                .arg(u8::from(claim.is_writer()));
        }
        inv
    }

    /// Release if `token` holds the lock, handing it to the next waiter. `attempt` names the
    /// Release call: every run of the script for one call (the cluster client re-sending a
    /// command whose answer it lost, or this server retrying it) passes the same one, and
    /// for `remember` a later run answers "released" as the first did (see release.lua).
    pub(super) fn release<'a>(
        &'a self,
        keys: &LockKeys,
        token: &LockToken,
        attempt: &str,
        remember: Duration,
    ) -> ScriptInvocation<'a> {
        let permits = token.is_for_permits();
        let script = if permits {
            &self.permits.release
        } else {
            &self.release
        };
        let mut inv = script.prepare_invoke();
        keys.apply(&mut inv, permits);
        inv.arg(&keys.channel)
            .arg(token.as_str())
            .arg(attempt)
            .arg(millis(remember));
        inv
    }

    /// Renew the lease of `token`'s grant.
    pub(super) fn extend<'a>(
        &'a self,
        keys: &LockKeys,
        token: &LockToken,
        ttl: Ttl,
    ) -> ScriptInvocation<'a> {
        let permits = token.is_for_permits();
        let script = if permits {
            &self.permits.extend
        } else {
            &self.extend
        };
        let mut inv = script.prepare_invoke();
        keys.apply(&mut inv, permits);
        inv.arg(token.as_str()).arg(ttl.as_millis());
        if permits {
            inv.arg(&keys.channel);
        }
        inv
    }

    /// Remove a departed waiter, releasing a grant it may have been handed.
    pub(super) fn leave<'a>(&'a self, keys: &LockKeys, token: &LockToken) -> ScriptInvocation<'a> {
        let permits = token.is_for_permits();
        let script = if permits {
            &self.permits.leave
        } else {
            &self.leave
        };
        let mut inv = script.prepare_invoke();
        keys.apply(&mut inv, permits);
        inv.arg(&keys.channel).arg(token.as_str());
        inv
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The keys and wake-up channel of one lock.
pub(super) struct LockKeys {
    owner: String,
    fence: String,
    queue: String,
    waiters: String,
    released: String,
    /// The semaphore/read-write keys (permits_prelude.lua), in script order.
    permits: [String; 6],
    /// Where hand-offs are announced; the payload is the new holder's token.
    pub(super) channel: String,
}

impl LockKeys {
    pub(super) fn new(prefix: &str, name: &LockName) -> Self {
        let tag = format!("{{{prefix}{name}}}");
        Self {
            owner: format!("{tag}:owner"),
            fence: format!("{tag}:fence"),
            queue: format!("{tag}:queue"),
            waiters: format!("{tag}:waiters"),
            released: format!("{tag}:releases"),
            permits: [
                "pstate",
                "pholders",
                "pgrants",
                "pqueue",
                "pwaiters",
                "preleases",
            ]
            .map(|k| format!("{tag}:{k}")),
            channel: format!("{tag}:wake"),
        }
    }

    /// The pattern matching every lock's channel under `prefix`, for the one pattern
    /// subscription each server keeps. Glob metacharacters in the prefix are escaped.
    pub(super) fn channel_pattern(prefix: &str) -> String {
        let mut escaped = String::with_capacity(prefix.len() + 8);
        for c in prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        format!("{{{escaped}*}}:wake")
    }

    /// The mutex's five keys and the semaphore/read-write state (which the mutex acquire
    /// checks); with `permits`, every semaphore/read-write key as well.
    fn apply(&self, inv: &mut ScriptInvocation<'_>, permits: bool) {
        inv.key(&self.owner)
            .key(&self.fence)
            .key(&self.queue)
            .key(&self.waiters)
            .key(&self.released);
        let extra = if permits {
            &self.permits[..]
        } else {
            &self.permits[..1]
        };
        for key in extra {
            inv.key(key);
        }
    }
}

/// The acquire script's answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AcquireReply {
    /// Held by the caller's token, with this fence, for this many more milliseconds.
    Granted { fence: u64, pttl_ms: u64 },
    /// Held by someone else for `holder_pttl_ms` more (negative: unknown); the caller is
    /// `rank`-th in the queue (`None`: not queued).
    Busy {
        holder_pttl_ms: i64,
        rank: Option<u64>,
    },
    /// The queue is at `--lock-max-waiters`.
    QueueFull,
    /// The name is in use as another kind.
    KindMismatch(LockKind),
}

impl AcquireReply {
    pub(super) fn parse(reply: &[i64]) -> Result<Self, LockError> {
        match reply {
            [1, fence, pttl] if *fence > 0 => Ok(Self::Granted {
                fence: (*fence).unsigned_abs(),
                pttl_ms: (*pttl).max(0).unsigned_abs(),
            }),
            [0, pttl, rank] => Ok(Self::Busy {
                holder_pttl_ms: *pttl,
                rank: u64::try_from(*rank).ok(),
            }),
            [-1] => Ok(Self::QueueFull),
            [-2, code] => LockKind::from_code(*code)
                .map(Self::KindMismatch)
                .ok_or_else(|| LockError::Backend(format!("acquire script named kind {code}"))),
            other => Err(LockError::Backend(format!(
                "acquire script replied {other:?}"
            ))),
        }
    }
}

/// The release script's answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReleaseReply {
    /// The token did not hold the lock.
    NotHeld,
    /// Released; nobody was waiting (or no waiter fits the freed permits yet).
    Freed,
    /// Released and handed straight to these waiters (one for a mutex; a semaphore's freed
    /// permits or a read-write lock's end of a write phase may serve several), in grant order.
    HandedTo(Vec<(String, Handed)>),
}

impl ReleaseReply {
    pub(super) fn parse(reply: &[redis::Value]) -> Result<Self, LockError> {
        use redis::Value::{BulkString, Int, SimpleString};
        let handed = match reply {
            [Int(0)] => return Ok(Self::NotHeld),
            [Int(1)] => return Ok(Self::Freed),
            [Int(1), handed @ ..] if handed.len() % 3 == 0 => handed,
            other => {
                return Err(LockError::Backend(format!(
                    "release script replied {other:?}"
                )));
            }
        };
        let mut next = Vec::with_capacity(handed.len() / 3);
        for triple in handed.chunks_exact(3) {
            let [token, fence, ttl] = triple else {
                unreachable!("chunks_exact(3) yields triples");
            };
            let token = match token {
                BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                SimpleString(s) => s.clone(),
                other => {
                    return Err(LockError::Backend(format!(
                        "release script named the next holder as {other:?}"
                    )));
                }
            };
            let (Int(fence), Int(ttl)) = (fence, ttl) else {
                return Err(LockError::Backend(format!(
                    "release script replied {reply:?}"
                )));
            };
            if *fence <= 0 || *ttl < 0 {
                return Err(LockError::Backend(format!(
                    "release script replied {reply:?}"
                )));
            }
            next.push((
                token,
                Handed {
                    fence: fence.unsigned_abs(),
                    ttl_ms: ttl.unsigned_abs(),
                },
            ));
        }
        Ok(Self::HandedTo(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_keys_of_a_lock_share_one_hash_tag() {
        let keys = LockKeys::new("sg:", &LockName::new("a}b").unwrap());
        for k in [
            &keys.owner,
            &keys.fence,
            &keys.queue,
            &keys.waiters,
            &keys.released,
        ]
        .into_iter()
        .chain(&keys.permits)
        {
            assert!(k.starts_with("{sg:a}b}:"), "{k}");
        }
        assert_eq!(keys.channel, "{sg:a}b}:wake");
    }

    #[test]
    fn the_channel_pattern_escapes_glob_characters_of_the_prefix() {
        assert_eq!(LockKeys::channel_pattern("a*b:"), "{a\\*b:*}:wake");
    }

    #[test]
    fn replies_parse_and_garbage_is_a_backend_error() {
        assert_eq!(
            AcquireReply::parse(&[1, 7, 500]).unwrap(),
            AcquireReply::Granted {
                fence: 7,
                pttl_ms: 500
            }
        );
        assert_eq!(
            AcquireReply::parse(&[0, 20, -1]).unwrap(),
            AcquireReply::Busy {
                holder_pttl_ms: 20,
                rank: None
            }
        );
        assert_eq!(AcquireReply::parse(&[-1]).unwrap(), AcquireReply::QueueFull);
        assert!(AcquireReply::parse(&[3]).is_err());
    }

    #[test]
    fn release_replies_parse_including_the_hand_off() {
        use redis::Value::{BulkString, Int};
        assert_eq!(
            ReleaseReply::parse(&[Int(0)]).unwrap(),
            ReleaseReply::NotHeld
        );
        assert_eq!(ReleaseReply::parse(&[Int(1)]).unwrap(), ReleaseReply::Freed);
        assert_eq!(
            ReleaseReply::parse(&[Int(1), BulkString(b"w1".to_vec()), Int(9), Int(800)]).unwrap(),
            ReleaseReply::HandedTo(vec![(
                "w1".into(),
                Handed {
                    fence: 9,
                    ttl_ms: 800
                }
            )])
        );
        assert!(ReleaseReply::parse(&[Int(2)]).is_err());
        assert!(ReleaseReply::parse(&[Int(1), Int(3), Int(9), Int(800)]).is_err());
        assert!(ReleaseReply::parse(&[Int(1), BulkString(b"w1".to_vec()), Int(9)]).is_err());
    }

    #[test]
    fn a_release_that_serves_several_waiters_names_each_grant() {
        use redis::Value::{BulkString, Int};
        let reply = [
            Int(1),
            BulkString(b"p-a".to_vec()),
            Int(11),
            Int(500),
            BulkString(b"p-b".to_vec()),
            Int(12),
            Int(700),
        ];
        assert_eq!(
            ReleaseReply::parse(&reply).unwrap(),
            ReleaseReply::HandedTo(vec![
                (
                    "p-a".into(),
                    Handed {
                        fence: 11,
                        ttl_ms: 500
                    }
                ),
                (
                    "p-b".into(),
                    Handed {
                        fence: 12,
                        ttl_ms: 700
                    }
                ),
            ])
        );
    }
}
