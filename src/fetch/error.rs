//! The one error type of FetchService and its mapping to gRPC statuses; the README's status
//! table is read from the `match` in `From<FetchError> for Status`.

use tonic::Status;

use super::http::guard::Refused;
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
    /// reset, a broken body), or kept answering 429/5xx to a page through every retry.
    #[error("{0}")]
    Unavailable(String),
    /// The request's timeout or the call's deadline passed.
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
            Self::Unavailable(m) => Self::Unavailable(format!("{context}: {m}")),
            Self::DeadlineExceeded(m) => Self::DeadlineExceeded(format!("{context}: {m}")),
            Self::ResourceExhausted(m) => Self::ResourceExhausted(format!("{context}: {m}")),
            Self::BadPage(m) => Self::BadPage(format!("{context}: {m}")),
        }
    }

    /// Whether a ListPages page should be tried again (connection trouble, not a refusal,
    /// a limit or a timeout).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<FetchError> for Status {
    fn from(e: FetchError) -> Self {
        let msg = e.to_string();
        match e {
            FetchError::InvalidArgument(_) => Status::invalid_argument(msg),
            FetchError::Refused(_) => Status::permission_denied(msg),
            FetchError::Denied(d) => Status::from(d),
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
    use tonic::Code;

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
}
