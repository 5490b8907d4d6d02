//! Training one claimed job: open the dataset's pinned shards (in memory or streamed: `data`),
//! restore the last checkpoint (or start from the model's weights), and after every epoch store
//! the checkpoint and the encrypted losses as blobs before the job row names them (then delete
//! the checkpoint they supersede, unless another row names it); at the end store the trained
//! weights and switch the model and the job in one transaction. Every database and store
//! operation goes through [`Context::retry`].

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use more_core::nn::{Model, NnError, TrainObserver, Trainer};
use more_core::tensor::{PlanarTensor, Representation};

use super::data::{Data, Source};
use super::retry::{interrupted_message, Budget};
use super::JobHandle;
use crate::error::{JobError, JobResult};
use more_store::blobs::BlobStore;
use more_store::db::{Db, Scope};
use more_store::fault;
use more_store::records::{Job, JobState, ModelRecord};
use more_store::weights::{
    checkpoint_bundle, decode_bundle, decode_checkpoint, decode_losses, kind_name, losses_blob,
    model_from_weights, params_bundle,
};
use more_store::StoreResult;

/// What a training thread needs.
pub struct Context {
    /// The metadata database.
    pub db: Db,
    /// The blobs.
    pub blobs: BlobStore,
    /// This node.
    pub node: String,
    /// The runtime the database and store futures run on.
    pub runtime: tokio::runtime::Handle,
    /// How this node launches jobs of more than one rank.
    pub mpi: Option<super::MpiLaunch>,
    /// How long one operation is retried through an outage.
    pub retry_budget: Duration,
    /// The node's stop flag (`true` once it stops).
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// How the job's data is read (in memory or streamed).
    pub data: super::DataSettings,
}

impl Context {
    pub(super) fn wait<T>(&self, f: impl Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }

    /// Whether the node is stopping.
    pub(super) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Runs a database or store operation, retrying transient errors (see `super::retry`) for
    /// the retry budget.
    pub(super) fn retry<T, F, Fut>(&self, what: &str, op: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        self.retry_within(Some(self.retry_budget), what, op)
    }

    /// [`Context::retry`] without a time limit, until the node stops: for the save of a job's
    /// end, whose loss would leave the job `running` with nobody training it.
    pub(super) fn retry_to_end<T, F, Fut>(&self, what: &str, op: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        self.retry_within(None, what, op)
    }

    /// Runs `op` on this blocking thread under a [`Budget`] of `limit`.
    fn retry_within<T, F, Fut>(&self, limit: Option<Duration>, what: &str, op: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let stopping = || self.stopping();
        let budget = Budget {
            limit,
            stopping: &stopping,
        };
        self.wait(budget.run_async(what, op))
    }
}

/// Why training stopped early.
pub(super) enum Stop {
    /// This node no longer owns the job: save nothing.
    Lost,
    /// Any other reason: classified by the flags and the error.
    Error(JobError),
}

impl From<JobError> for Stop {
    fn from(e: JobError) -> Self {
        Stop::Error(e)
    }
}

impl From<more_store::StoreError> for Stop {
    fn from(e: more_store::StoreError) -> Self {
        Stop::Error(e.into())
    }
}

impl From<NnError> for Stop {
    fn from(e: NnError) -> Self {
        Stop::Error(e.into())
    }
}

