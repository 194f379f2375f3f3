//! FetchService end to end: the guard, limits, methods and headers, status mapping, cross-origin
//! rules, the shared cache and request coalescing.

mod cache;
mod cache_coalescing;
mod concurrent;
mod cross_origin;
mod guard;
mod limits;
mod requests;
mod status;
mod upstream_marker;
