//! The policy file under the stricter rules: `services` absent only with a warning (and never
//! by a reload that would widen a principal), no principal-less policy,
//! unknown keys refused (at start, exit 2 naming the file and the key; on reload, the old
//! policy kept), a warning for a file others may write; `fetch_hosts` entries with a port or
//! a scheme; `fetch_methods` in any case; and refusals that log a few lines, not one each.
//! Reloads are shown both in process and through SIGHUP to the real binary.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::TestServer;
use common::Upstream;
use common::binary::Binary;
use common::edge::{Files, bearer, sha256_hex};
use common::fetch::{FixedLookup, get as fetch_get};
use common::lock::{acquire_req, unique};
use streamgate::Deps;
use streamgate::Rule;
use streamgate_client::proto::FetchRequest;
use streamgate_client::proto::fetch_service_client::FetchServiceClient;
use streamgate_client::proto::lock_service_client::LockServiceClient;
use tonic::Code;

const TOKEN: &str = "policy-file-token-0123456789";

fn principal(rules: &str) -> String {
    format!(
        "[principals.app]\ntokens_sha256 = [\"{}\"]\n{rules}\n",
        sha256_hex(TOKEN)
    )
}

fn lookup() -> Deps {
    Deps {
        lookup: FixedLookup::new(&[("api.test", &["127.0.0.1"])]),
        ..Deps::default()
    }
}

async fn ok_upstream() -> Upstream {
    Upstream::start(Router::new().route("/ok", get(|| async { "fine" }))).await
}

/// Starts the binary with `policy` and expects exit 2 within 10 s, naming the file and `key`.
fn assert_refused_at_start(policy: &str, key: &str) {
    let files = Files::new();
    let path = files.write("policy.toml", policy);
    let mut bin = Binary::spawn(&["--listen", "127.0.0.1:0", "--policy", &path]);
    let code = bin.exit_code_within(Duration::from_secs(10));
    let log = bin.log();
    assert_eq!(
        code,
        Some(Some(2)),
        "{policy:?} must stop the server: {log}"
    );
    assert!(log.contains(&path), "names the file: {log}");
    assert!(log.contains(key), "names {key}: {log}");
}

#[test]
fn a_principal_without_services_may_call_every_service_and_is_warned_about() {
    // The contract keeps "absent = every service"; the server says so at start, naming the key.
    let files = Files::new();
    let path = files.write("policy.toml", &principal("lock_prefixes = [\"app/\"]"));
    let mut bin = Binary::spawn(&["--listen", "127.0.0.1:0", "--policy", &path]);
    let line = bin.wait_for("principals.app.services");
    assert!(
        line.contains("WARN") && line.contains("every service"),
        "{line}"
    );
    bin.wait_for("listening on ");
}

#[test]
fn a_policy_without_principals_stops_the_binary() {
    assert_refused_at_start("mode = \"enforce\"\n", "principals");
    assert_refused_at_start("", "principals");
}

#[test]
fn an_unknown_key_stops_the_binary_naming_it() {
    assert_refused_at_start(
        &principal("services = [\"*\"]\nlock_prefix = [\"app/\"]"),
        "lock_prefix",
    );
}

