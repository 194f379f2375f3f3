//! One principal's rules and the pure checks against them. Nothing here logs, counts or
//! knows about modes: [`super::Caller`] turns a broken rule into a refusal or a report.

use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU32;

use http::Method;

/// A streamgate service as the policy's `services` key names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// `streamgate.v1.FetchService` (Fetch and ListPages).
    Fetch,
    /// `streamgate.v1.LockService`.
    Lock,
    /// `streamgate.v1.SensorService`.
    Sensor,
}

impl Service {
    /// `fetch`, `lock` or `sensor`.
    pub fn from_policy_name(name: &str) -> Option<Self> {
        match name {
            "fetch" => Some(Self::Fetch),
            "lock" => Some(Self::Lock),
            "sensor" => Some(Self::Sensor),
            _ => None,
        }
    }

    /// The name the policy file uses.
    pub fn policy_name(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Lock => "lock",
            Self::Sensor => "sensor",
        }
    }
}

/// A rule of the policy; refusals name it by its key ([`Rule::key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `services`.
    Services,
    /// `fetch_hosts`.
    FetchHosts,
    /// `fetch_methods`.
    FetchMethods,
    /// `lock_prefixes`.
    LockPrefixes,
    /// `rate_per_second`.
    RatePerSecond,
    /// `max_concurrent`.
    MaxConcurrent,
}

impl Rule {
    /// Every rule, for counters indexed by rule.
    pub const ALL: [Rule; 6] = [
        Rule::Services,
        Rule::FetchHosts,
        Rule::FetchMethods,
        Rule::LockPrefixes,
        Rule::RatePerSecond,
        Rule::MaxConcurrent,
    ];

    /// The policy key of this rule, as refusals name it.
    pub fn key(self) -> &'static str {
        match self {
            Rule::Services => "services",
            Rule::FetchHosts => "fetch_hosts",
            Rule::FetchMethods => "fetch_methods",
            Rule::LockPrefixes => "lock_prefixes",
            Rule::RatePerSecond => "rate_per_second",
            Rule::MaxConcurrent => "max_concurrent",
        }
    }

    /// This rule's position in [`Rule::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether breaking it is a limit (RESOURCE_EXHAUSTED) rather than a refusal
    /// (PERMISSION_DENIED).
    pub fn is_limit(self) -> bool {
        matches!(self, Rule::RatePerSecond | Rule::MaxConcurrent)
    }
}

/// A lock RPC, named in refusals (`lock_prefixes` applies to each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockRpc {
    /// AcquireLock.
    Acquire,
    /// Extend.
    Extend,
    /// Release.
    Release,
    /// Hold.
    Hold,
}

impl fmt::Display for LockRpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Acquire => "AcquireLock",
            Self::Extend => "Extend",
            Self::Release => "Release",
            Self::Hold => "Hold",
        })
    }
}

/// A rule a call would break, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The rule.
    pub rule: Rule,
    /// What the call asked for that the rule does not allow (never a credential).
    pub detail: String,
}

/// What one principal may do; `None` everywhere means no limit.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Services it may call.
    pub services: Option<HashSet<Service>>,
    /// Hosts Fetch and ListPages may reach for it (every redirect hop and page).
    pub fetch_hosts: Option<HostRule>,
    /// Methods Fetch may send for it.
    pub fetch_methods: Option<Vec<Method>>,
    /// Prefixes of the lock names it may touch.
    pub lock_prefixes: Option<Vec<String>>,
    /// Calls per second (token bucket, burst twice the rate).
    pub rate_per_second: Option<NonZeroU32>,
    /// Calls plus open streams at once.
    pub max_concurrent: Option<NonZeroU32>,
    /// Whether the shared HTTP cache answers and stores its Fetch and ListPages calls
    /// (absent = yes, when the server has a cache).
    pub fetch_cache: Option<bool>,
}

impl Rules {
    /// Whether it may call `service`.
    pub fn service_allowed(&self, service: Service) -> Result<(), Broken> {
        match &self.services {
            Some(set) if !set.contains(&service) => Err(Broken {
                rule: Rule::Services,
                detail: format!("service {:?} is not listed", service.policy_name()),
            }),
            _ => Ok(()),
        }
    }

    /// Whether Fetch/ListPages may reach `host` for it (a URL's host as `url` gives it:
    /// lowercase, punycode, IPv6 in brackets).
    pub fn host_allowed(&self, host: &str) -> Result<(), Broken> {
        match &self.fetch_hosts {
            Some(rule) if !rule.allows(host) => Err(Broken {
                rule: Rule::FetchHosts,
                detail: format!("host {:?} is not listed", normalize_host(host)),
            }),
            _ => Ok(()),
        }
    }

    /// Whether Fetch may send `method` for it.
    pub fn method_allowed(&self, method: &Method) -> Result<(), Broken> {
        match &self.fetch_methods {
            Some(list) if !list.contains(method) => Err(Broken {
                rule: Rule::FetchMethods,
                detail: format!("method {method} is not listed"),
            }),
            _ => Ok(()),
        }
    }

