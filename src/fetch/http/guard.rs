//! The target guard: which URLs and addresses Fetch and ListPages may reach.
//!
//! Pure rules, no I/O. The resolver (`resolve.rs`) applies [`TargetGuard::check_ip`] to every
//! address a name resolves to, and the client applies [`TargetGuard::check_url`] to the first URL
//! and to every redirect hop, because reqwest never asks the resolver about IP-literal hosts.
//! The blocked ranges follow Stripe's smokescreen: anything that is not a globally routed
//! unicast address is refused unless the server runs with `--allow-private-networks`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::metrics::RefusalKind;
use crate::telemetry::semconv::{raw_url_redacted, url_full};

/// A refused address range: its kind and the words the message uses for it.
pub(crate) type Refusal = (RefusalKind, &'static str);

/// A refused target: the address (or host) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// What was refused as the caller can know it: an address literal, a host name whose
    /// address was refused, or a URL.
    pub(crate) target: String,
    /// Why, e.g. `a loopback address`.
    pub(crate) reason: String,
    /// `target` is a host name and the address it resolved to was refused: the message names
    /// the host and the class of address only, so a caller cannot map internal names to
    /// addresses (the address is logged server-side).
    resolved: bool,
    /// The kind of refusal, for `streamgate_fetch_refused_total{reason}`.
    pub(crate) kind: RefusalKind,
    context: Option<String>,
}

impl Refused {
    fn address(ip: IpAddr, (kind, reason): Refusal) -> Self {
        Self {
            target: ip.to_string(),
            reason: reason.to_string(),
            resolved: false,
            kind,
            context: None,
        }
    }

    /// A redirect to a scheme other than http or https.
    pub(crate) fn scheme(url: &Url) -> Self {
        Self {
            target: url_full(url),
            reason: format!("a {} URL, not http or https", url.scheme()),
            resolved: false,
            kind: RefusalKind::BadScheme,
            context: None,
        }
    }

