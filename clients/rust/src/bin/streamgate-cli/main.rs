//! `streamgate-cli`: one subcommand per streamgate call, human output by default and `--json`
//! for scripts. Exit codes are listed in [`exit`] and in `docs/rust-client.md`.

mod exit;
mod fetch_cmd;
mod lock_cmd;
mod output;
mod pages_cmd;
mod sensor_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

    /// Machine-readable output: one JSON object per line (errors too, on stderr).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
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
    let result = match cli.command {
        Command::Fetch(args) => fetch_cmd::run(&cli.server, args, &out).await,
        Command::Pages(args) => pages_cmd::run(&cli.server, args, &out).await,
        Command::Lock(args) => lock_cmd::run(&cli.server, args, &out).await,
        Command::Sensor(SensorCommand::Simulate(args)) => {
            sensor_cmd::run(&cli.server, args, &out).await
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head`): what it wanted it has, so stop quietly.
        Err(err) if output::is_closed_pipe(&err) => ExitCode::from(exit::OK),
        Err(err) => ExitCode::from(out.error(&err)),
    }
}
