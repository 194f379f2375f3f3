//! One SensorFeed stream: the task that reads requests, runs the [`Processor`], and hands
//! responses to a bounded channel, and the response stream that drains that channel.
//!
//! Backpressure is the channel itself: when the client stops reading, tonic stops pulling
//! responses, the channel fills, the task waits on its send instead of reading requests, and
//! HTTP/2 flow control then stalls the client's sends. Nothing here grows with what the
//! client sends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_stream::Stream;
use tokio_util::sync::{CancellationToken, DropGuard, WaitForCancellationFuture};
use tonic::{Code, Status, Streaming};

use crate::proto::sensor_feed_request::Msg;
use crate::proto::{SensorFeedRequest, SensorFeedResponse};
use crate::shutdown::Shutdown;

use super::convert;
use super::error::SensorError;
use super::processor::Processor;
use super::types::{Now, Output};

/// What the task sends and the response stream yields.
pub type Item = Result<SensorFeedResponse, Status>;

/// Runs one stream until the client finishes or goes away, a limit is hit, or `stop` fires
/// (server shutdown, or the response stream was dropped because the client cancelled).
pub async fn run(
    mut processor: Processor,
    mut inbound: Streaming<SensorFeedRequest>,
    tx: mpsc::Sender<Item>,
    stop: CancellationToken,
) {
    // Pinned once: re-creating these per message would re-register a waiter every time.
    let cancelled = stop.cancelled();
    tokio::pin!(cancelled);
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut armed = None;
    let mut out = Vec::new();
    loop {
        // One timer for the earliest missing-data deadline of all sensors.
        let due = processor.next_deadline();
        if due != armed {
            if let Some(at) = due {
                timer.as_mut().reset(tokio::time::Instant::from_std(at));
            }
            armed = due;
        }
        let mut event = tokio::select! {
            biased;
            _ = &mut cancelled => return,
            _ = &mut timer, if armed.is_some() => Event::Tick,
            msg = inbound.message() => Event::Message(msg),
        };
        // Requests that are already decoded are taken without another trip through the
        // select (a bounded batch, so timers and cancellation are still looked at often).
        let mut budget = BATCH;
        loop {
            let step = match event {
                Event::Tick => {
                    processor.expire(now(), &mut out);
                    Ok(())
                }
                Event::Message(Ok(Some(req))) => handle(&mut processor, req, &mut out),
                // The client finished sending: the stream ends with OK once drained.
                Event::Message(Ok(None)) => return,
                // tonic reports an oversized message as OUT_OF_RANGE; the contract calls a
                // limit RESOURCE_EXHAUSTED.
                Event::Message(Err(status)) if status.code() == Code::OutOfRange => {
                    Err(SensorError::MessageTooLarge {
                        detail: status.message().to_owned(),
                    })
                }
                // Reset or disconnected: nobody is left to answer.
                Event::Message(Err(_)) => return,
            };
            for o in out.drain(..) {
                if !deliver(&tx, Ok(convert::response(o)), cancelled.as_mut()).await {
                    return;
                }
            }
            if let Err(err) = step {
                tracing::debug!(%err, "ending a SensorFeed stream");
                deliver(&tx, Err(err.into()), cancelled.as_mut()).await;
                return;
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
            match inbound.message().now_or_never() {
                Some(msg) => event = Event::Message(msg),
                None => break,
            }
        }
    }
}

/// Requests handled per wake-up before timers and cancellation are checked again.
const BATCH: usize = 64;

enum Event {
    Tick,
    Message(Result<Option<SensorFeedRequest>, Status>),
}

fn handle(
    processor: &mut Processor,
    req: SensorFeedRequest,
    out: &mut Vec<Output>,
) -> Result<(), SensorError> {
    match req.msg {
        Some(Msg::Reading(r)) => processor.reading(convert::reading(r), now(), out),
        Some(Msg::Config(c)) => processor.config(convert::config(c), now(), out),
        // An empty request carries nothing to process; skipping it is the lenient reading.
        None => Ok(()),
    }
}

fn now() -> Now {
    Now {
        wall: SystemTime::now(),
        // tokio's clock, so that `tokio::time::pause` drives missing-data deadlines in tests.
        mono: tokio::time::Instant::now().into_std(),
    }
}

/// Sends one item, waiting for room unless the stream is stopped. `false` = the receiver is
/// gone (client cancelled or disconnected) or the stream was stopped: end the task.
async fn deliver(
    tx: &mpsc::Sender<Item>,
    item: Item,
    cancelled: Pin<&mut WaitForCancellationFuture<'_>>,
) -> bool {
    match tx.try_send(item) {
        Ok(()) => true,
        Err(TrySendError::Closed(_)) => false,
        Err(TrySendError::Full(item)) => tokio::select! {
            biased;
            _ = cancelled => false,
            sent = tx.send(item) => sent.is_ok(),
        },
    }
}

/// The response stream of one SensorFeed call: the channel's items, then, if the server is
/// shutting down, [`Shutdown::status`]. Dropping it (tonic does when the client cancels or
/// disconnects) stops the stream's task at once.
pub struct Responses {
    rx: mpsc::Receiver<Item>,
    server: Shutdown,
    done: bool,
    _stop_task: DropGuard,
}

impl Responses {
    /// Drains `rx`; cancels `task` when dropped.
    pub fn new(rx: mpsc::Receiver<Item>, server: Shutdown, task: CancellationToken) -> Self {
        Self {
            rx,
            server,
            done: false,
            _stop_task: task.drop_guard(),
        }
    }
}

impl Stream for Responses {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) => {
                self.done = true;
                // The task ends on shutdown; say why instead of ending with OK.
                Poll::Ready(self.server.is_triggered().then(|| Err(Shutdown::status())))
            }
            other => other,
        }
    }
}
