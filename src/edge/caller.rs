//! The authenticated caller of one call, as the services see it in the request extensions:
//! its principal (with the rules of the policy snapshot the call started with) and the mode.
//! Every check a service makes goes through [`Caller::decide`], the one place a broken rule
//! becomes a refusal (enforce) or a report, and is logged and counted.

use std::fmt;
use std::sync::Arc;

use http::Method;

use super::decisions::Decisions;
use super::error::Denied;
use super::policy::{Mode, Principal};
use super::rules::{Broken, Destination, LockRpc};

/// The principal name used in logs for a call that proved no identity (report mode only:
/// enforce mode refuses it before it gets a [`Caller`]).
pub(crate) const UNAUTHENTICATED: &str = "<unauthenticated>";

/// What a refusal adds when the call carried no credential: the likely mistake is a
/// forgotten token, and the clients read it from `STREAMGATE_TOKEN`.
pub(super) const NO_CREDENTIAL_SENT: &str = "no credential was sent: set STREAMGATE_TOKEN \
     or send `authorization: Bearer <token>` metadata or a client certificate";

/// Who is calling, and what it may do.
pub struct Caller {
    principal: Option<Arc<Principal>>,
    mode: Mode,
    decisions: Arc<Decisions>,
    /// The call sent no credential and runs as the policy's `anonymous` principal: a refusal
    /// says so, or a forgotten token reads as a rule of that principal.
    sent_no_credential: bool,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("principal", &self.name())
            .field("mode", &self.mode)
            .finish()
    }
}

impl Caller {
    pub(super) fn new(
        principal: Option<Arc<Principal>>,
        mode: Mode,
        decisions: Arc<Decisions>,
    ) -> Self {
        Self {
            principal,
            mode,
            decisions,
            sent_no_credential: false,
        }
    }

    /// Marks a caller that sent no credential (see `sent_no_credential`).
    pub(super) fn without_credential(self, sent_none: bool) -> Self {
        Self {
            sent_no_credential: sent_none,
            ..self
        }
    }

    /// The principal's name ([`UNAUTHENTICATED`] for an unknown caller let through in
    /// report mode).
    pub fn name(&self) -> &str {
        self.principal.as_ref().map_or(UNAUTHENTICATED, |p| &p.name)
    }

    pub(super) fn principal(&self) -> Option<&Arc<Principal>> {
        self.principal.as_ref()
    }

    /// Whether Fetch/ListPages may reach `url` (the request URL, each redirect hop, each
    /// next page): its host, port and scheme against `fetch_hosts`. The fetch path calls
    /// this before the address guard.
    pub fn host_allowed(&self, url: &url::Url) -> Result<(), Denied> {
        let to = Destination::of(url);
        self.check(|p| p.rules.host_allowed(&to))
    }

    /// Whether the shared HTTP cache may serve this caller (its policy's `fetch_cache`).
    pub fn fetch_cache_allowed(&self) -> bool {
        self.principal
            .as_ref()
            .and_then(|p| p.rules.fetch_cache)
            .unwrap_or(true)
    }

    /// Whether Fetch may send `method`.
    pub fn method_allowed(&self, method: &Method) -> Result<(), Denied> {
        self.check(|p| p.rules.method_allowed(method))
    }

    /// Whether `rpc` may touch the lock `name`.
    pub fn lock_allowed(&self, rpc: LockRpc, name: &str) -> Result<(), Denied> {
        self.check(|p| p.rules.lock_allowed(rpc, name))
    }

    fn check(&self, rule: impl FnOnce(&Principal) -> Result<(), Broken>) -> Result<(), Denied> {
        match &self.principal {
            Some(p) => self.decide(rule(p)),
            // Only in report mode: the call proved no identity, there are no rules to apply.
            None => Ok(()),
        }
    }

    /// The one place a broken rule is logged, counted, and (in enforce mode) refused.
    pub(super) fn decide(&self, outcome: Result<(), Broken>) -> Result<(), Denied> {
        let Err(broken) = outcome else {
            return Ok(());
        };
        let detail = if self.sent_no_credential {
            format!("{} ({NO_CREDENTIAL_SENT})", broken.detail)
        } else {
            broken.detail
        };
        let denied = Denied {
            principal: Arc::from(self.name()),
            rule: broken.rule,
            detail,
        };
        let enforced = self.mode == Mode::Enforce;
        self.decisions.record_denied(&denied, enforced);
        if enforced { Err(denied) } else { Ok(()) }
    }
}
