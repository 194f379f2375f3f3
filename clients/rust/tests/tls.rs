//! The lock and fetch cases over mutual TLS + a bearer token, through the library and the
//! CLI, against the real server started with --tls-cert/--tls-key/--tls-client-ca/--policy
//! (docs/clients.md, "TLS and tokens"). Certificates come from tests/common/pki.rs.

mod common;

use std::path::{Path, PathBuf};

use common::upstreams::{Concurrency, Upstream, fetch_router};
use common::{ServerProcess, cli, run_cli};
use sha2::{Digest, Sha256};
use streamgate_client::{Client, ConnectOptions, FetchOptions, LockOptions};
use tonic::Code;

const TOKEN: &str = "rust-ci-token";

/// ca.pem, server.pem/.key (localhost, 127.0.0.1), client.pem/.key (client.internal, a name
/// the policy does not list, so the token is what authenticates) and policy.toml.
fn pki(dir: &Path) {
    common::pki::write(dir, &common::pki::SERVER_NAMES);
    let write = |name: &str, contents: &str| {
        std::fs::write(dir.join(name), contents).expect("write test file")
    };
    let digest: String = Sha256::digest(TOKEN)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write(
        "policy.toml",
        &format!(
            "mode = \"enforce\"\n[principals.ci]\ntokens_sha256 = [\"{digest}\"]\n\
             services = [\"fetch\", \"lock\"]\nfetch_hosts = [\"127.0.0.1\"]\nlock_prefixes = [\"ci/\"]\n"
        ),
    );
}

struct Fixture {
    dir: tempfile::TempDir,
    server: ServerProcess,
}

impl Fixture {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        pki(dir.path());
        let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
        let server = ServerProcess::start(&[
            "--tls-cert",
            &p("server.pem"),
            "--tls-key",
            &p("server.key"),
            "--tls-client-ca",
            &p("ca.pem"),
            "--policy",
            &p("policy.toml"),
        ]);
        Self { dir, server }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `localhost:PORT`: the name the server's certificate carries.
    fn address(&self) -> String {
        let port = self.server.url.rsplit(':').next().expect("port");
        format!("localhost:{port}")
    }

    fn options(&self, token: Option<&str>) -> ConnectOptions {
        ConnectOptions {
            ca: Some(self.path("ca.pem")),
            cert: Some(self.path("client.pem")),
            key: Some(self.path("client.key")),
            token: token.map(str::to_owned),
        }
    }

    /// The CLI's TLS flags, with `--server`.
    fn cli_args(&self) -> Vec<String> {
        let p = |name: &str| self.path(name).to_str().expect("utf-8").to_owned();
        vec![
            "--ca".into(),
            p("ca.pem"),
            "--cert".into(),
            p("client.pem"),
            "--key".into(),
            p("client.key"),
        ]
    }
}

fn lock_once() -> LockOptions {
    LockOptions::new().ttl(std::time::Duration::from_secs(5))
}

#[tokio::test]
async fn the_library_over_mutual_tls_with_a_token() {
    let fx = Fixture::start();
    let upstream = Upstream::start(fetch_router(Concurrency::default())).await;

    let anonymous = Client::connect_with(fx.address(), &fx.options(None))
        .await
        .expect("the TLS handshake with a client certificate succeeds");
    let err = anonymous
        .try_lock("ci/no-token", lock_once())
        .await
        .expect_err("no token: refused");
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");

    let client = Client::connect_with(fx.address(), &fx.options(Some(TOKEN)))
        .await
        .expect("connect with a token");
    let guard = client
        .try_lock("ci/rust", lock_once())
        .await
        .expect("lock call")
        .expect("acquired");
    let first = guard.fencing_token();
    assert!(first > 0);
    assert!(guard.release().await.expect("release"), "released");
    // Released: a try-once acquire gets it at once, with a newer fencing token.
    let again = client
        .try_lock("ci/rust", lock_once())
        .await
        .expect("lock call")
        .expect("acquired again");
    assert!(again.fencing_token() > first);
    again.release().await.expect("release");

    let denied = client
        .try_lock("ops/x", lock_once())
        .await
        .expect_err("outside lock_prefixes");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied}");
    assert!(
        denied.message().contains("lock_prefixes") && !denied.message().contains(TOKEN),
        "{denied}"
    );

    let response = client
        .fetch(&upstream.url("/hello"), FetchOptions::default())
        .await
        .expect("fetch over mutual TLS");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello from upstream\n");
}

#[tokio::test]
async fn the_cli_over_mutual_tls_with_a_token() {
    let fx = Fixture::start();
    let upstream = Upstream::start(fetch_router(Concurrency::default())).await;
    let tls = fx.cli_args();
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();

    let url = upstream.url("/hello");
    let mut args = tls.clone();
    args.extend(["fetch", url.as_str()]);
    let none = run_cli(&fx.address(), &args).await;
    assert_ne!(none.code, Some(0), "no token: {}", none.stderr);
    assert!(none.stderr.contains("UNAUTHENTICATED"), "{}", none.stderr);

    let mut with_token = tls.clone();
    with_token.extend(["--token", TOKEN]);
    let mut args = with_token.clone();
    args.extend(["fetch", url.as_str()]);
    let fetched = run_cli(&fx.address(), &args).await;
    assert_eq!(fetched.code, Some(0), "{}", fetched.stderr);
    assert_eq!(fetched.stdout, "hello from upstream\n");

    let mut args = with_token.clone();
    args.extend([
        "lock",
        "ci/cli",
        "--",
        "sh",
        "-c",
        "echo \"fencing $STREAMGATE_FENCING_TOKEN\"",
    ]);
    let locked = run_cli(&fx.address(), &args).await;
    assert_eq!(locked.code, Some(0), "{}", locked.stderr);
    assert!(locked.stdout.starts_with("fencing "), "{}", locked.stdout);
    assert!(
        !locked.stderr.contains(TOKEN),
        "the token is never printed: {}",
        locked.stderr
    );

    // The same settings from the environment twins instead of flags.
    let p = |name: &str| fx.path(name).to_str().expect("utf-8").to_owned();
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        cli(&fx.address(), &["lock", "ci/env", "--", "true"])
            .env("STREAMGATE_CA", p("ca.pem"))
            .env("STREAMGATE_CERT", p("client.pem"))
            .env("STREAMGATE_KEY", p("client.key"))
            .env("STREAMGATE_TOKEN", TOKEN)
            .output(),
    )
    .await
    .expect("streamgate-cli finished within 60 s")
    .expect("streamgate-cli ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[tokio::test]
async fn tls_options_are_checked_before_any_traffic() {
    let lone_cert = ConnectOptions {
        cert: Some("client.pem".into()),
        ..Default::default()
    };
    let err = Client::connect_lazy_with("localhost:1", &lone_cert).expect_err("cert without key");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("cert and key"), "{err}");
    let missing = ConnectOptions {
        ca: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    let err = Client::connect_lazy_with("localhost:1", &missing).expect_err("unreadable CA");
    assert!(err.message().contains("/nonexistent/ca.pem"), "{err}");
    let plaintext = ConnectOptions {
        token: Some(TOKEN.into()),
        ..Default::default()
    };
    let err = Client::connect_lazy_with("10.0.0.1:1", &plaintext).expect_err("token in plaintext");
    assert!(
        err.message().contains("only over TLS or to loopback"),
        "{err}"
    );
}
