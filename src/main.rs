//! The `streamgate` binary: check the config, start logging, build the server, serve until
//! SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use streamgate::server::{App, Deps};
use streamgate::{Config, telemetry};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Config::parse().settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("streamgate: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.server.log_format);
    let listen = settings.server.listen;
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    let served = match App::build(settings, Deps::default()).await {
        Ok(app) => app.serve(listener, stop_signal()).await,
        Err(e) => Err(e),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server failed: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Completes on the first SIGINT or SIGTERM.
///
/// The handlers are installed before this returns, not when the future is first polled: the
/// server logs `listening on` before it polls the stop future, and a signal arriving in
/// between must not take the default action (killing the process with no clean exit).
fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (term, int) => {
                tracing::warn!(
                    "cannot watch signals (SIGTERM: {:?}, SIGINT: {:?}); waiting for Ctrl-C",
                    term.err(),
                    int.err()
                );
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("stop signal received, shutting down");
    }
}
