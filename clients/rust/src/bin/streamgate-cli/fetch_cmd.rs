//! `streamgate-cli fetch URL`: one HTTP request through the server, curl-like.

use std::io::Read;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use streamgate_client::{FetchOptions, FetchResponse};

use crate::exit;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Absolute http or https URL.
    url: String,

    /// HTTP method.
    #[arg(short = 'X', long = "request", default_value = "GET")]
    method: String,

    /// Request header `Name: value`; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

    /// Request body; `@FILE` reads a file, `@-` standard input.
    #[arg(short = 'd', long = "data")]
    data: Option<String>,

    /// Whole-request timeout (`500ms`, `10s`); default: the server's.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,

    /// Response body cap in bytes; default: the server's.
    #[arg(long)]
    max_body_bytes: Option<u64>,

    /// Print the status line and headers before the body.
    #[arg(short = 'i', long)]
    include: bool,

    /// Exit 22 when the HTTP status is 400 or more, saying the status on stderr (the body is
    /// printed all the same).
    #[arg(short = 'f', long)]
    fail: bool,
}

pub async fn run(server: &crate::Server, args: FetchArgs, out: &Output) -> anyhow::Result<u8> {
    let mut options = FetchOptions::new().method(args.method.clone());
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("header {header:?} is not `Name: value`"))?;
        options = options.header(name.trim(), value.trim());
    }
    if let Some(data) = &args.data {
        options = options.body(read_body(data)?);
    }
    if let Some(t) = args.timeout {
        options = options.timeout(t);
    }
    if let Some(max) = args.max_body_bytes {
        options = options.max_body_bytes(max);
    }

    let client = server.connect().await?;
    let response = client.fetch(&args.url, options).await?;
    print_response(&response, args.include, out)?;
    if args.fail && response.status >= 400 {
        // As curl's --fail does: a script that checks only the exit code still has a log line
        // that says why.
        eprintln!(
            "streamgate-cli: {} answered HTTP {} (--fail)",
            response.url, response.status
        );
        return Ok(exit::HTTP_ERROR);
    }
    Ok(exit::OK)
}

fn read_body(data: &str) -> anyhow::Result<Vec<u8>> {
    match data.strip_prefix('@') {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the body from stdin")?;
            Ok(buf)
        }
        Some(path) => std::fs::read(path).with_context(|| format!("reading the body from {path}")),
        None => Ok(data.as_bytes().to_vec()),
    }
}

fn print_response(r: &FetchResponse, include: bool, out: &Output) -> anyhow::Result<()> {
    if out.json {
        let body = match std::str::from_utf8(&r.body) {
            Ok(text) => json!({"body": text}),
            Err(_) => json!({"body_hex": hex(&r.body)}),
        };
        let mut v = json!({
            "status": r.status,
            "url": r.url,
            "headers": r.headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
            "elapsed_ms": r.elapsed.as_secs_f64() * 1000.0,
        });
        if let (Some(obj), Some(b)) = (v.as_object_mut(), body.as_object()) {
            obj.extend(b.clone());
        }
        return out.json_line(&v);
    }
    if include {
        let mut head = format!("HTTP {}\n", r.status);
        for (name, value) in &r.headers {
            head.push_str(&format!("{name}: {value}\n"));
        }
        head.push('\n');
        out.raw(head.as_bytes())?;
    }
    out.raw(&r.body)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
