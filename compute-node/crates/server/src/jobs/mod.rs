//! The job runner of one node. Jobs wait as `queued` rows of the shared `jobs` table; every node
//! with `max_jobs > 0` claims them (one claimer wins each), trains up to `max_jobs` at once on
//! tokio's blocking pool (never on an actix worker), and renews a heartbeat for each. A job whose
//! node dies stops being renewed and is claimed again by any node after the lease, which resumes
//! it from its last per-epoch checkpoint.
//!
//! Cancellation is a flag in the row: the owning node picks it up at its next heartbeat (at once
//! when the request reached that node) and stops at the next mini-batch. On a graceful stop the
//! node's jobs stop at their next mini-batch and are saved as `interrupted`.

mod train;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::blobs::BlobStore;
use crate::db::{Claimed, Db};
use crate::records::{now, Job, JobState};

/// How a node takes part in training.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// This node's name in the `jobs.node` column (unique per running process).
    pub node: String,
    /// Jobs trained at once on this node (0: an API-only node that never trains).
    pub max_jobs: usize,
    /// A running job whose heartbeat is older than this is taken over by another node.
    pub lease: Duration,
    /// How often an idle node looks for queued jobs created on other nodes.
    pub poll: Duration,
}

/// A job running on this node: its live record, and the flags that stop it.
pub struct JobHandle {
    /// The live record (progress between database writes).
    pub job: Mutex<Job>,
    /// Set by a cancel request.
    pub cancel: AtomicBool,
    /// Set when another node took the job over (this node missed its lease): stop, save nothing.
    pub lost: AtomicBool,
    /// Serialises database writes of the record, so an older snapshot never overwrites a newer.
    pub write: tokio::sync::Mutex<()>,
}

impl JobHandle {
    fn snapshot(&self) -> Job {
        self.job.lock().expect("job lock").clone()
    }
}

/// The runner.
pub struct Jobs {
    db: Db,
    blobs: BlobStore,
    settings: JobSettings,
    active: Mutex<HashMap<String, Arc<JobHandle>>>,
    wake: Notify,
    shutdown: AtomicBool,
    loops: Mutex<Vec<JoinHandle<()>>>,
    running: Mutex<Vec<JoinHandle<()>>>,
}

impl Jobs {
    /// A runner; call [`Jobs::start`] to begin claiming.
    pub fn new(db: Db, blobs: BlobStore, settings: JobSettings) -> Arc<Self> {
        Arc::new(Jobs {
            db,
            blobs,
            settings,
            active: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            shutdown: AtomicBool::new(false),
            loops: Mutex::new(Vec::new()),
            running: Mutex::new(Vec::new()),
        })
    }

    /// Starts the claim loop (if this node trains) and the heartbeat loop.
    pub fn start(self: &Arc<Self>) {
        let mut loops = self.loops.lock().expect("loops lock");
        if self.settings.max_jobs > 0 {
            loops.push(tokio::spawn(self.clone().claim_loop()));
        }
        loops.push(tokio::spawn(self.clone().heartbeat_loop()));
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// Tells the claim loop a job was queued (on this node).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The record with this node's live progress, if the job runs here.
    pub fn live(&self, job: Job) -> Job {
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

    /// Number of jobs running on this node.
    pub fn running(&self) -> usize {
        self.active.lock().expect("jobs lock").len()
    }

    /// Stops claiming, stops every running job at its next mini-batch (saved as `interrupted`)
    /// and waits for them.
    pub async fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let running = std::mem::take(&mut *self.running.lock().expect("running lock"));
        for task in running {
            let _ = task.await;
        }
        for task in self.loops.lock().expect("loops lock").drain(..) {
            task.abort();
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    async fn claim_loop(self: Arc<Self>) {
        let slots = Arc::new(Semaphore::new(self.settings.max_jobs));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            loop {
                if self.stopping() {
                    return;
                }
                let now = now() as i64;
                let stale = now - self.settings.lease.as_secs() as i64;
                match self.db.claim_job(&self.settings.node, now, stale).await {
                    Ok(Some(claimed)) => {
                        self.spawn_run(claimed, permit);
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "claiming a job failed; retrying"),
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.settings.poll) => {}
                }
            }
        }
    }

    fn spawn_run(self: &Arc<Self>, claimed: Claimed, permit: OwnedSemaphorePermit) {
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
            .insert(id.clone(), handle.clone());
        let this = self.clone();
        let task = tokio::spawn(async move {
            let context = train::Context {
                db: this.db.clone(),
                blobs: this.blobs.clone(),
                node: this.settings.node.clone(),
                runtime: tokio::runtime::Handle::current(),
            };
            let (h, runner) = (handle.clone(), this.clone());
            let result = tokio::task::spawn_blocking(move || {
                train::run(&context, &h, &|| runner.stopping())
            })
            .await;
            if let Err(panic) = result {
                this.fail_after_panic(&handle, &panic.to_string()).await;
            }
            this.active.lock().expect("jobs lock").remove(&id);
            drop(permit);
        });
        let mut running = self.running.lock().expect("running lock");
        running.retain(|t| !t.is_finished());
        running.push(task);
    }

    async fn fail_after_panic(&self, handle: &JobHandle, panic: &str) {
        let mut job = handle.snapshot();
        job.error = Some(format!("training task panicked: {panic}"));
        tracing::error!(job = %job.id, %panic, "training panicked");
        let _guard = handle.write.lock().await;
        if let Err(e) = self
            .db
            .finish_job(&job, &self.settings.node, JobState::Failed, None)
            .await
        {
            tracing::error!(job = %job.id, error = %e, "cannot save the failed job");
        }
    }

    /// Renews the lease of this node's jobs, saves their progress, and picks up cancellations.
    async fn heartbeat_loop(self: Arc<Self>) {
        let period = (self.settings.lease / 3).max(Duration::from_millis(500));
        loop {
            tokio::time::sleep(period).await;
            match self.db.heartbeat(&self.settings.node, now() as i64).await {
                Ok(cancelled) => cancelled.iter().for_each(|id| self.cancel_local(id)),
                Err(e) => tracing::warn!(error = %e, "heartbeat failed; retrying"),
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
