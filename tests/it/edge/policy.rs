//! Callers and policy (`--policy`): bearer tokens, each rule refused with the status the
//! contract names, report mode, rate and concurrency limits, reload, and the open services.
//! Plaintext on loopback here; tests/it/edge/tls.rs covers TLS and client certificates.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use common::Upstream;
use common::edge::{Files, bearer, sha256_hex};
use common::fetch::{FixedLookup, get as fetch_get, list};
use common::lock::{acquire_req, hold_req, unique};
use common::{TestServer, eventually};
use streamgate::Deps;
use streamgate::{Policy, Rule};
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use streamgate_client::proto::lock_service_client::LockServiceClient;
use streamgate_client::proto::{
    ExtendRequest, FetchRequest, ListPagesRequest, PaginationStyle, ReleaseRequest,
};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const BILLING: &str = "billing-token-0123456789";
const OPS: &str = "ops-token-9876543210";

/// billing: fetch and lock only, two host rules, GET/HEAD, `billing/` locks.
/// ops: every service, no other rule.
fn policy(mode: &str, extra: &str) -> String {
    format!(
        r#"
mode = "{mode}"
[principals.billing]
tokens_sha256 = ["{}"]
services = ["fetch", "lock"]
fetch_hosts = ["api.test", "*.example.test"]
fetch_methods = ["GET", "HEAD"]
lock_prefixes = ["billing/"]
[principals.ops]
tokens_sha256 = ["{}"]
services = ["*"]
{extra}
"#,
        sha256_hex(BILLING),
        sha256_hex(OPS)
    )
}

/// Every test host resolves to loopback (the upstream), so only the policy tells them apart.
fn lookup() -> Deps {
    Deps {
        lookup: FixedLookup::new(&[
            ("api.test", &["127.0.0.1"]),
            ("a.example.test", &["127.0.0.1"]),
            ("evil.test", &["127.0.0.1"]),
        ]),
        ..Deps::default()
    }
}

async fn start(files: &Files, policy_text: &str) -> TestServer {
    let path = files.write("policy.toml", policy_text);
    TestServer::start_with_args_and_deps(&["--policy", &path], lookup()).await
}

/// `/ok` answers 200, `/redirect` sends to evil.test, `/pages` is one page whose `Link`
/// points at evil.test, `/pages-ok` one page pointing at a.example.test's `/last`.
async fn upstream() -> Upstream {
    let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let (p1, p2, p3) = (port.clone(), port.clone(), port.clone());
    let up = Upstream::start(
        Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/redirect",
                get(move || {
                    let port = *p1.get().expect("port set");
                    async move {
                        (
                            StatusCode::FOUND,
                            [(header::LOCATION, format!("http://evil.test:{port}/ok"))],
                        )
                    }
                }),
            )
            .route(
                "/pages",
                get(move || {
                    let port = *p2.get().expect("port set");
                    async move { one_page(format!("http://evil.test:{port}/last")) }
                }),
            )
            .route(
                "/pages-ok",
                get(move || {
                    let port = *p3.get().expect("port set");
                    async move { one_page(format!("http://a.example.test:{port}/last")) }
                }),
            )
            .route("/last", get(|| async { "[]" })),
    )
    .await;
    port.set(up.addr.port()).expect("set once");
    up
}

fn one_page(next: String) -> (HeaderMap, String) {
    let mut h = HeaderMap::new();
    h.insert(
        header::LINK,
        format!("<{next}>; rel=\"next\"").parse().expect("link"),
    );
    (h, "[{\"id\": 1}]".to_owned())
}

fn link_pages(url: String) -> ListPagesRequest {
    ListPagesRequest {
        style: PaginationStyle::LinkHeader as i32,
        ..list(url, 0)
    }
}

fn host_url(up: &Upstream, host: &str, path: &str) -> String {
    format!("http://{host}:{}{path}", up.addr.port())
}

async fn fetch_client(s: &TestServer) -> FetchServiceClient<Channel> {
    FetchServiceClient::new(s.plain_channel().await)
}

async fn lock_client(s: &TestServer) -> LockServiceClient<Channel> {
    LockServiceClient::new(s.plain_channel().await)
}

