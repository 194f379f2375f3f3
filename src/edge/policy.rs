//! The policy file (`--policy FILE`, TOML) and what it compiles into: who the callers are
//! (bearer-token hashes and client-certificate identities per principal) and what each may
//! do. A [`Policy`] is immutable; a reload builds a new one and swaps it in whole, so a call
//! keeps the snapshot it started with. Each principal's live state (its token bucket and its
//! count of calls in flight) is carried from one snapshot to the next by name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::limits::CallerState;
use super::rules::{Rules, Service};

/// Whether decisions are enforced or only logged and counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refusals are answered with their status.
    #[default]
    Enforce,
    /// Refusals are logged and counted, and the call goes on (smokescreen's report mode:
    /// try a policy on live traffic before enforcing it).
    Report,
}

/// The file as written (the contract's format; unknown keys are refused so a typo such as
/// `fetch_host` does not silently allow everything).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    mode: Mode,
    anonymous: Option<String>,
    #[serde(default)]
    principals: BTreeMap<String, PrincipalFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalFile {
    #[serde(default)]
    tokens_sha256: Vec<String>,
    #[serde(default)]
    mtls_identities: Vec<String>,
    services: Option<Vec<String>>,
    fetch_hosts: Option<Vec<String>>,
    fetch_methods: Option<Vec<String>>,
    lock_prefixes: Option<Vec<String>>,
    rate_per_second: Option<u32>,
    max_concurrent: Option<u32>,
    fetch_cache: Option<bool>,
}

/// A policy file that cannot be used; the message names the file, the principal and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// One caller as the policy names it, with its rules and its live state.
pub struct Principal {
    /// The principal's name (the `[principals.NAME]` table).
    pub name: Arc<str>,
    /// What it may do.
    pub rules: Rules,
    /// Its token bucket and calls in flight, shared with the snapshots before and after.
    pub(super) state: Arc<CallerState>,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("name", &self.name)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// A checked, compiled policy.
pub struct Policy {
    mode: Mode,
    anonymous: Option<Arc<Principal>>,
    principals: BTreeMap<Arc<str>, Arc<Principal>>,
    /// SHA-256 of every known bearer token and its principal. Searched in full on every
    /// lookup, each entry compared in constant time.
    tokens: Vec<([u8; 32], Arc<Principal>)>,
    /// Client-certificate identities (SAN DNS/URI or CN) and their principal.
    identities: HashMap<String, Arc<Principal>>,
}

impl fmt::Debug for Policy {
    /// Names and modes only: the token hashes stay out of logs and debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("mode", &self.mode)
            .field("principals", &self.principals.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Which principal a credential names.
#[derive(Debug)]
pub enum Lookup {
    /// A known principal.
    Known(Arc<Principal>),
    /// A credential the policy does not know.
    Unknown,
}

impl Policy {
    /// Reads and compiles `path`, carrying each principal's live state over from `previous`
    /// (the snapshot being replaced on reload) when the name is kept.
    pub fn load(path: &Path, previous: Option<&Policy>) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, previous)
            .map_err(|e| PolicyError(format!("{}: {}", path.display(), e.0)))
    }

    /// Compiles a policy from its TOML text.
    pub fn parse(text: &str, previous: Option<&Policy>) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        let mut principals = BTreeMap::new();
        let mut tokens = Vec::new();
        let mut seen_tokens: HashMap<[u8; 32], Arc<str>> = HashMap::new();
        let mut identities: HashMap<String, Arc<Principal>> = HashMap::new();
        for (name, p) in file.principals {
            let name: Arc<str> = Arc::from(name.as_str());
            let at = |key: &str| format!("principals.{name}.{key}");
            let rules = compile_rules(&p, &at)?;
            let old = previous.and_then(|prev| prev.principals.get(&name));
            let state = CallerState::carried_over(old.map(|o| &o.state), rules.rate_per_second);
            let principal = Arc::new(Principal {
                name: name.clone(),
                rules,
                state,
            });
            for (i, hex) in p.tokens_sha256.iter().enumerate() {
                let hash = parse_sha256(hex)
                    .map_err(|why| PolicyError(format!("{}[{i}]: {why}", at("tokens_sha256"))))?;
                if let Some(other) = seen_tokens.insert(hash, name.clone()) {
                    return Err(PolicyError(format!(
                        "{}[{i}]: the same token hash is already listed for principal {other:?}",
                        at("tokens_sha256")
                    )));
                }
                tokens.push((hash, principal.clone()));
            }
            for (i, id) in p.mtls_identities.iter().enumerate() {
                if id.is_empty() {
                    return Err(PolicyError(format!(
                        "{}[{i}]: an identity cannot be empty",
                        at("mtls_identities")
                    )));
                }
                let key = normalize_identity(id);
                if let Some(other) = identities.insert(key, principal.clone()) {
                    return Err(PolicyError(format!(
                        "{}[{i}]: {id:?} is already the identity of principal {:?}",
                        at("mtls_identities"),
                        other.name
                    )));
                }
            }
            principals.insert(name, principal);
        }
        let anonymous = match file.anonymous {
            None => None,
            Some(name) => Some(principals.get(name.as_str()).cloned().ok_or_else(|| {
                PolicyError(format!(
                    "anonymous: {name:?} names no principal (add a [principals.{name}] table)"
                ))
            })?),
        };
        Ok(Self {
            mode: file.mode,
            anonymous,
            principals,
            tokens,
            identities,
        })
    }

