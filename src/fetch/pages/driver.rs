//! The ListPages driver: a lazy stream of pages that fetches upstream pages only as the
//! client consumes them.
//!
//! For page-number and offset styles, whose next URLs are known in advance, up to
//! `prefetch` requests run ahead of the page being delivered, each in its own task, and
//! pages are still delivered in order. For cursor and `Link` styles the next URL comes out
//! of the current response, so the next page is fetched while the client reads this one.
//! Every task is owned by the stream: dropping the stream (the client cancelled) aborts the
//! requests in flight at once.
//!
//! The window (`prefetch + 1` requests; 2 for cursor and `Link`) counts the requests in
//! flight plus the pages handed out but not yet written to the connection ([`Progress`]):
//! the server's HTTP/2 send path holds up to two pages that the client has not read, and
//! without this they would be fetched on top of the prefetch.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use futures::{FutureExt, Stream};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tracing::Instrument;
use url::Url;

use super::page_fetch::{Fetched, fetch_page};
use super::paginate::{Position, Step, Style};
use super::plan::Plan;
use super::progress::Progress;
use super::token::Resume;
use crate::fetch::cache::HttpCache;
use crate::fetch::error::FetchError;
use crate::telemetry::semconv::url_full;

/// Cursors or links remembered to detect a loop; a loop longer than this goes unnoticed
/// until `max_pages` or the deadline ends it, but memory stays bounded.
const SEEN_LIMIT: usize = 4096;

/// One page for the client.
#[derive(Debug)]
pub(crate) struct PageOut {
    /// The API's page number, or the page's 1-based index in the stream.
    pub(crate) number: u32,
    /// The items.
    pub(crate) items: Vec<serde_json::Value>,
    /// Resumes after this page; empty on the last page.
    pub(crate) next_token: String,
    /// Where the page was read from.
    pub(crate) url: Url,
}

type Joined = Result<Result<Fetched, FetchError>, JoinError>;

/// A page task, aborted when dropped so that a cancelled stream leaves nothing running.
struct Task {
    position: Position,
    index: u32,
    handle: JoinHandle<Result<Fetched, FetchError>>,
    /// The result, when it was taken early to see whether the collection ends there.
    early: Option<Joined>,
}

impl Drop for Task {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

struct Driver {
    cache: Arc<HttpCache>,
    plan: Arc<Plan>,
    in_flight: VecDeque<Task>,
    next: Option<(Position, u32)>,
    scheduled: u32,
    delivered: u32,
    seen: VecDeque<Position>,
    seen_set: HashSet<Position>,
    done: bool,
    progress: Option<Arc<Progress>>,
    written: Option<watch::Receiver<u32>>,
}

/// The lazy page stream for `plan`. It ends after the last page, or with one error.
/// `progress`, when the transport reports it, holds pages not yet written to the connection
/// against the prefetch window; without it a page counts as gone once handed out.
pub(crate) fn page_stream(
    cache: Arc<HttpCache>,
    plan: Plan,
    progress: Option<Arc<Progress>>,
) -> impl Stream<Item = Result<PageOut, FetchError>> + Send {
    let start = (plan.start.position.clone(), plan.start.index);
    let mut driver = Driver {
        cache,
        plan: Arc::new(plan),
        in_flight: VecDeque::new(),
        next: Some(start.clone()),
        scheduled: 0,
        delivered: 0,
        seen: VecDeque::new(),
        seen_set: HashSet::new(),
        done: false,
        written: progress.as_ref().map(|p| p.subscribe()),
        progress,
    };
    driver.remember(start.0);
    futures::stream::unfold(driver, |mut d| async move {
        if d.done {
            return None;
        }
        let item = d.next_page().await;
        if !matches!(item, Some(Ok(_))) {
            // The stream is over: stop whatever was fetched ahead.
            d.done = true;
            d.in_flight.clear();
        }
        item.map(|i| (i, d))
    })
}

impl Driver {
    fn under_max(&self, n: u32) -> bool {
        self.plan.max_pages == 0 || n < self.plan.max_pages
    }

    /// Pages handed out that the transport has not yet written.
    fn unwritten(&self) -> usize {
        self.progress.as_ref().map_or(0, |p| p.unwritten() as usize)
    }

    /// Starts requests up to the window: `prefetch + 1` for known-ahead styles, 2 for cursor
    /// and link styles (whose next request is known only from a response), counting pages
    /// still in the server's send path.
    fn schedule(&mut self) {
        let window = if self.plan.paging.known_ahead() {
            1 + self.plan.prefetch as usize
        } else {
            2
        };
        while self.in_flight.len() + self.unwritten() < window && self.under_max(self.scheduled) {
            let Some((position, index)) = self.next.take() else {
                break;
            };
            if self.plan.paging.known_ahead() {
                self.next = self
                    .plan
                    .paging
                    .following(&position)
                    .map(|p| (p, index.saturating_add(1)));
            }
            // In the call's span, so the page's upstream request is a child of its trace.
            let handle = tokio::spawn(
                fetch_page(self.cache.clone(), self.plan.clone(), position.clone())
                    .instrument(tracing::Span::current()),
            );
            self.in_flight.push_back(Task {
                position,
                index,
                handle,
                early: None,
            });
            self.scheduled += 1;
        }
    }

