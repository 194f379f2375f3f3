//! Browsers: which web origins may call the server over gRPC-Web (CORS). gRPC-Web itself is
//! always on; only the cross-origin permission is configured.

use clap::Args;

use super::ConfigError;

/// The browser-facing flags.
#[derive(Clone, Debug, Args)]
pub struct WebArgs {
    /// A web origin (`https://app.example.com`, `http://127.0.0.1:8080`) whose pages may call
    /// the server over gRPC-Web; repeatable (comma-separated in the environment variable).
    /// `*` allows every origin (and cannot be combined with credentials). Unset: no CORS
    /// headers at all, so browsers only reach the server from its own origin.
    #[arg(
        long = "cors-allow-origin",
        env = "STREAMGATE_CORS_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_allow_origins: Vec<String>,

    /// Lets listed origins send credentials (cookies, HTTP authentication) with their calls
    /// (`Access-Control-Allow-Credentials: true`). Refused together with `*`, which the
    /// Fetch standard forbids anyway.
    #[arg(long, env = "STREAMGATE_CORS_ALLOW_CREDENTIALS")]
    pub cors_allow_credentials: bool,

    /// A host name gRPC-Web calls may name in `Host`/`:authority` besides the ones always
    /// accepted (IP addresses, `localhost` and names under `.localhost`); repeatable
    /// (comma-separated in the environment variable). A gRPC-Web call naming any other host is
    /// refused with 403 before any service runs: a page on a domain that resolves to this
    /// server (DNS rebinding) must not get in as same-origin.
    #[arg(
        long = "allowed-host",
        env = "STREAMGATE_ALLOWED_HOST",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub allowed_hosts: Vec<String>,
}

/// Which origins get CORS permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// None: CORS is off (the default).
    None,
    /// Every origin (`*`), never with credentials.
    Any,
    /// Exactly these origins, each in the serialized form browsers send in `Origin`
    /// (lower-case scheme and host, no default port, no path).
    List(Vec<String>),
}

/// The checked browser settings.
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// Origins whose pages may call the server.
    pub allowed_origins: AllowedOrigins,
    /// Whether listed origins may send credentials.
    pub allow_credentials: bool,
    /// Host names (lower case, no port) gRPC-Web calls may name besides IP addresses and
    /// `localhost`.
    pub allowed_hosts: Vec<String>,
}

impl WebArgs {
    pub(super) fn settings(&self) -> Result<WebSettings, ConfigError> {
        let flags = &self.cors_allow_origins;
        let allowed_origins = if flags.is_empty() {
            AllowedOrigins::None
        } else if flags.iter().any(|o| o.trim() == "*") {
            if flags.len() > 1 {
                return Err(ConfigError(
                    "--cors-allow-origin '*' allows every origin and cannot be combined with other origins".into(),
                ));
            }
            if self.cors_allow_credentials {
                return Err(ConfigError(
                    "--cors-allow-origin '*' cannot be combined with --cors-allow-credentials (browsers refuse credentials for a wildcard origin)".into(),
                ));
            }
            AllowedOrigins::Any
        } else {
            let mut list = flags
                .iter()
                .map(|o| serialized_origin(o))
                .collect::<Result<Vec<_>, _>>()?;
            list.sort();
            list.dedup();
            AllowedOrigins::List(list)
        };
        if self.cors_allow_credentials && allowed_origins == AllowedOrigins::None {
            return Err(ConfigError(
                "--cors-allow-credentials needs at least one --cors-allow-origin".into(),
            ));
        }
        let allowed_hosts = self
            .allowed_hosts
            .iter()
            .map(|h| host_name(h))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WebSettings {
            allowed_origins,
            allow_credentials: self.cors_allow_credentials,
            allowed_hosts,
        })
    }
}

/// `raw` as a browser serializes it in the `Origin` header (RFC 6454 §6.1), so the layer
/// compares bytes: `HTTP://App.Example.com:443/` and `https://app.example.com` differ only in
/// spelling, but an origin with a path, query or user name is a mistake worth refusing.
fn serialized_origin(raw: &str) -> Result<String, ConfigError> {
    let refuse = |why: &str| {
        ConfigError(format!(
            "--cors-allow-origin {raw:?} is not a web origin ({why}); expected scheme://host[:port], e.g. https://app.example.com"
        ))
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("the scheme must be http or https"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("it has a path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it has user information"));
    }
    Ok(url.origin().ascii_serialization())
}

/// `raw` as the host part of a `Host` header would carry it (lower case), or why it is not one.
fn host_name(raw: &str) -> Result<String, ConfigError> {
    let host = raw.trim().to_ascii_lowercase();
    match http::uri::Authority::try_from(host.as_str()) {
        Ok(a) if a.port().is_none() && !host.contains('@') && !host.is_empty() => Ok(host),
        _ => Err(ConfigError(format!(
            "--allowed-host {raw:?} is not a host name; expected a name without scheme, port or path, e.g. streamgate.internal"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(origins: &[&str], credentials: bool) -> Result<WebSettings, ConfigError> {
        WebArgs {
            cors_allow_origins: origins.iter().map(|o| o.to_string()).collect(),
            cors_allow_credentials: credentials,
            allowed_hosts: Vec::new(),
        }
        .settings()
    }

    #[test]
    fn allowed_hosts_are_names_without_port() {
        let hosts = |h: &[&str]| {
            WebArgs {
                cors_allow_origins: Vec::new(),
                cors_allow_credentials: false,
                allowed_hosts: h.iter().map(|s| s.to_string()).collect(),
            }
            .settings()
        };
        assert_eq!(
            hosts(&["Gate.Example.com"]).unwrap().allowed_hosts,
            ["gate.example.com"]
        );
        for bad in ["a.test:8080", "http://a.test", "a.test/x", "u@a.test", ""] {
            let e = hosts(&[bad]).unwrap_err().0;
            assert!(e.contains("--allowed-host"), "{bad}: {e}");
        }
    }

    #[test]
    fn no_origin_means_cors_is_off() {
        let s = settings(&[], false).unwrap();
        assert_eq!(s.allowed_origins, AllowedOrigins::None);
    }

    #[test]
    fn origins_are_kept_as_browsers_serialize_them() {
        let s = settings(
            &[
                "HTTPS://App.Example.com:443/",
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080",
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            s.allowed_origins,
            AllowedOrigins::List(vec![
                "http://127.0.0.1:8080".into(),
                "https://app.example.com".into()
            ])
        );
        assert!(s.allow_credentials);
    }

    #[test]
    fn wildcard_is_refused_with_credentials_or_beside_other_origins() {
        assert_eq!(
            settings(&["*"], false).unwrap().allowed_origins,
            AllowedOrigins::Any
        );
        let e = settings(&["*"], true).unwrap_err().0;
        assert!(e.contains("--cors-allow-credentials"), "{e}");
        let e = settings(&["*", "http://a.test"], false).unwrap_err().0;
        assert!(e.contains("--cors-allow-origin"), "{e}");
    }

    #[test]
    fn things_that_are_not_origins_are_refused_naming_the_flag() {
        for bad in [
            "app.example.com",
            "ftp://a.test",
            "http://a.test/path",
            "http://a.test/?q=1",
            "http://user@a.test",
            "null",
        ] {
            let e = settings(&[bad], false).unwrap_err().0;
            assert!(e.contains("--cors-allow-origin"), "{bad}: {e}");
        }
    }

    #[test]
    fn credentials_without_an_origin_are_refused() {
        let e = settings(&[], true).unwrap_err().0;
        assert!(e.contains("--cors-allow-origin"), "{e}");
    }
}
