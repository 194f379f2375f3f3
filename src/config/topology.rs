//! What `--redis-url` names: one server (`redis://`, `rediss://`, unix sockets), a Redis
//! Cluster by its seed nodes (`redis+cluster://H:P,H:P`) or a Sentinel-managed primary
//! (`redis+sentinel://H:P,H:P/MASTER`). Parsed once, when the settings are checked at start-up,
//! so a bad URL is an exit-2 error naming the problem, never a runtime surprise.

use std::fmt;

/// One `host:port` of a seed node or a sentinel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddr {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl NodeAddr {
    /// `redis://[user:pass@]host:port/` for redis-rs, brackets around IPv6 literals.
    pub(crate) fn url(&self, auth: &Auth) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("redis://{}{host}:{}/", auth.userinfo(), self.port)
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Credentials given in the URL's userinfo, applied to every node (and, for Sentinel, to the
/// primary; sentinels are reached without them, as they usually run without ACLs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// ACL user, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
}

impl Auth {
    fn userinfo(&self) -> String {
        match (&self.username, &self.password) {
            (None, None) => String::new(),
            (u, p) => format!(
                "{}:{}@",
                encode(u.as_deref().unwrap_or("")),
                encode(p.as_deref().unwrap_or(""))
            ),
        }
    }
}

/// Percent-encodes all but RFC 3986 unreserved characters, for a URL's userinfo.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Redis deployment `--redis-url` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server; the URL goes to redis-rs as given.
    Single(String),
    /// A Redis Cluster, reached through any of its seed nodes.
    Cluster {
        /// Seed nodes; the client learns the rest of the cluster from them.
        seeds: Vec<NodeAddr>,
        /// Credentials for every node.
        auth: Auth,
    },
    /// A primary found through Sentinel.
    Sentinel {
        /// The sentinels, asked in turn.
        sentinels: Vec<NodeAddr>,
        /// The master name the sentinels monitor.
        master: String,
        /// Credentials for the primary.
        auth: Auth,
    },
}

const CLUSTER: &str = "redis+cluster://";
const SENTINEL: &str = "redis+sentinel://";

impl Topology {
    /// Parses `--redis-url`; the error says what is wrong and what is accepted.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix(CLUSTER) {
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') || rest.contains('?') {
                return Err(format!(
                    "--redis-url {}: a cluster URL is {CLUSTER}HOST:PORT[,HOST:PORT...] with no path \
                     or query (Redis Cluster has only database 0)",
                    redact(url)
                ));
            }
            let (auth, hosts) = split_auth(rest)?;
            return Ok(Self::Cluster {
                seeds: parse_nodes(hosts, url)?,
                auth,
            });
        }
        if let Some(rest) = url.strip_prefix(SENTINEL) {
            let Some((authority, master)) = rest.split_once('/') else {
                return Err(format!(
                    "--redis-url {}: a sentinel URL names the master: {SENTINEL}HOST:PORT[,HOST:PORT...]/MASTER",
                    redact(url)
                ));
            };
            let master = master.trim_end_matches('/');
            if master.is_empty() || master.contains(['/', '?', ' ']) {
                return Err(format!(
                    "--redis-url {}: the master name after the hosts must be one non-empty path segment",
                    redact(url)
                ));
            }
            let (auth, hosts) = split_auth(authority)?;
            return Ok(Self::Sentinel {
                sentinels: parse_nodes(hosts, url)?,
                master: master.to_owned(),
                auth,
            });
        }
        let single = ["redis://", "rediss://", "redis+unix://", "unix://"];
        if single.iter().any(|s| url.starts_with(s)) {
            return Ok(Self::Single(url.to_owned()));
        }
        Err(format!(
            "--redis-url must be redis://, rediss://, {CLUSTER}HOST:PORT[,...] or \
             {SENTINEL}HOST:PORT[,...]/MASTER, got {:?}",
            redact(url)
        ))
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn split_auth(authority: &str) -> Result<(Auth, &str), String> {
    let Some((userinfo, hosts)) = authority.rsplit_once('@') else {
        return Ok((Auth::default(), authority));
    };
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((
        Auth {
            username: (!user.is_empty()).then(|| decode(user)),
            password: pass.filter(|p| !p.is_empty()).map(decode),
        },
        hosts,
    ))
}

fn parse_nodes(hosts: &str, url: &str) -> Result<Vec<NodeAddr>, String> {
    let mut nodes = Vec::new();
    for part in hosts.split(',') {
        let bad = |why: &str| format!("--redis-url {}: {why} in {part:?}", redact(url));
        let (host, port) = if let Some(rest) = part.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| bad("an IPv6 node is [ADDR]:PORT"))?;
            (host, port)
        } else {
            part.rsplit_once(':')
                .ok_or_else(|| bad("every node needs HOST:PORT"))?
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be 1-65535"))?;
        nodes.push(NodeAddr {
            host: host.to_owned(),
            port,
        });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: u16) -> NodeAddr {
        NodeAddr {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn single_server_urls_pass_through() {
        assert_eq!(
            Topology::parse("redis://127.0.0.1:6379/2").unwrap(),
            Topology::Single("redis://127.0.0.1:6379/2".into())
        );
        assert!(matches!(
            Topology::parse("rediss://h:1").unwrap(),
            Topology::Single(_)
        ));
    }

    #[test]
    fn cluster_urls_list_their_seeds() {
        assert_eq!(
            Topology::parse("redis+cluster://10.0.0.1:7000,node-b:7001,[::1]:7002/").unwrap(),
            Topology::Cluster {
                seeds: vec![
                    node("10.0.0.1", 7000),
                    node("node-b", 7001),
                    node("::1", 7002)
                ],
                auth: Auth::default(),
            }
        );
        let Topology::Cluster { seeds, auth } =
            Topology::parse("redis+cluster://app:s%40cret@h:7000").unwrap()
        else {
            panic!("a cluster URL");
        };
        assert_eq!(auth.username.as_deref(), Some("app"));
        assert_eq!(auth.password.as_deref(), Some("s@cret"));
        assert_eq!(seeds[0].url(&auth), "redis://app:s%40cret@h:7000/");
        assert_eq!(node("::1", 1).url(&Auth::default()), "redis://[::1]:1/");
    }

    #[test]
    fn sentinel_urls_name_the_master() {
        assert_eq!(
            Topology::parse("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster").unwrap(),
            Topology::Sentinel {
                sentinels: vec![node("127.0.0.1", 26379), node("127.0.0.1", 26380)],
                master: "mymaster".into(),
                auth: Auth::default(),
            }
        );
    }

    #[test]
    fn malformed_urls_say_what_is_wrong_without_the_password() {
        for (url, says) in [
            ("http://x", "--redis-url must be"),
            ("redis+cluster://h", "HOST:PORT"),
            ("redis+cluster://h:0", "port"),
            ("redis+cluster://h:99999", "port"),
            ("redis+cluster://:7000", "empty host"),
            ("redis+cluster://h:1/3", "no path"),
            ("redis+sentinel://h:1", "names the master"),
            ("redis+sentinel://h:1/", "master name"),
            ("redis+sentinel://[::1:1/m", "IPv6"),
        ] {
            let err = Topology::parse(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
        let err = Topology::parse("redis+cluster://u:hunter2@h").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
