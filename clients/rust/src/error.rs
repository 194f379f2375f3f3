//! The one error type of the client: a gRPC status code and a message, whether the status came
//! from the server, from the transport, or from the client's own checks.

use std::fmt;

use tonic::Code;
use tonic_types::StatusExt;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed call: the gRPC code and the message that explains it.
///
/// Failures that are not a server status are mapped onto the code a server would have used:
/// a channel that cannot connect is `UNAVAILABLE`, a lock not granted within its wait is
/// `ABORTED` (see [`Error::is_not_acquired`]), a malformed argument caught before sending is
/// `INVALID_ARGUMENT`.
///
/// A failure the server blames on the HTTP upstream of a Fetch or ListPages (refused, reset,
/// unresolvable, too slow, or answering 429/5xx through every retry) has the same code as the
/// server itself being down or slow, `UNAVAILABLE` or `DEADLINE_EXCEEDED`; [`Error::upstream`]
/// tells them apart (docs/clients.md, "Upstream failures").
#[derive(Clone, Debug)]
pub struct Error {
    code: Code,
    message: String,
    not_acquired: bool,
    upstream: Option<String>,
}

/// The `ErrorInfo.domain` of the server's error details.
const ERROR_DOMAIN: &str = "streamgate";

/// The trailer naming the upstream, for a status whose rich details did not come through.
const UPSTREAM_TRAILER: &str = "streamgate-upstream";

impl Error {
    /// An error with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            not_acquired: false,
            upstream: None,
        }
    }

    /// The lock was not granted within the wait the caller asked for (docs/clients.md).
    ///
    /// The wire says `acquired = false` (not an error), but a call that promises a guard has
    /// nothing to return; `ABORTED` is gRPC's code for "lost a concurrency race, retry later".
    pub(crate) fn not_acquired(name: &str, wait: std::time::Duration) -> Self {
        Self {
            code: Code::Aborted,
            message: format!("lock {name:?} not acquired within {wait:?}"),
            not_acquired: true,
            upstream: None,
        }
    }

    /// Names the server in an `UNAVAILABLE` message that does not name it yet, so that a
    /// refused connection says which address was tried (docs/clients.md, "Errors").
    /// An upstream's failure names the upstream, not the server it came through.
    pub(crate) fn at(mut self, address: &str) -> Self {
        if self.code == Code::Unavailable
            && self.upstream.is_none()
            && !address.is_empty()
            && !self.message.contains(address)
        {
            self.message = format!("{} (server {address})", self.message);
        }
        self
    }

    /// The gRPC status code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The status message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether this is a lock that was not granted within its wait (rather than a failure).
    pub fn is_not_acquired(&self) -> bool {
        self.not_acquired
    }

    /// The upstream (`host:port`) the server blames this failure on: the HTTP server behind a
    /// Fetch or a ListPages page could not be reached, broke the connection, kept failing
    /// through every retry (`UNAVAILABLE`) or did not answer in time (`DEADLINE_EXCEEDED`).
    /// `None` for every other failure, including streamgate itself being unreachable,
    /// shutting down or slow.
    pub fn upstream(&self) -> Option<&str> {
        self.upstream.as_deref()
    }

    /// Whether the server blames this failure on an upstream ([`Error::upstream`] is set).
    pub fn is_upstream_error(&self) -> bool {
        self.upstream.is_some()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", code_name(self.code), self.message)
    }
}

impl std::error::Error for Error {}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        // A status made by the transport (connection refused...) says "tcp connect error" and
        // keeps the cause in its source chain; the cause is what the reader needs.
        let mut message = status.message().to_string();
        let from_transport = std::error::Error::source(&status).is_some();
        let mut source = std::error::Error::source(&status);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        // A status the server sent has no source; one with a source is tonic's reading of a
        // broken connection (reset, closed mid-call, bytes that are not HTTP/2), which it
        // labels UNKNOWN or CANCELLED. To the caller that is a server gone away: UNAVAILABLE,
        // retryable, as docs/clients.md promises. The caller's own cancellation never gets
        // here: dropping the future is the cancellation.
        let code = match status.code() {
            Code::Unknown | Code::Cancelled | Code::Internal if from_transport => Code::Unavailable,
            code => code,
        };
        let upstream = (!from_transport).then(|| upstream_of(&status)).flatten();
        let message = if upstream.is_some() {
            // The server's own words about its upstream; no hint about this client's transport.
            message
        } else {
            with_hint(code, message)
        };
        Self {
            upstream,
            ..Self::new(code, message)
        }
    }
}

/// The upstream a server status blames: the `upstream` of its `google.rpc.ErrorInfo` (domain
/// `streamgate`, reason `UPSTREAM_…`), else its `streamgate-upstream` trailer.
fn upstream_of(status: &tonic::Status) -> Option<String> {
    if let Some(info) = status.get_details_error_info() {
        if info.domain == ERROR_DOMAIN && info.reason.starts_with("UPSTREAM_") {
            if let Some(upstream) = info.metadata.get("upstream") {
                return Some(upstream.clone());
            }
        }
    }
    let trailer = status.metadata().get(UPSTREAM_TRAILER)?.to_str().ok()?;
    (!trailer.is_empty()).then(|| trailer.to_string())
}

/// Appends the likely cause and fix of a transport failure the client recognises (a TLS
/// mismatch, a certificate that does not verify) to its message.
fn with_hint(code: Code, mut message: String) -> String {
    if code != Code::Unavailable {
        return message;
    }
    if let Some(hint) = transport_hint(&message) {
        message.push_str("; ");
        message.push_str(hint);
    }
    message
}

