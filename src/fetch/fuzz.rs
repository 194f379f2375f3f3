//! Property tests ("fuzzing" on a fixed budget) of the parsers a caller reaches before any
//! upstream sees a request: the target URL and the guard's address rules, and the
//! `grpc-timeout` header. The Link header parser and page tokens have theirs beside them
//! (`pages/paginate/link_header.rs`, `pages/token.rs`). Every test is named `fuzz_*`:
//! `cargo test --lib fuzz_` runs 256 cases each; `PROPTEST_CASES=100000 cargo test --release
//! --lib fuzz_` runs a long campaign (docs/fetch.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::http::guard::{TargetGuard, TargetUrl, ip_refusal, ipv4_refusal};
use crate::rpc::parse_grpc_timeout;

/// Strings shaped like URLs (schemes, odd hosts, userinfo, ports, IP spellings) mixed with
/// arbitrary text.
fn url_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(http|https|HTTP|ftp|file|)(:|://)(\\[[0-9a-f:.]{0,40}\\]|[a-z0-9.%@_-]{0,24})(:[0-9]{0,6})?(/[a-z0-9?=&%#./]{0,16})?",
        (any::<u32>(), 0u8..4).prop_map(|(n, form)| match form {
            0 => format!("http://{n}/"),
            1 => format!("http://0x{n:x}/"),
            2 => format!("http://{}/", Ipv4Addr::from(n)),
            _ => format!("http://[::ffff:{}]/", Ipv4Addr::from(n)),
        }),
    ]
}

proptest! {
    #[test]
    fn fuzz_target_urls_parse_without_panic_and_accepted_ones_are_http_with_a_host(raw in url_like()) {
        if let Ok(target) = TargetUrl::parse(&raw) {
            let url = target.url();
            prop_assert!(url.scheme() == "http" || url.scheme() == "https", "{raw}");
            prop_assert!(url.host().is_some(), "{raw}");
            prop_assert!(url.username().is_empty() && url.password().is_none(), "{raw}");
            // Whatever the spelling, an IP-literal host is judged as the address it is.
            let verdict = TargetGuard::default().check_url(url);
            match url.host() {
                Some(url::Host::Ipv4(v4)) => {
                    prop_assert_eq!(verdict.is_err(), ipv4_refusal(v4).is_some(), "{}", raw);
                }
                Some(url::Host::Ipv6(v6)) => {
                    prop_assert_eq!(verdict.is_err(), ip_refusal(IpAddr::V6(v6)).is_some(), "{}", raw);
                }
                _ => prop_assert!(verdict.is_ok(), "{raw}"),
            }
        }
    }

    #[test]
    fn fuzz_ipv6_forms_that_reach_an_ipv4_address_are_judged_by_it(n in any::<u32>()) {
        let v4 = Ipv4Addr::from(n);
        let refused = ipv4_refusal(v4).is_some();
        let [a, b, c, d] = v4.octets();
        let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        let v6 = |s: [u16; 8]| ip_refusal(IpAddr::V6(Ipv6Addr::from(s))).is_some();
        prop_assert_eq!(v6([0, 0, 0, 0, 0, 0xffff, hi, lo]), refused, "mapped {}", v4);
        prop_assert_eq!(v6([0x64, 0xff9b, 0, 0, 0, 0, hi, lo]), refused, "NAT64 {}", v4);
        prop_assert_eq!(v6([0x2002, hi, lo, 0, 0, 0, 0, 1]), refused, "6to4 {}", v4);
        // Never routed on the Internet, whatever they embed.
        prop_assert!(v6([0, 0, 0, 0, 0xffff, 0, hi, lo]), "translated {}", v4);
        prop_assert!(v6([0x64, 0xff9b, 1, 0, 0, 0, hi, lo]), "local NAT64 {}", v4);
        prop_assert!(v6([0x2001, 0, hi, lo, 0, 0, 0, 1]), "Teredo {}", v4);
    }

    #[test]
    fn fuzz_grpc_timeout_parses_without_panic(raw in any::<String>()) {
        let _ = parse_grpc_timeout(&raw);
        // Signs are not digits.
        prop_assert_eq!(parse_grpc_timeout(&format!("+{}S", raw.len() % 10)), None);
    }

    #[test]
    fn fuzz_grpc_timeout_reads_every_valid_value_exactly(n in 0u64..100_000_000, unit in 0usize..6) {
        let (suffix, expected) = [
            ("H", std::time::Duration::from_secs(n * 3600)),
            ("M", std::time::Duration::from_secs(n * 60)),
            ("S", std::time::Duration::from_secs(n)),
            ("m", std::time::Duration::from_millis(n)),
            ("u", std::time::Duration::from_micros(n)),
            ("n", std::time::Duration::from_nanos(n)),
        ][unit];
        prop_assert_eq!(parse_grpc_timeout(&format!("{n}{suffix}")), Some(expected));
        // Nine digits and more are refused by the spec's grammar.
        prop_assert_eq!(parse_grpc_timeout(&format!("{}{suffix}", n + 100_000_000)), None);
    }
}
