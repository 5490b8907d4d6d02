//! The job runner: trains a model on an encrypted dataset on tokio's blocking pool (never on an
//! actix worker), one job at a time, with progress in shared state, cancellation through an
//! `AtomicBool` polled by the [`TrainObserver`], the encrypted loss and a checkpoint saved after
//! every epoch, and the trained weights saved to the model at the end.
//!
//! When the node stops, running jobs stop at the next mini-batch and are saved as `interrupted`
//! (a job found `queued`/`running` at startup, after a crash, is marked `interrupted` too);
//! `resume` continues from the last checkpoint.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use more_core::nn::{Checkpoint, Model, NnError, TrainObserver, Trainer};
use more_core::tensor::{PlanarTensor, Representation, RepresentationKind};
use more_core::wire::{self, AnyTensor, Bundle, DecodeLimits};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::error::{ApiError, ApiResult};
use super::storage::{Dataset, Job, JobState, Kind, ModelRecord, Storage};

/// Name of the checkpoint file of a job.
pub const CHECKPOINT: &str = "checkpoint.bundle";
/// Name of the per-epoch loss file of a job.
pub const LOSSES: &str = "losses.more";
/// Name of a model's trained weights.
pub const WEIGHTS: &str = "weights.bundle";

/// Limits for reading the node's own files (they were validated when uploaded).
pub fn storage_limits() -> DecodeLimits {
    DecodeLimits {
        max_bytes: usize::MAX / 2,
        max_rank: 8,
    }
}

/// A job being run: its live record and its cancel flag.
pub struct JobHandle {
    /// The live record (progress).
    pub job: Mutex<Job>,
    /// Set by `POST /cancel`.
    pub cancel: AtomicBool,
}

/// The registry of active jobs and the means to run them.
pub struct Jobs {
    storage: Storage,
    runtime: tokio::runtime::Handle,
    active: Arc<Mutex<HashMap<String, Arc<JobHandle>>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shutdown: Arc<AtomicBool>,
    slots: Arc<Semaphore>,
}

impl Jobs {
    /// A runner over `storage` spawning onto `runtime`; marks jobs left `queued`/`running` by a
    /// previous process as `interrupted`.
    ///
    /// # Errors
    /// When the job records cannot be listed or saved.
    pub fn new(storage: Storage, runtime: tokio::runtime::Handle) -> ApiResult<Self> {
        for mut job in storage.list::<Job>(Kind::Job)? {
            if job.state.active() {
                tracing::warn!(job = %job.id, "job was {:?} when the node stopped: interrupted", job.state);
                job.state = JobState::Interrupted;
                job.batches_done = 0;
                storage.save(Kind::Job, &job.id.clone(), &job)?;
            }
        }
        Ok(Jobs {
            storage,
            runtime,
            active: Arc::new(Mutex::new(HashMap::new())),
            tasks: Mutex::new(Vec::new()),
            shutdown: Arc::new(AtomicBool::new(false)),
            slots: Arc::new(Semaphore::new(1)),
        })
    }

    /// The live record of an active job, else the stored one.
    pub fn get(&self, id: &str) -> ApiResult<Job> {
        if let Some(h) = self.active.lock().expect("jobs lock").get(id) {
            return Ok(h.job.lock().expect("job lock").clone());
        }
        self.storage.load(Kind::Job, id)
    }

    /// Every job (live records for active ones).
    pub fn list(&self) -> ApiResult<Vec<Job>> {
        let stored: Vec<Job> = self.storage.list(Kind::Job)?;
        let active = self.active.lock().expect("jobs lock");
        Ok(stored
            .into_iter()
            .map(|j| match active.get(&j.id) {
                Some(h) => h.job.lock().expect("job lock").clone(),
                None => j,
            })
            .collect())
    }

    /// Whether a model or dataset is used by an active job.
    pub fn busy(&self, id: &str) -> bool {
        self.active.lock().expect("jobs lock").values().any(|h| {
            let j = h.job.lock().expect("job lock");
            j.model_id == id || j.dataset_id == id
        })
    }

    /// Whether a model has an active job.
    pub fn model_busy(&self, model_id: &str) -> bool {
        self.active
            .lock()
            .expect("jobs lock")
            .values()
            .any(|h| h.job.lock().expect("job lock").model_id == model_id)
    }

