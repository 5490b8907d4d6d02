//! `train-distributed`: one training job across the ranks of an MPI world, with the data set and
//! the checkpoints in the node's object store. Each rank streams only its part of each batch
//! from the dataset's shards (`more_store::stream`), so no rank holds the whole data set.

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use more_core::nn::{Collective, Model, ModelSpec, NoObserver, SampleSource, TrainConfig, Trainer};
use more_core::tensor::{PlanarTensor, Representation};
use more_store::blobs::BlobStore;
use more_store::stream::{AnyStream, ShardStream, StreamOptions};
use more_store::weights::{
    bundle_tensors, checkpoint_bundle, decode_bundle, decode_checkpoint, decode_losses, kind_name,
    losses_blob, params_bundle,
};
use serde::{Deserialize, Serialize};

use crate::DistributedError;

/// Arguments of `more-node train-distributed` (and of the `more-train-distributed` binary).
#[derive(clap::Args, Clone, Debug)]
pub struct TrainDistributedArgs {
    /// The node's object store: `file:///dir` (shared by all nodes, e.g. NFS) or `s3://bucket`.
    #[arg(long)]
    pub store: String,
    /// SHA-256 of the features blob (a compact or matrix-form f32 ciphertext `(n, ...)`) of a
    /// one-shard dataset, as in the node's dataset record (else `--shards`).
    #[arg(long, required_unless_present = "shards", requires = "targets")]
    pub features: Option<String>,
    /// SHA-256 of the targets blob (`(n, outputs)`, same representation), with `--features`.
    #[arg(long, requires = "features")]
    pub targets: Option<String>,
    /// The dataset's shards in order, as JSON `[["features sha256", "targets sha256"], ...]`
    /// (a job's pinned shard list), instead of `--features`/`--targets`. Each rank reads only
    /// its part of each batch from them, by range reads.
    #[arg(long, conflicts_with_all = ["features", "targets"])]
    pub shards: Option<String>,
    /// MiB of decoded batches each rank reads ahead of training.
    #[arg(long, default_value_t = 64)]
    pub read_ahead_mib: u64,
    /// The architecture: a preset name (`mnist_mlp`, ...) for the data's shapes.
    #[arg(long, default_value = "mnist_mlp")]
    pub preset: String,
    /// The architecture as JSON (a node's model record's `spec`), instead of `--preset`.
    #[arg(long)]
    pub spec: Option<String>,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 5)]
    pub model_seed: u64,
    /// SHA-256 of trained weights to start from (a model trained before), instead of the seeded
    /// initial weights; they must be of the data's representation and key.
    #[arg(long)]
    pub weights: Option<String>,
    /// Epochs the model had been trained before this run (counted in the weights' metadata).
    #[arg(long, default_value_t = 0)]
    pub base_epochs: usize,
    /// The training configuration as JSON (the job API's form), e.g. `{"epochs":2,
    /// "batch_size":32,"optimizer":{"type":"sgd","learning_rate":0.05,"momentum":0.9},
    /// "loss":"cross_entropy","seed":11}`.
    #[arg(long)]
    pub config: String,
    /// SHA-256 of a checkpoint blob to resume from (written by an earlier run with any number of
    /// ranks).
    #[arg(long)]
    pub resume: Option<String>,
    /// With `--resume`: SHA-256 of the encrypted losses so far (a wire tensor `(epochs,)`, as in
    /// a node's job record); this run's losses are appended to them.
    #[arg(long, requires = "resume")]
    pub losses: Option<String>,
    /// Stop once this many epochs are done (as an interrupted job would), leaving a checkpoint.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Rank 0 writes the run's final [`Progress`] here as JSON (it also prints one line of it
    /// after every epoch and at the end).
    #[arg(long)]
    pub progress: Option<PathBuf>,
}

