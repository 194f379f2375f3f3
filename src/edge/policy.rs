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

use super::identity::CertIdentity;
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

/// Who may call server reflection under a policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReflectionAccess {
    /// Every caller, with or without credentials: the contract's default (grpcurl and IDEs
    /// list the services of a server they know nothing about).
    #[default]
    Open,
    /// A service like the others: a known principal whose `services` include `reflection`
    /// (or every service), and anonymous callers only through an `anonymous` principal
    /// that does. Reflection names every method and message, which a locked-down
    /// deployment may not want to hand to anyone who reaches the port.
    Policy,
}

/// The file as written (the contract's format; unknown keys are refused so a typo such as
/// `fetch_host` does not silently allow everything).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    reflection: ReflectionAccess,
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
    reflection: ReflectionAccess,
    anonymous: Option<Arc<Principal>>,
    principals: BTreeMap<Arc<str>, Arc<Principal>>,
    /// SHA-256 of every known bearer token and its principal. Searched in full on every
    /// lookup, each entry compared in constant time.
    tokens: Vec<([u8; 32], Arc<Principal>)>,
    /// Client-certificate DNS names and CNs (lowercased) and their principal.
    names: HashMap<String, Arc<Principal>>,
    /// Client-certificate URIs (SPIFFE IDs), exactly as written, and their principal.
    uris: HashMap<String, Arc<Principal>>,
    /// What is allowed but likely a mistake, said when the policy takes effect (the file is
    /// first read before logging starts, so it cannot be said while parsing).
    warnings: Vec<String>,
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
pub enum PrincipalMatch {
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
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError(one_line_toml_error(text, &e)))?;
        let mut principals = BTreeMap::new();
        let mut tokens = Vec::new();
        let mut seen_tokens: HashMap<[u8; 32], Arc<str>> = HashMap::new();
        let mut names: HashMap<String, Arc<Principal>> = HashMap::new();
        let mut uris: HashMap<String, Arc<Principal>> = HashMap::new();
        let mut warnings = Vec::new();
        if file.principals.is_empty() {
            return Err(PolicyError(
                "principals: the policy names no principal, so it would refuse every call; \
                 add a [principals.NAME] table (with `services`)"
                    .to_owned(),
            ));
        }
        for (name, p) in file.principals {
            let name: Arc<str> = Arc::from(name.as_str());
            let at = |key: &str| format!("principals.{name}.{key}");
            let rules = compile_rules(&p, &at)?;
            let old = previous.and_then(|prev| prev.principals.get(&name));
            if p.services.is_none() {
                if let Some(limited) = old.and_then(|o| o.rules.services.as_ref()) {
                    let mut was: Vec<&str> = limited.iter().map(|s| s.policy_name()).collect();
                    was.sort_unstable();
                    return Err(PolicyError(format!(
                        "{}: missing, which means every service, where the policy in force \
                         allows only {was:?}; a reload that widens a principal this way is \
                         refused (an edit cut short?): write services = [\"*\"] if it is meant",
                        at("services")
                    )));
                }
                warnings.push(format!(
                    "policy: {} is missing, so principal {name:?} may call every service; \
                     write services = [\"*\"] to say so, or list the ones it needs",
                    at("services")
                ));
            }
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
                let (map, key) = match identity_key(id) {
                    IdentityKey::Uri(k) => (&mut uris, k),
                    IdentityKey::Name(k) => (&mut names, k),
                };
                if let Some(other) = map.insert(key, principal.clone()) {
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
            reflection: file.reflection,
            anonymous,
            principals,
            tokens,
            names,
            uris,
            warnings,
        })
    }

    /// Logs what the file allows but likely did not mean (once, as the policy takes effect).
    pub(super) fn log_warnings(&self) {
        for w in &self.warnings {
            tracing::warn!("{w}");
        }
    }

    /// Enforce or report.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Who may call server reflection.
    pub fn reflection(&self) -> ReflectionAccess {
        self.reflection
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
    pub fn principal_for_token(&self, token: &str) -> PrincipalMatch {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (hash, principal) in &self.tokens {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(principal);
            }
        }
        match found {
            Some(p) => PrincipalMatch::Known(p.clone()),
            None => PrincipalMatch::Unknown,
        }
    }

    /// The principal of the first of `identities` (a client certificate's SAN DNS names and
    /// URIs, or its CN when it has no SAN) that the policy lists: URIs exactly, DNS names and
    /// CNs case-insensitively.
    pub fn principal_for_identities(&self, identities: &[CertIdentity]) -> PrincipalMatch {
        identities
            .iter()
            .find_map(|id| match id {
                CertIdentity::Uri(u) => self.uris.get(u.as_str()),
                CertIdentity::Dns(n) | CertIdentity::Cn(n) => {
                    self.names.get(&n.to_ascii_lowercase())
                }
            })
            .map_or(PrincipalMatch::Unknown, |p| {
                PrincipalMatch::Known(p.clone())
            })
    }
}

