//! On-disk storage of datasets, models and jobs.
//!
//! Layout under the data directory:
//!
//! ```text
//! datasets/{id}/meta.json         Dataset record (JSON), with the SHA-256 of each tensor file
//! datasets/{id}/features.more     wire tensor (samples, ...), compact or matrix form, f32
//! datasets/{id}/targets.more      wire tensor (samples, outputs)
//! models/{id}/model.json          Model record (spec, seed, trained representation, checksum)
//! models/{id}/weights.bundle      wire bundle of the trained (encrypted) parameters
//! jobs/{id}/job.json              Job record (config, state, progress, checksums)
//! jobs/{id}/checkpoint.bundle     wire bundle: model parameters and optimizer state after the
//!                                 last completed epoch (Trainer::checkpoint)
//! jobs/{id}/losses.more           wire tensor (epochs_done,): encrypted mean loss per epoch
//! tmp/                            uploads in progress (emptied at startup)
//! ```
//!
//! Every file is written atomically: a temporary file in the same directory, `fsync`, `rename`,
//! then `fsync` of the directory. Tensor files carry a SHA-256 checksum in their record, checked on
//! every read: a mismatch is reported as `500 internal` naming the file, never silently used.
//! Ids are 32 lowercase hex digits; anything else is "not found" (no path traversal).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};

/// Kind of a stored object (one directory each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `datasets/`.
    Dataset,
    /// `models/`.
    Model,
    /// `jobs/`.
    Job,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Dataset => "datasets",
            Kind::Model => "models",
            Kind::Job => "jobs",
        }
    }
    /// The word for messages.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Dataset => "dataset",
            Kind::Model => "model",
            Kind::Job => "job",
        }
    }
    fn record(self) -> &'static str {
        match self {
            Kind::Dataset => "meta.json",
            Kind::Model => "model.json",
            Kind::Job => "job.json",
        }
    }
}

/// The data directory.
#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
}

/// A fresh random id (128 bits, hex).
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

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn fsync_dir(dir: &Path) {
    // Directory fsync is not supported everywhere; the rename is still atomic.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("file in a directory");
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        new_id()
    ));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    fsync_dir(dir);
    Ok(())
}

impl Storage {
    /// Opens (creating) the data directory; empties `tmp/`.
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        for d in ["datasets", "models", "jobs"] {
            fs::create_dir_all(root.join(d))?;
        }
        let tmp = root.join("tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        Ok(Storage {
            root: root.to_path_buf(),
        })
    }

    /// Directory for uploads in progress.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The directory of an object, if the id is well-formed (it may not exist).
    pub fn dir(&self, kind: Kind, id: &str) -> ApiResult<PathBuf> {
        if !valid_id(id) {
            return Err(ApiError::not_found(kind.word(), id));
        }
        Ok(self.root.join(kind.dir()).join(id))
    }

    /// A file of an object.
    pub fn file(&self, kind: Kind, id: &str, name: &str) -> ApiResult<PathBuf> {
        Ok(self.dir(kind, id)?.join(name))
    }

    /// Creates an object's directory and writes its record.
    pub fn create<T: Serialize>(&self, kind: Kind, id: &str, record: &T) -> ApiResult<()> {
        let dir = self.dir(kind, id)?;
        fs::create_dir_all(&dir)?;
        self.save(kind, id, record)
    }

    /// Writes an object's record atomically.
    pub fn save<T: Serialize>(&self, kind: Kind, id: &str, record: &T) -> ApiResult<()> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| ApiError::internal(format!("serialise {}: {e}", kind.word())))?;
        write_atomic(&self.file(kind, id, kind.record())?, &bytes)?;
        Ok(())
    }

    /// Reads an object's record (404 when absent, 500 when unreadable).
    pub fn load<T: DeserializeOwned>(&self, kind: Kind, id: &str) -> ApiResult<T> {
        let path = self.file(kind, id, kind.record())?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found(kind.word(), id))
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("corrupt record {}: {e}", path.display())))
    }

    /// Every record of a kind, oldest first (unreadable ones are logged and skipped).
    pub fn list<T: DeserializeOwned>(&self, kind: Kind) -> ApiResult<Vec<T>> {
        let mut out = Vec::new();
        let mut ids: Vec<(std::time::SystemTime, String)> = Vec::new();
        for entry in fs::read_dir(self.root.join(kind.dir()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if valid_id(&name) && entry.path().join(kind.record()).exists() {
                let t = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                ids.push((t, name));
            }
        }
        ids.sort();
        for (_, id) in ids {
            match self.load(kind, &id) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(%id, error = %e, "skipping unreadable record"),
            }
        }
        Ok(out)
    }

    /// Removes an object and its files.
    pub fn delete(&self, kind: Kind, id: &str) -> ApiResult<()> {
        let dir = self.dir(kind, id)?;
        if !dir.join(kind.record()).exists() {
            return Err(ApiError::not_found(kind.word(), id));
        }
        fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// Writes a data file atomically; returns its SHA-256.
    pub fn write_file(&self, kind: Kind, id: &str, name: &str, bytes: &[u8]) -> ApiResult<String> {
        write_atomic(&self.file(kind, id, name)?, bytes)?;
        Ok(sha256_hex(bytes))
    }

    /// Reads a data file and verifies its SHA-256 against the record's (500 `internal` if the
    /// file is missing or corrupt).
    pub fn read_verified(
        &self,
        kind: Kind,
        id: &str,
        name: &str,
        sha256: &str,
    ) -> ApiResult<Vec<u8>> {
        let path = self.file(kind, id, name)?;
        let bytes = fs::read(&path)
            .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", path.display())))?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(ApiError::internal(format!(
                "stored file {} is corrupt: SHA-256 {actual} differs from the recorded {sha256}",
                path.display()
            )));
        }
        Ok(bytes)
    }
}

/// Classification or regression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One-hot targets, cross-entropy by default.
    Classification,
    /// Real targets, MSE by default.
    Regression,
}

/// `created` until both tensors are uploaded, then `ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetState {
    /// Missing features or targets.
    Created,
    /// Both uploaded and consistent.
    Ready,
}

/// A dataset record (`datasets/{id}/meta.json`, and the API's Dataset object).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// SHA-256 of `features.more`.
    pub features_sha256: Option<String>,
    /// SHA-256 of `targets.more`.
    pub targets_sha256: Option<String>,
    /// Bytes of `features.more`.
    pub features_bytes: Option<u64>,
    /// Bytes of `targets.more`.
    pub targets_bytes: Option<u64>,
}

/// A model record (`models/{id}/model.json`, and the API's Model object).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// SHA-256 of `weights.bundle`.
    pub weights_sha256: Option<String>,
    /// Output shape per sample.
    pub output_shape: Vec<usize>,
    /// Unix seconds.
    pub created_at: u64,
}

/// A job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The node stopped while the job was queued or running; resumable.
    Interrupted,
}

impl JobState {
    /// Queued or running.
    pub fn active(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A job record (`jobs/{id}/job.json`, and the API's Job object).
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The model's `trained_epochs` when the job started.
    pub base_epochs: usize,
    /// Unix seconds.
    pub created_at: u64,
    /// SHA-256 of `checkpoint.bundle` (after the last completed epoch).
    pub checkpoint_sha256: Option<String>,
    /// SHA-256 of `losses.more`.
    pub losses_sha256: Option<String>,
}
