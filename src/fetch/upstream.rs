//! The marker that tells "the upstream is down" from "streamgate is down".
//!
//! Both are UNAVAILABLE (the contract's code for a backend that cannot be reached, which
//! clients retry on), so the code alone cannot tell a caller whether to page the owner of
//! `api.example.com` or the owner of streamgate. A failure blamed on an upstream therefore
//! carries, on top of its code and message:
//!
//! - the standard rich status (`grpc-status-details-bin`, a `google.rpc.Status`) with one
//!   `google.rpc.ErrorInfo`: `reason` [`REASON_UNAVAILABLE`] or [`REASON_TIMEOUT`], `domain`
//!   [`ERROR_DOMAIN`], `metadata` {`upstream`: host:port, `url`: the URL redacted,
//!   `httpStatus` when the upstream did answer, with a status that kept failing};
//! - a plain ASCII trailer [`UPSTREAM_TRAILER`]`: host:port`, for clients without rich-status
//!   support (grpcurl, a browser's gRPC-Web).
//!
//! Streamgate's own unavailability (shutting down, an internal task that failed) never
//! carries it. Neither does the URL's userinfo, path detail or query values: `upstream` is
//! host and port only, `url` goes through the same redaction as the traces' `url.full`.

use std::collections::HashMap;

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use url::Url;

use crate::telemetry::semconv::url_full;

/// The `ErrorInfo.domain` of every streamgate error detail.
pub(crate) const ERROR_DOMAIN: &str = "streamgate";

/// `ErrorInfo.reason` of an UNAVAILABLE caused by the upstream: it refused or dropped the
/// connection, its name did not resolve, or it kept answering 429/5xx through every retry.
pub(crate) const REASON_UNAVAILABLE: &str = "UPSTREAM_UNAVAILABLE";

/// `ErrorInfo.reason` of a DEADLINE_EXCEEDED caused by the upstream: it did not connect or
/// answer within the request's timeout (or the call's deadline).
pub(crate) const REASON_TIMEOUT: &str = "UPSTREAM_TIMEOUT";

/// The trailer naming the upstream (host:port) for clients that do not decode rich statuses.
pub(crate) const UPSTREAM_TRAILER: &str = "streamgate-upstream";

/// The upstream a failure is blamed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamFault {
    /// `host:port` (port explicit even when it is the scheme's default; IPv6 in brackets).
    authority: String,
    /// The URL that failed, credentials and query values redacted.
    url: String,
    /// The upstream's last answer when it answered with a status that failed (a ListPages
    /// page retried on 429/5xx until it gave up); `None` when nothing came back.
    http_status: Option<u16>,
}

impl UpstreamFault {
    /// The upstream of `url`, which sent no answer.
    pub(crate) fn of(url: &Url) -> Self {
        Self {
            authority: format!(
                "{}:{}",
                url.host_str().unwrap_or_default(),
                url.port_or_known_default().unwrap_or(0)
            ),
            url: url_full(url),
            http_status: None,
        }
    }

    /// The upstream of `url`, whose last answer had HTTP `status`.
    pub(crate) fn answered(url: &Url, status: u16) -> Self {
        Self {
            http_status: Some(status),
            ..Self::of(url)
        }
    }

    /// A status with `code` and `message`, marked with this upstream and `reason`.
    pub(crate) fn status(&self, code: Code, reason: &str, message: String) -> Status {
        let mut metadata = HashMap::from([
            ("upstream".to_string(), self.authority.clone()),
            ("url".to_string(), self.url.clone()),
        ]);
        if let Some(s) = self.http_status {
            metadata.insert("httpStatus".to_string(), s.to_string());
        }
        let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
        let mut status = Status::with_error_details(code, message, details);
        // Always ASCII (the url crate keeps hosts in punycode); should that ever fail, the
        // rich detail still names the upstream.
        if let Ok(value) = MetadataValue::try_from(self.authority.as_str()) {
            status.metadata_mut().insert(UPSTREAM_TRAILER, value);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn the_upstream_is_host_and_port_with_the_default_port_spelled_out() {
        let f = UpstreamFault::of(&parse("https://api.example/v1"));
        assert_eq!(f.authority, "api.example:443");
        let f = UpstreamFault::of(&parse("http://[::1]:8080/x"));
        assert_eq!(f.authority, "[::1]:8080");
        let f = UpstreamFault::of(&parse("http://bücher.example/"));
        assert_eq!(f.authority, "xn--bcher-kva.example:80");
    }

    #[test]
    fn the_marker_carries_no_credentials_or_query_values() {
        let url = parse("https://alice:s3cret@api.example:8443/items?api_key=k3y&page=2");
        let status = UpstreamFault::of(&url).status(
            Code::Unavailable,
            REASON_UNAVAILABLE,
            "cannot connect".into(),
        );
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, REASON_UNAVAILABLE);
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata["upstream"], "api.example:8443");
        let all: String = info.metadata.values().cloned().collect();
        for secret in ["alice", "s3cret", "k3y"] {
            assert!(
                !all.contains(secret),
                "{secret} leaked: {:?}",
                info.metadata
            );
        }
        assert_eq!(
            status.metadata().get(UPSTREAM_TRAILER).unwrap(),
            "api.example:8443"
        );
        assert!(!info.metadata.contains_key("httpStatus"));
    }

    #[test]
    fn an_upstream_that_answered_says_with_what() {
        let status = UpstreamFault::answered(&parse("http://127.0.0.1:9/p"), 503).status(
            Code::Unavailable,
            REASON_UNAVAILABLE,
            "gave up".into(),
        );
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.metadata["httpStatus"], "503");
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "gave up");
    }
}