/// Asserts a refusal: the code, the principal and the rule in the message, no token.
fn assert_refused(status: &tonic::Status, code: Code, principal: &str, rule: Rule) {
    assert_eq!(status.code(), code, "{status:?}");
    let msg = status.message();
    assert!(
        msg.contains(&format!("{principal:?}")),
        "names the principal: {msg}"
    );
    assert!(
        msg.contains(rule.key()),
        "names the rule {}: {msg}",
        rule.key()
    );
    assert!(
        !msg.contains(BILLING) && !msg.contains(OPS),
        "never the token: {msg}"
    );
}

/// Reads a ListPages stream to its end: the pages' count and the final status.
async fn pages_then_status(
    client: &mut FetchServiceClient<Channel>,
    req: tonic::Request<ListPagesRequest>,
) -> (usize, Option<tonic::Status>) {
    let mut stream = match client.list_pages(req).await {
        Ok(r) => r.into_inner(),
        Err(s) => return (0, Some(s)),
    };
    let mut n = 0;
    loop {
        match stream.message().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => return (n, None),
            Err(s) => return (n, Some(s)),
        }
    }
}

#[tokio::test]
async fn no_token_and_an_unknown_token_are_unauthenticated_and_a_valid_one_is_served() {
    let files = Files::new();
    let s = start(&files, &policy("enforce", "")).await;
    let mut c = lock_client(&s).await;
    let name = format!("billing/{}", unique("t"));

    let none = c
        .acquire_lock(acquire_req(&name, 5_000, 0))
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated, "{none:?}");
    let unknown = c
        .acquire_lock(bearer(acquire_req(&name, 5_000, 0), "not-a-known-token"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    assert!(
        !unknown.message().contains("not-a-known-token"),
        "{unknown:?}"
    );
    let mut malformed = tonic::Request::new(acquire_req(&name, 5_000, 0));
    malformed
        .metadata_mut()
        .insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    let malformed = c.acquire_lock(malformed).await.unwrap_err();
    assert_eq!(malformed.code(), Code::Unauthenticated, "{malformed:?}");
    assert!(!malformed.message().contains("dXNlcjpwYXNz"));

    let ok = c
        .acquire_lock(bearer(acquire_req(&name, 5_000, 0), BILLING))
        .await
        .expect("a valid token is served")
        .into_inner();
    assert!(ok.acquired);
    assert_eq!(s.decisions().auth_refused(), 3);
}

#[tokio::test]
async fn a_host_outside_fetch_hosts_is_permission_denied_naming_the_rule() {
    let files = Files::new();
    let up = upstream().await;
    let s = start(&files, &policy("enforce", "")).await;
    let mut c = fetch_client(&s).await;

    let ok = c
        .fetch(bearer(fetch_get(host_url(&up, "api.test", "/ok")), BILLING))
        .await
        .expect("an exact host is allowed")
        .into_inner();
    assert_eq!(ok.status, 200);
    c.fetch(bearer(
        fetch_get(host_url(&up, "a.example.test", "/ok")),
        BILLING,
    ))
    .await
    .expect("a *.suffix host is allowed");

    let refused = c
        .fetch(bearer(
            fetch_get(host_url(&up, "evil.test", "/ok")),
            BILLING,
        ))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::PermissionDenied,
        "billing",
        Rule::FetchHosts,
    );
    assert!(refused.message().contains("evil.test"), "{refused:?}");
    let (pages, refused) = pages_then_status(
        &mut c,
        bearer(link_pages(host_url(&up, "evil.test", "/last")), BILLING),
    )
    .await;
    assert_eq!(pages, 0);
    let refused = refused.expect("the first page is refused");
    assert_refused(
        &refused,
        Code::PermissionDenied,
        "billing",
        Rule::FetchHosts,
    );

    // A principal without the rule reaches the same host.
    c.fetch(bearer(fetch_get(host_url(&up, "evil.test", "/ok")), OPS))
        .await
        .expect("ops has no fetch_hosts rule");
    assert_eq!(s.decisions().refused(Rule::FetchHosts), 2);
}