    /// Whether the request after the page being delivered has already come back with the
    /// end of the collection. Looks only at a finished request; never waits.
    fn end_already_known(&mut self) -> bool {
        let Some(task) = self.in_flight.front_mut() else {
            return false;
        };
        if task.early.is_none() && task.handle.is_finished() {
            task.early = (&mut task.handle).now_or_never();
        }
        matches!(
            &task.early,
            Some(Ok(Ok(Fetched {
                step: Step::End,
                ..
            })))
        )
    }

    fn remember(&mut self, p: Position) {
        if self.seen_set.insert(p.clone()) {
            self.seen.push_back(p);
            if self.seen.len() > SEEN_LIMIT {
                if let Some(old) = self.seen.pop_front() {
                    self.seen_set.remove(&old);
                }
            }
        }
    }

    /// The next page in order, `None` once the stream is over.
    async fn next_page(&mut self) -> Option<Result<PageOut, FetchError>> {
        if !self.under_max(self.delivered) {
            return None;
        }
        let joined = self.wait_for_front().await?;
        let task = self.in_flight.pop_front()?;
        let label = format!(
            "{} ({})",
            page_label(&task.position, task.index),
            url_full(&self.plan.paging.request_url(&task.position))
        );
        let fetched = match page_result(joined, &label) {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        let Step::Page { items, next } = fetched.step else {
            self.in_flight.clear();
            return None;
        };
        self.record_handed();
        let next_index = task.index.saturating_add(1);
        let next = match self.follow(next, next_index, &label) {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        let next_token = self.resume_token(next.as_ref(), next_index);
        if next.is_none() {
            self.done = true;
        }
        Some(Ok(PageOut {
            number: page_number(&task.position, task.index),
            items,
            next_token,
            url: fetched.url,
        }))
    }

    /// Waits for the result of the oldest request, the next page in order. While waiting,
    /// every page the transport finishes writing frees a place in the window for another
    /// request. `None` when nothing is in flight and nothing more can be started.
    async fn wait_for_front(&mut self) -> Option<Joined> {
        loop {
            self.schedule();
            let more = self.next.is_some() && self.under_max(self.scheduled);
            let Some(task) = self.in_flight.front_mut() else {
                // The window is full of pages the client has not taken yet: wait for room.
                match self.written.as_mut() {
                    Some(written) if more => {
                        if written.changed().await.is_err() {
                            self.written = None;
                        }
                        continue;
                    }
                    _ => return None,
                }
            };
            if let Some(joined) = task.early.take() {
                return Some(joined);
            }
            let Some(written) = self.written.as_mut() else {
                return Some((&mut task.handle).await);
            };
            tokio::select! {
                biased;
                joined = &mut task.handle => return Some(joined),
                changed = written.changed() => {
                    if changed.is_err() {
                        self.written = None;
                    }
                }
            }
        }
    }

    /// Counts a page as handed out, and tells the transport.
    fn record_handed(&mut self) {
        self.delivered += 1;
        if let Some(p) = &self.progress {
            p.set_handed(self.delivered);
        }
    }

    /// Where the walk goes after a page whose strategy says `next`: for cursor and link
    /// styles, the next position (refused if seen before: a loop) with its request started
    /// at once; for known-ahead styles, `None` when the page after is already back empty.
    fn follow(
        &mut self,
        next: Option<Position>,
        next_index: u32,
        label: &str,
    ) -> Result<Option<Position>, FetchError> {
        if self.plan.paging.known_ahead() {
            if next.is_none() || self.end_already_known() {
                // The page after this one is already back and says the collection ended
                // there: this page is the last, and its token would only resume to an empty
                // stream.
                self.in_flight.clear();
                self.next = None;
                return Ok(None);
            }
            return Ok(next);
        }
        let Some(p) = next else {
            return Ok(None);
        };
        if self.seen_set.contains(&p) {
            let what = if self.plan.paging.style == Style::Cursor {
                "cursor"
            } else {
                "next link"
            };
            return Err(FetchError::BadPage(format!(
                "{label}: {what} {} was already seen (a pagination loop)",
                describe(&p)
            )));
        }
        self.remember(p.clone());
        self.next = Some((p.clone(), next_index));
        // Fetch the next page while the client reads this one.
        if self.under_max(self.delivered) {
            self.schedule();
        }
        Ok(Some(p))
    }

    /// The token resuming at `next` (empty on the last page).
    fn resume_token(&self, next: Option<&Position>, next_index: u32) -> String {
        match next {
            Some(p) => self.plan.token_key.sign(
                &self.plan.identity,
                &Resume {
                    position: p.clone(),
                    index: next_index,
                },
            ),
            None => String::new(),
        }
    }
}

/// A page task's result, its failure naming the page (`label`).
fn page_result(joined: Joined, label: &str) -> Result<Fetched, FetchError> {
    match joined {
        Ok(Ok(f)) => Ok(f),
        Ok(Err(e)) => Err(e.context(label)),
        Err(e) => Err(FetchError::Unavailable(format!(
            "{label}: the page request failed ({e})"
        ))),
    }
}

fn page_number(pos: &Position, index: u32) -> u32 {
    match pos {
        Position::Page(n) => u32::try_from(*n).unwrap_or(u32::MAX),
        _ => index,
    }
}

fn page_label(pos: &Position, index: u32) -> String {
    format!("page {}", page_number(pos, index))
}

fn describe(p: &Position) -> String {
    match p {
        Position::Cursor(Some(c)) => format!("{c:?}"),
        // Redacted like every URL in a status message (a next link often repeats the key).
        Position::Link(u) => Url::parse(u).map_or_else(|_| u.clone(), |u| url_full(&u)),
        other => format!("{other:?}"),
    }
}
