//! `fetch_hosts`: which hosts, ports and schemes a principal's Fetch and ListPages calls may
//! reach, compiled from the policy's entries (`host`, `*.suffix`, `host:port`,
//! `scheme://host[:port]`). Pure: the fetch path asks [`HostRule::allows`] about every URL,
//! redirect hop and page, before the address guard.

use std::collections::HashMap;
use std::fmt;

/// Where a Fetch or ListPages request goes, as `fetch_hosts` sees it: the URL's scheme, host
/// and port (the scheme's default when the URL names none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination<'a> {
    /// `http` or `https`, lowercase (as `url` gives it).
    pub scheme: &'a str,
    /// The host as `url` gives it: lowercase, punycode, IPv6 in brackets.
    pub host: &'a str,
    /// The port, or the scheme's default.
    pub port: Option<u16>,
}

impl<'a> Destination<'a> {
    /// The destination of `url`.
    pub fn of(url: &'a url::Url) -> Self {
        Self {
            scheme: url.scheme(),
            host: url.host_str().unwrap_or_default(),
            port: url.port_or_known_default(),
        }
    }
}

impl fmt::Display for Destination<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// What an entry of `fetch_hosts` says beyond the host: `host` allows every scheme and port,
/// `host:port` one port, `scheme://host[:port]` one origin (the scheme's default port when
/// none is written, as an origin means it in browsers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Scope {
    scheme: Option<Scheme>,
    port: Option<u16>,
}

/// The schemes Fetch speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

impl Scope {
    fn allows(&self, to: &Destination<'_>) -> bool {
        let scheme_ok = self
            .scheme
            .is_none_or(|s| Scheme::parse(to.scheme) == Some(s));
        let port_ok = self.port.is_none_or(|p| to.port == Some(p));
        scheme_ok && port_ok
    }
}

/// `fetch_hosts`: host names and `*.suffix` patterns, each alone (every port), with a port
/// (`api.example.com:8443`), or as an origin (`https://api.example.com[:port]`).
/// `*.example.org` matches any name under example.org (`a.example.org`, `a.b.example.org`)
/// but not `example.org` itself, which is listed on its own if wanted (smokescreen's rule).
#[derive(Clone, Debug, Default)]
pub struct HostRule {
    exact: HashMap<String, Vec<Scope>>,
    /// Each with its leading dot: `.example.org`.
    suffixes: Vec<(String, Scope)>,
}

/// Why an entry is refused, after its index and text.
const ENTRY_FORMS: &str = "is not `host`, `*.suffix`, `host:port` or `scheme://host[:port]` \
     (http or https, no path, query or user)";

impl HostRule {
    /// Compiles the list; an error starts with `[i]: ` for the entry at fault.
    pub fn new(list: &[String]) -> Result<Self, String> {
        let mut rule = Self::default();
        for (i, raw) in list.iter().enumerate() {
            let bad = |why: &str| format!("[{i}]: {raw:?} {why}");
            let (host, scope) = split_entry(raw.trim()).map_err(|why| bad(&why))?;
            let entry = normalize_host(host);
            if entry.is_empty() {
                return Err(bad("has no host"));
            }
            if !entry.is_ascii() {
                return Err(bad(
                    "is not ASCII: write an internationalized name in its punycode (xn--) form",
                ));
            }
            if let Some(suffix) = entry.strip_prefix("*.") {
                if suffix.is_empty() || suffix.contains('*') || !is_host_name(suffix) {
                    return Err(bad(ENTRY_FORMS));
                }
                rule.suffixes.push((format!(".{suffix}"), scope));
            } else if is_host_name(&entry) || entry.parse::<std::net::IpAddr>().is_ok() {
                rule.exact.entry(entry).or_default().push(scope);
            } else {
                return Err(bad(ENTRY_FORMS));
            }
        }
        Ok(rule)
    }

    /// Whether `to` is listed.
    pub fn allows(&self, to: &Destination<'_>) -> bool {
        let host = normalize_host(to.host);
        if let Some(scopes) = self.exact.get(&host)
            && scopes.iter().any(|s| s.allows(to))
        {
            return true;
        }
        self.suffixes.iter().any(|(s, scope)| {
            host.len() > s.len() && host.ends_with(s.as_str()) && scope.allows(to)
        })
    }
}