#[tokio::test]
async fn a_redirect_to_a_host_outside_fetch_hosts_is_permission_denied() {
    let files = Files::new();
    let up = upstream().await;
    let s = start(&files, &policy("enforce", "")).await;
    let mut c = fetch_client(&s).await;
    let refused = c
        .fetch(bearer(
            fetch_get(host_url(&up, "api.test", "/redirect")),
            BILLING,
        ))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::PermissionDenied,
        "billing",
        Rule::FetchHosts,
    );
    assert!(refused.message().contains("evil.test"), "{refused:?}");
    // The same redirect is followed for a caller the rule does not bind.
    let ok = c
        .fetch(bearer(
            fetch_get(host_url(&up, "api.test", "/redirect")),
            OPS,
        ))
        .await
        .expect("ops follows the redirect")
        .into_inner();
    assert_eq!(ok.status, 200);
    assert!(ok.url.contains("evil.test"), "{}", ok.url);
}

#[tokio::test]
async fn a_list_pages_next_page_outside_fetch_hosts_is_permission_denied() {
    let files = Files::new();
    let up = upstream().await;
    let s = start(&files, &policy("enforce", "")).await;
    let mut c = fetch_client(&s).await;

    let (pages, end) = pages_then_status(
        &mut c,
        bearer(link_pages(host_url(&up, "api.test", "/pages")), BILLING),
    )
    .await;
    assert_eq!(pages, 1, "the first page is served");
    let end = end.expect("the walk stops at the next page");
    assert_refused(&end, Code::PermissionDenied, "billing", Rule::FetchHosts);
    assert!(end.message().contains("evil.test"), "{end:?}");

    let (pages, end) = pages_then_status(
        &mut c,
        bearer(link_pages(host_url(&up, "api.test", "/pages-ok")), BILLING),
    )
    .await;
    assert!(
        end.is_none(),
        "a next page on an allowed host is followed: {end:?}"
    );
    assert!(pages >= 1);
}

#[tokio::test]
async fn a_method_outside_fetch_methods_is_permission_denied() {
    let files = Files::new();
    let up = upstream().await;
    let s = start(&files, &policy("enforce", "")).await;
    let mut c = fetch_client(&s).await;
    let post = FetchRequest {
        method: "POST".into(),
        ..fetch_get(host_url(&up, "api.test", "/ok"))
    };
    let refused = c.fetch(bearer(post.clone(), BILLING)).await.unwrap_err();
    assert_refused(
        &refused,
        Code::PermissionDenied,
        "billing",
        Rule::FetchMethods,
    );
    assert!(refused.message().contains("POST"), "{refused:?}");
    let head = FetchRequest {
        method: "HEAD".into(),
        ..fetch_get(host_url(&up, "api.test", "/ok"))
    };
    c.fetch(bearer(head, BILLING))
        .await
        .expect("HEAD is listed");
    assert_ne!(
        c.fetch(bearer(post, OPS)).await.err().map(|s| s.code()),
        Some(Code::PermissionDenied),
        "ops has no method rule"
    );
}

#[tokio::test]
async fn each_lock_rpc_outside_lock_prefixes_is_permission_denied() {
    let files = Files::new();
    let s = start(&files, &policy("enforce", "")).await;
    let mut c = lock_client(&s).await;
    let foreign = unique("ops/x");

    let acquire = c
        .acquire_lock(bearer(acquire_req(&foreign, 5_000, 0), BILLING))
        .await
        .unwrap_err();
    assert_refused(
        &acquire,
        Code::PermissionDenied,
        "billing",
        Rule::LockPrefixes,
    );
    assert!(acquire.message().contains("AcquireLock"), "{acquire:?}");
    let extend = c
        .extend(bearer(
            ExtendRequest {
                name: foreign.clone(),
                token: "t".into(),
                ttl: Some(common::lock::ms(5_000)),
            },
            BILLING,
        ))
        .await
        .unwrap_err();
    assert_refused(
        &extend,
        Code::PermissionDenied,
        "billing",
        Rule::LockPrefixes,
    );
    assert!(extend.message().contains("Extend"), "{extend:?}");
    let release = c
        .release(bearer(
            ReleaseRequest {
                name: foreign.clone(),
                token: "t".into(),
            },
            BILLING,
        ))
        .await
        .unwrap_err();
    assert_refused(
        &release,
        Code::PermissionDenied,
        "billing",
        Rule::LockPrefixes,
    );
    assert!(release.message().contains("Release"), "{release:?}");
    let hold = c
        .hold(bearer(hold_req(&foreign, 5_000, 0), BILLING))
        .await
        .unwrap_err();
    assert_refused(&hold, Code::PermissionDenied, "billing", Rule::LockPrefixes);
    assert!(hold.message().contains("Hold"), "{hold:?}");
    assert_eq!(s.decisions().refused(Rule::LockPrefixes), 4);

    // Inside the prefix every RPC goes through to the lock service.
    let own = format!("billing/{}", unique("x"));
    let grant = c
        .acquire_lock(bearer(acquire_req(&own, 5_000, 0), BILLING))
        .await
        .expect("own prefix")
        .into_inner();
    assert!(grant.acquired);
    let released = c
        .release(bearer(
            ReleaseRequest {
                name: own,
                token: grant.token,
            },
            BILLING,
        ))
        .await
        .expect("own prefix")
        .into_inner();
    assert!(released.released);
}

