//! One SensorFeed stream: the response stream itself reads requests, runs the [`Processor`]
//! and yields its outputs, so there is no task and no channel between the two halves.
//!
//! Backpressure is the response stream's own pace: tonic polls it only when the transport has
//! room for more, and it reads requests only when it has no responses left to yield, so a
//! client that stops reading stops its requests from being read and HTTP/2 flow control then
//! stalls the client's sends. Nothing here grows with what the client sends: one poll takes at
//! most `--sensor-buffer` requests, and their outputs are yielded before any more are read.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use tokio::time::Sleep;
use tokio_stream::Stream;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tonic::{Code, Status, Streaming};

use crate::metrics::SensorMetrics;
use crate::proto::sensor_feed_request::Msg;
use crate::proto::{SensorFeedRequest, SensorFeedResponse};
use crate::shutdown::Shutdown;

use super::convert;
use super::error::SensorError;
use super::processor::Processor;
use super::types::{Now, Output};

/// What the response stream yields.
pub(super) type Item = Result<SensorFeedResponse, Status>;

/// How the stream ends once its held responses are out.
enum End {
    /// With OK (client half-closed or went away), or with the shutdown status if the server
    /// is stopping.
    Finished,
    /// With this status (a limit was hit).
    Failed(Status),
}

/// The response stream of one SensorFeed call. Dropping it (tonic does when the client cancels
/// or disconnects) ends the stream's work at once, and with it `guard` (the live-stream count).
pub(super) struct Feed<G> {
    processor: Processor,
    inbound: Streaming<SensorFeedRequest>,
    /// Responses produced and not yet yielded, in order.
    ready: VecDeque<SensorFeedResponse>,
    /// The processor's scratch buffer, reused for every request.
    out: Vec<Output>,
    /// Fires on server shutdown.
    stopping: Pin<Box<WaitForCancellationFutureOwned>>,
    /// One timer for the earliest missing-data deadline of all sensors.
    timer: Pin<Box<Sleep>>,
    armed: Option<std::time::Instant>,
    /// Requests taken per poll at most (`--sensor-buffer`).
    batch: NonZeroUsize,
    end: Option<End>,
    done: bool,
    server: Shutdown,
    guard: Option<G>,
    metrics: SensorMetrics,
}

impl<G> Feed<G> {
    /// Processes `inbound` with `processor`, at most `batch` requests per poll; ends on
    /// `server` shutdown. `guard` lives until the stream ends or is dropped. Every output is
    /// counted in `metrics` as it is produced.
    pub(super) fn new(
        processor: Processor,
        inbound: Streaming<SensorFeedRequest>,
        batch: NonZeroUsize,
        server: Shutdown,
        guard: G,
        metrics: SensorMetrics,
    ) -> Self {
        Self {
            processor,
            inbound,
            ready: VecDeque::new(),
            out: Vec::new(),
            stopping: Box::pin(server.child_token().cancelled_owned()),
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            armed: None,
            batch,
            end: None,
            done: false,
            server,
            guard: Some(guard),
            metrics,
        }
    }

    /// Moves the processor's outputs to the responses to yield.
    fn collect(&mut self) {
        super::recording::record(&self.metrics, &self.out);
        self.ready.extend(self.out.drain(..).map(convert::response));
    }

    /// Takes every request that is already decoded (at most `batch`, and
    /// only until that many responses are held); `Pending` only when
    /// nothing was produced and the request stream will wake the task.
    fn read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // One clock reading per batch: these requests arrived together.
        let mut now = None;
        let mut waiting = false;
        for _ in 0..self.batch.get() {
            if self.ready.len() >= self.batch.get() {
                break;
            }
            let msg = match Pin::new(&mut self.inbound).poll_next(cx) {
                Poll::Pending => {
                    waiting = true;
                    break;
                }
                Poll::Ready(msg) => msg,
            };
            let now = *now.get_or_insert_with(clock);
            let step = match msg {
                Some(Ok(req)) => {
                    handle(&mut self.processor, req, now, &mut self.out);
                    Ok(())
                }
                // The client finished sending: the stream ends with OK once drained.
                None => {
                    self.end = Some(End::Finished);
                    break;
                }
                // A limit refused the request stream before this handler saw the message
                // (the message limit or the partial-message budget): the stream ends with
                // that refusal, naming its flag.
                Some(Err(status)) if status.code() == Code::ResourceExhausted => {
                    self.end = Some(End::Failed(status));
                    break;
                }
                // tonic's decode limit, the backstop behind that check, reports an oversized
                // message as OUT_OF_RANGE; the contract calls a limit RESOURCE_EXHAUSTED.
                Some(Err(status)) if status.code() == Code::OutOfRange => {
                    Err(SensorError::MessageTooLarge {
                        detail: status.message().to_owned(),
                    })
                }
                // Reset or disconnected: nobody is left to answer.
                Some(Err(_)) => {
                    self.end = Some(End::Finished);
                    break;
                }
            };
            self.collect();
            if let Err(err) = step {
                tracing::debug!(%err, "ending a SensorFeed stream");
                self.end = Some(End::Failed(err.into()));
                break;
            }
        }
        // A full batch that produced nothing (e.g. configs) registered no wake-up: go again.
        if waiting && self.ready.is_empty() && self.end.is_none() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Fires due missing-data deadlines; `Ready` when it did.
    fn tick(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let due = self.processor.next_deadline();
        if due != self.armed {
            if let Some(at) = due {
                self.timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(at));
            }
            self.armed = due;
        }
        if self.armed.is_none() {
            return Poll::Pending;
        }
        std::task::ready!(self.timer.as_mut().poll(cx));
        self.processor.expire(clock(), &mut self.out);
        self.collect();
        // The next deadline (if any) is armed at the next poll.
        self.armed = None;
        Poll::Ready(())
    }
}

impl<G> Unpin for Feed<G> {}

impl<G> Stream for Feed<G> {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = &mut *self;
        loop {
            if let Some(resp) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(resp)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(end) = this.end.take() {
                this.done = true;
                this.guard = None;
                return Poll::Ready(match end {
                    End::Failed(status) => Some(Err(status)),
                    // The stream ends on shutdown; say why instead of ending with OK.
                    End::Finished => this.server.is_triggered().then(|| Err(Shutdown::status())),
                });
            }
            // A flag check while busy; the shutdown waker (a lock) is registered only before
            // going to sleep.
            if this.server.is_triggered() {
                this.end = Some(End::Finished);
                continue;
            }
            if this.tick(cx).is_ready() {
                continue;
            }
            if this.read(cx).is_ready() {
                continue;
            }
            if this.stopping.as_mut().poll(cx).is_ready() {
                this.end = Some(End::Finished);
                continue;
            }
            return Poll::Pending;
        }
    }
}

fn handle(processor: &mut Processor, req: SensorFeedRequest, now: Now, out: &mut Vec<Output>) {
    match req.msg {
        Some(Msg::Reading(r)) => processor.reading(convert::reading(r), now, out),
        Some(Msg::Config(c)) => processor.config(convert::config(c), now, out),
        // An empty request carries nothing to process; skipping it is the lenient reading.
        None => {}
    }
}

fn clock() -> Now {
    Now {
        wall: SystemTime::now(),
        // tokio's clock, so that `tokio::time::pause` drives missing-data deadlines in tests.
        mono: tokio::time::Instant::now().into_std(),
    }
}
