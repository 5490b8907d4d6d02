//! The job runner of one node, over its store (`more-store`; no HTTP: the server starts it and
//! reads its status). Jobs wait in the shared training queue (`more_store::queue`, apalis); each
//! node with `max_jobs > 0` runs an apalis worker that takes up to `max_jobs` tasks at once,
//! claims each task's job row, and trains it on tokio's blocking pool (never on a request
//! worker). A job whose node dies is requeued by apalis after the lease and resumed by another
//! node from its last per-epoch checkpoint; the `node` column fences the old owner's writes.
//!
//! A job of more than one rank runs as an MPI job (`mpi`): the node launches it, records each
//! epoch its rank 0 reports, and stops the launch when the job is cancelled or the node stops.
//!
//! Each process's worker has an id of its own (`more_store::queue::WorkerId`): a node restarted
//! under its `--node-name` puts its predecessor's tasks back in the queue at start-up and resumes
//! them at once. The worker is supervised (`worker`): stopped by a database error, it is rebuilt with
//! backoff; a task delivered again for a job this process still trains follows that run. Each
//! run is a tokio task of its own, so it outlives the worker that started it.
//!
//! Database and store errors during a job are retried over a time budget (`retry`); a job whose
//! budget runs out ends `interrupted` (resumable), one whose training fails on its own (spec,
//! data, divergence) ends `failed` once and is not retried elsewhere. Only node deaths count
//! towards the takeover limit.
//!
//! Cancellation is a flag in the row: the owning node picks it up at its next progress save (at
//! once when the request reached that node) and stops at the next mini-batch. On a graceful stop
//! the node's jobs stop at their next mini-batch and are saved as `interrupted`.

#![deny(missing_docs)]

mod data;
mod error;
mod mpi;
mod retry;
mod train;
mod validation;
mod worker;

pub use data::DataSettings;
pub use error::{JobError, JobResult};
pub use mpi::MpiLaunch;
pub use worker::WorkerStatus;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use more_store::blobs::BlobStore;
use more_store::db::{Claimed, Db};
use more_store::queue::Queue;
use more_store::records::{now, JobState};
use retry::Budget;

/// How a node takes part in training.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// This node's name (`jobs.node`, and the prefix of its apalis worker ids; unique among
    /// running nodes, kept across restarts).
    pub node: String,
    /// Jobs trained at once on this node (0: an API-only node that never trains).
    pub max_jobs: usize,
    /// A node silent for this long is considered dead; its jobs move to another node.
    pub lease: Duration,
    /// How often an idle SQLite worker looks for new tasks (PostgreSQL is notified at once).
    pub poll: Duration,
    /// How jobs of more than one rank are launched (`None`: such jobs fail on this node).
    pub mpi: Option<MpiLaunch>,
    /// How long one database or store operation of a job is retried through an outage before
    /// the job is left `interrupted` ([`DEFAULT_RETRY_BUDGET`]).
    pub retry_budget: Duration,
    /// How jobs' data is read: in memory when small, else streamed from the shards.
    pub data: DataSettings,
}

/// The default [`JobSettings::retry_budget`]: 2 minutes.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(120);

/// Takeovers after which a job that keeps killing its node is failed instead.
const MAX_TAKEOVERS: usize = 5;

/// A job running on this node: its live record, and the flags that stop it.
pub struct JobHandle {
    /// The live record (progress between database writes).
    pub job: Mutex<more_store::records::Job>,
    /// Set by a cancel request.
    pub cancel: AtomicBool,
    /// Set when another node took the job over (this node was presumed dead): stop, save nothing.
    pub lost: AtomicBool,
    /// Serialises database writes of the record, so an older snapshot never overwrites a newer.
    pub write: tokio::sync::Mutex<()>,
    /// Set to `true` when the run on this node has ended (its end saved or given up).
    done: watch::Sender<bool>,
}

impl JobHandle {
    fn snapshot(&self) -> more_store::records::Job {
        self.job.lock().expect("job lock").clone()
    }

