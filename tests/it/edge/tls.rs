//! TLS and mutual TLS on real loopback handshakes (certificates made in the test with
//! rcgen), callers identified by their client certificate, certificate rotation by reload
//! and by SIGHUP to the real binary, and protected mode.

use crate::common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use common::binary::Binary;
use common::edge::{Ca, CertKey, Files, assert_transport_failure, bearer, sha256_hex, tls_channel};
use common::lock::{acquire_req, unique};
use common::sensor::reading;
use streamgate::Rule;
use streamgate_client::proto::lock_service_client::LockServiceClient;
use streamgate_client::proto::sensor_feed_response::Msg as RespMsg;
use streamgate_client::proto::{SensorFeedRequest, SensorFeedResponse};
use tokio::sync::mpsc as tmpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Streaming};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A CA, a server certificate from it, and their files.
struct Tls {
    ca: Ca,
    files: Files,
    cert: String,
    key: String,
}

impl Tls {
    fn new() -> Self {
        let ca = Ca::new("test CA");
        let files = Files::new();
        let server = ca.server();
        let cert = files.write("server.pem", &server.cert);
        let key = files.write("server.key", &server.key);
        files.write("ca.pem", &ca.pem);
        Self {
            ca,
            files,
            cert,
            key,
        }
    }

    fn ca_path(&self) -> String {
        self.files.path("ca.pem").to_str().unwrap().to_owned()
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.clone(),
            "--tls-key".into(),
            self.key.clone(),
        ]
    }

    fn mtls_args(&self) -> Vec<String> {
        let mut a = self.args();
        a.extend(["--tls-client-ca".into(), self.ca_path()]);
        a
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A health check: Ok(()) when SERVING came back.
async fn health(channel: Channel) -> Result<(), tonic::Status> {
    let r = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    assert_eq!(r.into_inner().status, 1, "SERVING");
    Ok(())
}

/// A health check over a channel that may not even connect.
async fn health_over(
    channel: Result<Channel, tonic::transport::Error>,
) -> Result<(), tonic::Status> {
    match channel {
        Ok(c) => health(c).await,
        Err(e) => Err(tonic::Status::unavailable(format!("connect failed: {e}"))),
    }
}

#[tokio::test]
async fn a_tls_port_refuses_plaintext_and_serves_tls_clients() {
    let tls = Tls::new();
    let s = TestServer::start_with_args(&strs(&tls.args())).await;

    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", s.addr))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    assert_transport_failure("plaintext client", health_over(plain).await);

    let channel = s
        .tls_channel(&tls.ca.pem, None)
        .await
        .expect("TLS connects");
    health(channel.clone()).await.expect("health over TLS");
    let grant = LockServiceClient::new(channel)
        .acquire_lock(acquire_req(&unique("tls"), 1_000, 0))
        .await
        .expect("a call over TLS")
        .into_inner();
    assert!(grant.acquired);

    // A client that does not trust the server's CA refuses it.
    let other = Ca::new("other CA");
    assert_transport_failure(
        "client trusting another CA",
        health_over(s.tls_channel(&other.pem, None).await).await,
    );
}

#[tokio::test]
async fn tls_1_2_and_1_3_both_complete_with_alpn_h2() {
    use rustls::pki_types::ServerName;
    let tls = Tls::new();
    let s = TestServer::start_with_args(&strs(&tls.args())).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&tls.ca.pem) {
        roots.add(cert).unwrap();
    }
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let conn = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap_or_else(|e| panic!("{version:?} handshake: {e}"));
        let session = conn.get_ref().1;
        assert_eq!(session.protocol_version(), Some(version.version));
        assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));
    }
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_or_with_a_foreign_one() {
    let tls = Tls::new();
    let s = TestServer::start_with_args(&strs(&tls.mtls_args())).await;

    assert_transport_failure(
        "no client certificate",
        health_over(s.tls_channel(&tls.ca.pem, None).await).await,
    );
    let foreign = Ca::new("foreign CA").client(&["billing.internal"], None);
    assert_transport_failure(
        "a client certificate from another CA",
        health_over(s.tls_channel(&tls.ca.pem, Some(&foreign)).await).await,
    );
    let good = tls.ca.client(&["billing.internal"], None);
    health_over(s.tls_channel(&tls.ca.pem, Some(&good)).await)
        .await
        .expect("a client certificate from the CA");
}