/// An `mtls_identities` entry as it is looked up.
enum IdentityKey {
    /// A URI (it has a scheme, `spiffe://...`): matched exactly against SAN URIs. Lowercasing
    /// it would merge workloads SPIFFE keeps apart (paths are case-sensitive).
    Uri(String),
    /// A DNS name or CN: matched case-insensitively against SAN DNS names and the CN.
    Name(String),
}

fn identity_key(id: &str) -> IdentityKey {
    let id = id.trim();
    let has_scheme = id.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if has_scheme {
        IdentityKey::Uri(id.to_owned())
    } else {
        IdentityKey::Name(id.to_ascii_lowercase())
    }
}

/// A `services` list: `["*"]` alone (every service, `None`) or named services.
fn compile_services(
    listed: &[String],
    at: &dyn Fn(&str) -> String,
) -> Result<Option<HashSet<Service>>, PolicyError> {
    if listed.iter().any(|s| s == "*") {
        if listed.len() > 1 {
            return Err(PolicyError(format!(
                "{}: \"*\" means every service and stands alone",
                at("services")
            )));
        }
        return Ok(None);
    }
    Ok(Some(
        listed
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Service::from_policy_name(s).ok_or_else(|| {
                    PolicyError(format!(
                        "{}[{i}]: {s:?} is not a service (fetch, lock, sensor, reflection, or \"*\" alone)",
                        at("services")
                    ))
                })
            })
            .collect::<Result<HashSet<_>, _>>()?,
    ))
}

/// `line L, column C: what` for a TOML error. toml's own rendering quotes the offending line
/// under the message over several lines, which a SIGHUP's log warning splits into lines
/// without a level or a time, the reason (the key) on none of them.
fn one_line_toml_error(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', "; ");
    let Some(start) = e.span().map(|s| s.start) else {
        return what;
    };
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {what}")
}

