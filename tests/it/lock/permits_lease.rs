//! Extend on semaphore and read-write grants, as conformance cases (`conformance.rs` runs
//! each on every backend): an Extend prolongs exactly the grant whose token it carries, and
//! an Extend of a grant that expired or was released is refused exactly as the mutex's is.

use crate::common;

use std::time::{Duration, SystemTime};

use common::lock::*;
use streamgate_client::proto::lock_service_client::LockServiceClient;
use streamgate_client::proto::{ExtendResponse, LockMode};
use tonic::transport::Channel;

/// The short lease the cases extend: long enough for the Extend to arrive before it ends on a
/// loaded machine, short enough to wait out.
const SHORT_MS: u64 = 600;
/// How long the cases wait to be past a short lease (lease ends come from the server's clock
/// and expiry is noticed within milliseconds; the margin covers a loaded machine).
const PAST_SHORT: Duration = Duration::from_millis(SHORT_MS + 400);
/// What an Extend renews a grant to.
const LONG_MS: u64 = 30_000;

/// What an Extend of a mutex token that expired answers on this backend: the answer every
/// dead semaphore or read-write token must get too.
async fn dead_mutex_extend(c: &mut LockServiceClient<Channel>) -> ExtendResponse {
    let name = unique("dead-mutex");
    let g = acquire(c, &name, 50, 0).await;
    assert!(g.acquired);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let dead = extend(c, &name, &g.token, LONG_MS).await;
    assert!(!dead.extended && dead.expires_at.is_none(), "{dead:?}");
    dead
}

/// Asserts `resp` renewed a lease to about [`LONG_MS`] from now.
fn assert_renewed(resp: &ExtendResponse, what: &str) {
    assert!(resp.extended, "{what}: {resp:?}");
    let end = SystemTime::try_from(resp.expires_at.expect("an extended grant has expires_at"))
        .expect("a valid time");
    assert!(
        end > SystemTime::now() + Duration::from_millis(LONG_MS / 2),
        "{what}: renewed to {end:?}"
    );
}

pub async fn extend_prolongs_exactly_that_semaphore_grant_and_a_dead_one_is_refused_as_a_mutexs(
    env: &LockEnv,
) {
    let mut c = env.client().await;
    let refused = dead_mutex_extend(&mut c).await;
    let name = unique("sem-extend");
    let kept = acquire_with(&mut c, permits_req(&name, 3, 1, SHORT_MS, 0)).await;
    let other = acquire_with(&mut c, permits_req(&name, 3, 1, SHORT_MS, 0)).await;
    let released = acquire_with(&mut c, permits_req(&name, 3, 1, LONG_MS, 0)).await;
    assert!(kept.acquired && other.acquired && released.acquired);
    assert_renewed(
        &extend(&mut c, &name, &kept.token, LONG_MS).await,
        "the kept grant",
    );
    assert!(release(&mut c, &name, &released.token).await);
    assert_eq!(
        extend(&mut c, &name, &released.token, LONG_MS).await,
        refused,
        "a released permit is not extended"
    );

    tokio::time::sleep(PAST_SHORT).await;
    // The other grant's lease was left as it was: it ended, and only it.
    assert_eq!(
        extend(&mut c, &name, &other.token, LONG_MS).await,
        refused,
        "an expired permit is not extended"
    );
    assert!(!release(&mut c, &name, &other.token).await);
    let a = acquire_with(&mut c, permits_req(&name, 3, 1, LONG_MS, 0)).await;
    let b = acquire_with(&mut c, permits_req(&name, 3, 1, LONG_MS, 0)).await;
    assert!(a.acquired && b.acquired, "two permits are free again");
    let over = acquire_with(&mut c, permits_req(&name, 3, 1, LONG_MS, 0)).await;
    assert!(
        !over.acquired,
        "the extended grant still holds its permit past its first lease"
    );
    assert_renewed(
        &extend(&mut c, &name, &kept.token, LONG_MS).await,
        "the kept grant again",
    );
    assert!(release(&mut c, &name, &kept.token).await);
    assert_eq!(extend(&mut c, &name, &kept.token, LONG_MS).await, refused);
    assert!(release(&mut c, &name, &a.token).await);
    assert!(release(&mut c, &name, &b.token).await);
}

pub async fn extend_prolongs_exactly_that_read_or_write_grant_and_a_dead_one_is_refused_as_a_mutexs(
    env: &LockEnv,
) {
    let mut c = env.client().await;
    let refused = dead_mutex_extend(&mut c).await;
    let name = unique("rw-extend");
    let kept = acquire_with(&mut c, rw_req(&name, LockMode::Shared, SHORT_MS, 0)).await;
    let other = acquire_with(&mut c, rw_req(&name, LockMode::Shared, SHORT_MS, 0)).await;
    assert!(kept.acquired && other.acquired);
    assert_renewed(
        &extend(&mut c, &name, &kept.token, LONG_MS).await,
        "the kept read share",
    );
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        extend(&mut c, &name, &other.token, LONG_MS).await,
        refused,
        "an expired read share is not extended"
    );
    let w = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, LONG_MS, 0)).await;
    assert!(
        !w.acquired,
        "the extended reader still holds past its first lease"
    );
    assert!(release(&mut c, &name, &kept.token).await);
    assert_eq!(
        extend(&mut c, &name, &kept.token, LONG_MS).await,
        refused,
        "a released read share is not extended"
    );

    // The write side: extended past its first lease, then released; and one left to expire.
    let writer = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, SHORT_MS, 0)).await;
    assert!(writer.acquired, "the readers are gone");
    assert_renewed(
        &extend(&mut c, &name, &writer.token, LONG_MS).await,
        "the writer",
    );
    tokio::time::sleep(PAST_SHORT).await;
    let r = acquire_with(&mut c, rw_req(&name, LockMode::Shared, LONG_MS, 0)).await;
    assert!(
        !r.acquired,
        "the extended writer still holds past its first lease"
    );
    assert!(release(&mut c, &name, &writer.token).await);
    assert_eq!(
        extend(&mut c, &name, &writer.token, LONG_MS).await,
        refused,
        "a released writer is not extended"
    );
    let lapsing = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, SHORT_MS, 0)).await;
    assert!(lapsing.acquired);
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        extend(&mut c, &name, &lapsing.token, LONG_MS).await,
        refused,
        "an expired writer is not extended"
    );
    let next = acquire_with(&mut c, rw_req(&name, LockMode::Exclusive, LONG_MS, 0)).await;
    assert!(next.acquired, "the expired writer's lease ended");
    assert!(next.fencing_token > lapsing.fencing_token);
    assert!(release(&mut c, &name, &next.token).await);
}
