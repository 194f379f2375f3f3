//! The recording side of the safety runs (`safety.rs`, `safety_failover.rs`): six workers on
//! two servers taking grants of one name and recording each as its client saw it. Most grants
//! are released; some are renewed once and then left to lapse, and some are held by a Hold
//! whose client crashes (stream and connection dropped) while holding.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::TestServer;
use common::lock::*;
use streamgate_client::proto::hold_event::Event;
use streamgate_client::proto::lock_service_client::LockServiceClient;
use streamgate_client::proto::{
    AcquireLockRequest, AcquireLockResponse, ExtendRequest, HoldRequest, LockMode, ReleaseRequest,
};
use tonic::Status;
use tonic::transport::Channel;

use super::safety::{Ending, Model, Observed};

/// Longest a recorded run's workers go on, whatever happens to Redis.
const MAX_RUN: Duration = Duration::from_secs(60);
/// The lease of every grant in a recorded run that its holder releases.
pub(super) const LEASE: Duration = Duration::from_secs(5);
/// The lease of a grant left to lapse, and of a Hold kept past it before its client crashes:
/// short, so that a lapsed grant keeps the others waiting only briefly.
const SHORT_LEASE: Duration = Duration::from_millis(200);
/// Most grants one worker asks for in a recorded run.
const MAX_GRANTS_EACH: u32 = 5_000;
/// How long each grant is used before its holder ends it.
const USE: Duration = Duration::from_millis(3);

