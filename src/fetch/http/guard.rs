//! The target guard: which URLs and addresses Fetch and ListPages may reach.
//!
//! Pure rules, no I/O. The resolver (`resolve.rs`) applies [`Policy::check_ip`] to every
//! address a name resolves to, and the client applies [`Policy::check_url`] to the first URL
//! and to every redirect hop, because reqwest never asks the resolver about IP-literal hosts.
//! The blocked ranges follow Stripe's smokescreen: anything that is not a globally routed
//! unicast address is refused unless the server runs with `--allow-private-networks`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// A refused target: the address (or host) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// What was refused, e.g. `127.0.0.1` or `ftp://x`.
    pub(crate) target: String,
    /// Why, e.g. `a loopback address`.
    pub(crate) reason: String,
    context: Option<String>,
}

impl Refused {
    fn address(ip: IpAddr, reason: &str) -> Self {
        Self {
            target: ip.to_string(),
            reason: reason.to_string(),
            context: None,
        }
    }

    /// A redirect to a scheme other than http or https.
    pub(crate) fn scheme(url: &Url) -> Self {
        Self {
            target: url.to_string(),
            reason: format!("a {} URL, not http or https", url.scheme()),
            context: None,
        }
    }

    /// The same refusal with a prefix saying where it happened (which page).
    pub(crate) fn with_context(mut self, context: &str) -> Self {
        self.context = Some(match self.context.take() {
            Some(c) => format!("{context}: {c}"),
            None => context.to_string(),
        });
        self
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.context {
            write!(f, "{c}: ")?;
        }
        write!(
            f,
            "target {} is {}; refused (the server allows only public addresses unless started with --allow-private-networks)",
            self.target, self.reason
        )
    }
}

impl std::error::Error for Refused {}

/// Why an IPv4 address is not a public unicast target, or `None` when it is.
pub(crate) fn ipv4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let reason = match o {
        [0, ..] => "an unspecified (0.0.0.0/8) address",
        [127, ..] => "a loopback address",
        [10, ..] => "a private (RFC 1918) address",
        [172, b, ..] if (16..=31).contains(&b) => "a private (RFC 1918) address",
        [192, 168, ..] => "a private (RFC 1918) address",
        [100, b, ..] if (64..=127).contains(&b) => "a shared (CGNAT 100.64.0.0/10) address",
        [169, 254, ..] => "a link-local address (cloud metadata lives here)",
        [192, 0, 0, _] => "an IETF protocol (192.0.0.0/24) address",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "a documentation address",
        [198, b, ..] if b == 18 || b == 19 => "a benchmarking (198.18.0.0/15) address",
        [a, ..] if (224..=239).contains(&a) => "a multicast address",
        [a, ..] if a >= 240 => "a reserved or broadcast address",
        _ => return None,
    };
    Some(reason)
}

/// Why an IPv6 address is not a public unicast target, or `None` when it is. Forms that
/// embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
pub(crate) fn ipv6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("an unspecified (::) address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    let embedded = ipv4_refusal;
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (deprecated compatible form).
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return embedded(v4).or(if s[5] == 0 {
            Some("an IPv4-compatible IPv6 address (deprecated)")
        } else {
            None
        });
    }
    // 64:ff9b::/96 NAT64 translates to the embedded IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return embedded(v4);
    }
    // 2002:AABB:CCDD::/48 is 6to4 for A.B.C.D.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return embedded(v4);
    }
    let reason = match s[0] {
        x if x & 0xfe00 == 0xfc00 => "a unique-local (fc00::/7) address",
        x if x & 0xffc0 == 0xfe80 => "a link-local (fe80::/10) address",
        x if x & 0xffc0 == 0xfec0 => "a site-local (fec0::/10) address",
        x if x & 0xff00 == 0xff00 => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation (2001:db8::/32) address",
        0x2001 if s[1] == 0 => "a Teredo (2001::/32) address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only (100::/64) address",
        _ => return None,
    };
    Some(reason)
}

/// Why `ip` is not a public unicast target, or `None` when it is.
pub(crate) fn ip_refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => ipv4_refusal(v4),
        IpAddr::V6(v6) => ipv6_refusal(v6),
    }
}