#[tokio::test]
async fn a_service_not_listed_is_permission_denied() {
    let files = Files::new();
    let s = start(&files, &policy("enforce", "")).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    drop(tx);
    let mut sensor = streamgate_client::SensorServiceClient::new(s.plain_channel().await);
    let refused = sensor
        .sensor_feed(bearer(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            BILLING,
        ))
        .await
        .unwrap_err();
    assert_refused(&refused, Code::PermissionDenied, "billing", Rule::Services);
    assert!(refused.message().contains("sensor"), "{refused:?}");
    assert_eq!(s.decisions().refused(Rule::Services), 1);
}

#[tokio::test]
async fn report_mode_lets_the_same_calls_through_and_counts_them() {
    let files = Files::new();
    let up = upstream().await;
    let s = start(&files, &policy("report", "")).await;
    let mut f = fetch_client(&s).await;
    let mut l = lock_client(&s).await;

    let ok = f
        .fetch(bearer(
            fetch_get(host_url(&up, "evil.test", "/ok")),
            BILLING,
        ))
        .await
        .expect("report mode lets an unlisted host through");
    assert_eq!(ok.into_inner().status, 200);
    let post = FetchRequest {
        method: "POST".into(),
        ..fetch_get(host_url(&up, "api.test", "/ok"))
    };
    assert_ne!(
        f.fetch(bearer(post, BILLING)).await.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    let redirected = f
        .fetch(bearer(
            fetch_get(host_url(&up, "api.test", "/redirect")),
            BILLING,
        ))
        .await
        .expect("report mode follows the redirect");
    assert_eq!(redirected.into_inner().status, 200);
    let (pages, end) = pages_then_status(
        &mut f,
        bearer(link_pages(host_url(&up, "api.test", "/pages")), BILLING),
    )
    .await;
    assert!(end.is_none(), "{end:?}");
    // Page 2 (on evil.test) was fetched: it is empty, which ends the walk.
    assert_eq!(pages, 1);
    let grant = l
        .acquire_lock(bearer(acquire_req(&unique("ops/r"), 5_000, 0), BILLING))
        .await
        .expect("report mode lets a foreign lock through")
        .into_inner();
    assert!(grant.acquired);
    let anonymous = l
        .acquire_lock(acquire_req(&unique("any"), 5_000, 0))
        .await
        .expect("report mode lets a caller without credentials through");
    assert!(anonymous.into_inner().acquired);

    let d = s.decisions();
    assert_eq!(
        d.reported(Rule::FetchHosts),
        3,
        "direct, redirect hop, next page"
    );
    assert_eq!(d.reported(Rule::FetchMethods), 1);
    assert_eq!(d.reported(Rule::LockPrefixes), 1);
    assert_eq!(d.auth_reported(), 1);
    for rule in Rule::ALL {
        assert_eq!(d.refused(rule), 0, "nothing refused in report mode");
    }
    assert_eq!(d.auth_refused(), 0);
}

#[tokio::test]
async fn over_rate_per_second_is_resource_exhausted_then_allowed_after_refill() {
    let files = Files::new();
    let extra = format!(
        "[principals.limited]\ntokens_sha256 = [\"{}\"]\nservices = [\"*\"]\nrate_per_second = 1\n",
        sha256_hex("limited-token")
    );
    let s = start(&files, &policy("enforce", &extra)).await;
    let mut c = lock_client(&s).await;
    let name = unique("rate");
    // Burst = 2 x rate: two calls pass at once, the third is over.
    for i in 0..2 {
        c.acquire_lock(bearer(acquire_req(&name, 1_000, 0), "limited-token"))
            .await
            .unwrap_or_else(|e| panic!("call {i} within the burst: {e:?}"));
    }
    let over = c
        .acquire_lock(bearer(acquire_req(&name, 1_000, 0), "limited-token"))
        .await
        .unwrap_err();
    assert_refused(
        &over,
        Code::ResourceExhausted,
        "limited",
        Rule::RatePerSecond,
    );
    // Another principal is not affected.
    c.acquire_lock(bearer(acquire_req(&unique("other"), 1_000, 0), OPS))
        .await
        .expect("ops has its own bucket");

    let c = &c;
    eventually(
        Duration::from_secs(5),
        "the bucket refills",
        move || async move {
            let req = bearer(acquire_req(&unique("rate"), 1_000, 0), "limited-token");
            match c.clone().acquire_lock(req).await {
                Err(s) if s.code() != Code::ResourceExhausted => {
                    panic!("not a rate refusal: {s:?}")
                }
                other => other,
            }
        },
    )
    .await;
    assert!(s.decisions().refused(Rule::RatePerSecond) >= 1);
}

#[tokio::test]
async fn max_concurrent_counts_open_streams() {
    let files = Files::new();
    let extra = format!(
        "[principals.streams]\ntokens_sha256 = [\"{}\"]\nservices = [\"*\"]\nmax_concurrent = 2\n",
        sha256_hex("streams-token")
    );
    let s = start(&files, &policy("enforce", &extra)).await;
    let mut c = lock_client(&s).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut hold = c
            .hold(bearer(hold_req(&unique("held"), 5_000, 0), "streams-token"))
            .await
            .expect("a stream within max_concurrent")
            .into_inner();
        let first = hold.message().await.expect("event").expect("one event");
        assert!(first.event.is_some());
        open.push(hold);
    }
    let over = c
        .acquire_lock(bearer(acquire_req(&unique("x"), 1_000, 0), "streams-token"))
        .await
        .unwrap_err();
    assert_refused(
        &over,
        Code::ResourceExhausted,
        "streams",
        Rule::MaxConcurrent,
    );
    let over = c
        .hold(bearer(hold_req(&unique("x"), 1_000, 0), "streams-token"))
        .await
        .unwrap_err();
    assert_refused(
        &over,
        Code::ResourceExhausted,
        "streams",
        Rule::MaxConcurrent,
    );

    // Closing one stream frees its place (the server hears of it asynchronously).
    drop(open.pop());
    let shared = &c;
    let what = "the closed stream's place is freed";
    eventually(Duration::from_secs(10), what, move || async move {
        let req = bearer(acquire_req(&unique("x"), 1_000, 0), "streams-token");
        match shared.clone().acquire_lock(req).await {
            Err(s) if s.code() != Code::ResourceExhausted => panic!("not a limit refusal: {s:?}"),
            other => other,
        }
    })
    .await;
    // Finished unary calls hold no place: many in a row pass with one stream still open.
    for _ in 0..5 {
        c.acquire_lock(bearer(acquire_req(&unique("x"), 1_000, 0), "streams-token"))
            .await
            .expect("one stream open, one place free");
    }
}