/// Six workers on `servers` (alternately) taking `model`-shaped grants of one name, each held a
/// few ms, until `stop` is set (or [`MAX_RUN`], or [`MAX_GRANTS_EACH`]). One grant in ten is
/// renewed once and then left to lapse, and one in ten is held by a Hold on a connection of
/// its own that is dropped while holding (every other such Hold past its lease, so that the
/// server renewed it); the rest are released. An acquire that fails (UNAVAILABLE while Redis
/// is down or failing over) is retried shortly after.
pub(super) async fn start_workers(
    model: Model,
    servers: &[TestServer],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinSet<Vec<Observed>> {
    let name = unique("safety");
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..6 {
        let server = &servers[w % servers.len()];
        let mut c = client_for(server).await;
        let (url, name, stop) = (server.url(), name.clone(), stop.clone());
        workers.spawn(async move {
            let mut seen = Vec::new();
            for i in 0..MAX_GRANTS_EACH {
                if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_RUN {
                    break;
                }
                let writer = matches!(model, Model::ReadWrite) && (i + w as u32) % 3 == 0;
                let turn = (i + w as u32) % 10;
                let one = match turn {
                    3 => take_and_let_lapse(&mut c, model, &name, writer).await,
                    7 => {
                        let hold = if i % 20 < 10 {
                            USE
                        } else {
                            SHORT_LEASE * 3 / 2
                        };
                        crash_while_holding(&url, model, &name, writer, hold).await
                    }
                    _ => take_and_release(&mut c, model, &name, writer).await,
                };
                match one {
                    Ok(Some(observed)) => seen.push(observed),
                    Ok(None) => {}
                    // Redis down: UNAVAILABLE; try again shortly.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            seen
        });
    }
    workers
}

/// A `model`-shaped request for one grant of `name`, waiting up to 2 s.
fn request(model: Model, name: &str, writer: bool, ttl: Duration) -> AcquireLockRequest {
    let ttl = ttl.as_millis() as u64;
    match model {
        Model::Semaphore(limit) => permits_req(name, limit as u32, 1, ttl, 2_000),
        Model::ReadWrite if writer => rw_req(name, LockMode::Exclusive, ttl, 2_000),
        Model::ReadWrite => rw_req(name, LockMode::Shared, ttl, 2_000),
    }
}

/// The start of a record of a grant `g` of `ttl` asked for at `asked`, arrived just now.
fn observed(g: &AcquireLockResponse, asked: Instant, ttl: Duration, writer: bool) -> Observed {
    Observed {
        asked,
        got: Instant::now(),
        released: None,
        ttl,
        renewed: None,
        fence: g.fencing_token,
        writer,
        ending: Ending::Released,
    }
}

/// Asks for one grant of `ttl`; when granted, the grant and the start of its record.
async fn take(
    c: &mut LockServiceClient<Channel>,
    model: Model,
    name: &str,
    writer: bool,
    ttl: Duration,
) -> Result<Option<(AcquireLockResponse, Observed)>, Status> {
    let asked = Instant::now();
    let g = c
        .acquire_lock(request(model, name, writer, ttl))
        .await?
        .into_inner();
    if !g.acquired {
        return Ok(None);
    }
    let seen = observed(&g, asked, ttl, writer);
    Ok(Some((g, seen)))
}

/// Takes a grant, uses it and releases it. `Ok(None)`: not granted in time.
async fn take_and_release(
    c: &mut LockServiceClient<Channel>,
    model: Model,
    name: &str,
    writer: bool,
) -> Result<Option<Observed>, Status> {
    let Some((g, mut seen)) = take(c, model, name, writer, LEASE).await? else {
        return Ok(None);
    };
    tokio::time::sleep(USE).await;
    seen.released = Some(Instant::now());
    let _ = c
        .release(ReleaseRequest {
            name: name.into(),
            token: g.token,
        })
        .await;
    Ok(Some(seen))
}

/// Takes a grant with a short lease, renews it once, then stops renewing and never releases
/// it: the lease runs out.
async fn take_and_let_lapse(
    c: &mut LockServiceClient<Channel>,
    model: Model,
    name: &str,
    writer: bool,
) -> Result<Option<Observed>, Status> {
    let Some((g, mut seen)) = take(c, model, name, writer, SHORT_LEASE).await? else {
        return Ok(None);
    };
    seen.ending = Ending::Lapsed;
    tokio::time::sleep(USE).await;
    let sent = Instant::now();
    let renewed = c
        .extend(ExtendRequest {
            name: name.into(),
            token: g.token,
            ttl: Some(ms(SHORT_LEASE.as_millis() as u64)),
        })
        .await;
    match renewed {
        Ok(r) if r.get_ref().extended => seen.renewed = Some((sent, SHORT_LEASE)),
        // Not held any more: it lapsed already, which changes nothing certain.
        Ok(_) => {}
        // Unknown whether it ran (and replaced the lease): certain only until it was sent.
        Err(_) => seen.released = Some(sent),
    }
    Ok(Some(seen))
}

/// Takes a grant with a Hold on a connection of its own, keeps it for `hold`, then drops the
/// stream and the connection while holding, as a client that crashed.
async fn crash_while_holding(
    url: &str,
    model: Model,
    name: &str,
    writer: bool,
    hold: Duration,
) -> Result<Option<Observed>, Status> {
    let channel = Channel::from_shared(url.to_owned())
        .expect("a valid endpoint")
        .connect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let req = request(model, name, writer, SHORT_LEASE);
    let asked = Instant::now();
    let mut events = LockServiceClient::new(channel)
        .hold(HoldRequest {
            name: req.name,
            ttl: req.ttl,
            wait_timeout: req.wait_timeout,
            owner: req.owner,
            limit: req.limit,
            mode: req.mode,
            permits: req.permits,
        })
        .await?
        .into_inner();
    let Some(Event::Acquired(g)) = events.message().await?.and_then(|e| e.event) else {
        return Err(Status::unknown("the hold ended without its first event"));
    };
    if !g.acquired {
        return Ok(None);
    }
    let mut seen = observed(&g, asked, SHORT_LEASE, writer);
    seen.ending = Ending::Crashed;
    tokio::time::sleep(hold).await;
    // The stream (and with it the last handle on the connection) goes: the crash.
    seen.released = Some(Instant::now());
    drop(events);
    Ok(Some(seen))
}

/// Asserts that `history` has grants its holders released, let lapse and crashed with.
pub(super) fn assert_every_ending(history: &[Observed]) {
    for ending in [Ending::Released, Ending::Lapsed, Ending::Crashed] {
        let n = history.iter().filter(|o| o.ending == ending).count();
        assert!(n > 0, "no grant of the history ended as {ending:?}");
        eprintln!("  {ending:?}: {n}");
    }
}

/// Sets `stop` and gathers every worker's grants.
pub(super) async fn finish(
    stop: &AtomicBool,
    mut workers: tokio::task::JoinSet<Vec<Observed>>,
) -> Vec<Observed> {
    stop.store(true, Ordering::Relaxed);
    let mut history = Vec::new();
    while let Some(seen) = workers.join_next().await {
        history.extend(seen.expect("a worker panicked"));
    }
    history
}

/// Counts every grant asked for before `asked_before` as held at most until `lost_at`: Redis
/// may have lost it then (a kill, a failover), so only that much of it is certain.
pub(super) fn cut_off(history: &mut [Observed], asked_before: Instant, lost_at: Instant) {
    for o in history {
        if o.asked < asked_before {
            o.released = Some(o.released.map_or(lost_at, |r| r.min(lost_at)));
        }
    }
}