    /// Requests cancellation of an active job.
    pub fn cancel(&self, id: &str) -> ApiResult<Job> {
        let h = self.active.lock().expect("jobs lock").get(id).cloned();
        match h {
            Some(h) => {
                h.cancel.store(true, Ordering::SeqCst);
                Ok(h.job.lock().expect("job lock").clone())
            }
            None => {
                let job: Job = self.storage.load(Kind::Job, id)?;
                Err(ApiError::conflict(format!(
                    "job {id} is {:?}, not queued or running",
                    job.state
                )))
            }
        }
    }

    /// Saves a new (or resumed) job as `queued` and starts it.
    pub fn start(&self, mut job: Job, create: bool) -> ApiResult<Job> {
        if self.shutdown.load(Ordering::SeqCst) {
            return Err(ApiError::conflict("the node is shutting down"));
        }
        job.state = JobState::Queued;
        job.error = None;
        job.batches_done = 0;
        if create {
            self.storage.create(Kind::Job, &job.id, &job)?;
        } else {
            self.storage.save(Kind::Job, &job.id, &job)?;
        }
        let handle = Arc::new(JobHandle {
            job: Mutex::new(job.clone()),
            cancel: AtomicBool::new(false),
        });
        self.active
            .lock()
            .expect("jobs lock")
            .insert(job.id.clone(), handle.clone());
        let (storage, shutdown, slots) = (
            self.storage.clone(),
            self.shutdown.clone(),
            self.slots.clone(),
        );
        let active = self.active.clone();
        let task = self.runtime.spawn(async move {
            let _permit = slots.acquire_owned().await;
            let h = handle.clone();
            let st = storage.clone();
            let sd = shutdown.clone();
            let result = tokio::task::spawn_blocking(move || run(&st, &h, &sd)).await;
            if let Err(e) = result {
                let mut j = handle.job.lock().expect("job lock");
                j.state = JobState::Failed;
                j.error = Some(format!("training task panicked: {e}"));
                let _ = storage.save(Kind::Job, &j.id.clone(), &*j);
            }
            let id = handle.job.lock().expect("job lock").id.clone();
            active.lock().expect("jobs lock").remove(&id);
        });
        self.tasks.lock().expect("tasks lock").push(task);
        Ok(job)
    }

    /// Stops every job at its next mini-batch (saved as `interrupted`) and waits for them.
    pub async fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Reports progress into the shared record and polls the cancel and shutdown flags.
struct Observer<'a> {
    handle: &'a JobHandle,
    shutdown: &'a AtomicBool,
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
        self.handle.cancel.load(Ordering::SeqCst) || self.shutdown.load(Ordering::SeqCst)
    }
}

/// Kind name used in records and JSON.
pub fn kind_name(kind: RepresentationKind) -> &'static str {
    match kind {
        RepresentationKind::Plain => "plain",
        RepresentationKind::Compact => "compact",
        RepresentationKind::Matrix => "matrix",
    }
}

/// Wraps a typed tensor.
pub fn any<R: Representation<f32>>(t: PlanarTensor<f32, R>) -> AnyTensor {
    AnyTensor::from_typed(t).expect("f32 tensors of the engine's representations")
}

/// Encodes named parameters as a bundle.
pub fn params_bundle<R: Representation<f32>>(
    metadata: serde_json::Value,
    named: Vec<(String, &PlanarTensor<f32, R>)>,
) -> Vec<u8> {
    wire::encode_bundle(&Bundle {
        metadata,
        tensors: named
            .into_iter()
            .map(|(n, t)| (n, any(t.clone())))
            .collect(),
    })
}

/// Typed named tensors of a bundle.
pub fn bundle_tensors<R: Representation<f32>>(
    bundle: Bundle,
) -> ApiResult<Vec<(String, PlanarTensor<f32, R>)>> {
    bundle
        .tensors
        .into_iter()
        .map(|(n, t)| {
            t.into_typed::<f32, R>()
                .map(|t| (n.clone(), t))
                .map_err(|e| ApiError::internal(format!("stored tensor {n}: {e}")))
        })
        .collect()
}

/// The model's current weights in representation `rep`: the trained ones if any (their
/// representation must be `rep`), else the initial `w·I` from the model's seed.
pub fn load_model<R: Representation<f32>>(
    storage: &Storage,
    record: &ModelRecord,
    rep: R,
) -> ApiResult<Model<f32, R>> {
    match &record.weights_sha256 {
        Some(sha) => model_from_weights(record, rep, read_weights(storage, record, sha)?),
        None => Ok(Model::new(&record.spec, rep, record.seed)?),
    }
}