/// Runs (or continues) a claimed job to its end and records how it ended: `completed`;
/// `cancelled`; `interrupted` when the node stops or a database or store outage outlasts the
/// retry budget (resumable from its last checkpoint); `failed` when training itself fails (the
/// spec, the data, divergence), which no other node retries.
pub fn run(cx: &Context, handle: &JobHandle) {
    let id = handle.snapshot().id;
    tracing::info!(job = %id, "training started");
    let stopping = || cx.stopping();
    let outcome = if handle.cancel.load(Ordering::SeqCst) {
        Err(Stop::Error(NnError::Cancelled.into()))
    } else {
        train(cx, handle, &stopping)
    };
    let (state, error) = match outcome {
        Ok(()) => {
            tracing::info!(job = %id, "training completed");
            return;
        }
        Err(Stop::Lost) => {
            tracing::warn!(job = %id, "job taken over by another node; stopped here");
            return;
        }
        Err(_) if handle.lost.load(Ordering::SeqCst) => {
            tracing::warn!(job = %id, "job taken over by another node; stopped here");
            return;
        }
        // An accepted cancel wins over a shutdown: the job must not come back.
        Err(_) if handle.cancel.load(Ordering::SeqCst) => (JobState::Cancelled, None),
        Err(_) if stopping() => (JobState::Interrupted, None),
        Err(Stop::Error(e)) if e.is_transient() => {
            (JobState::Interrupted, Some(interrupted_message(&e)))
        }
        Err(Stop::Error(e)) => (JobState::Failed, Some(e.to_string())),
    };
    tracing::info!(job = %id, state = state.as_str(), error = ?error, "training stopped");
    let _guard = handle.write.blocking_lock();
    let mut job = handle.snapshot();
    job.state = state;
    job.error = error;
    job.batches_done = 0;
    let saved = cx.retry_to_end("save the job's end", || {
        cx.db.finish_job(&job, &cx.node, state, None)
    });
    if let Err(e) = saved {
        tracing::error!(job = %id, error = %e, "cannot save the job's end");
    }
}

fn train(cx: &Context, handle: &JobHandle, stopping: &dyn Fn() -> bool) -> Result<(), Stop> {
    let job = handle.snapshot();
    if job.ranks > 1 {
        return super::mpi::train(cx, handle, stopping, &job);
    }
    match super::data::open(cx, &job)? {
        Data::Compact(source) => train_typed(cx, handle, stopping, &job, source),
        Data::Matrix(source) => train_typed(cx, handle, stopping, &job, source),
    }
}

/// Reports progress into the live record and polls the stop flags.
struct Observer<'a> {
    handle: &'a JobHandle,
    stopping: &'a dyn Fn() -> bool,
    started: Instant,
    elapsed_before: f64,
}

impl Observer<'_> {
    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }
}

impl<R> TrainObserver<f32, R> for Observer<'_> {
    fn on_batch(&mut self, _epoch: usize, done: usize, total: usize) {
        let elapsed = self.elapsed();
        let mut j = self.handle.job.lock().expect("job lock");
        j.batches_done = done;
        j.batches_total = total;
        j.elapsed_seconds = elapsed;
    }
    fn is_cancelled(&self) -> bool {
        self.handle.cancel.load(Ordering::SeqCst)
            || self.handle.lost.load(Ordering::SeqCst)
            || (self.stopping)()
    }
}

/// A trainer and the encrypted mean loss of each epoch it has done.
type Progress<R> = (Trainer<f32, R>, Vec<PlanarTensor<f32, R>>);

/// The trainer and the losses so far: from the job's checkpoint, else from the model.
fn restore<R: Representation<f32>>(
    cx: &Context,
    job: &Job,
    record: &ModelRecord,
    rep: R,
) -> JobResult<Progress<R>> {
    let (Some(csha), Some(lsha)) = (&job.checkpoint_sha256, &job.losses_sha256) else {
        let model = match &record.weights_sha256 {
            Some(sha) => {
                let bytes = cx.retry("read the model's weights", || cx.blobs.get(sha))?;
                let bundle = decode_bundle(&bytes, "weights")?;
                model_from_weights(record, rep, bundle)?
            }
            None => Model::new(&record.spec, rep, record.seed)?,
        };
        return Ok((Trainer::new(model, job.config.clone())?, Vec::new()));
    };
    let checkpoint = cx.retry("read the checkpoint", || cx.blobs.get(csha))?;
    let checkpoint = decode_checkpoint::<R>(&checkpoint)?;
    let epochs_done = checkpoint.epochs_done;
    let trainer = Trainer::restore(&record.spec, rep, job.config.clone(), checkpoint)?;
    let losses = cx.retry("read the losses", || cx.blobs.get(lsha))?;
    let losses = decode_losses(&losses, epochs_done)?;
    Ok((trainer, losses))
}

