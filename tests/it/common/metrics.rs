//! Metrics test helpers: a server with `--metrics-listen`, and scrapes of its `/metrics`
//! read with a real Prometheus text parser.

use std::net::SocketAddr;
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use streamgate::{Config, Deps};

use super::{TestServer, free_port};

/// A test server with its metrics endpoint.
pub struct Metered {
    /// The server.
    pub server: TestServer,
    /// Where it serves `/metrics`.
    pub metrics: SocketAddr,
}

impl Metered {
    /// A server with the test defaults, `extra` flags and `--metrics-listen` on a free port.
    pub async fn start(extra: &[&str]) -> Self {
        let mut args = vec![
            "streamgate",
            "--listen",
            "127.0.0.1:0",
            "--allow-private-networks",
        ];
        args.extend_from_slice(extra);
        Self::start_with_deps(&args, Deps::default()).await
    }

    /// A server from the full command line `args` (program name first) plus
    /// `--metrics-listen`, with `deps`.
    pub async fn start_with_deps(args: &[&str], deps: Deps) -> Self {
        let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let listen = metrics.to_string();
        let mut args = args.to_vec();
        args.extend_from_slice(&["--metrics-listen", &listen]);
        let config = Config::from_args(args).expect("test flags parse");
        let server = TestServer::start_with_deps(config, deps).await;
        Self { server, metrics }
    }

    /// The endpoint's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics)
    }

    /// `GET /metrics`, checked and parsed.
    pub async fn scrape(&self) -> Metrics {
        let resp = reqwest::get(self.url("/metrics"))
            .await
            .expect("GET /metrics answers");
        assert_eq!(resp.status(), 200, "GET /metrics");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "content type {content_type:?}"
        );
        let text = resp.text().await.expect("a text body");
        Metrics::parse(&text)
    }

    /// Scrapes until `sample(name, labels)` equals `want` (at most 20 s; metrics have no
    /// event to await).
    pub async fn wait_for(&self, name: &str, labels: &[(&str, &str)], want: f64) -> Metrics {
        let what = format!("{name}{labels:?} == {want}");
        super::eventually(Duration::from_secs(20), &what, move || async move {
            let m = self.scrape().await;
            match m.value(name, labels) {
                now if now == want => Ok(m),
                now => Err(now),
            }
        })
        .await
    }
}

/// One parsed scrape.
pub struct Metrics {
    /// The parsed samples and HELP texts.
    pub scrape: Scrape,
    /// The raw text.
    pub text: String,
}

impl Metrics {
    /// Parses the Prometheus text format.
    pub fn parse(text: &str) -> Self {
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("the scrape parses as Prometheus text");
        Self {
            scrape,
            text: text.to_owned(),
        }
    }

    /// The samples of `name` whose labels include `labels`.
    pub fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.scrape.samples.iter().filter(move |s| {
            s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
    }

    /// The sum of the matching counter/gauge samples (0 when none: a family with no
    /// member yet has counted nothing).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels)
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                other => panic!("{name} is not a single value: {other:?}"),
            })
            .sum()
    }

    /// Whether the server declares the family `name` (a `# HELP` line), samples or not.
    pub fn declares(&self, name: &str) -> bool {
        self.scrape.docs.contains_key(name)
    }

    /// Every label value of every sample.
    pub fn label_values(&self) -> Vec<String> {
        self.scrape
            .samples
            .iter()
            .flat_map(|s| s.labels.values().cloned())
            .collect()
    }

    /// Fails if any label value contains one of `needles` (URLs, lock names, sensor ids).
    pub fn assert_no_label_contains(&self, needles: &[&str]) {
        for value in self.label_values() {
            for needle in needles {
                assert!(
                    !value.contains(needle),
                    "label value {value:?} contains {needle:?}"
                );
            }
        }
    }
}