/// What rank 0 reports: where the checkpoint and the weights are, and the timings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Ranks of the run.
    pub ranks: usize,
    /// Epochs done (of the configuration's total).
    pub epochs_done: usize,
    /// SHA-256 of the last checkpoint blob (a `params_bundle` with `epochs_done` and `step`).
    pub checkpoint_sha256: Option<String>,
    /// SHA-256 of the encrypted mean loss of every epoch done (a wire tensor `(epochs_done,)`).
    pub losses_sha256: Option<String>,
    /// SHA-256 of the trained weights blob, once every epoch is done (same bundle as the node's
    /// trained weights).
    pub weights_sha256: Option<String>,
    /// Wall-clock seconds of each epoch this run did (rank 0, including the exchanges).
    pub epoch_seconds: Vec<f64>,
    /// Of each epoch's seconds, those rank 0 spent in the gradient all-reduces (the transfer and
    /// the wait for slower ranks).
    pub exchange_seconds: Vec<f64>,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// Values each rank contributes to one step's all-reduce: the loss and every gradient, all
    /// planes (sent as `f64`).
    pub reduce_values_per_step: usize,
    /// Bytes each rank sends per step: its buffer to each of the other ranks (all-gather),
    /// `(ranks − 1) · 8 · reduce_values_per_step` (plus the 8-byte length check per other rank).
    pub bytes_sent_per_rank_per_step: u64,
    /// Bytes of the dataset each rank (by rank) has read from the object store in this run:
    /// the shards' headers and its part of every batch.
    #[serde(default)]
    pub bytes_read_per_rank: Vec<u64>,
}

/// The ranks of this process: the MPI world with the `mpi` feature, else a single [`more_core::nn::Local`] rank.
///
/// # Errors
/// [`DistributedError::Mpi`] when MPI cannot be initialised, or when a build without the `mpi`
/// feature is launched as one of several ranks (each would train the whole job alone).
pub fn world() -> Result<Box<dyn Collective>, DistributedError> {
    #[cfg(feature = "mpi")]
    {
        Ok(Box::new(crate::Mpi::init()?))
    }
    #[cfg(not(feature = "mpi"))]
    {
        match launched_ranks() {
            Some(n) if n > 1 => Err(DistributedError::Mpi(format!(
                "launched as one of {n} ranks, but this program was built without MPI \
                 (build it with `--features mpi`)"
            ))),
            _ => Ok(Box::new(more_core::nn::Local)),
        }
    }
}

/// The world size an MPI launcher announced to this process (Open MPI's `mpirun`, or a PMI
/// launcher such as Slurm's `srun`), if any.
#[cfg(not(feature = "mpi"))]
fn launched_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
}

/// Runs (or resumes) the job on the ranks of `comm`. Every rank must call it with the same
/// arguments. Rank 0 writes the checkpoints, the weights and the progress file.
///
/// # Errors
/// A missing or malformed blob, a bad configuration, a training or exchange failure.
pub fn run(
    args: &TrainDistributedArgs,
    comm: &dyn Collective,
) -> Result<Progress, DistributedError> {
    // Multi-thread (one worker): the stream's reads block on it from the training thread, and
    // its read-ahead runs on its blocking pool.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let store = BlobStore::open(&args.store)
        .map_err(|e| DistributedError::Store(format!("object store: {e}")))?;
    let job = Job {
        args,
        comm,
        store: &store,
        runtime: &runtime,
    };
    let options = StreamOptions {
        read_ahead_bytes: args.read_ahead_mib.saturating_mul(1 << 20),
        ..StreamOptions::default()
    };
    let shards = shard_list(args)?;
    let stream = runtime.block_on(AnyStream::open(&store, runtime.handle(), &shards, &options))?;
    let progress = match stream {
        AnyStream::Compact(s) => job.train(s)?,
        AnyStream::Matrix(s) => job.train(s)?,
    };
    if comm.rank() == 0 {
        report(&progress);
        if let Some(path) = &args.progress {
            std::fs::write(
                path,
                serde_json::to_string_pretty(&progress).expect("plain data"),
            )?;
        }
    }
    Ok(progress)
}

/// The dataset's shards: `--shards`, else the one shard `--features`/`--targets`.
fn shard_list(args: &TrainDistributedArgs) -> Result<Vec<(String, String)>, DistributedError> {
    match (&args.shards, &args.features, &args.targets) {
        (Some(json), _, _) => serde_json::from_str(json)
            .map_err(|e| DistributedError::Invalid(format!("--shards: {e}"))),
        (None, Some(f), Some(t)) => Ok(vec![(f.clone(), t.clone())]),
        _ => Err(DistributedError::Invalid(
            "give --shards, or --features and --targets".into(),
        )),
    }
}