fn train_typed<R: Representation<f32>>(
    cx: &Context,
    handle: &JobHandle,
    stopping: &dyn Fn() -> bool,
    job: &Job,
    source: Source<R>,
) -> Result<(), Stop> {
    let rep = source.representation();
    let (record, _) = cx.retry("read the model", || {
        cx.db.get::<ModelRecord>(Scope::Node, &job.model_id)
    })?;
    let (mut trainer, mut losses) = restore(cx, job, &record, rep.clone())?;
    let mut validation = super::validation::Validation::load(cx, job, &rep, trainer.epochs_done())?;
    let mut observer = Observer {
        handle,
        stopping,
        started: Instant::now(),
        elapsed_before: job.elapsed_seconds,
    };
    while trainer.epochs_done() < job.config.epochs {
        let loss = trainer
            .train_epoch_from(&source, &mut observer)
            .map_err(|e| source.job_error(e))?;
        losses.push(loss);
        if let Some(bytes) = source.bytes_read() {
            let epoch = trainer.epochs_done();
            tracing::info!(job = %job.id, epoch, bytes_read = bytes, "dataset streamed");
            handle.job.lock().expect("job lock").data_bytes_read = vec![bytes];
        }
        validation.after_epoch(cx, handle, &trainer)?;
        save_epoch(cx, handle, &trainer, &losses, observer.elapsed())?;
    }
    save_trained(cx, handle, job, &trainer, source.basis())
}

/// Stores the epoch's losses and checkpoint, then points the job row at them.
fn save_epoch<R: Representation<f32>>(
    cx: &Context,
    handle: &JobHandle,
    trainer: &Trainer<f32, R>,
    losses: &[PlanarTensor<f32, R>],
    elapsed: f64,
) -> Result<(), Stop> {
    let losses = Bytes::from(losses_blob(losses)?);
    let losses_blob = cx.retry("store the losses", || cx.blobs.put(losses.clone()))?;
    let checkpoint = Bytes::from(checkpoint_bundle(&trainer.checkpoint()));
    let checkpoint_blob = cx.retry("store the checkpoint", || cx.blobs.put(checkpoint.clone()))?;
    fault::point(fault::EPOCH_STORED);
    let epoch = EpochBlobs {
        epochs_done: trainer.epochs_done(),
        checkpoint_sha256: checkpoint_blob.sha256,
        losses_sha256: losses_blob.sha256,
    };
    record_epoch(cx, handle, epoch, elapsed)
}

/// An epoch's end, stored: what the job row names after it.
pub(super) struct EpochBlobs {
    /// Epochs done.
    pub epochs_done: usize,
    /// The checkpoint after them.
    pub checkpoint_sha256: String,
    /// The encrypted mean loss of each of them.
    pub losses_sha256: String,
}

/// Points the job row at a stored epoch's checkpoint and losses ([`Stop::Lost`] when another
/// node owns the job now).
pub(super) fn record_epoch(
    cx: &Context,
    handle: &JobHandle,
    epoch: EpochBlobs,
    elapsed: f64,
) -> Result<(), Stop> {
    let _guard = handle.write.blocking_lock();
    // Only the checkpoint: its bytes are the job's own (`checkpoint_bundle`'s nonce). A losses
    // blob is a plain tensor that an identical job shares, and small: the collector takes it.
    let superseded = handle
        .job
        .lock()
        .expect("job lock")
        .checkpoint_sha256
        .clone();
    let job = {
        let mut j = handle.job.lock().expect("job lock");
        j.epoch = epoch.epochs_done;
        // Batches count within the current epoch: the next one has done none yet (a client's
        // progress, epoch + batches_done / batches_total, must not pass the epochs done).
        j.batches_done = 0;
        j.checkpoint_sha256 = Some(epoch.checkpoint_sha256);
        j.losses_sha256 = Some(epoch.losses_sha256);
        j.elapsed_seconds = elapsed;
        j.clone()
    };
    if !cx.retry("save the epoch", || cx.db.save_running_job(&job, &cx.node))? {
        return Err(Stop::Lost);
    }
    tracing::info!(job = %job.id, epoch = job.epoch, "epoch done");
    metrics::counter!("more_epochs_total").increment(1);
    if let Some(sha) = superseded.filter(|sha| job.checkpoint_sha256.as_ref() != Some(sha)) {
        delete_superseded(cx, &sha);
    }
    Ok(())
}