/// What the guard lets through.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    /// `--allow-private-networks`: every address passes.
    pub(crate) allow_private: bool,
    /// Exact addresses let through even though their range is refused (like smokescreen's
    /// allow list); empty by default, set by embedders and tests.
    pub(crate) allowed: Vec<IpAddr>,
}

impl Policy {
    /// Refuses `ip` unless it is public, allowed by name, or private networks are allowed.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allow_private || self.allowed.contains(&ip) {
            return Ok(());
        }
        match ip_refusal(ip) {
            Some(reason) => Err(Refused::address(ip, reason)),
            None => Ok(()),
        }
    }

    /// Checks what can be checked without resolving: the scheme and an IP-literal host
    /// (the `url` crate has already turned `2130706433`, `0x7f000001` and `127.1` into
    /// `127.0.0.1`). Named hosts are checked by the resolver when they are looked up.
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), Refused> {
        match url.host() {
            Some(Host::Ipv4(v4)) => self.check_ip(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => self.check_ip(IpAddr::V6(v6)),
            Some(Host::Domain(_)) => Ok(()),
            None => Err(Refused {
                target: url.to_string(),
                reason: "a URL without a host".into(),
                context: None,
            }),
        }
    }
}

/// An absolute http(s) URL with a host: what a Fetch or ListPages request may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetUrl(Url);

impl TargetUrl {
    /// Parses `raw`; the error says what is wrong, for an INVALID_ARGUMENT on `field`.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("is empty; give an absolute http or https URL".into());
        }
        let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not an absolute URL ({e})"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "scheme {:?} is not allowed; use http or https",
                url.scheme()
            ));
        }
        if url.host().is_none() {
            return Err(format!("{raw:?} has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "credentials in the URL are not accepted; send an Authorization header".into(),
            );
        }
        Ok(Self(url))
    }

    /// The parsed URL.
    #[cfg(test)]
    pub(crate) fn url(&self) -> &Url {
        &self.0
    }

    /// Takes the parsed URL.
    pub(crate) fn into_url(self) -> Url {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        ip_refusal(s.parse().unwrap()).is_some()
    }

    #[test]
    fn internal_ipv4_ranges_are_refused() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_ipv4_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "93.184.216.34",
        ] {
            assert!(!refused(ip), "{ip} should pass");
        }
    }

    #[test]
    fn internal_ipv6_ranges_and_embedded_ipv4_forms_are_refused() {
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:db8::1",
            "2001::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_ipv6_addresses_pass() {
        for ip in [
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(!refused(ip), "{ip} should pass");
        }
    }

    #[test]
    fn odd_ipv4_spellings_are_normalised_and_refused() {
        let policy = Policy::default();
        for raw in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://[::ffff:7f00:1]/",
        ] {
            let url = TargetUrl::parse(raw).unwrap();
            let err = policy.check_url(url.url()).unwrap_err();
            assert!(err.target.contains("127.0.0.1"), "{raw} -> {err}");
        }
    }

    #[test]
    fn metadata_address_is_refused_naming_it() {
        let err = Policy::default()
            .check_url(
                TargetUrl::parse("http://169.254.169.254/latest/meta-data/")
                    .unwrap()
                    .url(),
            )
            .unwrap_err();
        assert_eq!(err.target, "169.254.169.254");
        assert!(err.to_string().contains("link-local"));
    }

    #[test]
    fn allow_private_and_exact_allow_list_let_addresses_through() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(
            Policy {
                allow_private: true,
                allowed: vec![]
            }
            .check_ip(ip)
            .is_ok()
        );
        let only = Policy {
            allow_private: false,
            allowed: vec![ip],
        };
        assert!(only.check_ip(ip).is_ok());
        assert!(only.check_ip("127.0.0.2".parse().unwrap()).is_err());
    }

    #[test]
    fn non_http_schemes_and_relative_urls_are_invalid() {
        assert!(
            TargetUrl::parse("ftp://example.com/")
                .unwrap_err()
                .contains("scheme")
        );
        assert!(
            TargetUrl::parse("file:///etc/passwd")
                .unwrap_err()
                .contains("scheme")
        );
        assert!(TargetUrl::parse("/relative").is_err());
        assert!(TargetUrl::parse("").is_err());
        assert!(TargetUrl::parse("http://user:pw@example.com/").is_err());
        assert!(TargetUrl::parse("https://example.com/x?y=1").is_ok());
    }
}
