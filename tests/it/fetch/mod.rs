//! FetchService end to end: the guard, limits, methods and headers, status mapping, cross-origin rules.

mod cross_origin;
mod guard;
mod limits;
mod requests;
mod status;
