//! `streamgate health`: a one-shot `grpc.health.v1.Health/Check` client built into the server
//! binary, so a container's HEALTHCHECK (and any probe that can only run a command) needs no
//! extra tool in the image: no grpcurl, no grpc_health_probe, no shell.
//!
//! Exit status: 0 when the service answers SERVING, 1 for any other answer or when the server
//! cannot be reached in time, 2 for bad arguments (clap's usage error). The one line printed
//! says which.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The first argument that selects the probe instead of the server.
pub const SUBCOMMAND: &str = "health";

/// The server's own default listening port on loopback: inside a container (or a pod) the
/// probe runs next to the server, which the image starts on `0.0.0.0:50051`.
pub const DEFAULT_HEALTH_ADDR: &str = "http://127.0.0.1:50051";

/// Well under the 5 s default of Docker's and Kubernetes' probe timeouts, so a hung server is
/// reported by this probe's own message rather than by the runtime killing it.
pub const DEFAULT_HEALTH_TIMEOUT: &str = "3s";

/// Asks a streamgate server whether it serves.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "streamgate health",
    version,
    about = "Ask a streamgate server's grpc.health.v1 endpoint; exit 0 when it answers SERVING"
)]
pub struct HealthArgs {
    /// The server to ask: http://HOST:PORT (plaintext; a TLS port is probed from outside the
    /// container, e.g. by the Kubernetes gRPC probe).
    #[arg(long, env = "STREAMGATE_HEALTH_ADDR", default_value = DEFAULT_HEALTH_ADDR)]
    pub addr: String,

    /// The service to ask about: "" is the server as a whole; `streamgate.v1.LockService`
    /// follows Redis.
    #[arg(long, env = "STREAMGATE_HEALTH_SERVICE", default_value = "")]
    pub service: String,

    /// Time for connecting and the answer together.
    #[arg(long, env = "STREAMGATE_HEALTH_TIMEOUT", value_parser = humantime::parse_duration, default_value = DEFAULT_HEALTH_TIMEOUT)]
    pub timeout: Duration,
}

/// Why a probe did not report SERVING.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// `--addr` is not a URI tonic can connect to.
    #[error("--addr {addr:?}: {source}")]
    BadAddr {
        /// The address given.
        addr: String,
        /// tonic's reason.
        source: tonic::transport::Error,
    },
    /// Connecting or the call did not finish within `--timeout`.
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout {
        /// The address asked.
        addr: String,
        /// The limit.
        timeout: Duration,
    },
    /// The connection failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address asked.
        addr: String,
        /// tonic's reason.
        source: tonic::transport::Error,
    },
    /// The server answered with an error status (NOT_FOUND for an unknown service).
    #[error("health check of {service:?} failed: {status}")]
    Call {
        /// The service asked about.
        service: String,
        /// The gRPC status.
        status: tonic::Status,
    },
}

/// Runs the probe with `args` (the program name first, as `std::env::args` gives them) and
/// prints one line: the status on stdout, or the reason on stderr.
pub async fn run(args: impl IntoIterator<Item = String>) -> ExitCode {
    let args = match HealthArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            // --help and --version are not errors; clap picks the stream and the code.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match check(&args).await {
        Ok(ServingStatus::Serving) => {
            println!("{}: SERVING", describe(&args.service));
            ExitCode::SUCCESS
        }
        Ok(other) => {
            println!("{}: {}", describe(&args.service), other.as_str_name());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("streamgate health: {e}");
            ExitCode::from(1)
        }
    }
}

/// One `Health/Check` call within `args.timeout`.
pub async fn check(args: &HealthArgs) -> Result<ServingStatus, ProbeError> {
    let endpoint =
        Endpoint::from_shared(args.addr.clone()).map_err(|source| ProbeError::BadAddr {
            addr: args.addr.clone(),
            source,
        })?;
    let call = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ProbeError::Connect {
                addr: args.addr.clone(),
                source,
            })?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: args.service.clone(),
            })
            .await
            .map_err(|status| ProbeError::Call {
                service: args.service.clone(),
                status,
            })?;
        // An unknown number from a newer server is not SERVING.
        Ok(ServingStatus::try_from(answer.into_inner().status).unwrap_or(ServingStatus::Unknown))
    };
    tokio::time::timeout(args.timeout, call)
        .await
        .map_err(|_| ProbeError::Timeout {
            addr: args.addr.clone(),
            timeout: args.timeout,
        })?
}

fn describe(service: &str) -> &str {
    if service.is_empty() {
        "server"
    } else {
        service
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_ask_the_whole_server_on_the_images_port() {
        let args = HealthArgs::try_parse_from(["streamgate health"]).expect("no flags parse");
        assert_eq!(args.addr, DEFAULT_HEALTH_ADDR);
        assert_eq!(args.service, "");
        assert_eq!(args.timeout, Duration::from_secs(3));
    }

    #[tokio::test]
    async fn an_address_that_is_not_a_uri_is_named() {
        let args = HealthArgs::try_parse_from(["streamgate health", "--addr", "not a uri"])
            .expect("flags parse");
        let err = check(&args).await.expect_err("a bad address fails");
        assert!(err.to_string().starts_with("--addr \"not a uri\""), "{err}");
    }
}