fn compile_rules(p: &PrincipalFile, at: &dyn Fn(&str) -> String) -> Result<Rules, PolicyError> {
    // Absent means every service: the contract says so, and other teams' files rely on it.
    // `parse` warns about it, and refuses a reload in which it would widen a principal.
    let services = match &p.services {
        None => None,
        Some(listed) => compile_services(listed, at)?,
    };
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

/// Whether users other than the file's owner and group may write `path` (mode `o+w`): then
/// anyone on the machine can grant themselves every service at the next reload. `false` when
/// the mode cannot be read (the load itself reports an unreadable file).
pub(crate) fn writable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
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
    fn a_toml_error_is_one_line_naming_where_and_what() {
        let e = error(&format!(
            "[principals.a]\ntokens_sha256 = [\"{}\"]\nservices = [\"*\"]\nlock_prefix = [\"a/\"]\n",
            sha("t")
        ));
        assert!(!e.contains('\n'), "{e:?}");
        assert!(
            e.starts_with("line 4, column 1: ") && e.contains("unknown field `lock_prefix`"),
            "{e}"
        );
    }

    #[test]
    fn a_token_finds_its_principal_by_hash() {
        let p = policy(&format!(
            "[principals.billing]\ntokens_sha256 = [\"{}\"]\nservices = [\"*\"]\n",
            sha("s3cret")
        ));
        match p.principal_for_token("s3cret") {
            PrincipalMatch::Known(pr) => assert_eq!(&*pr.name, "billing"),
            PrincipalMatch::Unknown => panic!("the token is known"),
        }
        assert!(matches!(
            p.principal_for_token("s3cre"),
            PrincipalMatch::Unknown
        ));
        assert!(matches!(p.principal_for_token(""), PrincipalMatch::Unknown));
    }

    #[test]
    fn dns_names_and_cns_match_case_insensitively_and_uris_exactly() {
        let p = policy(
            "[principals.a]\nservices = [\"*\"]\nmtls_identities = [\"Billing.Internal\", \"spiffe://corp/billing\"]\n",
        );
        let known = |ids: &[CertIdentity]| {
            matches!(p.principal_for_identities(ids), PrincipalMatch::Known(_))
        };
        let dns = |s: &str| CertIdentity::Dns(s.to_owned());
        let uri = |s: &str| CertIdentity::Uri(s.to_owned());
        assert!(known(&[dns("other"), dns("billing.internal")]));
        assert!(known(&[CertIdentity::Cn("BILLING.internal".to_owned())]));
        assert!(known(&[uri("spiffe://corp/billing")]));
        assert!(
            !known(&[uri("spiffe://corp/Billing")]),
            "SPIFFE paths are case-sensitive"
        );
        assert!(!known(&[uri("SPIFFE://corp/billing")]));
        assert!(
            !known(&[dns("spiffe://corp/billing")]),
            "a DNS SAN never stands in for a URI entry"
        );
        assert!(!known(&[dns("nobody")]));
    }

    #[test]
    fn services_absent_means_all_and_a_star_stands_for_all() {
        // The contract: an absent `services` is every service.
        let open = policy("[principals.a]\ntokens_sha256 = []\n");
        let rules = &open.principal("a").unwrap().rules;
        assert!(rules.service_allowed(Service::Sensor).is_ok());
        // ... but a reload in which it would widen a limited principal is refused.
        let limited = policy("[principals.a]\nservices = [\"lock\"]\n");
        let e = Policy::parse("[principals.a]\ntokens_sha256 = []\n", Some(&limited))
            .unwrap_err()
            .0;
        assert!(
            e.contains("principals.a.services") && e.contains("[\"lock\"]"),
            "{e}"
        );
        let e = error("[principals.a]\nservices = [\"*\", \"fetch\"]\n");
        assert!(e.contains("principals.a.services"), "{e}");
        let all = policy("[principals.a]\nservices = [\"*\"]\n");
        let rules = &all.principal("a").unwrap().rules;
        assert!(rules.service_allowed(Service::Sensor).is_ok());
        let none = policy("[principals.a]\nservices = []\n");
        let rules = &none.principal("a").unwrap().rules;
        assert!(rules.service_allowed(Service::Fetch).is_err());
    }

    #[test]
    fn a_policy_without_principals_is_refused() {
        for text in ["", "mode = \"enforce\"\n", "[principals]\n"] {
            let e = error(text);
            assert!(e.contains("principals"), "{text:?}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_write_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(!writable_by_others(&path));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(writable_by_others(&path));
    }

    #[test]
    fn reflection_is_open_unless_the_file_puts_it_under_the_policy() {
        let open = Policy::parse("[principals.a]\nservices = [\"*\"]\n", None).unwrap();
        assert_eq!(open.reflection(), ReflectionAccess::Open);
        let text = "reflection = \"policy\"\n[principals.a]\nservices = [\"reflection\"]\n";
        let policed = Policy::parse(text, None).unwrap();
        assert_eq!(policed.reflection(), ReflectionAccess::Policy);
        let e = error("reflection = \"closed\"\n[principals.a]\nservices = [\"*\"]\n");
        assert!(e.contains("closed") || e.contains("reflection"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_naming_them() {
        let e = error("[principals.a]\nservices = [\"*\"]\nfetch_host = [\"x\"]\n");
        assert!(e.contains("fetch_host"), "{e}");
        let e = error("mode = \"audit\"\n");
        assert!(e.contains("audit") || e.contains("mode"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_naming_principal_and_key() {
        for (text, key) in [
            (
                "[principals.a]\nservices = [\"*\"]\ntokens_sha256 = [\"abc\"]\n",
                "principals.a.tokens_sha256[0]",
            ),
            (
                "[principals.a]\nservices = [\"fetch\", \"mail\"]\n",
                "principals.a.services[1]",
            ),
            (
                "[principals.a]\nservices = [\"*\"]\nfetch_methods = [\"G ET\"]\n",
                "principals.a.fetch_methods[0]",
            ),
            (
                "[principals.a]\nservices = [\"*\"]\nfetch_hosts = [\"a*.b\"]\n",
                "principals.a.fetch_hosts[0]",
            ),
            (
                "[principals.a]\nservices = [\"*\"]\nrate_per_second = 0\n",
                "principals.a.rate_per_second",
            ),
            (
                "[principals.a]\nservices = [\"*\"]\nmax_concurrent = 0\n",
                "principals.a.max_concurrent",
            ),
            (
                "anonymous = \"ghost\"\n[principals.a]\nservices = [\"*\"]\n",
                "anonymous",
            ),
        ] {
            let e = error(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_token_or_identity_listed_twice_is_refused() {
        let h = sha("t");
        let e = error(&format!(
            "[principals.a]\nservices = [\"*\"]\ntokens_sha256 = [\"{h}\"]\n[principals.b]\nservices = [\"*\"]\ntokens_sha256 = [\"{h}\"]\n"
        ));
        assert!(
            e.contains("principals.b.tokens_sha256[0]") && e.contains("\"a\""),
            "{e}"
        );
        let e = error(
            "[principals.a]\nservices = [\"*\"]\nmtls_identities = [\"x\"]\n[principals.b]\nservices = [\"*\"]\nmtls_identities = [\"X\"]\n",
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
        assert!(matches!(
            p.principal_for_token("test"),
            PrincipalMatch::Known(_)
        ));
        let debug = format!("{p:?}");
        assert!(!debug.contains("9f86d0"), "hashes stay out of debug output");
    }

    #[test]
    fn live_state_is_carried_over_by_name() {
        let text = "[principals.a]\nservices = [\"*\"]\nrate_per_second = 5\nmax_concurrent = 2\n";
        let first = policy(text);
        let second = Policy::parse(text, Some(&first)).unwrap();
        let (a1, a2) = (
            first.principal("a").unwrap(),
            second.principal("a").unwrap(),
        );
        assert!(Arc::ptr_eq(&a1.state, &a2.state));
    }
}
