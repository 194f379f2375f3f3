//! Name resolution done by the guard itself: reqwest asks [`GuardedResolver`] for every
//! named host (first request and redirects alike), and only addresses that pass the
//! [`TargetGuard`] are handed back to connect to. Because the checked addresses are the ones
//! connected to, a name that re-resolves to an internal address (DNS rebinding) is refused.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::guard::TargetGuard;

/// A boxed future of looked-up addresses.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. The system resolver in production; tests inject
/// answers (internal addresses, failures) without sending a DNS packet.
pub trait Lookup: Send + Sync + 'static {
    /// Every address `host` resolves to.
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The operating system's resolver (`getaddrinfo` via tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The reqwest resolver that checks every answer against the guard policy.
pub(crate) struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    policy: Arc<TargetGuard>,
}

impl GuardedResolver {
    /// Resolves through `lookup`, refusing what `policy` refuses.
    pub(crate) fn new(lookup: Arc<dyn Lookup>, policy: Arc<TargetGuard>) -> Self {
        Self { lookup, policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let lookup = self.lookup.lookup(&host);
        let policy = self.policy.clone();
        Box::pin(async move {
            let ips = lookup.await.map_err(|e| {
                Box::new(io::Error::new(
                    e.kind(),
                    format!("resolving {host} failed: {e}"),
                )) as Box<dyn std::error::Error + Send + Sync>
            })?;
            if ips.is_empty() {
                return Err(format!("{host} resolved to no addresses").into());
            }
            // One bad answer refuses the name: picking the good ones would let a rebinding
            // name steer retries or happy-eyeballs fallbacks to the bad one.
            for ip in &ips {
                policy.check_ip(*ip).map_err(|r| {
                    // The caller hears the host and the class; the address stays in the log.
                    tracing::info!(host = %host, address = %ip, reason = %r.reason, "refused a resolved address");
                    r.for_host(&host)
                })?;
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::http::guard::Refused;
    use std::collections::HashMap;
    use std::str::FromStr;

    struct Fixed(HashMap<&'static str, Vec<IpAddr>>);

    impl Lookup for Fixed {
        fn lookup(&self, host: &str) -> LookupFuture {
            let ans = self.0.get(host).cloned();
            Box::pin(async move {
                ans.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
            })
        }
    }

    fn resolver(allow_private: bool) -> GuardedResolver {
        let mut m = HashMap::new();
        m.insert("metadata.test", vec!["169.254.169.254".parse().unwrap()]);
        m.insert(
            "rebind.test",
            vec![
                "93.184.216.34".parse().unwrap(),
                "10.0.0.7".parse().unwrap(),
            ],
        );
        m.insert("public.test", vec!["93.184.216.34".parse().unwrap()]);
        GuardedResolver::new(
            Arc::new(Fixed(m)),
            Arc::new(TargetGuard {
                allow_private,
                allowed: vec![],
            }),
        )
    }

    async fn resolve(r: &GuardedResolver, host: &str) -> Result<Vec<SocketAddr>, String> {
        match r.resolve(Name::from_str(host).unwrap()).await {
            Ok(a) => Ok(a.collect()),
            Err(e) => Err(match e.downcast_ref::<Refused>() {
                Some(r) => format!("refused: {r}"),
                None => format!("failed {e}"),
            }),
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_the_metadata_address_is_refused_naming_the_host_only() {
        let err = resolve(&resolver(false), "metadata.test")
            .await
            .unwrap_err();
        assert!(
            err.contains("host metadata.test resolves to a link-local"),
            "{err}"
        );
        assert!(!err.contains("169.254"), "{err}");
    }

    #[tokio::test]
    async fn one_internal_answer_among_public_ones_refuses_the_name() {
        let err = resolve(&resolver(false), "rebind.test").await.unwrap_err();
        assert!(
            err.contains("host rebind.test resolves to a private"),
            "{err}"
        );
        assert!(!err.contains("10.0.0.7"), "{err}");
    }

    #[tokio::test]
    async fn public_answers_pass_and_allow_private_passes_all() {
        assert_eq!(
            resolve(&resolver(false), "public.test")
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            resolve(&resolver(true), "metadata.test")
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_lookup_failure_is_an_error_naming_the_host() {
        let err = resolve(&resolver(false), "nowhere.test").await.unwrap_err();
        assert!(err.contains("nowhere.test"), "{err}");
    }
}