/// The likely cause and fix of a transport failure, read from the text rustls, h2 and hyper
/// give it (they expose no stable error kinds for these through tonic).
pub(crate) fn transport_hint(message: &str) -> Option<&'static str> {
    const HINTS: &[(&[&str], &str)] = &[
        (
            // A TLS alert record read as an HTTP/2 frame header.
            &["frame with invalid size"],
            "the server speaks TLS: use https:// or a CA file",
        ),
        (
            // An HTTP/2 frame read as a TLS record.
            &["InvalidContentType", "corrupt message"],
            "the server does not speak TLS: use HOST:PORT or http://",
        ),
        (
            &["UnknownIssuer", "BadSignature"],
            "the server's certificate is not signed by the CA you gave \
             (without a CA file: by a root the system trusts)",
        ),
        (
            &["not valid for name", "NotValidForName"],
            "the server's certificate is not valid for the name you connected to: \
             connect by a name it lists",
        ),
        (
            // A TLS port may also close a plaintext connection before h2 reads a frame: the
            // same signs as a server that died, so the fix is offered as a condition.
            &["broken pipe", "connection reset", "connection closed"],
            "the connection closed: if the server speaks TLS, use https:// or a CA file",
        ),
    ];
    HINTS
        .iter()
        .find(|(marks, _)| marks.iter().any(|m| message.contains(m)))
        .map(|(_, hint)| *hint)
}

impl From<tonic::transport::Error> for Error {
    fn from(err: tonic::transport::Error) -> Self {
        // The Display of a transport error is only "transport error"; the cause is the useful part.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let text = cause.to_string();
            // hyper and tonic often wrap an error in one that repeats its text.
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Self::new(Code::Unavailable, with_hint(Code::Unavailable, message))
    }
}

/// The canonical upper-case name of a gRPC code (`UNAVAILABLE`, `INVALID_ARGUMENT`...), as
/// grpcurl and the other clients print it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_the_code_name() {
        let err = Error::from(tonic::Status::invalid_argument("url: not absolute"));
        assert_eq!(err.to_string(), "INVALID_ARGUMENT: url: not absolute");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(!err.is_not_acquired());
    }

    #[test]
    fn not_acquired_is_aborted_and_says_so() {
        let err = Error::not_acquired("jobs", std::time::Duration::from_millis(100));
        assert_eq!(err.code(), Code::Aborted);
        assert!(err.is_not_acquired());
        assert_eq!(err.message(), "lock \"jobs\" not acquired within 100ms");
    }

    #[test]
    fn a_server_status_keeps_its_code_and_a_broken_connection_is_unavailable() {
        let sent = Error::from(tonic::Status::unknown("the handler panicked"));
        assert_eq!(sent.code(), Code::Unknown);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let broken = Error::from(tonic::Status::from_error(Box::new(io)));
        assert_eq!(broken.code(), Code::Unavailable, "{broken}");
        assert!(broken.message().contains("connection reset"), "{broken}");
    }

    #[test]
    fn tls_mistakes_say_the_fix() {
        assert_eq!(
            with_hint(Code::Unavailable, "tcp connect error".into()),
            "tcp connect error"
        );
        let to_tls = with_hint(Code::Unavailable, "frame with invalid size".into());
        assert!(to_tls.ends_with("the server speaks TLS: use https:// or a CA file"));
        let unknown_ca = with_hint(
            Code::Unavailable,
            "invalid peer certificate: UnknownIssuer".into(),
        );
        assert!(
            unknown_ca.contains("not signed by the CA you gave"),
            "{unknown_ca}"
        );
        let other = with_hint(Code::InvalidArgument, "frame with invalid size".into());
        assert_eq!(other, "frame with invalid size");
    }

    #[test]
    fn an_upstream_failure_names_the_upstream_not_the_server() {
        let details = tonic_types::ErrorDetails::with_error_info(
            "UPSTREAM_UNAVAILABLE",
            ERROR_DOMAIN,
            [("upstream".to_string(), "api.example:443".to_string())],
        );
        let status = tonic::Status::with_error_details(Code::Unavailable, "refused", details);
        let err = Error::from(status).at("127.0.0.1:9");
        assert_eq!(err.upstream(), Some("api.example:443"));
        assert!(err.is_upstream_error());
        assert_eq!(err.message(), "refused");

        let mut bare = tonic::Status::unavailable("refused");
        bare.metadata_mut()
            .insert(UPSTREAM_TRAILER, "10.0.0.1:80".parse().unwrap());
        assert_eq!(Error::from(bare).upstream(), Some("10.0.0.1:80"));

        let own = Error::from(tonic::Status::unavailable("shutting down")).at("127.0.0.1:9");
        assert_eq!(own.upstream(), None);
        assert!(!own.is_upstream_error());
        assert!(own.message().contains("127.0.0.1:9"), "{own}");
    }

    #[test]
    fn unavailable_names_the_server_once() {
        let err = Error::new(Code::Unavailable, "tcp connect error").at("127.0.0.1:9");
        assert_eq!(err.message(), "tcp connect error (server 127.0.0.1:9)");
        assert_eq!(err.clone().at("127.0.0.1:9").message(), err.message());
        let other = Error::new(Code::InvalidArgument, "name: empty").at("127.0.0.1:9");
        assert_eq!(other.message(), "name: empty");
    }
}
