//! The one error type of FetchService and its mapping to gRPC statuses; the README's status
//! table is read from the `match` in `From<FetchError> for Status`.

use tonic::{Code, Status};

use super::http::guard::Refused;
use super::upstream::{REASON_TIMEOUT, REASON_UNAVAILABLE, UpstreamFault};
use crate::edge::Denied;
use crate::rpc::FieldError;

/// Everything that can stop a Fetch or a ListPages page from producing a response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// The request is malformed; the [`FieldError`] names the request field at fault.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// The target guard refused an address (the URL's, a redirect's, or a resolved one).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The caller's `fetch_hosts` rule refused a host (the URL's, a redirect hop's, a next
    /// page's), before the guard looked at it.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The upstream could not be reached or broke the connection (DNS failure, refused,
    /// reset, a broken body), or kept answering 429/5xx to a page through every retry; the
    /// status is marked with the [`UpstreamFault`].
    #[error("{0}")]
    UpstreamUnavailable(String, UpstreamFault),
    /// The upstream did not connect or answer within the request's timeout or the call's
    /// deadline; the status is marked with the [`UpstreamFault`].
    #[error("{0}")]
    UpstreamTimeout(String, UpstreamFault),
    /// Streamgate itself cannot serve the request (it is shutting down, a page task failed):
    /// UNAVAILABLE without the upstream marker.
    #[error("{0}")]
    Unavailable(String),
    /// The call's deadline passed before an upstream was asked (waiting for a connection
    /// slot, or between attempts).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A limit was hit: the response body cap, the request body cap, or the queue wait.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A page could not be read as the request describes it: not JSON, no array at
    /// `items_pointer`, a cursor loop, or an upstream status that ends the walk.
    #[error("{0}")]
    BadPage(String),
}

impl FetchError {
    /// An INVALID_ARGUMENT naming `field`.
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument(FieldError::new(field, reason))
    }

    /// The same error with `context` in front of its message (e.g. "page 3 (URL)"), so a
    /// stream's final status says which page failed.
    pub(crate) fn context(self, context: &str) -> Self {
        match self {
            Self::InvalidArgument(FieldError { field, reason }) => {
                Self::InvalidArgument(FieldError::new(field, format!("{context}: {reason}")))
            }
            Self::Refused(r) => Self::Refused(r.with_context(context)),
            Self::Denied(d) => Self::Denied(d.in_context(context)),
            Self::UpstreamUnavailable(m, f) => {
                Self::UpstreamUnavailable(format!("{context}: {m}"), f)
            }
            Self::UpstreamTimeout(m, f) => Self::UpstreamTimeout(format!("{context}: {m}"), f),
            Self::Unavailable(m) => Self::Unavailable(format!("{context}: {m}")),
            Self::DeadlineExceeded(m) => Self::DeadlineExceeded(format!("{context}: {m}")),
            Self::ResourceExhausted(m) => Self::ResourceExhausted(format!("{context}: {m}")),
            Self::BadPage(m) => Self::BadPage(format!("{context}: {m}")),
        }
    }

    /// Whether a ListPages page should be tried again (connection trouble, not a refusal,
    /// a limit or a timeout).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::UpstreamUnavailable(..))
    }

    /// The upstream this failure is blamed on, if it is one.
    pub(crate) fn upstream_fault(&self) -> Option<&UpstreamFault> {
        match self {
            Self::UpstreamUnavailable(_, f) | Self::UpstreamTimeout(_, f) => Some(f),
            _ => None,
        }
    }
}

impl From<FetchError> for Status {
    fn from(e: FetchError) -> Self {
        let msg = e.to_string();
        match e {
            FetchError::InvalidArgument(_) => Status::invalid_argument(msg),
            FetchError::Refused(_) => Status::permission_denied(msg),
            FetchError::Denied(d) => Status::from(d),
            FetchError::UpstreamUnavailable(_, f) => {
                f.status(Code::Unavailable, REASON_UNAVAILABLE, msg)
            }
            FetchError::UpstreamTimeout(_, f) => {
                f.status(Code::DeadlineExceeded, REASON_TIMEOUT, msg)
            }
            FetchError::Unavailable(_) => Status::unavailable(msg),
            FetchError::DeadlineExceeded(_) => Status::deadline_exceeded(msg),
            FetchError::ResourceExhausted(_) => Status::resource_exhausted(msg),
            FetchError::BadPage(_) => Status::failed_precondition(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;
    use url::Url;

    #[test]
    fn invalid_argument_names_the_field() {
        let s = Status::from(FetchError::invalid("headers[1].name", "not a header name"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(
            s.message().starts_with("headers[1].name: "),
            "{}",
            s.message()
        );
    }

    #[test]
    fn context_keeps_the_code_and_prefixes_the_message() {
        let s = Status::from(FetchError::BadPage("not JSON".into()).context("page 3"));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(s.message(), "page 3: not JSON");
        let s = Status::from(FetchError::Unavailable("refused".into()).context("page 2"));
        assert_eq!(s.code(), Code::Unavailable);
    }

    #[test]
    fn only_failures_blamed_on_an_upstream_carry_the_marker() {
        let url = Url::parse("http://127.0.0.1:9/items").unwrap();
        let down = FetchError::UpstreamUnavailable("refused".into(), UpstreamFault::of(&url));
        let s = Status::from(down.context("page 2"));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), "page 2: refused");
        let info = s.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.metadata["upstream"].as_str()),
            (REASON_UNAVAILABLE, "127.0.0.1:9")
        );
        let slow = FetchError::UpstreamTimeout("slow".into(), UpstreamFault::of(&url));
        let s = Status::from(slow);
        assert_eq!(s.code(), Code::DeadlineExceeded);
        assert_eq!(s.get_details_error_info().unwrap().reason, REASON_TIMEOUT);
        for own in [
            FetchError::Unavailable("the server is shutting down".into()),
            FetchError::DeadlineExceeded("deadline passed while queued".into()),
        ] {
            let s = Status::from(own);
            assert!(s.details().is_empty(), "{s:?}");
            assert!(s.metadata().is_empty(), "{s:?}");
        }
    }
}
