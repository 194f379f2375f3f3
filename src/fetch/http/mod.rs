//! The upstream side of FetchService, shared by Fetch and ListPages: the one pooled HTTP
//! client ([`client`]), the target guard it applies to every URL and redirect ([`guard`]),
//! the resolver that applies the guard to every looked-up address ([`resolve`]), and the
//! upstream connection slots a request queues for ([`slots`]). Nothing here knows gRPC.

mod client;
pub(crate) mod guard;
mod resolve;
mod slots;

pub(crate) use client::{Fetcher, HttpRequest, HttpResponse};
pub(crate) use guard::{RecentUrls, TargetGuard, TargetUrl};
pub use resolve::{Lookup, LookupFuture, SystemLookup};
