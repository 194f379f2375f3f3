//! The edge: TLS material that can be rotated, who a caller is (bearer token or client
//! certificate) and what the policy lets it do. Nothing here knows tonic's server: the
//! auth layer (`server::auth`) asks [`Gate::admit`] about each call and puts the
//! resulting [`Caller`] in the request extensions, where the services find it for the
//! checks that need the request message (fetch hosts and methods, lock names).
//!
//! Reloads (SIGHUP) go through [`Reloader`]: each part is re-read on its own and swapped in
//! whole, or kept, with the reason logged, when the new files do not load.

mod caller;
mod decisions;
mod error;
mod hosts;
pub(crate) mod identity;
mod limits;
pub(crate) mod policy;
pub(crate) mod rules;
pub(crate) mod tls;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

pub(crate) use caller::Caller;
pub(crate) use decisions::DecisionSink;
pub use decisions::Decisions;
pub(crate) use error::{Denied, EdgeError};
pub use identity::Credentials;
pub(crate) use limits::InFlight;
pub use policy::Policy;
pub(crate) use policy::{Mode, PolicyError, ReflectionAccess};
pub(crate) use rules::LockRpc;
pub use rules::{Rule, Service};
pub(crate) use tls::{TlsError, TlsFiles, TlsStore};

use policy::Principal;
pub use policy::PrincipalMatch;
use rules::Broken;

/// What a call's path addresses, as far as the edge cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Health: open to every caller, with or without credentials (load balancers call it).
    Open,
    /// One of streamgate's services.
    Service(Service),
    /// Anything else (answered UNIMPLEMENTED by the router, after authentication).
    Other,
}

impl Target {
    /// The target of a gRPC path (`/package.Service/Method`).
    pub fn of_path(path: &str) -> Self {
        let service = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map_or("", |(s, _)| s);
        match service {
            "streamgate.v1.FetchService" => Self::Service(Service::Fetch),
            "streamgate.v1.LockService" => Self::Service(Service::Lock),
            "streamgate.v1.SensorService" => Self::Service(Service::Sensor),
            "grpc.health.v1.Health" => Self::Open,
            // A service of the policy only with `reflection = "policy"` ([`Gate::admit`]).
            "grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection" => {
                Self::Service(Service::Reflection)
            }
            _ => Self::Other,
        }
    }
}

/// A call let in: who it is, and its place in `max_concurrent` (held until its response,
/// stream included, is over).
#[derive(Debug)]
pub struct Admission {
    /// The caller, for the request extensions.
    pub caller: Arc<Caller>,
    /// Dropped when the call (its whole response stream) ends.
    pub in_flight: Option<InFlight>,
}

/// The current policy (swapped whole on reload) and the counters of its decisions.
pub struct Gate {
    path: PathBuf,
    current: RwLock<Arc<Policy>>,
    decisions: Arc<Decisions>,
}

impl Gate {
    /// A gate enforcing `initial`, already loaded from `path` by the config check.
    pub fn new(path: PathBuf, initial: Arc<Policy>) -> Self {
        Self::with_sink(path, initial, None)
    }

    /// As [`Gate::new`], recording refusals in `sink` (the server's metrics) too.
    pub fn with_sink(
        path: PathBuf,
        initial: Arc<Policy>,
        sink: Option<Arc<dyn DecisionSink>>,
    ) -> Self {
        warn_if_writable_by_others(&path);
        initial.log_warnings();
        Self {
            path,
            current: RwLock::new(initial),
            decisions: Arc::new(Decisions::new(sink)),
        }
    }