#[tokio::test]
async fn the_principal_comes_from_the_verified_client_certificate() {
    let tls = Tls::new();
    let policy = format!(
        r#"
[principals.billing]
services = ["lock"]
mtls_identities = ["billing.internal"]
lock_prefixes = ["billing/"]
[principals.mesh]
services = ["lock"]
mtls_identities = ["spiffe://corp/mesh"]
lock_prefixes = ["mesh/"]
[principals.reports]
services = ["lock"]
mtls_identities = ["reports"]
lock_prefixes = ["reports/"]
[principals.tokened]
services = ["lock"]
tokens_sha256 = ["{}"]
lock_prefixes = ["tokened/"]
"#,
        sha256_hex("tok")
    );
    let policy_path = tls.files.write("policy.toml", &policy);
    let mut args = tls.mtls_args();
    args.extend(["--policy".into(), policy_path]);
    let s = TestServer::start_with_args(&strs(&args)).await;

    // (certificate SANs, CN, the principal it maps to)
    let cases: [(&[&str], Option<&str>, &str); 3] = [
        (&["billing.internal"], Some("ignored-cn"), "billing"),
        (&["spiffe://corp/mesh"], None, "mesh"),
        (&[], Some("reports"), "reports"),
    ];
    for (sans, cn, principal) in cases {
        let cert = tls.ca.client(sans, cn);
        let channel = s.tls_channel(&tls.ca.pem, Some(&cert)).await.unwrap();
        let mut c = LockServiceClient::new(channel);
        c.acquire_lock(acquire_req(
            &format!("{principal}/{}", unique("x")),
            1_000,
            0,
        ))
        .await
        .unwrap_or_else(|e| panic!("{principal}: own prefix: {e:?}"));
        let refused = c
            .acquire_lock(acquire_req(&unique("elsewhere/x"), 1_000, 0))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert!(
            refused.message().contains(&format!("{principal:?}"))
                && refused.message().contains("lock_prefixes"),
            "{principal}: {refused:?}"
        );
    }

    // A certificate from the CA whose identity the policy does not list.
    let stranger = tls.ca.client(&["stranger.internal"], None);
    let mut c = LockServiceClient::new(s.tls_channel(&tls.ca.pem, Some(&stranger)).await.unwrap());
    let unknown = c
        .acquire_lock(acquire_req(&unique("x"), 1_000, 0))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    assert!(
        unknown.message().contains("stranger.internal"),
        "{unknown:?}"
    );
    // A bearer token decides over the certificate.
    c.acquire_lock(bearer(
        acquire_req(&format!("tokened/{}", unique("x")), 1_000, 0),
        "tok",
    ))
    .await
    .expect("the token names a principal");
    // Health needs no credential beyond the handshake.
    health(s.tls_channel(&tls.ca.pem, Some(&stranger)).await.unwrap())
        .await
        .expect("health is open");
    assert_eq!(s.decisions().auth_refused(), 1);
    assert_eq!(s.decisions().refused(Rule::LockPrefixes), 3);
}

#[tokio::test]
async fn a_cn_counts_only_without_any_san_and_spiffe_ids_compare_exactly() {
    let tls = Tls::new();
    let policy = r#"
[principals.billing]
services = ["lock"]
mtls_identities = ["billing.internal", "spiffe://corp/billing"]
lock_prefixes = ["billing/"]
"#;
    let policy_path = tls.files.write("policy.toml", policy);
    let mut args = tls.mtls_args();
    args.extend(["--policy".into(), policy_path]);
    let s = TestServer::start_with_args(&strs(&args)).await;

    // (SANs, CN, whether the certificate names the billing principal)
    let cases: [(&[&str], Option<&str>, bool); 5] = [
        (&["spiffe://corp/billing"], None, true),
        (&[], Some("Billing.Internal"), true),
        // Its SANs (an IP address only) identify it: the CN is not looked at.
        (&["127.0.0.1"], Some("billing.internal"), false),
        // SPIFFE paths are case-sensitive: another workload.
        (&["spiffe://corp/Billing"], None, false),
        (&["SPIFFE://corp/billing"], None, false),
    ];
    for (sans, cn, known) in cases {
        let cert = tls.ca.client(sans, cn);
        let channel = s.tls_channel(&tls.ca.pem, Some(&cert)).await.unwrap();
        let mut c = LockServiceClient::new(channel);
        let res = c
            .acquire_lock(acquire_req(&format!("billing/{}", unique("id")), 1_000, 0))
            .await;
        match (known, res) {
            (true, Ok(_)) => {}
            (false, Err(e)) => {
                assert_eq!(e.code(), Code::Unauthenticated, "{sans:?} {cn:?}: {e:?}");
            }
            (known, res) => panic!("{sans:?} {cn:?}: expected known = {known}, got {res:?}"),
        }
    }
    assert_eq!(s.decisions().auth_refused(), 3);
}

