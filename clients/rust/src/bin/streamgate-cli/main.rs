//! `streamgate-cli`: one subcommand per streamgate call, human output by default and `--json`
//! for scripts. Exit codes are listed in [`exit`] and in `docs/rust-client.md`.

mod exit;
mod fetch_cmd;
mod lock_cmd;
mod output;
mod pages_cmd;
mod sensor_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use streamgate_client::{Client, ConnectOptions};

/// Talks to a streamgate server: fetch URLs, read paginated APIs, run commands under a
/// distributed lock, stream simulated sensor readings.
#[derive(Debug, Parser)]
#[command(name = "streamgate-cli", version)]
struct Cli {
    /// The streamgate server: HOST:PORT, http://HOST:PORT or https://HOST:PORT.
    #[arg(
        long,
        global = true,
        env = "STREAMGATE_SERVER",
        default_value = "127.0.0.1:50051"
    )]
    server: String,

    #[command(flatten)]
    security: Security,

    /// Machine-readable output: one JSON object per line (errors too, on stderr).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

/// TLS and a bearer token (docs/clients.md, "TLS and tokens"): `--ca`, or `--cert` with
/// `--key`, turn TLS on as `https://` does.
#[derive(Debug, Args)]
struct Security {
    /// PEM file of the roots the server's certificate is checked against (default: the
    /// system's); turns TLS on.
    #[arg(long, global = true, env = "STREAMGATE_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --key); turns TLS on.
    #[arg(
        long,
        global = true,
        env = "STREAMGATE_CERT",
        value_name = "FILE",
        requires = "key"
    )]
    cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(
        long,
        global = true,
        env = "STREAMGATE_KEY",
        value_name = "FILE",
        requires = "cert"
    )]
    key: Option<PathBuf>,
    /// Bearer token sent with every call as `authorization: Bearer TOKEN` (only over TLS or
    /// to loopback). Prefer the environment variable: a flag shows in `ps`.
    #[arg(long, global = true, env = "STREAMGATE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Where and how the subcommands connect.
pub struct Server {
    address: String,
    options: ConnectOptions,
}

impl Server {
    /// Connects with the address and the TLS/token options.
    pub async fn connect(&self) -> streamgate_client::Result<Client> {
        Client::connect_with(&self.address, &self.options).await
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch one URL through the server and print the body.
    Fetch(fetch_cmd::FetchArgs),
    /// Read a paginated JSON API through the server and print its items, one per line.
    Pages(pages_cmd::PagesArgs),
    /// Run a command while holding a lock; exits with the command's status.
    Lock(lock_cmd::LockArgs),
    /// Sensor feeds.
    #[command(subcommand)]
    Sensor(SensorCommand),
}

#[derive(Debug, Subcommand)]
enum SensorCommand {
    /// Stream simulated readings (20–30 °C, 40–70 %) and print what comes back.
    Simulate(sensor_cmd::SimulateArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = output::Output::new(cli.json);
    let server = Server {
        address: cli.server,
        options: ConnectOptions {
            ca: cli.security.ca,
            cert: cli.security.cert,
            key: cli.security.key,
            token: cli.security.token,
        },
    };
    let result = match cli.command {
        Command::Fetch(args) => fetch_cmd::run(&server, args, &out).await,
        Command::Pages(args) => pages_cmd::run(&server, args, &out).await,
        Command::Lock(args) => lock_cmd::run(&server, args, &out).await,
        Command::Sensor(SensorCommand::Simulate(args)) => {
            sensor_cmd::run(&server, args, &out).await
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head`): what it wanted it has, so stop quietly.
        Err(err) if output::is_closed_pipe(&err) => ExitCode::from(exit::OK),
        Err(err) => ExitCode::from(out.error(&err)),
    }
}
