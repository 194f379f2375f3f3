//! What a newcomer does with docs/getting-started/rust.md, done by a test: a new cargo project
//! in a temp folder outside the repository, the page's dependencies (the client by path, no
//! default features) and its two programs copied unchanged, built, and run against the real
//! server and its demo API (`streamgate demo-api`); then the two mistakes, with their exact errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::ServerProcess;

/// The path the page's `Cargo.toml` lines give for the client, replaced by the real one.
const DOC_CLIENT_PATH: &str = "../streamgate/clients/rust";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fenced block that follows `<!-- file: NAME -->` in the page.
fn snippet(doc: &str, name: &str) -> String {
    let marker = format!("<!-- file: {name} -->");
    let after = &doc[doc
        .find(&marker)
        .unwrap_or_else(|| panic!("the page has no block {marker}"))..];
    let body = &after[after.find("```").expect("a fenced block after the marker")..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    body[..body.find("\n```").expect("a closing fence")].to_string() + "\n"
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Creates the project the page describes in `dir` and builds it; returns its binaries' folder.
fn build_project(dir: &Path, doc: &str) -> PathBuf {
    let cargo = env!("CARGO");
    run(Command::new(cargo)
        .args(["new", "--vcs", "none", "--bin", "hello-streamgate"])
        .current_dir(dir));
    let project = dir.join("hello-streamgate");
    let client_path = repo()
        .join("clients/rust")
        .canonicalize()
        .expect("clients/rust");
    let deps = snippet(doc, "Cargo.toml dependencies")
        .replace(DOC_CLIENT_PATH, &client_path.display().to_string());
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).expect("Cargo.toml");
    assert!(manifest.contains("[dependencies]"), "{manifest}");
    std::fs::write(project.join("Cargo.toml"), manifest + &deps).expect("write Cargo.toml");
    std::fs::write(project.join("src/main.rs"), snippet(doc, "src/main.rs")).expect("main.rs");
    std::fs::create_dir_all(project.join("src/bin")).expect("src/bin");
    std::fs::write(
        project.join("src/bin/mistakes.rs"),
        snippet(doc, "src/bin/mistakes.rs"),
    )
    .expect("mistakes.rs");
    // The repository's lock file pins the versions the repository is tested with (cargo drops
    // what this project does not use), and a target folder of its own keeps rebuilds warm.
    std::fs::copy(repo().join("Cargo.lock"), project.join("Cargo.lock")).expect("Cargo.lock");
    let target = repo().join("target/newcomer-rust");
    run(Command::new(cargo)
        .args(["build", "--bins", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&project));
    target.join("debug")
}

#[test]
fn the_getting_started_page_builds_and_runs_in_a_fresh_project() {
    let doc = std::fs::read_to_string(repo().join("docs/getting-started/rust.md"))
        .expect("docs/getting-started/rust.md");
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(
        !dir.path().starts_with(repo().canonicalize().expect("repo")),
        "the project must live outside the repository"
    );
    let bin = build_project(dir.path(), &doc);

    let server = ServerProcess::start(&[]);
    let address = server.url.trim_start_matches("http://").to_string();
    // The demo API the page tells the reader to start: `streamgate demo-api`.
    let api = ServerProcess::start_demo_api();

    let out = run(Command::new(bin.join("hello-streamgate"))
        .env("STREAMGATE_ADDR", &address)
        .env("DEMO_API", &api.url));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "fetch: HTTP 200 hello\n",
        "page 1: ids 1,2\npage 2: ids 3,4\npage 3: ids 5,6\n",
        "lock: getting-started held, fencing token ",
        "reading s1: 21.5 °C = 70.7 °F\n",
        "reading s1: 31.0 °C = 87.8 °F\n",
        "alert s1: ",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }

    assert!(
        std::net::TcpStream::connect("127.0.0.1:1").is_err(),
        "something listens on 127.0.0.1:1, which the page uses as a dead port"
    );
    let out = run(Command::new(bin.join("mistakes")).env("STREAMGATE_ADDR", &address));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("empty name: INVALID_ARGUMENT: name"),
        "{stdout}"
    );
    let dead = stdout
        .lines()
        .find(|l| l.starts_with("dead port: "))
        .unwrap_or_else(|| panic!("no dead port line in:\n{stdout}"));
    assert!(dead.starts_with("dead port: UNAVAILABLE: "), "{dead}");
    assert!(dead.contains("127.0.0.1:1"), "{dead}");
}
