//! The node's apalis worker, supervised: built under a worker id unique to this process and
//! build ([`WorkerId`]), after putting back at once the tasks its node's earlier workers held
//! ([`Queue::reclaim`]); rebuilt with backoff (1 s doubling to 30 s) whenever it stops on a
//! database error. Its state is shown by `GET /v1/health`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apalis::prelude::{Attempt, BackendExt, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use serde::Serialize;

use super::Jobs;
use more_store::queue::{Lease, Queue, TrainTask, WorkerId, QUEUE};
use more_store::records::now;

/// First pause before a stopped worker is rebuilt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between two rebuilds.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that ran this long before it stopped starts the backoff over.
const STABLE: Duration = Duration::from_secs(60);

/// The job worker's state, as `GET /v1/health` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct WorkerStatus {
    /// `running` (taking tasks), `restarting` (stopped on an error, rebuilt after a pause),
    /// `starting`, or `off` (a node started with `--max-jobs 0`).
    #[schema(example = "running")]
    pub state: &'static str,
    /// Unix seconds since when it is in this state.
    pub since: u64,
    /// The error that stopped it last (none since the process started when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// How many times it was rebuilt since the process started.
    pub restarts: u64,
}

impl WorkerStatus {
    pub(super) fn new(trains: bool) -> Mutex<Self> {
        Mutex::new(WorkerStatus {
            state: if trains { "starting" } else { "off" },
            since: now(),
            last_error: None,
            restarts: 0,
        })
    }
}

impl Jobs {
    /// The worker's state now.
    pub fn worker_status(&self) -> WorkerStatus {
        self.status.lock().expect("status lock").clone()
    }

    fn set_status(&self, state: &'static str, error: Option<String>) {
        let mut status = self.status.lock().expect("status lock");
        status.state = state;
        status.since = now();
        if state == "restarting" {
            status.restarts += 1;
        }
        if error.is_some() {
            status.last_error = error;
        }
    }

    /// Runs the worker until shutdown, rebuilding it (under a new id) whenever it stops.
    pub(super) async fn supervise(self: Arc<Self>) {
        let mut id = WorkerId::first(&self.settings.node);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let started = Instant::now();
            let error = match self.queue.reclaim(&id).await {
                Ok(released) => {
                    if released > 0 {
                        tracing::info!(worker = %id, released, "tasks of this node's earlier worker back in the queue");
                    }
                    self.set_status("running", None);
                    tracing::info!(worker = %id, "job worker started");
                    match self.run_worker(&id).await {
                        Ok(()) => "the worker stopped".to_string(),
                        Err(e) => {
                            tracing::error!(worker = %id, error = %e, "job worker error");
                            "the job queue's database failed (details in the node's log)"
                                .to_string()
                        }
                    }
                }
                Err(e) => e.to_string(),
            };
            if self.stopping() {
                return;
            }
            tracing::error!(worker = %id, %error, retry_in = ?backoff, "the job worker stopped; rebuilding it");
            self.set_status("restarting", Some(error));
            if started.elapsed() >= STABLE {
                backoff = FIRST_BACKOFF;
            }
            let mut stop = self.stop.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            id = id.next();
        }
    }

    /// One apalis worker named `id`, until shutdown or its first fatal error.
    async fn run_worker(self: &Arc<Self>, id: &WorkerId) -> Result<(), String> {
        let lease = Lease::of(self.settings.lease);
        let (name, k) = (id.to_string(), self.settings.max_jobs);
        let stopped = self.stopped();
        let result = match self.queue.clone() {
            Queue::Sqlite(pool) => {
                let config = apalis_sqlite::Config::default()
                    .queue(QUEUE)
                    .batch_size(1)
                    .heartbeat_interval(lease.heartbeat)
                    .missed_heartbeats(lease.missed);
                let backend = SqliteStorage::<TrainTask>::new(&pool).with_config(config);
                WorkerBuilder::new(name)
                    .backend(backend.poll_with_interval(self.settings.poll))
                    .concurrency(k)
                    .data(self.clone())
                    .build(run_task)
                    .run_until(stopped)
                    .await
            }
            Queue::Postgres(pool) => {
                let config = apalis_postgres::Config::default()
                    .queue(QUEUE)
                    .batch_size(1)
                    .heartbeat_interval(lease.heartbeat)
                    .missed_heartbeats(lease.missed);
                let backend = PostgresStorage::<TrainTask>::new(&pool).with_config(config);
                WorkerBuilder::new(name)
                    .backend(backend.with_pubsub())
                    .concurrency(k)
                    .data(self.clone())
                    .build(run_task)
                    .run_until(stopped)
                    .await
            }
        };
        result.map_err(|e| e.to_string())
    }
}

/// The apalis handler: one task, one job. Always succeeds for apalis (the outcome is in the
/// job row), so nothing is retried except by takeover.
async fn run_task(
    task: TrainTask,
    attempt: Attempt,
    jobs: Data<Arc<Jobs>>,
) -> Result<(), BoxDynError> {
    jobs.run(&task.job_id, attempt.current()).await;
    Ok(())
}
