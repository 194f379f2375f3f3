//! The edge's families: callers refused for want of a credential, and principals refused by
//! the policy. Exported from the start so dashboards and alerts can be written against them;
//! the edge records through [`EdgeMetrics`], which the builder hands it with [`super::Metrics::edge`].

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Denial {
    principal: String,
    rule: &'static str,
}

#[derive(Debug)]
pub(super) struct Families {
    auth_failures: Family<Reason, Counter>,
    policy_denied: Family<Denial, Counter>,
}

impl Families {
    pub(super) fn register(r: &mut Registry) -> Self {
        let f = Self {
            auth_failures: Family::default(),
            policy_denied: Family::default(),
        };
        r.register(
            "streamgate_auth_failures",
            "Calls answered UNAUTHENTICATED, by reason",
            f.auth_failures.clone(),
        );
        r.register(
            "streamgate_policy_denied",
            "Calls of a known principal refused by a policy rule (counted in report mode too)",
            f.policy_denied.clone(),
        );
        // The reasons exist from the start, at zero; denials appear with their first
        // principal (the policy's names are not known here).
        for why in [
            AuthFailure::NoCredential,
            AuthFailure::UnknownToken,
            AuthFailure::UnknownCertificate,
        ] {
            f.auth_failures.get_or_create_owned(&Reason {
                reason: why.as_str(),
            });
        }
        f
    }
}

/// Why a caller was not authenticated: the `reason` label of `streamgate_auth_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential, and the policy names no `anonymous` principal.
    NoCredential,
    /// A bearer token whose SHA-256 no principal lists.
    UnknownToken,
    /// A client certificate whose identity no principal lists.
    UnknownCertificate,
}

impl AuthFailure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoCredential => "no_credential",
            Self::UnknownToken => "unknown_token",
            Self::UnknownCertificate => "unknown_certificate",
        }
    }
}

/// The edge's families (off when metrics are).
#[derive(Clone, Debug, Default)]
pub struct EdgeMetrics {
    inner: Option<Arc<super::Families>>,
}

impl EdgeMetrics {
    pub(super) fn new(inner: Option<Arc<super::Families>>) -> Self {
        Self { inner }
    }

    /// A call was answered UNAUTHENTICATED.
    pub fn auth_failure(&self, why: AuthFailure) {
        if let Some(f) = &self.inner {
            f.edge
                .auth_failures
                .get_or_create(&Reason {
                    reason: why.as_str(),
                })
                .inc();
        }
    }

    /// A known principal was refused by `rule` (`services`, `fetch_hosts`, `fetch_methods`,
    /// `lock_prefixes`, ...). `principal` must be a name from the policy file (a small set
    /// the operator wrote), never anything the caller sent.
    pub fn policy_denied(&self, principal: &str, rule: &'static str) {
        if let Some(f) = &self.inner {
            f.edge
                .policy_denied
                .get_or_create(&Denial {
                    principal: principal.to_owned(),
                    rule,
                })
                .inc();
        }
    }
}

impl crate::edge::DecisionSink for EdgeMetrics {
    fn record_auth_failure(&self, reason: &'static str) {
        let why = match reason {
            "no_credential" => AuthFailure::NoCredential,
            "unknown_certificate" => AuthFailure::UnknownCertificate,
            _ => AuthFailure::UnknownToken,
        };
        self.auth_failure(why);
    }

    fn record_policy_denied(&self, principal: &str, rule: &'static str) {
        self.policy_denied(principal, rule);
    }
}
