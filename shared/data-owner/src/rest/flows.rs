//! What a data owner does with the node, step by step, once for the command line and Python
//! (the page does the same steps in its modules): name the dataset (the upload itself, in shards
//! with resume, is [`super::shards`]), create a model, train it and follow the job with decrypted
//! losses, predict on encrypted rows.

use std::time::Duration;

use more_secret_key::{SecretKey, ShadowDistribution};
use serde_json::Value;

use super::answer::id_of;
use super::bodies::{CreateDataset, CreateModel};
use super::client::Node;
use crate::data::Task;
use crate::decrypt::decrypt_wire;
use crate::{crypto, presets, CliError, DataError, Result};

/// Rows per predict request (the node accepts at most 4096).
pub const PREDICT_BATCH: usize = 1024;

/// The metadata of a data set of `task` with `target_dim` target values per sample.
pub fn dataset_meta(name: &str, task: Task, target_dim: usize) -> CreateDataset {
    CreateDataset {
        name: name.to_string(),
        task: task.as_str().to_string(),
        num_classes: (task == Task::Classification).then_some(target_dim),
    }
}

/// Which model to create: for a data set (shapes and the page's preset from its record), or
/// with explicit shapes.
#[derive(Clone, Debug, Default)]
pub struct ModelChoice {
    /// The data set it is for (must be ready when given).
    pub dataset_id: Option<String>,
    /// The preset; the page's choice ([`presets::default_preset`]) when absent.
    pub preset: Option<String>,
    /// The shape of one sample; the data set's when absent.
    pub input_shape: Option<Vec<usize>>,
    /// Outputs per sample; the data set's target width when absent.
    pub outputs: Option<usize>,
    /// Seed of the initial weights.
    pub seed: u64,
    /// The name; "`<data set name> <preset>`" when absent.
    pub name: Option<String>,
}

/// The `POST /v1/models` body of `choice`, reading the data set's record when one is named.
///
/// # Errors
/// [`CliError::Rejected`] (409 `conflict`) for a data set that is not ready, [`CliError::Data`]
/// when shapes are neither given nor known, and the errors of the calls.
pub fn model_body(node: &Node, choice: &ModelChoice) -> Result<CreateModel> {
    let ds = match &choice.dataset_id {
        Some(id) => ready_dataset(node, id)?,
        None => Value::Null,
    };
    let input_shape = match &choice.input_shape {
        Some(s) => Some(s.clone()),
        None => serde_json::from_value(ds["feature_shape"].clone()).ok(),
    };
    let outputs = choice.outputs.or_else(|| {
        let last = ds["target_shape"]
            .as_array()
            .and_then(|s| s.last().cloned());
        last.and_then(|v| v.as_u64()).map(|v| v as usize)
    });
    let (Some(input_shape), Some(outputs)) = (input_shape, outputs) else {
        return Err(DataError(
            "a model needs a ready data set, or an input shape and outputs".into(),
        )
        .into());
    };
    let task = ds["task"].as_str().unwrap_or("classification");
    let preset = choice
        .preset
        .clone()
        .unwrap_or_else(|| presets::default_preset(task, &input_shape).to_string());
    let name = choice
        .name
        .clone()
        .unwrap_or_else(|| format!("{} {preset}", ds["name"].as_str().unwrap_or("dataset")));
    Ok(CreateModel {
        name,
        preset,
        input_shape,
        outputs,
        seed: choice.seed,
    })
}

fn ready_dataset(node: &Node, id: &str) -> Result<Value> {
    let ds = node.dataset(id)?;
    if ds["state"] != "ready" {
        return Err(CliError::Rejected {
            status: 409,
            code: "conflict".into(),
            message: format!("dataset {id} is not ready (state {})", ds["state"]),
        });
    }
    Ok(ds)
}

/// Creates the model of `choice`; its id.
///
/// # Errors
/// Those of [`model_body`] and of the call.
pub fn create_model(node: &Node, choice: &ModelChoice) -> Result<String> {
    id_of(&node.create_model(&model_body(node, choice)?)?)
}

/// A training job's state as [`JobFollower::poll`] sees it.
#[derive(Clone, Debug)]
pub struct JobProgress {
    /// The node's record of the job (`GET /v1/jobs/{id}`).
    pub record: Value,
    /// `queued`, `running`, `completed`, `failed`, `cancelled` or `interrupted`.
    pub state: String,
    /// Epochs completed.
    pub epoch: u64,
    /// Epochs asked for.
    pub epochs: u64,
    /// The job's progress, 0..=1 (1 when completed).
    pub fraction: f64,
    /// Whether the job has ended.
    pub finished: bool,
    /// The decrypted per-epoch mean losses so far (empty without a key).
    pub losses: Vec<f32>,
}

impl JobProgress {
    /// `Err(`[`CliError::Job`]`)` for a job that ended failed, cancelled or interrupted.
    ///
    /// # Errors
    /// As said.
    pub fn outcome(&self, job: &str) -> Result<()> {
        match self.state.as_str() {
            "failed" | "cancelled" | "interrupted" => Err(CliError::Job(format!(
                "{job} {}{}",
                self.state,
                self.record["error"]
                    .as_str()
                    .map_or_else(String::new, |e| format!(": {e}"))
            ))),
            _ => Ok(()),
        }
    }
}

/// Follows a training job: each [`JobFollower::poll`] reads its record and, with a key, the
/// decrypted losses when an epoch has ended since the last poll.
#[derive(Clone, Debug)]
pub struct JobFollower {
    job: String,
    losses: Vec<f32>,
    seen_epoch: u64,
}