    /// The refusal of an address `host` resolved to, naming the host instead of it.
    pub(crate) fn for_host(self, host: &str) -> Self {
        Self {
            target: host.to_string(),
            resolved: true,
            ..self
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
        if self.resolved {
            write!(f, "host {} resolves to {}", self.target, self.reason)?;
        } else {
            write!(f, "target {} is {}", self.target, self.reason)?;
        }
        f.write_str(
            "; refused (the server allows only public addresses unless started with --allow-private-networks)",
        )
    }
}

impl std::error::Error for Refused {}

/// Why an IPv4 address is not a public unicast target, or `None` when it is: every range of
/// the IANA IPv4 special-purpose registry that is not globally reachable, multicast, and the
/// deprecated 6to4 relay anycast.
pub(crate) fn ipv4_refusal(ip: Ipv4Addr) -> Option<Refusal> {
    let o = ip.octets();
    let reason = match o {
        [0, ..] => (
            RefusalKind::Unspecified,
            "an unspecified (0.0.0.0/8) address",
        ),
        [127, ..] => (RefusalKind::Loopback, "a loopback address"),
        [10, ..] => (RefusalKind::Private, "a private (RFC 1918) address"),
        [172, b, ..] if (16..=31).contains(&b) => {
            (RefusalKind::Private, "a private (RFC 1918) address")
        }
        [192, 168, ..] => (RefusalKind::Private, "a private (RFC 1918) address"),
        [100, b, ..] if (64..=127).contains(&b) => (
            RefusalKind::Shared,
            "a shared (CGNAT 100.64.0.0/10) address",
        ),
        [169, 254, ..] => (
            RefusalKind::LinkLocal,
            "a link-local address (cloud metadata lives here)",
        ),
        [192, 0, 0, _] => (
            RefusalKind::Reserved,
            "an IETF protocol (192.0.0.0/24) address",
        ),
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => {
            (RefusalKind::Reserved, "a documentation address")
        }
        [192, 88, 99, _] => (
            RefusalKind::Reserved,
            "a deprecated 6to4 relay anycast (192.88.99.0/24) address",
        ),
        [198, b, ..] if b == 18 || b == 19 => (
            RefusalKind::Reserved,
            "a benchmarking (198.18.0.0/15) address",
        ),
        [a, ..] if (224..=239).contains(&a) => (RefusalKind::Multicast, "a multicast address"),
        [a, ..] if a >= 240 => (RefusalKind::Reserved, "a reserved or broadcast address"),
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address in the last 32 bits of `s`.
fn low_ipv4(s: &[u16; 8]) -> Ipv4Addr {
    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)
}

/// Why an IPv6 address is not a public unicast target, or `None` when it is: every range of
/// the IANA IPv6 special-purpose registry that is not globally reachable, multicast and the
/// deprecated site-local range. Forms that reach an IPv4 address (mapped, compatible,
/// translated, NAT64, 6to4) are judged by that address as well.
pub(crate) fn ipv6_refusal(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some((RefusalKind::Unspecified, "an unspecified (::) address"));
    }
    if ip.is_loopback() {
        return Some((RefusalKind::Loopback, "a loopback address"));
    }
    let embedded = ipv4_refusal;
    match s {
        // ::ffff:a.b.c.d, IPv4-mapped: the IPv4 address itself.
        [0, 0, 0, 0, 0, 0xffff, ..] => return embedded(low_ipv4(&s)),
        // ::a.b.c.d, IPv4-compatible (deprecated by RFC 4291).
        [0, 0, 0, 0, 0, 0, ..] => {
            return embedded(low_ipv4(&s)).or(Some((
                RefusalKind::Reserved,
                "an IPv4-compatible IPv6 address (deprecated)",
            )));
        }
        // ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765 SIIT): not routed on the Internet.
        [0, 0, 0, 0, 0xffff, 0, ..] => {
            return embedded(low_ipv4(&s)).or(Some((
                RefusalKind::Reserved,
                "an IPv4-translated (::ffff:0:0:0/96) address",
            )));
        }
        // 64:ff9b::/96, well-known NAT64 prefix: translated to the embedded address.
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => return embedded(low_ipv4(&s)),
        // 2002:AABB:CCDD::/48 is 6to4 for A.B.C.D.
        [0x2002, hi, lo, ..] => {
            let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
            return embedded(v4);
        }
        _ => {}
    }
    let reason = match s {
        [0x64, 0xff9b, 1, ..] => (
            RefusalKind::Reserved,
            "a local-use NAT64 (64:ff9b:1::/48) address",
        ),
        [0x0100, 0, 0, 0, ..] => (RefusalKind::Reserved, "a discard-only (100::/64) address"),
        [0x0100, 0, 0, 1, ..] => (RefusalKind::Reserved, "a dummy (100:0:0:1::/64) address"),
        // Teredo tunnels to an IPv4 server and client; never a direct target.
        [0x2001, 0, ..] => (RefusalKind::Reserved, "a Teredo (2001::/32) address"),
        // IETF protocol assignments: benchmarking 2001:2::/48, ORCHID 2001:10::/28 and
        // ORCHIDv2 2001:20::/28 among them; none is a web server's address.
        [0x2001, b, ..] if b < 0x0200 => (
            RefusalKind::Reserved,
            "an IETF protocol (2001::/23) address",
        ),
        [0x2001, 0x0db8, ..] => (
            RefusalKind::Reserved,
            "a documentation (2001:db8::/32) address",
        ),
        [0x3fff, b, ..] if b < 0x1000 => {
            (RefusalKind::Reserved, "a documentation (3fff::/20) address")
        }
        [0x5f00, ..] => (
            RefusalKind::Reserved,
            "a segment-routing SID (5f00::/16) address",
        ),
        [x, ..] if x & 0xfe00 == 0xfc00 => {
            (RefusalKind::Private, "a unique-local (fc00::/7) address")
        }
        [x, ..] if x & 0xffc0 == 0xfe80 => {
            (RefusalKind::LinkLocal, "a link-local (fe80::/10) address")
        }
        [x, ..] if x & 0xffc0 == 0xfec0 => {
            (RefusalKind::Private, "a site-local (fec0::/10) address")
        }
        [x, ..] if x & 0xff00 == 0xff00 => (RefusalKind::Multicast, "a multicast address"),
        _ => return None,
    };
    Some(reason)
}

/// Why `ip` is not a public unicast target, or `None` when it is.
pub(crate) fn ip_refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => ipv4_refusal(v4),
        IpAddr::V6(v6) => ipv6_refusal(v6),
    }
}