/// Deletes a checkpoint the job's row no longer names, unless a row still names it (a job's
/// checkpoints are its own blobs: `checkpoint_bundle`'s nonce). Failures are left to the garbage
/// collector.
fn delete_superseded(cx: &Context, sha: &str) {
    let deleted = cx.wait(async {
        if cx.db.unreferenced(sha).await? {
            cx.blobs.delete(sha).await?;
            return Ok(true);
        }
        Ok::<_, more_store::StoreError>(false)
    });
    match deleted {
        Ok(true) => tracing::debug!(blob = %sha, "superseded blob deleted"),
        Ok(false) => {}
        Err(e) => tracing::warn!(blob = %sha, error = %e, "superseded blob left to the collector"),
    }
}

/// Stores the trained weights, then switches the model to them and completes the job.
fn save_trained<R: Representation<f32>>(
    cx: &Context,
    handle: &JobHandle,
    job: &Job,
    trainer: &Trainer<f32, R>,
    basis: Option<[f64; 4]>,
) -> Result<(), Stop> {
    let model = cx.retry("read the model", || {
        cx.db.get::<ModelRecord>(Scope::Node, &job.model_id)
    })?;
    let metadata = serde_json::json!({
        "spec": model.0.spec,
        "representation": kind_name(R::KIND),
        "basis": basis,
        "trained_epochs": job.base_epochs + job.config.epochs,
    });
    let bytes = Bytes::from(params_bundle(metadata, trainer.model().parameters()));
    let weights = cx.retry("store the trained weights", || cx.blobs.put(bytes.clone()))?;
    fault::point(fault::WEIGHTS_STORED);
    let trained = Trained {
        weights_sha256: weights.sha256,
        representation: kind_name(R::KIND),
        basis,
    };
    complete(cx, handle, job, model, trained)
}

/// Stored trained weights: what the model record names once the job completes.
pub(super) struct Trained {
    /// The weights blob.
    pub weights_sha256: String,
    /// Their representation's name (`compact`, `matrix`).
    pub representation: &'static str,
    /// The public compact basis of the data (none for matrix form).
    pub basis: Option<[f64; 4]>,
}

/// Switches the model (its record and version, read before the weights were stored) to stored
/// trained weights and completes the job in one transaction.
pub(super) fn complete(
    cx: &Context,
    handle: &JobHandle,
    job: &Job,
    (mut record, version): (ModelRecord, i64),
    trained: Trained,
) -> Result<(), Stop> {
    record.weights_sha256 = Some(trained.weights_sha256);
    record.trained_epochs = job.base_epochs + job.config.epochs;
    record.representation = Some(trained.representation.to_string());
    record.basis = trained.basis;
    let _guard = handle.write.blocking_lock();
    let mut done = handle.snapshot();
    done.state = JobState::Completed;
    let saved = cx.retry_to_end("save the completed job", || {
        cx.db.finish_job(
            &done,
            &cx.node,
            JobState::Completed,
            Some((&record, version)),
        )
    })?;
    if saved {
        *handle.job.lock().expect("job lock") = done;
        return Ok(());
    }
    if cx.retry_to_end("read the cancel flag", || {
        cx.db.cancel_requested(&job.id, &cx.node)
    })? {
        // Accepted while the weights were being stored: the job ends cancelled, the model
        // keeps its weights from before.
        handle.cancel.store(true, Ordering::SeqCst);
        return Err(NnError::Cancelled.into());
    }
    Err(Stop::Lost)
}