impl JobFollower {
    /// A follower of job `job`.
    pub fn new(job: &str) -> Self {
        JobFollower {
            job: job.to_string(),
            losses: Vec::new(),
            seen_epoch: 0,
        }
    }

    /// The job's id.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// One look at the job.
    ///
    /// # Errors
    /// The calls' errors; [`CliError::Decrypt`] for losses that do not decrypt under `key`.
    pub fn poll(&mut self, node: &Node, key: Option<&SecretKey>) -> Result<JobProgress> {
        let j = node.job(&self.job)?;
        let state = j["state"].as_str().unwrap_or("unknown").to_string();
        let (epoch, epochs) = (
            j["epoch"].as_u64().unwrap_or(0),
            j["epochs"].as_u64().unwrap_or(0),
        );
        let finished = matches!(
            state.as_str(),
            "completed" | "failed" | "cancelled" | "interrupted"
        );
        let behind = epoch > self.seen_epoch
            || (finished && epoch > 0 && self.losses.len() < epoch as usize);
        if let (Some(k), true) = (key, behind) {
            self.losses = losses_with_retry(node, &self.job, k)?;
            self.seen_epoch = epoch;
        }
        let total = j["batches_total"].as_u64().unwrap_or(0).max(1);
        let done = j["batches_done"].as_u64().unwrap_or(0);
        let fraction = if state == "completed" {
            1.0
        } else if epochs == 0 {
            0.0
        } else {
            (epoch as f64 + done as f64 / total as f64) / epochs as f64
        };
        Ok(JobProgress {
            record: j,
            state,
            epoch,
            epochs,
            fraction,
            finished,
            losses: self.losses.clone(),
        })
    }
}

/// The decrypted per-epoch losses of `job`.
///
/// # Errors
/// The call's errors, [`CliError::Decrypt`].
pub fn losses(node: &Node, job: &str, key: &SecretKey) -> Result<Vec<f32>> {
    let bytes = node.losses(job)?;
    Ok(decrypt_wire(key, &bytes)?
        .into_f32()
        .iter()
        .copied()
        .collect())
}

/// [`losses`], tried up to five times 300 ms apart (the losses file may be rewritten while an
/// epoch ends); a decryption failure is not retried.
fn losses_with_retry(node: &Node, job: &str, key: &SecretKey) -> Result<Vec<f32>> {
    let mut attempt = 0;
    loop {
        match losses(node, job, key) {
            Ok(l) => return Ok(l),
            Err(e @ CliError::Decrypt(_)) => return Err(e),
            Err(e) if attempt >= 4 => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
        attempt += 1;
    }
}

/// Decrypted predictions: `rows × outputs` values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// Samples predicted.
    pub rows: usize,
    /// Outputs per sample.
    pub outputs: usize,
    /// The decrypted outputs (logits for classification).
    pub values: Vec<f32>,
}

/// Encrypts `x` (`rows × product(sample_shape)` f32, row-major) under `key` in batches of
/// [`PREDICT_BATCH`] rows, predicts each on the node, decrypts the outputs;
/// `progress(done_rows, rows)` after each batch.
///
/// # Errors
/// [`CliError::Data`] when `x` is not whole samples, the calls' errors, [`CliError::Decrypt`].
pub fn predict(
    node: &Node,
    key: &SecretKey,
    model_id: &str,
    x: &[f32],
    sample_shape: &[usize],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Predictions> {
    let width: usize = sample_shape.iter().product();
    if width == 0 || !x.len().is_multiple_of(width) {
        return Err(DataError(format!(
            "{} values are not whole samples of shape {sample_shape:?}",
            x.len()
        ))
        .into());
    }
    let rows = x.len() / width;
    let shadow = ShadowDistribution::Gaussian { std: 0.1 };
    let mut out = Predictions {
        rows,
        outputs: 0,
        values: Vec::new(),
    };
    for start in (0..rows).step_by(PREDICT_BATCH) {
        let n = PREDICT_BATCH.min(rows - start);
        let mut shape = vec![n];
        shape.extend(sample_shape);
        let batch = &x[start * width..(start + n) * width];
        let enc = crypto::encrypt_rows(key, batch, &shape, &shadow, |_, _| {})?;
        let y = decrypt_wire(key, &node.predict(model_id, &enc)?)?.into_f32();
        out.outputs = y.len() / n;
        out.values.extend(y.iter().copied());
        progress(start + n, rows);
    }
    Ok(out)
}

/// `model_id` on every sample of the stored dataset `dataset_id` (the node streams it from its
/// shards; nothing is uploaded), decrypted with `key`: the dataset's own key.
///
/// # Errors
/// The call's errors (400 `basis_mismatch` when the dataset is not of the model's key), and
/// [`CliError::Decrypt`].
pub fn predict_dataset(
    node: &Node,
    key: &SecretKey,
    model_id: &str,
    dataset_id: &str,
) -> Result<Predictions> {
    let y = decrypt_wire(key, &node.predict_dataset(model_id, dataset_id)?)?.into_f32();
    let rows = y.shape().first().copied().unwrap_or(0);
    Ok(Predictions {
        rows,
        outputs: y.len().checked_div(rows).unwrap_or(0),
        values: y.iter().copied().collect(),
    })
}

/// A model's weights: decrypted into safetensors with `key`, else the encrypted bundle.
///
/// # Errors
/// The call's errors, [`CliError::Decrypt`].
pub fn weights(node: &Node, model_id: &str, key: Option<&SecretKey>) -> Result<Vec<u8>> {
    let bundle = node.weights(model_id)?;
    match key {
        Some(k) => crate::decrypt::decrypt_model(k, &bundle),
        None => Ok(bundle),
    }
}
