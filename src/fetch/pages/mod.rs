//! ListPages: a lazy stream of upstream pages. [`plan`] is the validated description of one
//! call, [`driver`] schedules page requests within the prefetch window and delivers pages in
//! order, [`page_fetch`] sends one page request (with [`retry`]) and lets the [`paginate`]
//! strategy read it, [`token`] signs resume tokens, and [`progress`] / [`transport`] tell
//! the driver which pages have left the server.

mod driver;
mod page_fetch;
mod paginate;
mod plan;
mod progress;
mod retry;
mod token;
mod transport;

pub(crate) use driver::{PageOut, page_stream};
pub(crate) use paginate::{Paging, ParamNames, Style};
pub(crate) use plan::Plan;
pub(crate) use retry::RetryPolicy;
pub(crate) use token::{Resume, TokenKey, identity};
pub(crate) use transport::PageProgress;
pub(crate) use transport::track_pages;