/// Reads a model's stored weights, verifies their SHA-256 and decodes the bundle.
///
/// # Errors
/// 500 when the file is missing, corrupt or does not decode.
pub fn read_weights(storage: &Storage, record: &ModelRecord, sha: &str) -> ApiResult<Bundle> {
    let bytes = storage.read_verified(Kind::Model, &record.id, WEIGHTS, sha)?;
    wire::decode_bundle(&bytes, &storage_limits())
        .map_err(|e| ApiError::internal(format!("stored weights: {e}")))
}

/// The model built from its decoded trained weights, which must be in representation `rep`.
///
/// # Errors
/// 400 `basis_mismatch` when the weights are of another representation or key; 500 when they do
/// not fit the model's spec.
pub fn model_from_weights<R: Representation<f32>>(
    record: &ModelRecord,
    rep: R,
    bundle: Bundle,
) -> ApiResult<Model<f32, R>> {
    let named = bundle_tensors::<R>(bundle).map_err(|_| {
        ApiError::basis_mismatch(format!(
            "model {} was trained on {} ciphertexts",
            record.id,
            record.representation.as_deref().unwrap_or("other")
        ))
    })?;
    if named
        .first()
        .is_some_and(|(_, t)| t.representation() != &rep)
    {
        return Err(ApiError::basis_mismatch(format!(
            "model {} was trained under another key (compact basis differs)",
            record.id
        )));
    }
    Model::from_parameters(&record.spec, rep, named)
        .map_err(|e| ApiError::internal(format!("stored weights: {e}")))
}

/// Runs (or continues) a job to its end; the final state is in the record.
fn run(storage: &Storage, handle: &JobHandle, shutdown: &AtomicBool) {
    let id = handle.job.lock().expect("job lock").id.clone();
    let outcome = if handle.cancel.load(Ordering::SeqCst) {
        Err(NnError::Cancelled.into())
    } else if shutdown.load(Ordering::SeqCst) {
        Err(ApiError::conflict("shutdown"))
    } else {
        {
            let mut j = handle.job.lock().expect("job lock");
            j.state = JobState::Running;
            let _ = storage.save(Kind::Job, &id, &*j);
        }
        tracing::info!(job = %id, "training started");
        train(storage, handle, shutdown)
    };
    let mut j = handle.job.lock().expect("job lock");
    match outcome {
        Ok(()) => {
            j.state = JobState::Completed;
            tracing::info!(job = %id, epochs = j.epoch, "training completed");
        }
        Err(_) if shutdown.load(Ordering::SeqCst) => {
            j.state = JobState::Interrupted;
            tracing::info!(job = %id, epoch = j.epoch, "training interrupted by shutdown");
        }
        Err(e) if e.message == NnError::Cancelled.to_string() => {
            j.state = JobState::Cancelled;
            tracing::info!(job = %id, epoch = j.epoch, "training cancelled");
        }
        Err(e) => {
            j.state = JobState::Failed;
            tracing::warn!(job = %id, error = %e.message, "training failed");
            j.error = Some(e.message);
        }
    }
    if let Err(e) = storage.save(Kind::Job, &id, &*j) {
        tracing::error!(job = %id, error = %e, "cannot save the job record");
    }
}

fn train(storage: &Storage, handle: &JobHandle, shutdown: &AtomicBool) -> ApiResult<()> {
    let job = handle.job.lock().expect("job lock").clone();
    let dataset: Dataset = storage.load(Kind::Dataset, &job.dataset_id)?;
    let (Some(fsha), Some(tsha)) = (&dataset.features_sha256, &dataset.targets_sha256) else {
        return Err(ApiError::conflict("dataset is not ready"));
    };
    let limits = storage_limits();
    let read = |name: &str, sha: &str| -> ApiResult<AnyTensor> {
        let bytes = storage.read_verified(Kind::Dataset, &dataset.id, name, sha)?;
        wire::decode(&bytes, &limits).map_err(|e| ApiError::internal(format!("stored {name}: {e}")))
    };
    let x = read("features.more", fsha)?;
    let y = read("targets.more", tsha)?;
    match (x, y) {
        (AnyTensor::CompactF32(x), AnyTensor::CompactF32(y)) => {
            train_typed(storage, handle, shutdown, &job, x, y)
        }
        (AnyTensor::MatrixF32(x), AnyTensor::MatrixF32(y)) => {
            train_typed(storage, handle, shutdown, &job, x, y)
        }
        _ => Err(ApiError::internal(
            "stored dataset has unexpected tensor types",
        )),
    }
}