    /// Whether `rpc` may touch the lock `name` for it.
    pub fn lock_allowed(&self, rpc: LockRpc, name: &str) -> Result<(), Broken> {
        match &self.lock_prefixes {
            Some(list) if !list.iter().any(|p| name.starts_with(p.as_str())) => Err(Broken {
                rule: Rule::LockPrefixes,
                detail: format!("{rpc} on lock {name:?}: the name has none of the listed prefixes"),
            }),
            _ => Ok(()),
        }
    }
}

/// `fetch_hosts`: exact host names and `*.suffix` patterns. `*.example.org` matches any name
/// under example.org (`a.example.org`, `a.b.example.org`) but not `example.org` itself,
/// which is listed on its own if wanted (smokescreen's rule).
#[derive(Clone, Debug, Default)]
pub struct HostRule {
    exact: HashSet<String>,
    /// Each with its leading dot: `.example.org`.
    suffixes: Vec<String>,
}

impl HostRule {
    /// Compiles the list; an error starts with `[i]: ` for the entry at fault.
    pub fn new(list: &[String]) -> Result<Self, String> {
        let mut rule = Self::default();
        for (i, raw) in list.iter().enumerate() {
            let entry = normalize_host(raw);
            let bad = |why: &str| format!("[{i}]: {raw:?} {why}");
            if entry.is_empty() {
                return Err(bad("is empty"));
            }
            if !entry.is_ascii() {
                return Err(bad(
                    "is not ASCII: write an internationalized name in its punycode (xn--) form",
                ));
            }
            if let Some(suffix) = entry.strip_prefix("*.") {
                if suffix.is_empty() || suffix.contains('*') {
                    return Err(bad("is not a host name or a `*.suffix` pattern"));
                }
                rule.suffixes.push(format!(".{suffix}"));
            } else if entry.contains('*') || entry.contains('/') || entry.contains(':') {
                if entry.parse::<std::net::Ipv6Addr>().is_ok() {
                    rule.exact.insert(entry);
                    continue;
                }
                return Err(bad(
                    "is not a host name or a `*.suffix` pattern (no scheme, port or path)",
                ));
            } else {
                rule.exact.insert(entry);
            }
        }
        Ok(rule)
    }

    /// Whether `host` is listed.
    pub fn allows(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.exact.contains(&host)
            || self
                .suffixes
                .iter()
                .any(|s| host.len() > s.len() && host.ends_with(s.as_str()))
    }
}

/// Lowercase, without IPv6 brackets or a trailing dot (`Example.COM.` is `example.com`).
fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> HostRule {
        HostRule::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exact_hosts_and_suffix_patterns() {
        let r = hosts(&["api.example.com", "*.example.org", "127.0.0.1", "::1"]);
        assert!(r.allows("api.example.com"));
        assert!(r.allows("API.Example.com."));
        assert!(!r.allows("example.com"));
        assert!(!r.allows("xapi.example.com"));
        assert!(r.allows("a.example.org"));
        assert!(r.allows("a.b.example.org"));
        assert!(!r.allows("example.org"), "*.suffix does not match the apex");
        assert!(!r.allows("badexample.org"));
        assert!(!r.allows("example.org.evil.com"));
        assert!(r.allows("127.0.0.1"));
        assert!(r.allows("[::1]"));
        assert!(!r.allows("127.0.0.2"));
    }

    #[test]
    fn malformed_host_entries_are_refused_naming_the_index() {
        for bad in [
            "",
            "a*.b",
            "*.",
            "http://a.com",
            "a.com:443",
            "a.com/x",
            "exämple.org",
        ] {
            let e = HostRule::new(&["ok.com".to_owned(), bad.to_owned()]).unwrap_err();
            assert!(e.starts_with("[1]: "), "{bad:?}: {e}");
        }
    }

    #[test]
    fn each_rule_names_itself_when_broken() {
        let rules = Rules {
            services: Some([Service::Fetch].into_iter().collect()),
            fetch_hosts: Some(hosts(&["a.com"])),
            fetch_methods: Some(vec![Method::GET]),
            lock_prefixes: Some(vec!["billing/".into()]),
            ..Rules::default()
        };
        assert!(rules.service_allowed(Service::Fetch).is_ok());
        assert_eq!(
            rules.service_allowed(Service::Lock).unwrap_err().rule,
            Rule::Services
        );
        assert!(rules.host_allowed("a.com").is_ok());
        let b = rules.host_allowed("b.com").unwrap_err();
        assert_eq!(b.rule, Rule::FetchHosts);
        assert!(b.detail.contains("b.com"), "{}", b.detail);
        assert!(rules.method_allowed(&Method::GET).is_ok());
        assert_eq!(
            rules.method_allowed(&Method::POST).unwrap_err().rule,
            Rule::FetchMethods
        );
        assert!(rules.lock_allowed(LockRpc::Hold, "billing/x").is_ok());
        let b = rules.lock_allowed(LockRpc::Release, "ops/x").unwrap_err();
        assert_eq!(b.rule, Rule::LockPrefixes);
        assert!(b.detail.contains("Release"), "{}", b.detail);
    }

    #[test]
    fn absent_rules_allow_everything() {
        let rules = Rules::default();
        assert!(rules.service_allowed(Service::Sensor).is_ok());
        assert!(rules.host_allowed("anything.example").is_ok());
        assert!(rules.method_allowed(&Method::DELETE).is_ok());
        assert!(rules.lock_allowed(LockRpc::Acquire, "any").is_ok());
    }
}
