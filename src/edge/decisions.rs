//! What the edge refused or, in report mode, would have refused: logged here and counted
//! per rule, and recorded in `streamgate_policy_denied_total{principal,rule}` and
//! `streamgate_auth_failures_total{reason}`. [`Decisions::record_denied`] and
//! [`Decisions::record_auth_failure`] are the only call sites. Every refusal is counted; the
//! log lines are rate-limited per principal and rule (crate::log_limit), so a caller
//! cannot turn refused calls into a flood of log lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::Denied;
use super::rules::Rule;
use crate::log_limit::{RepeatLimiter, Verdict};

/// What tells repeated refusal lines apart: who, which rule (or which authentication
/// failure), and whether the call was refused or only reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LineKind {
    Denied(Arc<str>, Rule, bool),
    Auth(&'static str, bool),
}

/// Counters of refusals and reports, per rule.
#[derive(Debug, Default)]
pub struct Decisions {
    refused: [AtomicU64; Rule::ALL.len()],
    reported: [AtomicU64; Rule::ALL.len()],
    auth_refused: AtomicU64,
    auth_reported: AtomicU64,
    sink: Option<Arc<dyn DecisionSink>>,
    lines: RepeatLimiter<LineKind>,
}

/// Where refusals are recorded besides these counters (the server's metrics). A trait here,
/// implemented by the metrics module, so the edge does not depend on the metrics.
pub trait DecisionSink: Send + Sync + std::fmt::Debug {
    /// A call answered UNAUTHENTICATED; `reason` is `no_credential`, `unknown_token` or
    /// `unknown_certificate`.
    fn record_auth_failure(&self, reason: &'static str);
    /// A principal refused by `rule`; `principal` is a name from the policy file.
    fn record_policy_denied(&self, principal: &str, rule: &'static str);
}

impl Decisions {
    /// Counters that also record in `sink`.
    pub(super) fn new(sink: Option<Arc<dyn DecisionSink>>) -> Self {
        Self {
            sink,
            ..Self::default()
        }
    }

    /// Logs and counts a broken rule; `enforced` says whether the call was refused.
    pub(super) fn record_denied(&self, denied: &Denied, enforced: bool) {
        let (counter, verdict) = if enforced {
            (&self.refused[denied.rule.index()], "refused")
        } else {
            (
                &self.reported[denied.rule.index()],
                "would refuse (report mode)",
            )
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // The principal is a name from the policy file, never caller input.
        if let Some(sink) = &self.sink {
            sink.record_policy_denied(&denied.principal, denied.rule.key());
        }
        let kind = LineKind::Denied(denied.principal.clone(), denied.rule, enforced);
        let line = self.lines.check(&kind);
        if let Verdict::Log { .. } = line {
            tracing::info!(
                principal = %denied.principal,
                rule = denied.rule.key(),
                "policy {verdict}: {}{}",
                denied.detail,
                line.suffix()
            );
        }
    }

    /// Logs and counts a call that proved no identity the policy knows; `why` never holds
    /// the credential itself.
    pub(super) fn record_auth_failure(&self, why: &str, enforced: bool) {
        let (counter, verdict) = if enforced {
            (&self.auth_refused, "refused")
        } else {
            (&self.auth_reported, "would refuse (report mode)")
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let reason = auth_failure_reason(why);
        if let Some(sink) = &self.sink {
            sink.record_auth_failure(reason);
        }
        let line = self.lines.check(&LineKind::Auth(reason, enforced));
        if let Verdict::Log { .. } = line {
            tracing::info!("authentication {verdict}: {why}{}", line.suffix());
        }
    }

    /// Calls refused by `rule` (enforce mode).
    pub fn refused(&self, rule: Rule) -> u64 {
        self.refused[rule.index()].load(Ordering::Relaxed)
    }

    /// Calls `rule` would have refused (report mode), let through.
    pub fn reported(&self, rule: Rule) -> u64 {
        self.reported[rule.index()].load(Ordering::Relaxed)
    }

    /// Calls refused as UNAUTHENTICATED.
    pub fn auth_refused(&self) -> u64 {
        self.auth_refused.load(Ordering::Relaxed)
    }

    /// Calls report mode let through without a known identity.
    pub fn auth_reported(&self) -> u64 {
        self.auth_reported.load(Ordering::Relaxed)
    }
}

/// The `reason` of an authentication failure, from its message (which names what was missing
/// or unknown, never the credential).
fn auth_failure_reason(why: &str) -> &'static str {
    if why.starts_with("no credential") {
        "no_credential"
    } else if why.contains("certificate") {
        "unknown_certificate"
    } else {
        "unknown_token"
    }
}