/// What the guard lets through.
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetGuard {
    /// `--allow-private-networks`: every address passes.
    pub(crate) allow_private: bool,
    /// Exact addresses let through even though their range is refused (like smokescreen's
    /// allow list); empty by default, set by embedders and tests.
    pub(crate) allowed: Vec<IpAddr>,
}

impl TargetGuard {
    /// Refuses `ip` unless it is public, allowed by name, or private networks are allowed.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allow_private || self.allowed.contains(&ip) {
            return Ok(());
        }
        match ip_refusal(ip) {
            Some(refusal) => Err(Refused::address(ip, refusal)),
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
                target: url_full(url),
                reason: "a URL without a host".into(),
                resolved: false,
                kind: RefusalKind::BadScheme,
                context: None,
            }),
        }
    }
}

/// An absolute http(s) URL with a host: what a Fetch or ListPages request may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetUrl(Url);

/// Request URLs parsed lately, by their text. Callers of a gateway name the same URLs over
/// and over, and parsing one (its host through IDNA) was the largest single cost of a cache
/// hit; a clone of the parsed form is far cheaper. Only URLs that passed every check of
/// [`TargetUrl::parse`] are kept, and only short ones, so the memo stays near a megabyte.
pub(crate) struct RecentUrls(quick_cache::sync::Cache<String, Url>);

/// URLs kept by [`RecentUrls`].
const RECENT_URLS: usize = 2_048;
/// The longest URL [`RecentUrls`] keeps, in bytes.
const RECENT_URL_MAX_BYTES: usize = 256;

impl RecentUrls {
    pub(crate) fn new() -> Self {
        Self(quick_cache::sync::Cache::new(RECENT_URLS))
    }

    /// [`TargetUrl::parse`], answered from the memo when `raw` was parsed lately.
    pub(crate) fn parse(&self, raw: &str) -> Result<TargetUrl, String> {
        let keep = raw.len() <= RECENT_URL_MAX_BYTES;
        if keep && let Some(url) = self.0.get(raw) {
            return Ok(TargetUrl(url));
        }
        let parsed = TargetUrl::parse(raw)?;
        if keep {
            self.0.insert(raw.to_owned(), parsed.0.clone());
        }
        Ok(parsed)
    }
}