#[tokio::test]
async fn health_and_reflection_need_no_credential() {
    let files = Files::new();
    let s = start(&files, &policy("enforce", "")).await;
    let channel = s.plain_channel().await;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "streamgate.v1.LockService".into(),
        })
        .await
        .expect("health needs no credential")
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");

    let services = list_services(channel, None)
        .await
        .expect("reflection needs no credential");
    assert!(
        services.iter().any(|s| s == "streamgate.v1.FetchService"),
        "{services:?}"
    );
}

/// The services server reflection lists, asked with `token` as bearer when given.
async fn list_services(
    channel: Channel,
    token: Option<&str>,
) -> Result<Vec<String>, tonic::Status> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut call = tonic::Request::new(tokio_stream::iter([req]));
    if let Some(token) = token {
        call.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(call)
        .await?
        .into_inner();
    let reply = replies.message().await?.expect("one reply");
    match reply.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => panic!("unexpected reflection reply {other:?}"),
    }
}

#[tokio::test]
async fn with_reflection_policy_reflection_is_a_service_of_the_policy_and_health_stays_open() {
    let files = Files::new();
    // billing lists fetch and lock only; ops has every service.
    let text = format!("reflection = \"policy\"\n{}", policy("enforce", ""));
    let s = start(&files, &text).await;
    let channel = s.plain_channel().await;

    let anonymous = list_services(channel.clone(), None).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let billing = list_services(channel.clone(), Some(BILLING))
        .await
        .unwrap_err();
    assert_eq!(billing.code(), Code::PermissionDenied, "{billing:?}");
    assert!(billing.message().contains("reflection"), "{billing:?}");
    let ops = list_services(channel.clone(), Some(OPS))
        .await
        .expect("a principal with every service may reflect");
    assert!(
        ops.iter().any(|s| s == "streamgate.v1.LockService"),
        "{ops:?}"
    );

    let health = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health stays open to anonymous callers")
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");

    // An anonymous principal that lists reflection lets callers without a credential in.
    let text = format!(
        "reflection = \"policy\"\nanonymous = \"public\"\n{}\n[principals.public]\nservices = [\"reflection\"]\n",
        policy("enforce", "").trim_start()
    );
    let s = start(&files, &text).await;
    let listed = list_services(s.plain_channel().await, None)
        .await
        .expect("the anonymous principal may reflect");
    assert!(
        listed.iter().any(|s| s == "streamgate.v1.FetchService"),
        "{listed:?}"
    );
    let refused = lock_client(&s)
        .await
        .acquire_lock(acquire_req(&format!("billing/{}", unique("r")), 5_000, 0))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
}

