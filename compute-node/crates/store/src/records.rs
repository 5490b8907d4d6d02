//! The API's objects, stored as rows of the metadata database (`crate::db`): datasets, models
//! and jobs. Their ciphertexts are blobs in the object store (`crate::blobs`), named by SHA-256.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A fresh random id (128 bits, 32 lowercase hex digits).
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Whether `id` is a well-formed id (anything else is "not found").
pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Classification or regression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One-hot targets, cross-entropy by default.
    Classification,
    /// Real targets, MSE by default.
    Regression,
}

/// `created` until both tensors are uploaded, then `ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetState {
    /// Missing features or targets.
    Created,
    /// Both uploaded and consistent.
    Ready,
}

/// A dataset (a row of `datasets`, and the API's Dataset object).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Dataset {
    /// Id.
    pub id: String,
    /// Free text.
    pub name: String,
    /// Classification or regression.
    pub task: Task,
    /// Number of classes (classification).
    pub num_classes: Option<usize>,
    /// Samples (from the features, else the targets).
    pub samples: Option<usize>,
    /// Features' shape without the sample axis.
    pub feature_shape: Option<Vec<usize>>,
    /// Targets' shape without the sample axis.
    pub target_shape: Option<Vec<usize>>,
    /// `compact` or `matrix` (of the first uploaded tensor).
    pub representation: Option<String>,
    /// The public compact basis `C0` (compact datasets).
    pub basis: Option<[f64; 4]>,
    /// `created` or `ready`.
    pub state: DatasetState,
    /// Unix seconds.
    pub created_at: u64,
    /// SHA-256 of the features blob (wire tensor `(samples, ...)`).
    pub features_sha256: Option<String>,
    /// SHA-256 of the targets blob (wire tensor `(samples, outputs)`).
    pub targets_sha256: Option<String>,
    /// Bytes of the features blob.
    pub features_bytes: Option<u64>,
    /// Bytes of the targets blob.
    pub targets_bytes: Option<u64>,
    /// The shards, in order (index 0, 1, ...): appended by `POST …/shards`, or the one shard of
    /// `PUT …/features` + `PUT …/targets`. Records stored before shards existed have none and
    /// read as one shard of their features and targets ([`Dataset::with_shards`]).
    #[serde(default)]
    pub shards: Vec<Shard>,
}

/// One immutable, content-addressed part of a dataset: `samples` rows of features and targets,
/// stored as two wire-tensor blobs (`(samples, features...)` and `(samples, outputs)`), so that a
/// row sits at a computable byte offset of each (`shared/WIRE_FORMAT.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shard {
    /// Position in the dataset, from 0.
    pub index: usize,
    /// Samples (rows) in this shard, ≥ 1.
    pub samples: usize,
    /// SHA-256 of the features blob (wire tensor `(samples, features...)`).
    pub features_sha256: String,
    /// SHA-256 of the targets blob (wire tensor `(samples, outputs)`).
    pub targets_sha256: String,
    /// Bytes of both blobs together.
    pub bytes: u64,
}

impl Dataset {
    /// The record with its shard list filled in: a record stored before shards existed, with
    /// both blobs, is one shard of them (no data is lost; nothing is rewritten in the database).
    pub fn with_shards(mut self) -> Self {
        if self.shards.is_empty() {
            self.shards.extend(self.legacy_shard());
        }
        self
    }

    /// The one shard of `features_sha256`/`targets_sha256` when both are there.
    pub fn legacy_shard(&self) -> Option<Shard> {
        Some(Shard {
            index: 0,
            samples: self.samples?,
            features_sha256: self.features_sha256.clone()?,
            targets_sha256: self.targets_sha256.clone()?,
            bytes: self.features_bytes.unwrap_or(0) + self.targets_bytes.unwrap_or(0),
        })
    }

    /// Samples over every shard.
    pub fn shard_samples(&self) -> usize {
        self.shards.iter().map(|s| s.samples).sum()
    }
}

/// A model (a row of `models`, and the API's Model object).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Model)]
pub struct ModelRecord {
    /// Id.
    pub id: String,
    /// Free text.
    pub name: String,
    /// The architecture.
    pub spec: more_core::nn::ModelSpec,
    /// The preset it was made from, if any.
    pub preset: Option<String>,
    /// Number of real parameters.
    pub parameters: usize,
    /// Seed of the initial weights.
    pub seed: u64,
    /// Epochs trained so far (over all completed jobs).
    pub trained_epochs: usize,
    /// Representation of the trained weights (`compact`/`matrix`), none before training.
    pub representation: Option<String>,
    /// Compact basis of the trained weights.
    pub basis: Option<[f64; 4]>,
    /// SHA-256 of the trained weights blob (wire bundle).
    pub weights_sha256: Option<String>,
    /// SHA-256 of the public initial weights blob (a plaintext wire bundle, what
    /// `GET /v1/models/{id}/weights` serves before training), stored when the model is created.
    /// Absent on models created before the node stored them: built, stored and recorded at the
    /// first request that needs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_weights_sha256: Option<String>,
    /// Output shape per sample.
    pub output_shape: Vec<usize>,
    /// Unix seconds.
    pub created_at: u64,
}