/// Every rank's bytes read, by rank (a collective call: every rank makes it).
fn bytes_read_per_rank(comm: &dyn Collective, mine: u64) -> Result<Vec<u64>, DistributedError> {
    let mut all = vec![0f64; comm.size()];
    all[comm.rank()] = mine as f64;
    comm.all_reduce_sum(&mut all)
        .map_err(more_core::nn::DataParallelError::from)?;
    Ok(all.into_iter().map(|b| b as u64).collect())
}

/// Prints `progress` as one JSON line on standard output (read by the node that launched the
/// run).
fn report(progress: &Progress) {
    println!("{}", serde_json::to_string(progress).expect("plain data"));
}

/// A world that counts the seconds spent in [`Collective::all_reduce_sum`].
struct Timed<'a> {
    inner: &'a dyn Collective,
    seconds: std::cell::Cell<f64>,
}

impl<'a> Timed<'a> {
    fn new(inner: &'a dyn Collective) -> Self {
        Timed {
            inner,
            seconds: std::cell::Cell::new(0.0),
        }
    }
}

impl Collective for Timed<'_> {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn all_reduce_sum(&self, data: &mut [f64]) -> Result<(), more_core::nn::CollectiveError> {
        let started = Instant::now();
        let outcome = self.inner.all_reduce_sum(data);
        self.seconds
            .set(self.seconds.get() + started.elapsed().as_secs_f64());
        outcome
    }
    fn broadcast(
        &self,
        data: &mut Vec<u8>,
        root: usize,
    ) -> Result<(), more_core::nn::CollectiveError> {
        self.inner.broadcast(data, root)
    }
    fn barrier(&self) -> Result<(), more_core::nn::CollectiveError> {
        self.inner.barrier()
    }
}

/// An epoch's error, with the store failure behind a failed read when there is one.
fn source_error<R: Representation<f32>>(
    source: &ShardStream<R>,
    e: more_core::nn::DataParallelError,
) -> DistributedError {
    match source.take_failure() {
        Some(store) => DistributedError::from(store),
        None => DistributedError::Train(e),
    }
}

/// One run's context.
struct Job<'a> {
    args: &'a TrainDistributedArgs,
    comm: &'a dyn Collective,
    store: &'a BlobStore,
    runtime: &'a tokio::runtime::Runtime,
}

