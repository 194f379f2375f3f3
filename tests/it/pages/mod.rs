//! ListPages end to end: laziness, resume tokens and retries, every pagination style.

mod lazy;
mod resume;
mod styles;
mod upstream_marker;