    /// Enforce or report.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The principal a caller without any credential becomes, if the policy names one.
    pub fn anonymous(&self) -> Option<&Arc<Principal>> {
        self.anonymous.as_ref()
    }

    /// The principal named `name`.
    pub fn principal(&self, name: &str) -> Option<&Arc<Principal>> {
        self.principals.get(name)
    }

    /// The principal whose token hashes include SHA-256(`token`). Every entry is compared,
    /// each in constant time, so the time taken says nothing about how close a guess was.
    pub fn principal_for_token(&self, token: &str) -> Lookup {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (hash, principal) in &self.tokens {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(principal);
            }
        }
        match found {
            Some(p) => Lookup::Known(p.clone()),
            None => Lookup::Unknown,
        }
    }

    /// The principal of the first of `identities` (a client certificate's SAN DNS/URI names,
    /// else its CN) that the policy lists.
    pub fn principal_for_identities(&self, identities: &[String]) -> Lookup {
        identities
            .iter()
            .find_map(|id| self.identities.get(&normalize_identity(id)))
            .map_or(Lookup::Unknown, |p| Lookup::Known(p.clone()))
    }
}

/// DNS names compare case-insensitively; URIs (SPIFFE IDs) and CNs as written, except that
/// a scheme and host are case-insensitive too, which lowercasing a `spiffe://` trust domain
/// would need anyway. Simplest rule that is right for both: lowercase everything.
fn normalize_identity(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

fn compile_rules(p: &PrincipalFile, at: &dyn Fn(&str) -> String) -> Result<Rules, PolicyError> {
    let services = p
        .services
        .as_ref()
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    Service::from_policy_name(s).ok_or_else(|| {
                        PolicyError(format!(
                            "{}[{i}]: {s:?} is not a service (fetch, lock or sensor)",
                            at("services")
                        ))
                    })
                })
                .collect::<Result<HashSet<_>, _>>()
        })
        .transpose()?;
    let fetch_hosts = p
        .fetch_hosts
        .as_ref()
        .map(|list| super::rules::HostRule::new(list))
        .transpose()
        .map_err(|why| PolicyError(format!("{}{why}", at("fetch_hosts"))))?;
    let fetch_methods = p
        .fetch_methods
        .as_ref()
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, m)| {
                    http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                        PolicyError(format!(
                            "{}[{i}]: {m:?} is not an HTTP method",
                            at("fetch_methods")
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let lock_prefixes = p.lock_prefixes.clone();
    let rate_per_second = p
        .rate_per_second
        .map(|r| {
            NonZeroU32::new(r).ok_or_else(|| {
                PolicyError(format!(
                    "{}: must be at least 1 (leave it out for no limit)",
                    at("rate_per_second")
                ))
            })
        })
        .transpose()?;
    let max_concurrent = p
        .max_concurrent
        .map(|m| {
            NonZeroU32::new(m).ok_or_else(|| {
                PolicyError(format!(
                    "{}: must be at least 1 (leave it out for no limit)",
                    at("max_concurrent")
                ))
            })
        })
        .transpose()?;
    if p.tokens_sha256.is_empty() && p.mtls_identities.is_empty() {
        // Allowed: such a principal can still be the `anonymous` one.
        tracing::debug!(
            "{} has no tokens_sha256 and no mtls_identities",
            at("").trim_end_matches('.')
        );
    }
    Ok(Rules {
        services,
        fetch_hosts,
        fetch_methods,
        lock_prefixes,
        rate_per_second,
        max_concurrent,
        fetch_cache: p.fetch_cache,
    })
}

/// 64 hex digits, either case.
fn parse_sha256(hex: &str) -> Result<[u8; 32], String> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return Err(format!(
            "expected 64 hex digits (the SHA-256 of the token, e.g. `printf %s TOKEN | sha256sum`), got {} characters",
            hex.len()
        ));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| "not a hex string".to_owned())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(token: &str) -> String {
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn policy(text: &str) -> Policy {
        Policy::parse(text, None).expect("the policy parses")
    }

    fn error(text: &str) -> String {
        Policy::parse(text, None)
            .expect_err("the policy is refused")
            .0
    }

    #[test]
    fn a_token_finds_its_principal_by_hash() {
        let p = policy(&format!(
            "[principals.billing]\ntokens_sha256 = [\"{}\"]\n",
            sha("s3cret")
        ));
        match p.principal_for_token("s3cret") {
            Lookup::Known(pr) => assert_eq!(&*pr.name, "billing"),
            Lookup::Unknown => panic!("the token is known"),
        }
        assert!(matches!(p.principal_for_token("s3cre"), Lookup::Unknown));
        assert!(matches!(p.principal_for_token(""), Lookup::Unknown));
    }

    #[test]
    fn identities_match_case_insensitively() {
        let p = policy(
            "[principals.a]\nmtls_identities = [\"Billing.Internal\", \"spiffe://corp/billing\"]\n",
        );
        let ids = ["other".to_owned(), "billing.internal".to_owned()];
        assert!(matches!(p.principal_for_identities(&ids), Lookup::Known(_)));
        assert!(matches!(
            p.principal_for_identities(&["nobody".to_owned()]),
            Lookup::Unknown
        ));
    }

    #[test]
    fn unknown_keys_are_refused_naming_them() {
        let e = error("[principals.a]\nfetch_host = [\"x\"]\n");
        assert!(e.contains("fetch_host"), "{e}");
        let e = error("mode = \"audit\"\n");
        assert!(e.contains("audit") || e.contains("mode"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_naming_principal_and_key() {
        for (text, key) in [
            (
                "[principals.a]\ntokens_sha256 = [\"abc\"]\n",
                "principals.a.tokens_sha256[0]",
            ),
            (
                "[principals.a]\nservices = [\"fetch\", \"mail\"]\n",
                "principals.a.services[1]",
            ),
            (
                "[principals.a]\nfetch_methods = [\"G ET\"]\n",
                "principals.a.fetch_methods[0]",
            ),
            (
                "[principals.a]\nfetch_hosts = [\"a*.b\"]\n",
                "principals.a.fetch_hosts[0]",
            ),
            (
                "[principals.a]\nrate_per_second = 0\n",
                "principals.a.rate_per_second",
            ),
            (
                "[principals.a]\nmax_concurrent = 0\n",
                "principals.a.max_concurrent",
            ),
            ("anonymous = \"ghost\"\n", "anonymous"),
        ] {
            let e = error(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_token_or_identity_listed_twice_is_refused() {
        let h = sha("t");
        let e = error(&format!(
            "[principals.a]\ntokens_sha256 = [\"{h}\"]\n[principals.b]\ntokens_sha256 = [\"{h}\"]\n"
        ));
        assert!(
            e.contains("principals.b.tokens_sha256[0]") && e.contains("\"a\""),
            "{e}"
        );
        let e = error(
            "[principals.a]\nmtls_identities = [\"x\"]\n[principals.b]\nmtls_identities = [\"X\"]\n",
        );
        assert!(e.contains("principals.b.mtls_identities[0]"), "{e}");
    }

    #[test]
    fn the_contract_example_parses() {
        let p = policy(
            r#"
mode = "enforce"
anonymous = "public"
[principals.public]
services = ["fetch"]
[principals.billing]
tokens_sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
mtls_identities = ["billing.internal", "spiffe://corp/billing"]
services = ["fetch", "lock", "sensor"]
fetch_hosts = ["api.example.com", "*.example.org"]
fetch_methods = ["GET", "HEAD"]
lock_prefixes = ["billing/"]
rate_per_second = 100
max_concurrent = 32
"#,
        );
        assert_eq!(p.mode(), Mode::Enforce);
        assert_eq!(p.anonymous().map(|a| &*a.name), Some("public"));
        // "test" hashes to the listed value.
        assert!(matches!(p.principal_for_token("test"), Lookup::Known(_)));
        let debug = format!("{p:?}");
        assert!(!debug.contains("9f86d0"), "hashes stay out of debug output");
    }

    #[test]
    fn live_state_is_carried_over_by_name() {
        let text = "[principals.a]\nrate_per_second = 5\nmax_concurrent = 2\n";
        let first = policy(text);
        let second = Policy::parse(text, Some(&first)).unwrap();
        let (a1, a2) = (
            first.principal("a").unwrap(),
            second.principal("a").unwrap(),
        );
        assert!(Arc::ptr_eq(&a1.state, &a2.state));
    }
}
