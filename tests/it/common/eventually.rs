//! Waiting for a condition that only polling can observe (a server's health after Redis
//! comes back, a counter on /metrics, a process's exit). Where an event can be awaited, the
//! tests await it instead; everything else polls through here, so every wait has a bound and
//! a failure names what never happened and the last thing seen.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is re-checked: short against the bounds used (seconds), long enough
/// not to busy the two cores the tests share.
const POLL: Duration = Duration::from_millis(20);

/// Re-runs `check` until it returns `Ok`, and returns that value; panics after `within` with
/// `what` and the last `Err` seen.
pub async fn eventually<T, E, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => assert!(
                Instant::now() < deadline,
                "{what}: not so after {within:?}; last seen: {last:?}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for plain threads (process handles, blocking sockets).
pub fn eventually_blocking<T, E: Debug>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => assert!(
                Instant::now() < deadline,
                "{what}: not so after {within:?}; last seen: {last:?}"
            ),
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until `holds()` (a check of shared state: a counter, a queue length) is true, for at
/// most `within`.
pub async fn until(within: Duration, what: &str, mut holds: impl FnMut() -> bool) {
    let check = move || std::future::ready(if holds() { Ok(()) } else { Err("not yet") });
    eventually(within, what, check).await
}