#[cfg(unix)]
#[test]
fn a_policy_file_others_may_write_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let files = Files::new();
    let path = files.write("policy.toml", &principal("services = [\"*\"]"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let mut bin = Binary::spawn(&["--listen", "127.0.0.1:0", "--policy", &path]);
    let line = bin.wait_for("writable by other users");
    assert!(line.contains(&path) && line.contains("WARN"), "{line}");
    bin.wait_for("listening on ");
}

#[tokio::test]
async fn a_reload_of_a_file_missing_services_keeps_the_old_policy_and_says_why() {
    let files = Files::new();
    let path = files.write(
        "policy.toml",
        &principal("services = [\"lock\"]\nlock_prefixes = [\"app/\"]"),
    );
    let s = TestServer::start_with_args(&["--policy", &path]).await;
    let mut c = FetchServiceClient::new(s.plain_channel().await);
    let up = ok_upstream().await;
    let fetch = || bearer(fetch_get(up.url("/ok")), TOKEN);
    assert_eq!(
        c.fetch(fetch()).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // Cut short by an edit: the `services` line is gone. Before, that meant every service.
    files.write("policy.toml", &principal("lock_prefixes = [\"app/\"]"));
    let done = s.reloader.reload();
    let err = done.policy.expect("a policy is configured").unwrap_err();
    assert!(
        err.0.contains("principals.app.services") && err.0.contains("policy.toml"),
        "{err}"
    );
    let refused = c.fetch(fetch()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "the old policy stays: {refused:?}"
    );

    files.write("policy.toml", "");
    let err = s.reloader.reload().policy.expect("configured").unwrap_err();
    assert!(err.0.contains("principals"), "{err}");
    let mut locks = LockServiceClient::new(s.plain_channel().await);
    locks
        .acquire_lock(bearer(acquire_req(&unique("app/x"), 1_000, 0), TOKEN))
        .await
        .expect("the old policy still serves its principal");
}

/// The real binary, so the reload is the one its SIGHUP handler runs.
#[tokio::test]
async fn sighup_swaps_in_an_edited_policy_and_keeps_it_when_the_next_edit_is_broken() {
    let files = Files::new();
    let prefixes =
        |list: &str| principal(&format!("services = [\"lock\"]\nlock_prefixes = [{list}]"));
    let path = files.write("policy.toml", &prefixes("\"app/\""));
    let mut bin = Binary::spawn(&["--listen", "127.0.0.1:0", "--policy", &path]);
    let addr = listening_address(&mut bin);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the binary");
    let mut c = LockServiceClient::new(channel);
    let mut acquire = async |prefix: &str| {
        c.acquire_lock(bearer(acquire_req(&unique(prefix), 1_000, 0), TOKEN))
            .await
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(acquire("app/").await, Ok(()));
    assert_eq!(acquire("ops/").await, Err(Code::PermissionDenied));

    // One edit grants ops/ and takes app/ away.
    files.write("policy.toml", &prefixes("\"ops/\""));
    bin.signal("HUP");
    bin.wait_for("reloaded the policy");
    assert_eq!(acquire("ops/").await, Ok(()), "granted by the edit");
    assert_eq!(
        acquire("app/").await,
        Err(Code::PermissionDenied),
        "taken away by the edit"
    );

    // A typo in a key: refused, and the edited policy stays in force.
    files.write(
        "policy.toml",
        &principal("services = [\"lock\"]\nlock_prefix = [\"app/\"]"),
    );
    bin.signal("HUP");
    let why = bin.wait_for("keeping the current policy");
    assert!(
        why.contains("WARN") && why.contains(&path) && why.contains("unknown field `lock_prefix`"),
        "one log line names the file and the key: {why}"
    );
    assert_eq!(acquire("ops/").await, Ok(()), "the previous policy stays");
    assert_eq!(acquire("app/").await, Err(Code::PermissionDenied));

    bin.signal("TERM");
    assert_eq!(bin.exit_code_within(Duration::from_secs(10)), Some(Some(0)));
}

/// The address from the binary's `listening on ADDR` line.
fn listening_address(bin: &mut Binary) -> String {
    let line = bin.wait_for("listening on ");
    line.split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

#[tokio::test]
async fn fetch_hosts_entries_with_a_port_or_a_scheme_narrow_the_host() {
    let up = ok_upstream().await;
    let port = up.addr.port();
    let files = Files::new();
    let other_port = port.wrapping_add(1).max(1);
    let policy = format!(
        r#"
[principals.porty]
tokens_sha256 = ["{}"]
services = ["fetch"]
fetch_hosts = ["api.test:{port}"]
[principals.elsewhere]
tokens_sha256 = ["{}"]
services = ["fetch"]
fetch_hosts = ["api.test:{other_port}", "https://api.test:{port}"]
[principals.origin]
tokens_sha256 = ["{}"]
services = ["fetch"]
fetch_hosts = ["http://api.test:{port}/"]
"#,
        sha256_hex("porty"),
        sha256_hex("elsewhere"),
        sha256_hex("origin")
    );
    let path = files.write("policy.toml", &policy);
    let s = TestServer::start_with_args_and_deps(&["--policy", &path], lookup()).await;
    let mut c = FetchServiceClient::new(s.plain_channel().await);
    let url = format!("http://api.test:{port}/ok");
    for token in ["porty", "origin"] {
        let ok = c
            .fetch(bearer(fetch_get(url.clone()), token))
            .await
            .unwrap_or_else(|e| panic!("{token}: {e:?}"))
            .into_inner();
        assert_eq!(ok.status, 200, "{token}");
    }
    // Same host, but another port and another scheme are listed, not this one.
    let refused = c
        .fetch(bearer(fetch_get(url.clone()), "elsewhere"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("fetch_hosts")
            && refused
                .message()
                .contains(&format!("http://api.test:{port}")),
        "{refused:?}"
    );
    assert_eq!(s.decisions().refused(Rule::FetchHosts), 1);
}

#[tokio::test]
async fn fetch_methods_compare_case_insensitively() {
    let up = ok_upstream().await;
    let files = Files::new();
    let path = files.write(
        "policy.toml",
        &principal("services = [\"fetch\"]\nfetch_methods = [\"get\"]"),
    );
    let s = TestServer::start_with_args_and_deps(&["--policy", &path], lookup()).await;
    let mut c = FetchServiceClient::new(s.plain_channel().await);
    for method in ["GET", "get", "Get"] {
        let req = FetchRequest {
            method: method.into(),
            ..fetch_get(up.url("/ok"))
        };
        c.fetch(bearer(req, TOKEN))
            .await
            .unwrap_or_else(|e| panic!("{method}: {e:?}"));
    }
    let post = FetchRequest {
        method: "post".into(),
        ..fetch_get(up.url("/ok"))
    };
    let refused = c.fetch(bearer(post, TOKEN)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
}

/// The real binary, so its log is a process's stderr and nothing else's.
#[tokio::test]
async fn three_hundred_refused_calls_log_a_line_not_three_hundred() {
    let files = Files::new();
    let path = files.write(
        "policy.toml",
        &principal("services = [\"lock\"]\nlock_prefixes = [\"app/\"]"),
    );
    let mut bin = Binary::spawn(&["--listen", "127.0.0.1:0", "--policy", &path]);
    let addr = listening_address(&mut bin);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the binary");
    let mut c = LockServiceClient::new(channel);
    for i in 0..300 {
        let refused = c
            .acquire_lock(bearer(acquire_req(&format!("ops/{i}"), 1_000, 0), TOKEN))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let unknown = c
            .acquire_lock(bearer(acquire_req("app/x", 1_000, 0), "not-a-token"))
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::Unauthenticated);
    }
    bin.signal("TERM");
    assert_eq!(bin.exit_code_within(Duration::from_secs(10)), Some(Some(0)));
    let log = bin.log();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    // The first of each kind at once; the rest within the interval are held back.
    assert_eq!(count("policy refused"), 1, "{log}");
    assert_eq!(count("authentication refused"), 1, "{log}");
}
