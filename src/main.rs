//! The `streamgate` binary: check the config, start logging, build the server, serve until
//! SIGINT or SIGTERM; SIGHUP re-reads the TLS material and the policy.
//!
//! A first argument naming a subcommand runs that instead: `streamgate health` asks a running
//! server's health endpoint (src/health_probe.rs), `streamgate demo-api` serves the
//! getting-started pages' demo API; every other command line is the server's.

use std::process::ExitCode;

use clap::Parser;
use streamgate::LogFormat;
use streamgate::Reloader;
use streamgate::demo::{self, DemoApiArgs};
use streamgate::health_probe;
use streamgate::{App, Deps};
use streamgate::{Config, Shutdown, telemetry};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    // Subcommands are a first argument that is not a flag; anything else is the server's.
    if std::env::args().nth(1).as_deref() == Some(health_probe::SUBCOMMAND) {
        return health_probe::run(std::env::args().skip(1)).await;
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "demo-api") {
        return demo_api().await;
    }
    let settings = match Config::parse().settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("streamgate: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let export = match &settings.trace {
        None => {
            telemetry::init(settings.server.log_format);
            None
        }
        Some(trace) => match telemetry::init_with_export(settings.server.log_format, trace) {
            Ok(export) => Some(export),
            Err(e) => {
                eprintln!("streamgate: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let listen = settings.server.listen;
    let shutdown_grace = settings.server.shutdown_grace;
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    let served = match App::build(settings, Deps::default()).await {
        Ok(app) => {
            reload_on_sighup(app.reloader(), app.shutdown());
            app.serve(listener, stop_signal()).await
        }
        Err(e) => Err(e),
    };
    if let Some(export) = export {
        // The spans of the last calls, within the time calls in flight got to finish.
        export.shutdown(shutdown_grace).await;
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server failed: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `streamgate demo-api`: the getting-started pages' demo API (src/demo.rs).
async fn demo_api() -> ExitCode {
    let args = DemoApiArgs::parse_from(std::env::args_os().skip(1));
    telemetry::init(LogFormat::Text);
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    match demo::serve(listener, args.items, stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("demo API failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Re-reads the TLS material and the policy on every SIGHUP until the server stops.
///
/// The handler is installed before this returns (before `listening on` is logged): SIGHUP's
/// default action would kill the server.
fn reload_on_sighup(reloader: Reloader, shutdown: Shutdown) {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            // Owned by the shutdown signal: the task ends with the server.
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        got = hup.recv() => match got {
                            Some(()) => {
                                tracing::info!("SIGHUP received, reloading");
                                reloader.reload();
                            }
                            None => return,
                        },
                        _ = shutdown.recv() => return,
                    }
                }
            });
        }
        Err(e) => tracing::warn!("cannot watch SIGHUP ({e}); reloading is off"),
    }
    #[cfg(not(unix))]
    let _ = (reloader, shutdown);
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