#[tokio::test]
async fn a_caller_without_credentials_becomes_the_anonymous_principal() {
    let files = Files::new();
    let text = format!(
        "anonymous = \"public\"\n{}\n[principals.public]\nservices = [\"lock\"]\nlock_prefixes = [\"public/\"]\n",
        policy("enforce", "")
    );
    let s = start(&files, &text).await;
    let mut c = lock_client(&s).await;
    c.acquire_lock(acquire_req(&format!("public/{}", unique("a")), 1_000, 0))
        .await
        .expect("an anonymous caller gets public's rules");
    let refused = c
        .acquire_lock(acquire_req(&unique("private"), 1_000, 0))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::PermissionDenied,
        "public",
        Rule::LockPrefixes,
    );
    let unknown = c
        .acquire_lock(bearer(
            acquire_req(&format!("public/{}", unique("a")), 1_000, 0),
            "nope",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        unknown.code(),
        Code::Unauthenticated,
        "an unknown token is not anonymous"
    );
}

#[tokio::test]
async fn a_reload_applies_to_new_calls_and_a_bad_file_keeps_the_old_policy() {
    let files = Files::new();
    let s = start(&files, &policy("enforce", "")).await;
    let mut c = lock_client(&s).await;
    let ops_lock = unique("ops/r");
    c.acquire_lock(bearer(acquire_req(&ops_lock, 1_000, 0), BILLING))
        .await
        .unwrap_err();

    files.write(
        "policy.toml",
        &policy("enforce", "").replace("[\"billing/\"]", "[\"billing/\", \"ops/\"]"),
    );
    let done = s.reloader.reload();
    assert!(matches!(done.policy, Some(Ok(()))), "{done:?}");
    c.acquire_lock(bearer(acquire_req(&ops_lock, 1_000, 0), BILLING))
        .await
        .expect("the reloaded policy allows ops/");

    files.write(
        "policy.toml",
        "[principals.billing]\nfetch_host = [\"typo\"]\n",
    );
    let done = s.reloader.reload();
    let err = done.policy.expect("a policy is configured").unwrap_err();
    assert!(err.0.contains("fetch_host"), "{err}");
    c.acquire_lock(bearer(acquire_req(&unique("ops/s"), 1_000, 0), BILLING))
        .await
        .expect("the previous policy stays in force");
}

/// The policy example of README.md's "Running it on a network" works as pasted.
#[test]
fn the_readme_policy_example_parses() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split_once("## Running it on a network")
        .expect("README has the section")
        .1;
    let toml = section
        .split_once("```toml\n")
        .expect("the section has a TOML block")
        .1
        .split_once("```")
        .expect("the block ends")
        .0;
    let policy = Policy::parse(toml, None).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert!(policy.principal("billing").is_some());
    assert!(
        matches!(
            policy.principal_for_token("demo-reports-token"),
            streamgate::PrincipalMatch::Known(p) if &*p.name == "reports"
        ),
        "the documented token names the reports principal"
    );
}