    /// Resolves when the run on this node has ended.
    async fn ended(&self) {
        let _ = self.done.subscribe().wait_for(|done| *done).await;
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
    status: Mutex<WorkerStatus>,
}

impl Jobs {
    /// A runner; call [`Jobs::start`] to begin taking tasks.
    pub fn new(db: Db, blobs: BlobStore, queue: Queue, settings: JobSettings) -> Arc<Self> {
        Arc::new(Jobs {
            db,
            blobs,
            queue,
            active: Mutex::new(HashMap::new()),
            stop: watch::channel(false).0,
            loops: Mutex::new(Vec::new()),
            status: WorkerStatus::new(settings.max_jobs > 0),
            settings,
        })
    }

    /// Starts the supervised worker (if this node trains) and the progress loop.
    pub fn start(self: &Arc<Self>) {
        let mut loops = self.loops.lock().expect("loops lock");
        if self.settings.max_jobs > 0 {
            loops.push(tokio::spawn(self.clone().supervise()));
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
    pub fn live(&self, job: more_store::records::Job) -> more_store::records::Job {
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
        // Runs whose worker had stopped before: nobody else waits for them.
        let running: Vec<Arc<JobHandle>> = self
            .active
            .lock()
            .expect("jobs lock")
            .values()
            .cloned()
            .collect();
        for handle in running {
            handle.ended().await;
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

    /// Claims the task's job and trains it to its end (or stop). A task delivered again for a
    /// job this process still runs (its worker was rebuilt) waits for that run first; the claim
    /// then finds the job ended (or queued again by a resume that came meanwhile: it runs).
    // One trace per run of a job (its own root span, `job_id` on every span under it).
    #[tracing::instrument(name = "job", parent = None, skip_all, fields(job_id = %job_id))]
    async fn run(self: &Arc<Self>, job_id: &str, attempt: usize) {
        let running = self.active.lock().expect("jobs lock").get(job_id).cloned();
        if let Some(handle) = running {
            tracing::info!(job = %job_id, "task delivered again; following the run in progress");
            handle.ended().await;
        }
        let node = self.settings.node.clone();
        let stopping = || self.stopping();
        let claim = endless(&stopping)
            .run_async("claim the job", || {
                self.db.claim_job(job_id, &node, now() as i64)
            })
            .await;
        let claimed = match claim {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return, // cancelled while queued, or already finished
            Err(e) => {
                tracing::error!(job = %job_id, error = %e, "cannot claim the job");
                return;
            }
        };
        let handle = self.register(claimed);
        let (runner, h) = (self.clone(), handle.clone());
        // A task of its own: the run goes on if the worker that delivered it stops.
        tokio::spawn(
            async move {
                if attempt > MAX_TAKEOVERS {
                    let message = format!("the job stopped its node {attempt} times; not retried");
                    runner.fail(&h, &message).await;
                } else {
                    runner.train(&h).await;
                }
                runner
                    .active
                    .lock()
                    .expect("jobs lock")
                    .remove(&h.snapshot().id);
                h.done.send_replace(true);
            }
            .instrument(tracing::Span::current()),
        );
        handle.ended().await;
    }

    fn register(&self, claimed: Claimed) -> Arc<JobHandle> {
        let id = claimed.job.id.clone();
        tracing::info!(job = %id, node = %self.settings.node, epoch = claimed.job.epoch, "job claimed");
        let handle = Arc::new(JobHandle {
            job: Mutex::new(claimed.job),
            cancel: AtomicBool::new(claimed.cancel_requested),
            lost: AtomicBool::new(false),
            write: tokio::sync::Mutex::new(()),
            done: watch::channel(false).0,
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
            retry_budget: self.settings.retry_budget,
            stop: self.stop.subscribe(),
            data: self.settings.data.clone(),
        };
        let h = handle.clone();
        let span = tracing::Span::current();
        let result =
            tokio::task::spawn_blocking(move || span.in_scope(|| train::run(&context, &h))).await;
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
        let node = &self.settings.node;
        let stopping = || self.stopping();
        let saved = endless(&stopping)
            .run_async("save the failed job", || {
                self.db.finish_job(&job, node, JobState::Failed, None)
            })
            .await;
        if let Err(e) = saved {
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

/// Retries until the operation passes or the node stops (for a claim, and for saves whose loss
/// would leave a job `running` with nobody training it).
fn endless<'a>(stopping: &'a (dyn Fn() -> bool + Sync)) -> Budget<'a> {
    Budget {
        limit: None,
        stopping,
    }
}
