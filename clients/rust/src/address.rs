//! The server address a client is built from: `HOST:PORT`, `http://HOST:PORT` or
//! `https://HOST:PORT` (docs/clients.md, "Addresses"). One function parses it, so that later
//! connection options (client certificates, tokens) have one place to extend.

use tonic::Code;

use crate::error::{Error, Result};

/// A checked server address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address {
    /// `host:port` as the user wrote it (brackets kept for IPv6), for messages.
    pub(crate) authority: String,
    /// Whether the connection uses TLS (`https://`).
    pub(crate) tls: bool,
}

impl Address {
    /// The URI tonic's endpoint takes.
    pub(crate) fn uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

/// Parses `address`, or fails with `INVALID_ARGUMENT` quoting it and saying what is wrong.
pub(crate) fn parse(address: &str) -> Result<Address> {
    parse_parts(address).map_err(|reason| {
        Error::new(
            Code::InvalidArgument,
            format!(
                "server address {address:?} is not HOST:PORT, http://HOST:PORT or https://HOST:PORT: {reason}"
            ),
        )
    })
}

fn parse_parts(address: &str) -> std::result::Result<Address, &'static str> {
    let (tls, rest) = if let Some(rest) = address.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = address.strip_prefix("http://") {
        (false, rest)
    } else if address.contains("://") {
        return Err("unknown scheme (use http:// or https://)");
    } else {
        (false, address)
    };
    // One trailing slash is what a pasted base URL often has; anything after it is a path.
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err("empty");
    }
    if authority.contains(['/', '?', '#']) {
        return Err("a path, query or fragment is not allowed");
    }
    if authority.contains('@') {
        return Err("user info is not allowed");
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("unclosed '[' in an IPv6 host")?;
        let port = after.strip_prefix(':').ok_or("missing port")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address");
        }
        (host, port)
    } else {
        let (host, port) = authority.rsplit_once(':').ok_or("missing port")?;
        if host.contains(':') {
            return Err("an IPv6 host must be in brackets, as in [::1]:50051");
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("missing host");
    }
    if host.chars().any(|c| c.is_whitespace()) {
        return Err("whitespace in the host");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err("the port must be a number from 1 to 65535"),
    }
    Ok(Address {
        authority: authority.to_string(),
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_are_accepted() {
        let plain = parse("127.0.0.1:50051").unwrap();
        assert_eq!(plain.uri(), "http://127.0.0.1:50051");
        assert_eq!(
            parse("http://localhost:1/").unwrap().uri(),
            "http://localhost:1"
        );
        let tls = parse("https://gate.example:443").unwrap();
        assert!(tls.tls);
        assert_eq!(tls.uri(), "https://gate.example:443");
        assert_eq!(parse("[::1]:50051").unwrap().authority, "[::1]:50051");
    }

    #[test]
    fn malformed_addresses_are_invalid_argument_quoting_the_address() {
        for (bad, reason) in [
            ("localhost", "missing port"),
            ("", "empty"),
            ("http://", "empty"),
            ("127.0.0.1:0", "port"),
            ("127.0.0.1:99999", "port"),
            ("127.0.0.1:x", "port"),
            ("grpc://127.0.0.1:1", "scheme"),
            ("http://127.0.0.1:1/api", "path"),
            ("u@127.0.0.1:1", "user info"),
            ("::1:50051", "brackets"),
            (":50051", "missing host"),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert!(err.message().contains(&format!("{bad:?}")), "{err}");
            assert!(err.message().contains(reason), "{bad}: {err}");
        }
    }
}