impl Job<'_> {
    fn get(&self, sha256: &str) -> Result<Bytes, DistributedError> {
        Ok(self.runtime.block_on(self.store.get(sha256))?)
    }

    fn put(&self, bytes: Vec<u8>) -> Result<String, DistributedError> {
        Ok(self
            .runtime
            .block_on(self.store.put(Bytes::from(bytes)))?
            .sha256)
    }

    fn train<R: Representation<f32>>(
        &self,
        source: ShardStream<R>,
    ) -> Result<Progress, DistributedError> {
        let spec = self.spec(source.sample_shape(), source.outputs())?;
        let config: TrainConfig = serde_json::from_str(&self.args.config)
            .map_err(|e| DistributedError::Invalid(format!("--config: {e}")))?;
        let rep = source.representation().clone();
        let mut trainer = self.trainer(&spec, rep.clone(), config.clone())?;
        let mut losses = self.losses_so_far::<R>(trainer.epochs_done())?;
        let stop = self
            .args
            .stop_after
            .unwrap_or(config.epochs)
            .min(config.epochs);
        let mut progress = self.progress(&trainer, source.samples(), config.batch_size);
        while trainer.epochs_done() < stop {
            let started = Instant::now();
            let timed = Timed::new(self.comm);
            let loss = trainer.train_epoch_distributed_from(&source, &timed, &mut NoObserver);
            losses.push(loss.map_err(|e| source_error(&source, e))?);
            progress.epoch_seconds.push(started.elapsed().as_secs_f64());
            progress.exchange_seconds.push(timed.seconds.get());
            progress.epochs_done = trainer.epochs_done();
            progress.bytes_read_per_rank = bytes_read_per_rank(self.comm, source.bytes_read())?;
            if self.comm.rank() == 0 {
                progress.checkpoint_sha256 = Some(self.save_checkpoint(&trainer)?);
                progress.losses_sha256 = Some(self.save_losses(&losses)?);
                if trainer.epochs_done() < config.epochs {
                    report(&progress);
                }
            }
        }
        if trainer.epochs_done() == config.epochs && self.comm.rank() == 0 {
            let basis = rep.public_key().map(|key| key.c0());
            progress.weights_sha256 = Some(self.save_weights(&spec, &trainer, basis)?);
        }
        self.comm
            .barrier()
            .map_err(more_core::nn::DataParallelError::from)?;
        Ok(progress)
    }

    /// The architecture: `--spec`, else the preset for these shapes.
    fn spec(&self, sample_shape: &[usize], outputs: usize) -> Result<ModelSpec, DistributedError> {
        match &self.args.spec {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| DistributedError::Invalid(format!("--spec: {e}"))),
            None => Ok(ModelSpec::preset(&self.args.preset, sample_shape, outputs)?),
        }
    }

    /// The encrypted losses of the `epochs_done` epochs before this run (`--losses`).
    fn losses_so_far<R: Representation<f32>>(
        &self,
        epochs_done: usize,
    ) -> Result<Vec<PlanarTensor<f32, R>>, DistributedError> {
        let Some(sha) = &self.args.losses else {
            return Ok(Vec::new());
        };
        Ok(decode_losses(&self.get(sha)?, epochs_done)?)
    }

    fn trainer<R: Representation<f32>>(
        &self,
        spec: &ModelSpec,
        rep: R,
        config: TrainConfig,
    ) -> Result<Trainer<f32, R>, DistributedError> {
        let Some(sha) = &self.args.resume else {
            return Ok(Trainer::new(self.initial_model(spec, rep)?, config)?);
        };
        let checkpoint = decode_checkpoint::<R>(&self.get(sha)?)?;
        Ok(Trainer::restore(spec, rep, config, checkpoint)?)
    }

    /// The weights of `--weights`, else the seeded initial weights.
    fn initial_model<R: Representation<f32>>(
        &self,
        spec: &ModelSpec,
        rep: R,
    ) -> Result<Model<f32, R>, DistributedError> {
        let Some(sha) = &self.args.weights else {
            return Ok(Model::new(spec, rep, self.args.model_seed)?);
        };
        let named = bundle_tensors::<R>(decode_bundle(&self.get(sha)?, "weights")?)?;
        if named
            .first()
            .is_some_and(|(_, t)| t.representation() != &rep)
        {
            return Err(DistributedError::Invalid(format!(
                "weights {sha} are under another key than the data"
            )));
        }
        Ok(Model::from_parameters(spec, rep, named)?)
    }

    fn progress<R: Representation<f32>>(
        &self,
        trainer: &Trainer<f32, R>,
        samples: usize,
        batch_size: usize,
    ) -> Progress {
        let values = (1 + trainer.model().parameter_count()) * R::PLANES;
        let others = self.comm.size() as u64 - 1;
        Progress {
            ranks: self.comm.size(),
            epochs_done: trainer.epochs_done(),
            checkpoint_sha256: self.args.resume.clone(),
            losses_sha256: self.args.losses.clone(),
            weights_sha256: None,
            epoch_seconds: Vec::new(),
            exchange_seconds: Vec::new(),
            steps_per_epoch: samples.div_ceil(batch_size.max(1)),
            reduce_values_per_step: values,
            bytes_sent_per_rank_per_step: others * 8 * (values as u64 + 1),
            bytes_read_per_rank: Vec::new(),
        }
    }

    fn save_checkpoint<R: Representation<f32>>(
        &self,
        trainer: &Trainer<f32, R>,
    ) -> Result<String, DistributedError> {
        self.put(checkpoint_bundle(&trainer.checkpoint()))
    }

    fn save_losses<R: Representation<f32>>(
        &self,
        losses: &[PlanarTensor<f32, R>],
    ) -> Result<String, DistributedError> {
        self.put(losses_blob(losses)?)
    }

    fn save_weights<R: Representation<f32>>(
        &self,
        spec: &ModelSpec,
        trainer: &Trainer<f32, R>,
        basis: Option<[f64; 4]>,
    ) -> Result<String, DistributedError> {
        let metadata = serde_json::json!({
            "spec": spec,
            "representation": kind_name(R::KIND),
            "basis": basis,
            "trained_epochs": self.args.base_epochs + trainer.epochs_done(),
        });
        self.put(params_bundle(metadata, trainer.model().parameters()))
    }
}
