//! The job runner of one node. Jobs wait in the shared training queue (`crate::queue`, apalis);
//! each node with `max_jobs > 0` runs an apalis worker that takes up to `max_jobs` tasks at once,
//! claims each task's job row, and trains it on tokio's blocking pool (never on an actix
//! worker). A job whose node dies is requeued by apalis after the lease and resumed by another
//! node from its last per-epoch checkpoint; the `node` column fences the old owner's writes.
//!
//! A job of more than one rank runs as an MPI job (`mpi`): the node launches it, records each
//! epoch its rank 0 reports, and stops the launch when the job is cancelled or the node stops.
//!
//! Cancellation is a flag in the row: the owning node picks it up at its next progress save (at
//! once when the request reached that node) and stops at the next mini-batch. On a graceful stop
//! the node's jobs stop at their next mini-batch and are saved as `interrupted`.

mod mpi;
mod train;

pub use mpi::MpiLaunch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::{Attempt, BackendExt, BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::blobs::BlobStore;
use crate::db::{Claimed, Db};
use crate::queue::{Lease, Queue, TrainTask, QUEUE};
use crate::records::{now, JobState};

/// How a node takes part in training.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// This node's name (apalis worker name and `jobs.node`; unique among running nodes).
    pub node: String,
    /// Jobs trained at once on this node (0: an API-only node that never trains).
    pub max_jobs: usize,
    /// A node silent for this long is considered dead; its jobs move to another node.
    pub lease: Duration,
    /// How often an idle SQLite worker looks for new tasks (PostgreSQL is notified at once).
    pub poll: Duration,
    /// How jobs of more than one rank are launched (`None`: such jobs fail on this node).
    pub mpi: Option<MpiLaunch>,
}

/// Takeovers after which a job that keeps killing its node is failed instead.
const MAX_TAKEOVERS: usize = 5;

/// A job running on this node: its live record, and the flags that stop it.
pub struct JobHandle {
    /// The live record (progress between database writes).
    pub job: Mutex<crate::records::Job>,
    /// Set by a cancel request.
    pub cancel: AtomicBool,
    /// Set when another node took the job over (this node was presumed dead): stop, save nothing.
    pub lost: AtomicBool,
    /// Serialises database writes of the record, so an older snapshot never overwrites a newer.
    pub write: tokio::sync::Mutex<()>,
}

impl JobHandle {
    fn snapshot(&self) -> crate::records::Job {
        self.job.lock().expect("job lock").clone()
    }
}

/// The runner.
pub struct Jobs {
    db: Db,
    blobs: BlobStore,
    queue: Queue,
    settings: JobSettings,
    active: Mutex<HashMap<String, Arc<JobHandle>>>,
    stop: watch::Sender<bool>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

impl Jobs {
    /// A runner; call [`Jobs::start`] to begin taking tasks.
    pub fn new(db: Db, blobs: BlobStore, queue: Queue, settings: JobSettings) -> Arc<Self> {
        Arc::new(Jobs {
            db,
            blobs,
            queue,
            settings,
            active: Mutex::new(HashMap::new()),
            stop: watch::channel(false).0,
            loops: Mutex::new(Vec::new()),
        })
    }

    /// Starts the worker (if this node trains) and the progress loop.
    pub fn start(self: &Arc<Self>) {
        let mut loops = self.loops.lock().expect("loops lock");
        if self.settings.max_jobs > 0 {
            loops.push(tokio::spawn(self.clone().work()));
        }
        loops.push(tokio::spawn(self.clone().progress_loop()));
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// The record with this node's live progress, if the job runs here.
    pub fn live(&self, job: crate::records::Job) -> crate::records::Job {
        match self.active.lock().expect("jobs lock").get(&job.id) {
            Some(h) => h.snapshot(),
            None => job,
        }
    }

    /// Stops a job running on this node at its next mini-batch (no-op for other jobs).
    pub fn cancel_local(&self, id: &str) {
        if let Some(h) = self.active.lock().expect("jobs lock").get(id) {
            h.cancel.store(true, Ordering::SeqCst);
        }
    }

    /// Stops taking tasks, stops every running job at its next mini-batch (saved as
    /// `interrupted`) and waits for them.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let loops = std::mem::take(&mut *self.loops.lock().expect("loops lock"));
        for task in loops {
            let _ = task.await;
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when [`Jobs::shutdown`] is called.
    fn stopped(&self) -> impl std::future::Future<Output = Result<(), std::io::Error>> + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
            Ok(())
        }
    }

