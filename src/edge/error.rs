//! The edge's one error type and its statuses: UNAUTHENTICATED for a caller the policy does
//! not know, PERMISSION_DENIED for a rule, RESOURCE_EXHAUSTED for `rate_per_second` and
//! `max_concurrent`.

use std::sync::Arc;

use tonic::Status;

use super::rules::Rule;

/// A call refused by a rule; the message names the principal and the rule, never a
/// credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("caller {principal:?} is refused by policy rule {}: {detail}", rule.key())]
pub struct Denied {
    /// The principal's name.
    pub principal: Arc<str>,
    /// The rule.
    pub rule: Rule,
    /// What the call asked for.
    pub detail: String,
}

impl Denied {
    /// The same refusal with `context` (e.g. "redirect to URL", "page 3 (URL)") in front of
    /// its detail.
    pub fn in_context(self, context: &str) -> Self {
        Self {
            detail: format!("{context}: {}", self.detail),
            ..self
        }
    }
}

/// Why the edge refused a call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EdgeError {
    /// No credential the policy knows (the reason never holds the credential).
    #[error("{0}")]
    Unauthenticated(String),
    /// A known principal outside its rules.
    #[error(transparent)]
    Denied(#[from] Denied),
}

impl From<EdgeError> for Status {
    fn from(e: EdgeError) -> Self {
        match e {
            EdgeError::Unauthenticated(why) => Status::unauthenticated(why),
            EdgeError::Denied(d) => Status::from(d),
        }
    }
}

impl From<Denied> for Status {
    fn from(d: Denied) -> Self {
        let msg = d.to_string();
        if d.rule.is_limit() {
            Status::resource_exhausted(msg)
        } else {
            Status::permission_denied(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::edge::Rule;
    use tonic::Code;

    fn denied(rule: Rule) -> Denied {
        Denied {
            principal: Arc::from("billing"),
            rule,
            detail: "x".into(),
        }
    }

    #[test]
    fn limits_are_resource_exhausted_and_rules_permission_denied() {
        for rule in Rule::ALL {
            let s = Status::from(denied(rule));
            let want = if rule.is_limit() {
                Code::ResourceExhausted
            } else {
                Code::PermissionDenied
            };
            assert_eq!(s.code(), want, "{rule:?}");
            assert!(s.message().contains("\"billing\""), "{}", s.message());
            assert!(s.message().contains(rule.key()), "{}", s.message());
        }
        let s = Status::from(EdgeError::Unauthenticated("no credential".into()));
        assert_eq!(s.code(), Code::Unauthenticated);
    }
}