    /// The policy new calls get.
    pub fn policy(&self) -> Arc<Policy> {
        // A poisoned lock still holds a whole Arc: the writer only ever swaps it.
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The counters of refusals and reports.
    pub fn decisions(&self) -> &Arc<Decisions> {
        &self.decisions
    }

    /// Re-reads the policy file; calls in flight keep the snapshot they started with, and a
    /// file that fails to load leaves the current policy in place.
    pub fn reload(&self) -> Result<(), PolicyError> {
        let old = self.policy();
        let fresh = Policy::load(&self.path, Some(&old))?;
        warn_if_writable_by_others(&self.path);
        fresh.log_warnings();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// Whether a call to `target` is let in without a look at its credentials: health
    /// always, reflection unless the policy says `reflection = "policy"`.
    pub fn open_to_all(&self, target: Target) -> bool {
        match target {
            Target::Open => true,
            Target::Service(Service::Reflection) => {
                self.policy().reflection() == ReflectionAccess::Open
            }
            _ => false,
        }
    }

    /// Decides whether a call may start: authentication, `services`, `rate_per_second`,
    /// `max_concurrent`, in that order (for targets not [`Gate::open_to_all`]).
    pub fn admit(&self, target: Target, creds: &Credentials<'_>) -> Result<Admission, EdgeError> {
        let policy = self.policy();
        let enforce = policy.mode() == Mode::Enforce;
        let principal = match authenticate(&policy, creds) {
            Ok(p) => Some(p),
            Err(why) => {
                self.decisions.record_auth_failure(&why, enforce);
                if enforce {
                    return Err(EdgeError::Unauthenticated(why));
                }
                None
            }
        };
        let sent_none =
            creds.authorization.is_none() && creds.peer_certs.is_none_or(<[_]>::is_empty);
        let caller = Arc::new(
            Caller::new(principal, policy.mode(), self.decisions.clone())
                .without_credential(sent_none),
        );
        let Some(p) = caller.principal().cloned() else {
            return Ok(Admission {
                caller,
                in_flight: None,
            });
        };
        if let Target::Service(service) = target {
            caller.decide(p.rules.service_allowed(service))?;
        }
        if !p.state.take_token() {
            let rate = p.rules.rate_per_second.map_or(0, |r| r.get());
            caller.decide(Err(Broken {
                rule: Rule::RatePerSecond,
                detail: format!(
                    "over {rate} calls per second (burst {}); retry after a short wait",
                    u64::from(rate) * 2
                ),
            }))?;
        }
        let in_flight = match p.rules.max_concurrent {
            None => None,
            Some(max) => {
                let (guard, over) = p.state.enter(max);
                if over {
                    // The guard drops on refusal, so the refused call is not counted.
                    caller.decide(Err(Broken {
                        rule: Rule::MaxConcurrent,
                        detail: format!("already {max} calls and open streams at once"),
                    }))?;
                }
                Some(guard)
            }
        };
        Ok(Admission { caller, in_flight })
    }
}

/// Says so when the policy file is writable by others: whoever can write it can grant
/// themselves every service at the next reload. A warning, not a refusal, so a deployment
/// that mounts it so (some secret stores do) still starts.
fn warn_if_writable_by_others(path: &std::path::Path) {
    if policy::writable_by_others(path) {
        tracing::warn!(
            "the policy file {} is writable by other users (mode o+w): anyone who can write it \
             can grant themselves every service at the next reload; chmod o-w it",
            path.display()
        );
    }
}

/// The principal a call's credentials name. A bearer token, when sent, decides alone (an
/// unknown one is refused even with a known certificate); otherwise the verified client
/// certificate; otherwise the policy's `anonymous` principal. The error says why, without
/// the credential.
fn authenticate(policy: &Policy, creds: &Credentials<'_>) -> Result<Arc<Principal>, String> {
    if let Some(raw) = creds.authorization {
        let token = identity::bearer_token(raw).map_err(|e| e.to_string())?;
        return match policy.principal_for_token(token) {
            PrincipalMatch::Known(p) => Ok(p),
            PrincipalMatch::Unknown => {
                Err("the bearer token is not known to the policy".to_owned())
            }
        };
    }
    if let Some(leaf) = creds.peer_certs.and_then(<[_]>::first) {
        let ids = identity::cert_identities(leaf);
        return match policy.principal_for_identities(&ids) {
            PrincipalMatch::Known(p) => Ok(p),
            PrincipalMatch::Unknown => Err(format!(
                "the client certificate's identities {} are not known to the policy",
                identity::describe(&ids)
            )),
        };
    }
    policy
        .anonymous()
        .cloned()
        .ok_or_else(|| caller::NO_CREDENTIAL_SENT.to_owned())
}

/// Re-reads the TLS material and the policy on SIGHUP (or when a test asks).
#[derive(Clone, Default)]
pub struct Reloader {
    tls: Option<Arc<TlsStore>>,
    gate: Option<Arc<Gate>>,
}

/// What one reload did, part by part (`None`: that part is not configured).
#[derive(Debug)]
pub struct Reloaded {
    /// The TLS material.
    pub tls: Option<Result<(), TlsError>>,
    /// The policy.
    pub policy: Option<Result<(), PolicyError>>,
}

impl Reloader {
    /// A reloader for the parts that are configured.
    pub fn new(tls: Option<Arc<TlsStore>>, gate: Option<Arc<Gate>>) -> Self {
        Self { tls, gate }
    }

    /// Re-reads every configured part; each one that fails keeps its current material, and
    /// the log line says why.
    pub fn reload(&self) -> Reloaded {
        let tls = self.tls.as_ref().map(|t| t.reload());
        match &tls {
            Some(Ok(())) => tracing::info!("reloaded the TLS certificate, key and client CA"),
            Some(Err(e)) => tracing::warn!("keeping the current TLS material: {e}"),
            None => {}
        }
        let policy = self.gate.as_ref().map(|g| g.reload());
        match &policy {
            Some(Ok(())) => tracing::info!("reloaded the policy"),
            Some(Err(e)) => tracing::warn!("keeping the current policy: {e}"),
            None => {}
        }
        if tls.is_none() && policy.is_none() {
            tracing::info!("reload asked for: no TLS material or policy to re-read");
        }
        Reloaded { tls, policy }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_creds(header: &[u8]) -> Credentials<'_> {
        Credentials {
            authorization: Some(header),
            peer_certs: None,
        }
    }

    #[test]
    fn a_call_in_flight_keeps_the_policy_it_started_with() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // "test"
        let write = |hosts: &str| {
            std::fs::write(
                &path,
                format!(
                    "[principals.a]\ntokens_sha256 = [\"{hash}\"]\nservices = [\"*\"]\nfetch_hosts = [{hosts}]\n"
                ),
            )
            .unwrap()
        };
        write("\"old.example\"");
        let gate = Gate::new(path.clone(), Arc::new(Policy::load(&path, None).unwrap()));
        let target = Target::Service(Service::Fetch);
        let before = gate.admit(target, &token_creds(b"Bearer test")).unwrap();

        write("\"new.example\"");
        gate.reload().unwrap();
        let after = gate.admit(target, &token_creds(b"Bearer test")).unwrap();

        let url = |host: &str| url::Url::parse(&format!("https://{host}/")).unwrap();
        assert!(before.caller.host_allowed(&url("old.example")).is_ok());
        assert!(before.caller.host_allowed(&url("new.example")).is_err());
        assert!(after.caller.host_allowed(&url("new.example")).is_ok());
        let denied = after.caller.host_allowed(&url("old.example")).unwrap_err();
        assert_eq!(denied.rule, Rule::FetchHosts);
        assert_eq!(gate.decisions().refused(Rule::FetchHosts), 2);
    }

    #[test]
    fn unknown_and_malformed_credentials_are_unauthenticated_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[principals.a]\nservices = [\"*\"]\n").unwrap();
        let gate = Gate::new(path.clone(), Arc::new(Policy::load(&path, None).unwrap()));
        for header in [
            &b"Bearer s3cret-guess"[..],
            b"Basic s3cret-guess",
            b"Bearer",
        ] {
            match gate.admit(Target::Other, &token_creds(header)) {
                Err(EdgeError::Unauthenticated(why)) => {
                    assert!(!why.contains("s3cret"), "{why}")
                }
                other => panic!("expected UNAUTHENTICATED, got {other:?}"),
            }
        }
        let none = Credentials {
            authorization: None,
            peer_certs: None,
        };
        match gate.admit(Target::Other, &none) {
            Err(EdgeError::Unauthenticated(why)) => {
                assert!(why.contains("no credential was sent"), "{why}");
                assert!(why.contains("STREAMGATE_TOKEN"), "{why}");
            }
            other => panic!("expected UNAUTHENTICATED, got {other:?}"),
        }
        assert_eq!(gate.decisions().auth_refused(), 4);
    }