/// Splits an entry into its host and what it says of scheme and port.
fn split_entry(entry: &str) -> Result<(&str, Scope), String> {
    let (scheme, rest) = match entry.split_once("://") {
        Some((scheme, rest)) => (
            Some(Scheme::parse(scheme).ok_or_else(|| {
                format!("names the scheme {scheme:?}; Fetch speaks only http and https")
            })?),
            // `https://api.example.com/` is how an origin is often pasted.
            rest.strip_suffix('/').unwrap_or(rest),
        ),
        None => (None, entry),
    };
    if rest.contains(['/', '?', '#', '@']) {
        return Err(ENTRY_FORMS.to_owned());
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        // `[::1]` or `[::1]:8080`.
        let (v6, after) = bracketed
            .split_once(']')
            .ok_or_else(|| ENTRY_FORMS.to_owned())?;
        match after {
            "" => (v6, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return Err(ENTRY_FORMS.to_owned()),
            },
        }
    } else if scheme.is_none() && rest.parse::<std::net::Ipv6Addr>().is_ok() {
        // A bare IPv6 address: its colons are not a port.
        (rest, None)
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("has the port {p:?}, not a number from 1 to 65535"))
        })
        .transpose()?;
    let scope = Scope {
        scheme,
        port: port.or(scheme.map(Scheme::default_port)),
    };
    Ok((host, scope))
}

/// Letters, digits, `-` and `.` only: what a DNS name (after punycode) may hold.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// Lowercase, without IPv6 brackets or a trailing dot (`Example.COM.` is `example.com`).
pub(super) fn normalize_host(host: &str) -> String {
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

    fn allows(rule: &HostRule, url: &str) -> bool {
        rule.allows(&Destination::of(&url::Url::parse(url).unwrap()))
    }

    #[test]
    fn exact_hosts_and_suffix_patterns() {
        let r = hosts(&["api.example.com", "*.example.org", "127.0.0.1", "::1"]);
        assert!(allows(&r, "http://api.example.com/"));
        assert!(allows(&r, "https://API.Example.com./x"));
        assert!(
            allows(&r, "https://api.example.com:8443/"),
            "a bare host means every port"
        );
        assert!(!allows(&r, "http://example.com/"));
        assert!(!allows(&r, "http://xapi.example.com/"));
        assert!(allows(&r, "http://a.example.org/"));
        assert!(allows(&r, "http://a.b.example.org/"));
        assert!(
            !allows(&r, "http://example.org/"),
            "*.suffix does not match the apex"
        );
        assert!(!allows(&r, "http://badexample.org/"));
        assert!(!allows(&r, "http://example.org.evil.com/"));
        assert!(allows(&r, "http://127.0.0.1:9/"));
        assert!(allows(&r, "http://[::1]:9/"));
        assert!(!allows(&r, "http://127.0.0.2/"));
    }

    #[test]
    fn ports_and_origins_narrow_an_entry() {
        let r = hosts(&[
            "api.example.com:8443",
            "https://secure.example.com",
            "http://plain.example.com:8080/",
            "*.example.org:444",
            "[::1]:9000",
        ]);
        assert!(allows(&r, "https://api.example.com:8443/"));
        assert!(
            allows(&r, "http://api.example.com:8443/"),
            "host:port allows both schemes"
        );
        assert!(!allows(&r, "https://api.example.com/"), "443 is not 8443");
        assert!(allows(&r, "https://secure.example.com/"));
        assert!(
            !allows(&r, "http://secure.example.com:443/"),
            "the origin names https"
        );
        assert!(
            !allows(&r, "https://secure.example.com:8443/"),
            "an origin without a port means the scheme's default"
        );
        assert!(allows(&r, "http://plain.example.com:8080/x"));
        assert!(!allows(&r, "https://plain.example.com:8080/x"));
        assert!(allows(&r, "https://a.example.org:444/"));
        assert!(!allows(&r, "https://a.example.org/"));
        assert!(allows(&r, "http://[::1]:9000/"));
        assert!(!allows(&r, "http://[::1]:9001/"));
    }

    #[test]
    fn malformed_host_entries_are_refused_naming_the_index() {
        for bad in [
            "",
            "a*.b",
            "*.",
            "ftp://a.com",
            "a.com:0",
            "a.com:99999",
            "a.com:http",
            "a.com/x",
            "https://a.com/x",
            "https://user@a.com",
            "exämple.org",
            "[::1",
            "https://",
        ] {
            let e = HostRule::new(&["ok.com".to_owned(), bad.to_owned()]).unwrap_err();
            assert!(e.starts_with("[1]: "), "{bad:?}: {e}");
        }
    }
}
