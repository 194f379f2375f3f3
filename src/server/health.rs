//! `grpc.health.v1.Health`: a status per service name and `""`, SERVING from the start,
//! LockService following Redis, everything NOT_SERVING once the server is stopping.

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::shutdown::Shutdown;

/// LockService's name in health, the one whose status follows Redis.
const LOCK_SERVICE: &str = "streamgate.v1.LockService";

/// The fully qualified names health reports on, one per service.
pub(crate) const SERVICE_NAMES: [&str; 3] = [
    "streamgate.v1.FetchService",
    LOCK_SERVICE,
    "streamgate.v1.SensorService",
];

/// The health reporter, and the task keeping LockService's status in step with its store.
#[derive(Clone)]
pub(super) struct Health {
    reporter: HealthReporter,
    lock_task: Option<AbortHandle>,
}

impl Health {
    /// Every name SERVING; with `lock_up`, LockService follows it until `shutdown`.
    pub(super) async fn start(lock_up: Option<watch::Receiver<bool>>, shutdown: Shutdown) -> Self {
        let reporter = HealthReporter::new();
        for name in SERVICE_NAMES.into_iter().chain([""]) {
            reporter
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
        let lock_task = lock_up.map(|up| {
            tokio::spawn(follow_lock_store(up, reporter.clone(), shutdown)).abort_handle()
        });
        Self {
            reporter,
            lock_task,
        }
    }

    /// The gRPC service answering from this reporter.
    pub(super) fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::from_health_reporter(self.reporter.clone()))
    }

    /// Every name NOT_SERVING (the server is stopping).
    pub(super) async fn not_serving(&self) {
        for name in SERVICE_NAMES.into_iter().chain([""]) {
            self.reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    }

    /// Ends the task that follows the lock store.
    pub(super) fn stop(&self) {
        if let Some(task) = &self.lock_task {
            task.abort();
        }
    }
}

/// Keeps LockService's health in step with its store: NOT_SERVING while Redis is unreachable
/// (calls answer UNAVAILABLE then), SERVING once it is back. The other services and the
/// server as a whole ("") stay SERVING. Stops at shutdown, which sets NOT_SERVING for all.
async fn follow_lock_store(
    mut up: watch::Receiver<bool>,
    reporter: HealthReporter,
    shutdown: Shutdown,
) {
    loop {
        let status = if *up.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if shutdown.is_triggered() {
            return;
        }
        reporter.set_service_status(LOCK_SERVICE, status).await;
        tokio::select! {
            changed = up.changed() => if changed.is_err() { return },
            _ = shutdown.recv() => return,
        }
    }
}