/// An open SensorFeed: answers one reading per `round_trip`.
struct Feed {
    tx: tmpsc::Sender<SensorFeedRequest>,
    rx: Streaming<SensorFeedResponse>,
}

impl Feed {
    async fn open(channel: Channel, token: Option<&str>) -> Self {
        let (tx, rx) = tmpsc::channel(4);
        let stream = ReceiverStream::new(rx);
        let mut client = streamgate_client::SensorServiceClient::new(channel);
        let resp = match token {
            Some(t) => client.sensor_feed(bearer(stream, t)).await,
            None => client.sensor_feed(stream).await,
        };
        Self {
            tx,
            rx: resp.expect("SensorFeed opens").into_inner(),
        }
    }

    async fn round_trip(&mut self, sensor: &str) {
        self.tx.send(reading(sensor, 21.5)).await.expect("send");
        let msg = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("an answer within 10 s")
            .expect("the stream is alive")
            .expect("the stream is open");
        match msg.msg {
            Some(RespMsg::Reading(r)) => assert_eq!(r.sensor_id, sensor),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_reload_serves_a_rotated_certificate_to_new_connections_and_open_streams_survive() {
    let tls = Tls::new();
    let s = TestServer::start_with_args(&strs(&tls.args())).await;
    let mut feed = Feed::open(s.tls_channel(&tls.ca.pem, None).await.unwrap(), None).await;
    feed.round_trip("before").await;

    let next = Ca::new("next CA");
    let rotated = next.server();
    tls.files.write("server.pem", &rotated.cert);
    tls.files.write("server.key", &rotated.key);
    let done = s.reloader.reload();
    assert!(matches!(done.tls, Some(Ok(()))), "{done:?}");

    health_over(s.tls_channel(&next.pem, None).await)
        .await
        .expect("a new connection gets the rotated certificate");
    assert_transport_failure(
        "a new connection trusting only the old CA",
        health_over(s.tls_channel(&tls.ca.pem, None).await).await,
    );
    feed.round_trip("after").await;

    // A broken file keeps the current material.
    tls.files.write("server.pem", "not a certificate");
    let done = s.reloader.reload();
    let err = done.tls.expect("TLS is configured").unwrap_err();
    assert!(err.0.contains("--tls-cert"), "{err}");
    let mismatched = next.server();
    tls.files.write("server.pem", &mismatched.cert);
    let err = s.reloader.reload().tls.unwrap().unwrap_err();
    assert!(
        err.0.contains("--tls-key"),
        "a key of another certificate: {err}"
    );
    health_over(s.tls_channel(&next.pem, None).await)
        .await
        .expect("the previous material still serves");
    feed.round_trip("still").await;
}

#[tokio::test]
async fn sighup_reloads_the_policy_and_a_rotated_certificate_of_the_running_binary() {
    let tls = Tls::new();
    let policy = |prefixes: &str| {
        format!(
            "[principals.app]\ntokens_sha256 = [\"{}\"]\nservices = [\"lock\", \"sensor\"]\nlock_prefixes = [{prefixes}]\n",
            sha256_hex("app-token")
        )
    };
    let policy_path = tls.files.write("policy.toml", &policy("\"app/\""));
    let mut args: Vec<String> = vec!["--listen".into(), "127.0.0.1:0".into()];
    args.extend(tls.args());
    args.extend(["--policy".into(), policy_path]);
    let mut bin = Binary::spawn(&strs(&args));
    let line = bin.wait_for("listening on ");
    let addr: std::net::SocketAddr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let channel = tls_channel(addr, &tls.ca.pem, None).await.expect("TLS");
    let mut feed = Feed::open(channel.clone(), Some("app-token")).await;
    feed.round_trip("before").await;
    let mut locks = LockServiceClient::new(channel);
    let refused = locks
        .acquire_lock(bearer(acquire_req(&unique("ops/x"), 1_000, 0), "app-token"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let next = Ca::new("next CA");
    let rotated = next.server();
    tls.files.write("server.pem", &rotated.cert);
    tls.files.write("server.key", &rotated.key);
    tls.files
        .write("policy.toml", &policy("\"app/\", \"ops/\""));
    bin.signal("HUP");
    bin.wait_for("reloaded the TLS certificate");
    bin.wait_for("reloaded the policy");

    let fresh = tls_channel(addr, &next.pem, None)
        .await
        .expect("a new connection gets the rotated certificate");
    LockServiceClient::new(fresh)
        .acquire_lock(bearer(acquire_req(&unique("ops/x"), 1_000, 0), "app-token"))
        .await
        .expect("the reloaded policy allows ops/");
    assert_transport_failure(
        "trusting only the old CA",
        health_over(tls_channel(addr, &tls.ca.pem, None).await).await,
    );
    feed.round_trip("after").await;
    // The open connection keeps its handshake and now also its new policy for new calls.
    locks
        .acquire_lock(bearer(acquire_req(&unique("ops/y"), 1_000, 0), "app-token"))
        .await
        .expect("new calls on an old connection get the new policy");

    // A broken policy on the next SIGHUP keeps the current one, and says why.
    tls.files.write("policy.toml", "mode = \"sometimes\"\n");
    bin.signal("HUP");
    let why = bin.wait_for("keeping the current policy");
    assert!(why.contains("policy.toml"), "{why}");
    locks
        .acquire_lock(bearer(acquire_req(&unique("ops/z"), 1_000, 0), "app-token"))
        .await
        .expect("the previous policy stays");

    drop(feed);
    bin.signal("TERM");
    let status = bin.child.wait().expect("wait for streamgate");
    assert_eq!(status.code(), Some(0), "graceful exit");
}

#[test]
fn protected_mode_refuses_a_public_address_without_a_policy() {
    let out = Command::new(common::server_binary())
        .args(["--listen", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run streamgate");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--policy") && err.contains("--allow-anonymous"),
        "{err}"
    );
}

#[test]
fn tls_flags_without_their_pair_exit_2() {
    let files = Files::new();
    let cert: CertKey = Ca::new("ca").server();
    let cert_path = files.write("c.pem", &cert.cert);
    let ca_path = files.write("ca.pem", &cert.cert);
    for args in [
        vec!["--tls-cert", cert_path.as_str()],
        vec!["--tls-client-ca", ca_path.as_str()],
    ] {
        let out = Command::new(common::server_binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run streamgate");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--tls-"), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn a_reload_reads_a_new_client_ca_for_new_connections() {
    let tls = Tls::new();
    let s = TestServer::start_with_args(&strs(&tls.mtls_args())).await;
    let old_client = tls.ca.client(&["app.internal"], None);
    let mut feed = Feed::open(
        s.tls_channel(&tls.ca.pem, Some(&old_client)).await.unwrap(),
        None,
    )
    .await;
    feed.round_trip("before").await;

    let next = Ca::new("next client CA");
    let new_client = next.client(&["app.internal"], None);
    assert_transport_failure(
        "a client of the next CA before the reload",
        health_over(s.tls_channel(&tls.ca.pem, Some(&new_client)).await).await,
    );
    tls.files.write("ca.pem", &next.pem);
    let done = s.reloader.reload();
    assert!(matches!(done.tls, Some(Ok(()))), "{done:?}");

    health_over(s.tls_channel(&tls.ca.pem, Some(&new_client)).await)
        .await
        .expect("a client of the next CA after the reload");
    assert_transport_failure(
        "a new connection with a certificate of the old CA",
        health_over(s.tls_channel(&tls.ca.pem, Some(&old_client)).await).await,
    );
    feed.round_trip("after").await;
}