impl TargetUrl {
    /// Parses `raw`; the error says what is wrong, for an INVALID_ARGUMENT on `field`.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("is empty; give an absolute http or https URL".into());
        }
        // The message echoes the URL redacted, as every Fetch status message does.
        let url = Url::parse(raw)
            .map_err(|e| format!("{:?} is not an absolute URL ({e})", raw_url_redacted(raw)))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "scheme {:?} is not allowed; use http or https",
                url.scheme()
            ));
        }
        if url.host().is_none() {
            return Err(format!("{:?} has no host", url_full(&url)));
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

    #[test]
    fn a_remembered_url_parses_as_the_first_time_and_a_refused_one_stays_refused() {
        let urls = RecentUrls::new();
        for raw in ["https://example.com/a?b=1", "http://127.0.0.1:8080/x"] {
            let first = urls.parse(raw).unwrap().into_url();
            let again = urls.parse(raw).unwrap().into_url();
            assert_eq!(first, again);
            assert_eq!(again, Url::parse(raw).unwrap());
        }
        for raw in ["ftp://example.com/", "http://user:pw@example.com/", ""] {
            let first = urls.parse(raw).unwrap_err();
            assert_eq!(urls.parse(raw).unwrap_err(), first, "{raw}");
        }
        let long = format!("https://example.com/{}", "a".repeat(RECENT_URL_MAX_BYTES));
        assert!(urls.parse(&long).is_ok());
        assert!(
            urls.0.get(long.as_str()).is_none(),
            "long URLs are not kept"
        );
    }

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
    fn every_special_purpose_ipv6_range_that_is_not_globally_reachable_is_refused() {
        for (ip, class) in [
            ("::ffff:0:7f00:1", "loopback"),
            ("::ffff:0:a00:1", "private"),
            ("::ffff:0:808:808", "IPv4-translated"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("64:ff9b:1:ffff::1", "local-use NAT64"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2001:2::1", "IETF protocol"),
            ("2001:2:0:ffff::1", "IETF protocol"),
            ("2001:10::1", "IETF protocol"),
            ("2001:1f:ffff::1", "IETF protocol"),
            ("2001:20::1", "IETF protocol"),
            ("2001:2f:ffff::1", "IETF protocol"),
            ("2001:1ff::1", "IETF protocol"),
            ("2001::1", "Teredo"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("3fff::1", "documentation"),
            ("3fff:fff:ffff::1", "documentation"),
            ("5f00::1", "segment-routing"),
            ("5f00:ffff::1", "segment-routing"),
            ("100::1", "discard-only"),
            ("100:0:0:1::1", "dummy"),
            ("2002:a00:1::1", "private"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:c058:6301::1", "6to4 relay"),
            ("::7f00:1", "loopback"),
            ("::808:808", "IPv4-compatible"),
        ] {
            let why = ip_refusal(ip.parse().unwrap());
            assert!(
                why.is_some_and(|(_, w)| w.contains(class)),
                "{ip}: expected {class}, got {why:?}"
            );
        }
    }

    #[test]
    fn addresses_next_to_the_refused_ranges_pass() {
        for ip in [
            "64:ff9b:2::1",
            "2001:200::1",
            "2001:4860:4860::8888",
            "3ffe::1",
            "3fff:1000::1",
            "4000::1",
            "5f01::1",
            "100:0:0:2::1",
            "2002:808:808::1",
            "64:ff9b::808:808",
            "192.88.98.1",
            "192.88.100.1",
        ] {
            assert!(
                !refused(ip),
                "{ip} should pass: {:?}",
                ip_refusal(ip.parse().unwrap())
            );
        }
    }

    #[test]
    fn a_refused_resolved_address_is_reported_by_host_and_class_only() {
        let r = TargetGuard::default()
            .check_ip("10.1.2.3".parse().unwrap())
            .unwrap_err()
            .for_host("db.internal");
        let msg = r.to_string();
        assert!(
            msg.contains("host db.internal resolves to a private"),
            "{msg}"
        );
        assert!(!msg.contains("10.1.2.3"), "{msg}");
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
        let policy = TargetGuard::default();
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
        let err = TargetGuard::default()
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
            TargetGuard {
                allow_private: true,
                allowed: vec![]
            }
            .check_ip(ip)
            .is_ok()
        );
        let only = TargetGuard {
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

    #[test]
    fn an_invalid_url_is_named_without_its_query_values() {
        let e = TargetUrl::parse("http://example.com:99999/x?key=s3cret").unwrap_err();
        assert!(e.contains("key=REDACTED") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn every_refusal_has_the_kind_its_range_names() {
        let kind = |ip: &str| {
            TargetGuard::default()
                .check_ip(ip.parse().unwrap())
                .unwrap_err()
                .kind
        };
        assert_eq!(kind("127.0.0.1"), RefusalKind::Loopback);
        assert_eq!(kind("::1"), RefusalKind::Loopback);
        assert_eq!(kind("::ffff:127.0.0.1"), RefusalKind::Loopback);
        assert_eq!(kind("10.1.2.3"), RefusalKind::Private);
        assert_eq!(kind("fd00::1"), RefusalKind::Private);
        assert_eq!(kind("169.254.169.254"), RefusalKind::LinkLocal);
        assert_eq!(kind("fe80::1"), RefusalKind::LinkLocal);
        assert_eq!(kind("100.64.0.1"), RefusalKind::Shared);
        assert_eq!(kind("0.0.0.0"), RefusalKind::Unspecified);
        assert_eq!(kind("224.0.0.1"), RefusalKind::Multicast);
        assert_eq!(kind("192.0.2.1"), RefusalKind::Reserved);
        assert_eq!(kind("2001:db8::1"), RefusalKind::Reserved);
        let ftp = Url::parse("ftp://example.com/").unwrap();
        assert_eq!(Refused::scheme(&ftp).kind, RefusalKind::BadScheme);
    }
}
