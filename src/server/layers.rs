//! The tower layers every service shares, in the order a call meets them (outermost first).
//! Each layer lives in a file of its own beside this one; add it to [`stack`] in its place.
//!
//! TCP_NODELAY and TLS are set on the connection ([`super::incoming`]); message limits are
//! per service ([`super::App::serve`]).

use std::sync::Arc;

use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};

use super::auth::AuthLayer;
use crate::edge::Gate;

/// The shared layers, outermost first: authentication and admission ([`AuthLayer`], a
/// pass-through without a policy).
pub(super) fn stack(gate: Option<Arc<Gate>>) -> ServiceBuilder<Stack<AuthLayer, Identity>> {
    ServiceBuilder::new().layer(AuthLayer::new(gate))
}