    /// Runs this node's apalis worker until shutdown.
    async fn work(self: Arc<Self>) {
        let lease = Lease::of(self.settings.lease);
        let (node, k) = (self.settings.node.clone(), self.settings.max_jobs);
        let stopped = self.stopped();
        let result = match self.queue.clone() {
            Queue::Sqlite(pool) => {
                let config = apalis_sqlite::Config::default()
                    .queue(QUEUE)
                    .batch_size(1)
                    .heartbeat_interval(lease.heartbeat)
                    .missed_heartbeats(lease.missed);
                let backend = SqliteStorage::<TrainTask>::new(&pool).with_config(config);
                WorkerBuilder::new(node)
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
                WorkerBuilder::new(node)
                    .backend(backend.with_pubsub())
                    .concurrency(k)
                    .data(self.clone())
                    .build(run_task)
                    .run_until(stopped)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "the job worker stopped");
        }
    }

    /// Claims the task's job and trains it to its end (or stop).
    async fn run(self: &Arc<Self>, job_id: &str, attempt: usize) {
        let claimed = match self
            .db
            .claim_job(job_id, &self.settings.node, now() as i64)
            .await
        {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return, // cancelled while queued, or already finished
            Err(e) => {
                tracing::error!(job = %job_id, error = %e, "cannot claim the job");
                return;
            }
        };
        let handle = self.register(claimed);
        if attempt > MAX_TAKEOVERS {
            self.fail(
                &handle,
                &format!("the job stopped its node {attempt} times; not retried"),
            )
            .await;
        } else {
            self.train(&handle).await;
        }
        self.active.lock().expect("jobs lock").remove(job_id);
    }

    fn register(&self, claimed: Claimed) -> Arc<JobHandle> {
        let id = claimed.job.id.clone();
        tracing::info!(job = %id, node = %self.settings.node, epoch = claimed.job.epoch, "job claimed");
        let handle = Arc::new(JobHandle {
            job: Mutex::new(claimed.job),
            cancel: AtomicBool::new(claimed.cancel_requested),
            lost: AtomicBool::new(false),
            write: tokio::sync::Mutex::new(()),
        });
        self.active
            .lock()
            .expect("jobs lock")
            .insert(id, handle.clone());
        handle
    }

    async fn train(self: &Arc<Self>, handle: &Arc<JobHandle>) {
        let context = train::Context {
            db: self.db.clone(),
            blobs: self.blobs.clone(),
            node: self.settings.node.clone(),
            runtime: tokio::runtime::Handle::current(),
            mpi: self.settings.mpi.clone(),
        };
        let (h, runner) = (handle.clone(), self.clone());
        let result =
            tokio::task::spawn_blocking(move || train::run(&context, &h, &|| runner.stopping()))
                .await;
        if let Err(panic) = result {
            self.fail(handle, &format!("training panicked: {panic}"))
                .await;
        }
    }

    async fn fail(&self, handle: &JobHandle, message: &str) {
        let mut job = handle.snapshot();
        tracing::error!(job = %job.id, %message, "job failed");
        job.error = Some(message.to_string());
        let _guard = handle.write.lock().await;
        if let Err(e) = self
            .db
            .finish_job(&job, &self.settings.node, JobState::Failed, None)
            .await
        {
            tracing::error!(job = %job.id, error = %e, "cannot save the failed job");
        }
    }

    /// Saves the progress of this node's jobs every few seconds (so every node shows it) and
    /// picks up cancellations requested through other nodes.
    async fn progress_loop(self: Arc<Self>) {
        let period =
            (self.settings.lease / 3).clamp(Duration::from_millis(500), Duration::from_secs(5));
        let mut stopped = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            match self.db.heartbeat(&self.settings.node, now() as i64).await {
                Ok(cancelled) => cancelled.iter().for_each(|id| self.cancel_local(id)),
                Err(e) => tracing::warn!(error = %e, "progress check failed; retrying"),
            }
            let handles: Vec<Arc<JobHandle>> = self
                .active
                .lock()
                .expect("jobs lock")
                .values()
                .cloned()
                .collect();
            for h in handles {
                let _guard = h.write.lock().await;
                match self
                    .db
                    .save_running_job(&h.snapshot(), &self.settings.node)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => h.lost.store(true, Ordering::SeqCst),
                    Err(e) => tracing::warn!(error = %e, "saving progress failed"),
                }
            }
        }
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
