//! FetchService end to end: the guard, limits, methods and headers, status mapping, cross-origin rules.

mod concurrent;
mod cross_origin;
mod guard;
mod limits;
mod requests;
mod status;
