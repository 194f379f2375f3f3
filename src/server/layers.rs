//! The tower layers every service shares, in the order a call meets them (outermost first).
//! Each layer lives in a file of its own beside this one; add it to [`stack`] in its place.
//!
//! Today the stack is empty: TCP_NODELAY is set on the connection ([`super::incoming`]) and
//! message limits are per service ([`super::App::serve`]).

use tower::ServiceBuilder;
use tower::layer::util::Identity;

/// The shared layers, outermost first.
pub(super) fn stack() -> ServiceBuilder<Identity> {
    ServiceBuilder::new()
}
