//! What the edge refused or, in report mode, would have refused: logged here and counted
//! per rule. [`Decisions::record_denied`] and [`Decisions::record_auth_failure`] are the
//! only call sites, so a metrics exporter hooks in at these two lines
//! (`streamgate_policy_denied_total{principal,rule}`, `streamgate_auth_failures_total`).

use std::sync::atomic::{AtomicU64, Ordering};

use super::caller::Denied;
use super::rules::Rule;

/// Counters of refusals and reports, per rule.
#[derive(Debug, Default)]
pub struct Decisions {
    refused: [AtomicU64; Rule::ALL.len()],
    reported: [AtomicU64; Rule::ALL.len()],
    auth_refused: AtomicU64,
    auth_reported: AtomicU64,
}

impl Decisions {
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
        tracing::info!(
            principal = %denied.principal,
            rule = denied.rule.key(),
            "policy {verdict}: {}",
            denied.detail
        );
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
        tracing::info!("authentication {verdict}: {why}");
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