fn train_typed<R: Representation<f32>>(
    storage: &Storage,
    handle: &JobHandle,
    shutdown: &AtomicBool,
    job: &Job,
    x: PlanarTensor<f32, R>,
    y: PlanarTensor<f32, R>,
) -> ApiResult<()> {
    let rep = x.representation().clone();
    let record: ModelRecord = storage.load(Kind::Model, &job.model_id)?;
    let limits = storage_limits();
    let (mut trainer, mut losses) = match (&job.checkpoint_sha256, &job.losses_sha256) {
        (Some(csha), Some(lsha)) => {
            let bytes = storage.read_verified(Kind::Job, &job.id, CHECKPOINT, csha)?;
            let bundle = wire::decode_bundle(&bytes, &limits)
                .map_err(|e| ApiError::internal(format!("stored checkpoint: {e}")))?;
            let epochs_done = bundle.metadata["epochs_done"].as_u64().unwrap_or(0) as usize;
            let step = bundle.metadata["step"].as_u64().unwrap_or(0);
            let tensors = bundle_tensors::<R>(bundle)?;
            let trainer = Trainer::restore(
                &record.spec,
                rep.clone(),
                job.config.clone(),
                Checkpoint {
                    epochs_done,
                    step,
                    tensors,
                },
            )?;
            let bytes = storage.read_verified(Kind::Job, &job.id, LOSSES, lsha)?;
            let all: PlanarTensor<f32, R> = wire::decode(&bytes, &limits)
                .and_then(|t| t.into_typed())
                .map_err(|e| ApiError::internal(format!("stored losses: {e}")))?;
            let losses = (0..epochs_done.min(all.shape()[0]))
                .map(|i| all.select(0, &[i]))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::internal(format!("stored losses: {e}")))?;
            (trainer, losses)
        }
        _ => {
            let model = load_model(storage, &record, rep.clone())?;
            (Trainer::new(model, job.config.clone())?, Vec::new())
        }
    };
    let mut observer = Observer {
        handle,
        shutdown,
        started: Instant::now(),
        elapsed_before: job.elapsed_seconds,
    };
    while trainer.epochs_done() < job.config.epochs {
        let loss = trainer.train_epoch(&x, &y, &mut observer)?;
        losses.push(loss);
        let all = PlanarTensor::concatenate(0, &losses)
            .map_err(|e| ApiError::internal(format!("losses: {e}")))?;
        let lsha = storage.write_file(Kind::Job, &job.id, LOSSES, &wire::encode(&all))?;
        let cp = trainer.checkpoint();
        let metadata = serde_json::json!({"epochs_done": cp.epochs_done, "step": cp.step});
        let named = cp.tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        let csha = storage.write_file(
            Kind::Job,
            &job.id,
            CHECKPOINT,
            &params_bundle(metadata, named),
        )?;
        let elapsed = observer.elapsed();
        let mut j = handle.job.lock().expect("job lock");
        j.epoch = trainer.epochs_done();
        j.checkpoint_sha256 = Some(csha);
        j.losses_sha256 = Some(lsha);
        j.elapsed_seconds = elapsed;
        storage.save(Kind::Job, &job.id, &*j)?;
        tracing::info!(job = %job.id, epoch = j.epoch, "epoch done");
    }
    // Save the trained weights to the model.
    let mut record: ModelRecord = storage.load(Kind::Model, &job.model_id)?;
    let trained_epochs = job.base_epochs + job.config.epochs;
    let basis = x_basis(&x);
    let metadata = serde_json::json!({
        "spec": record.spec,
        "representation": kind_name(R::KIND),
        "basis": basis,
        "trained_epochs": trained_epochs,
    });
    let bytes = params_bundle(metadata, trainer.model().parameters());
    record.weights_sha256 = Some(storage.write_file(Kind::Model, &record.id, WEIGHTS, &bytes)?);
    record.trained_epochs = trained_epochs;
    record.representation = Some(kind_name(R::KIND).to_string());
    record.basis = basis;
    storage.save(Kind::Model, &record.id.clone(), &record)?;
    Ok(())
}

/// The public compact basis of a tensor (none for matrix form).
pub fn x_basis<R: Representation<f32>>(x: &PlanarTensor<f32, R>) -> Option<[f64; 4]> {
    (x.representation() as &dyn std::any::Any)
        .downcast_ref::<more_core::tensor::Compact>()
        .map(|c| c.basis.c0)
}
