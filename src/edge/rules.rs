//! One principal's rules and the pure checks against them. Nothing here logs, counts or
//! knows about modes: [`super::Caller`] turns a broken rule into a refusal or a report.

use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU32;

use http::Method;

use super::hosts::normalize_host;
pub(crate) use super::hosts::{Destination, HostRule};

/// A streamgate service as the policy's `services` key names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// `streamgate.v1.FetchService` (Fetch and ListPages).
    Fetch,
    /// `streamgate.v1.LockService`.
    Lock,
    /// `streamgate.v1.SensorService`.
    Sensor,
    /// Server reflection (`grpc.reflection.v1` and `v1alpha`): a service of the policy only
    /// when the file says `reflection = "policy"`; open to every caller otherwise, as the
    /// contract says.
    Reflection,
}

impl Service {
    /// `fetch`, `lock`, `sensor` or `reflection`.
    pub fn from_policy_name(name: &str) -> Option<Self> {
        match name {
            "fetch" => Some(Self::Fetch),
            "lock" => Some(Self::Lock),
            "sensor" => Some(Self::Sensor),
            "reflection" => Some(Self::Reflection),
            _ => None,
        }
    }

    /// The name the policy file uses.
    pub fn policy_name(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Lock => "lock",
            Self::Sensor => "sensor",
            Self::Reflection => "reflection",
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

    /// Whether Fetch/ListPages may reach `to` for it.
    pub fn host_allowed(&self, to: &Destination<'_>) -> Result<(), Broken> {
        match &self.fetch_hosts {
            Some(rule) if !rule.allows(to) => Err(Broken {
                rule: Rule::FetchHosts,
                detail: format!("host {:?} is not listed for {to}", normalize_host(to.host)),
            }),
            _ => Ok(()),
        }
    }

    /// Whether Fetch may send `method` for it.
    pub fn method_allowed(&self, method: &Method) -> Result<(), Broken> {
        match &self.fetch_methods {
            // Case-insensitively, as Fetch reads the method: `get` is GET.
            Some(list)
                if !list
                    .iter()
                    .any(|m| m.as_str().eq_ignore_ascii_case(method.as_str())) =>
            {
                Err(Broken {
                    rule: Rule::FetchMethods,
                    detail: format!("method {method} is not listed"),
                })
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> HostRule {
        HostRule::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn to(url: &str) -> url::Url {
        url::Url::parse(url).unwrap()
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
        let a = to("http://a.com/");
        assert!(rules.host_allowed(&Destination::of(&a)).is_ok());
        let b_url = to("https://b.com/");
        let b = rules.host_allowed(&Destination::of(&b_url)).unwrap_err();
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
    fn methods_compare_case_insensitively() {
        let rules = Rules {
            fetch_methods: Some(vec![Method::GET]),
            ..Rules::default()
        };
        let lower = Method::from_bytes(b"get").unwrap();
        assert!(rules.method_allowed(&lower).is_ok());
        let post = Method::from_bytes(b"post").unwrap();
        assert!(rules.method_allowed(&post).is_err());
    }

    #[test]
    fn absent_rules_allow_everything() {
        let rules = Rules::default();
        assert!(rules.service_allowed(Service::Sensor).is_ok());
        let any = to("https://anything.example:1/");
        assert!(rules.host_allowed(&Destination::of(&any)).is_ok());
        assert!(rules.method_allowed(&Method::DELETE).is_ok());
        assert!(rules.lock_allowed(LockRpc::Acquire, "any").is_ok());
    }
}