    #[test]
    fn an_anonymous_caller_refused_by_a_rule_is_told_no_credential_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // "test"
        std::fs::write(
            &path,
            format!(
                "anonymous = \"public\"\n[principals.public]\nservices = [\"sensor\"]\n\
                 [principals.a]\ntokens_sha256 = [\"{hash}\"]\nservices = [\"sensor\"]\n"
            ),
        )
        .unwrap();
        let gate = Gate::new(path.clone(), Arc::new(Policy::load(&path, None).unwrap()));
        let none = Credentials {
            authorization: None,
            peer_certs: None,
        };
        let target = Target::Service(Service::Fetch);
        match gate.admit(target, &none) {
            Err(EdgeError::Denied(d)) => {
                assert_eq!(&*d.principal, "public");
                assert!(d.to_string().contains("no credential was sent"), "{d}");
            }
            other => panic!("expected PERMISSION_DENIED, got {:?}", other.err()),
        }
        // A caller that sent a token is refused for the rule alone.
        match gate.admit(target, &token_creds(b"Bearer test")) {
            Err(EdgeError::Denied(d)) => {
                assert_eq!(&*d.principal, "a");
                assert!(!d.to_string().contains("no credential"), "{d}");
            }
            other => panic!("expected PERMISSION_DENIED, got {:?}", other.err()),
        }
    }

    #[test]
    fn paths_map_to_their_targets() {
        assert_eq!(
            Target::of_path("/streamgate.v1.FetchService/Fetch"),
            Target::Service(Service::Fetch)
        );
        assert_eq!(
            Target::of_path("/streamgate.v1.LockService/Hold"),
            Target::Service(Service::Lock)
        );
        assert_eq!(
            Target::of_path("/streamgate.v1.SensorService/SensorFeed"),
            Target::Service(Service::Sensor)
        );
        assert_eq!(
            Target::of_path("/grpc.health.v1.Health/Check"),
            Target::Open
        );
        for version in ["v1", "v1alpha"] {
            assert_eq!(
                Target::of_path(&format!(
                    "/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
                )),
                Target::Service(Service::Reflection)
            );
        }
        assert_eq!(Target::of_path("/x.Y/Z"), Target::Other);
        assert_eq!(Target::of_path("garbage"), Target::Other);
    }
}
