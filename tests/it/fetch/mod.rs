//! FetchService end to end: the guard, limits, methods and headers, status mapping, cross-origin
//! rules, the shared cache (its policy key, validators) and request coalescing.

mod cache;
mod cache_coalescing;
mod cache_policy;
mod cache_validation;
mod concurrent;
mod cross_origin;
mod guard;
mod limits;
mod requests;
mod status;
mod upstream_marker;