/// A job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the trainer.
    Queued,
    /// Training.
    Running,
    /// All epochs done, weights saved to the model.
    Completed,
    /// Stopped by an error (see `error`).
    Failed,
    /// Stopped on request.
    Cancelled,
    /// The node was stopped (gracefully) while the job ran; resumable. A node that dies instead
    /// leaves the job `running` until another node takes it over.
    Interrupted,
}

impl JobState {
    /// Queued or running.
    pub fn active(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }

    /// The name stored in the `state` column (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    /// Parses a `state` column.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// Jobs recorded before MPI jobs existed ran in their node's process.
fn one_rank() -> usize {
    1
}

/// A job (a row of `jobs`, and the API's Job object).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// Id.
    pub id: String,
    /// The model trained.
    pub model_id: String,
    /// The dataset trained on.
    pub dataset_id: String,
    /// State.
    pub state: JobState,
    /// Epochs completed.
    pub epoch: usize,
    /// Epochs requested.
    pub epochs: usize,
    /// Batches done in the current epoch.
    pub batches_done: usize,
    /// Batches per epoch.
    pub batches_total: usize,
    /// Training time so far (over every run of the job).
    pub elapsed_seconds: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Hyper-parameters.
    pub config: more_core::nn::TrainConfig,
    /// MPI ranks training the job data-parallel (1: in the node's own process; more: launched
    /// as an MPI job by a node started with `--mpi-max-ranks`).
    #[serde(default = "one_rank")]
    pub ranks: usize,
    /// The model's `trained_epochs` when the job started.
    pub base_epochs: usize,
    /// Unix seconds.
    pub created_at: u64,
    /// The node running it (while `running`).
    #[serde(default)]
    pub node: Option<String>,
    /// SHA-256 of the dataset's features when the job was created (the job trains on these).
    pub features_sha256: String,
    /// SHA-256 of the dataset's targets when the job was created.
    pub targets_sha256: String,
    /// The dataset's shards when the job was created: the job trains on exactly these, whatever
    /// is appended later. Empty for jobs created before shards existed: those train on the one
    /// shard `features_sha256`/`targets_sha256` (which name shard 0 otherwise).
    #[serde(default)]
    pub shards: Vec<Shard>,
    /// SHA-256 of the checkpoint blob (wire bundle: parameters and optimizer state after the last
    /// completed epoch).
    pub checkpoint_sha256: Option<String>,
    /// SHA-256 of the losses blob (wire tensor `(epochs_done,)` of encrypted mean losses).
    pub losses_sha256: Option<String>,
    /// The validation dataset, when the job was created with one (same key basis and shapes as
    /// the training dataset; its blobs are pinned below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_dataset_id: Option<String>,
    /// SHA-256 of the validation dataset's features when the job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_features_sha256: Option<String>,
    /// SHA-256 of the validation dataset's targets when the job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_targets_sha256: Option<String>,
    /// SHA-256 of the validation losses blob (wire tensor `(epochs_done,)`: the encrypted mean
    /// loss of the model over the validation dataset after each epoch; only the key holder reads
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_losses_sha256: Option<String>,
    /// Set when the key holder kept the weights of a stopped job (`POST /v1/jobs/{id}/keep`):
    /// the epochs the model was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_epochs: Option<usize>,
    /// Bytes of the dataset each rank of the job (by rank; one for a job the node trains
    /// itself) read from the object store while streaming it from its shards, in the current
    /// run; empty when the dataset was loaded into memory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_bytes_read: Vec<u64>,
}

impl Job {
    /// The (features, targets) blob SHA-256 of every shard the job trains on, in order: its
    /// pinned [`Job::shards`], or for a job created before shards existed its one pair.
    pub fn pinned_shards(&self) -> Vec<(String, String)> {
        if self.shards.is_empty() {
            return vec![(self.features_sha256.clone(), self.targets_sha256.clone())];
        }
        self.shards
            .iter()
            .map(|s| (s.features_sha256.clone(), s.targets_sha256.clone()))
            .collect()
    }

    /// The blobs of the validation set and its losses (none without a validation dataset).
    pub fn validation_blobs(&self) -> Vec<String> {
        [
            &self.validation_features_sha256,
            &self.validation_targets_sha256,
            &self.validation_losses_sha256,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}
