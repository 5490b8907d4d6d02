//! Upload a training part in shards, with resume: the part's rows are cut into shards of about
//! `shard_bytes` bytes of ciphertext, each shard is encrypted on its own (so the client holds one
//! shard's ciphertexts at a time) and appended with `POST /v1/datasets/{id}/shards?index=K` as a
//! wire bundle of two tensors, `features` `(samples, features...)` and `targets` `(samples,
//! outputs)` (`compute-node/API.md`).
//!
//! Resume is by index: before sending, the client reads the dataset's shard list and skips every
//! index the node has confirmed; a confirmed shard is never sent again. A re-encryption draws new
//! shadows, so a re-sent shard would be different bytes: the indices, not the bytes, say what is
//! done. A confirmed shard must hold the rows the plan gives its index (same part, same shard
//! size), else the upload stops with [`CliError::Data`].

use std::ops::Range;

use more_core::wire::{encode_bundle, AnyTensor, Bundle};
use more_secret_key::{SecretKey, ShadowDistribution};
use serde_json::Value;

use super::answer::id_of;
use super::bodies::CreateDataset;
use super::client::Node;
use crate::data::{Part, Task};
use crate::{crypto, CliError, DataError, Result};

/// The plaintext rows an upload encrypts: a training [`Part`], or arrays from Python.
#[derive(Clone, Copy, Debug)]
pub struct TrainingRows<'a> {
    /// Classification or regression (picks the targets' shadow).
    pub task: Task,
    /// Shape of one sample.
    pub feature_shape: &'a [usize],
    /// Row-major features, `rows × prod(feature_shape)`.
    pub x: &'a [f32],
    /// Row-major targets, `rows × target_dim`.
    pub y: &'a [f32],
    /// Target values per sample.
    pub target_dim: usize,
}

impl<'a> TrainingRows<'a> {
    /// The rows of a training part.
    pub fn of(part: &'a Part) -> Self {
        TrainingRows {
            task: part.task,
            feature_shape: &part.feature_shape,
            x: &part.x,
            y: &part.y,
            target_dim: part.target_dim,
        }
    }

    /// Values per sample.
    pub fn width(&self) -> usize {
        self.feature_shape.iter().product()
    }

    /// Samples, checked against the targets.
    ///
    /// # Errors
    /// [`CliError::Data`] when features and targets are not the same whole number of samples.
    pub fn rows(&self) -> Result<usize> {
        let (w, t) = (self.width(), self.target_dim);
        let rows = self.x.len().checked_div(w).unwrap_or(0);
        if w == 0 || t == 0 || rows * w != self.x.len() || rows * t != self.y.len() || rows == 0 {
            return Err(DataError(format!(
                "{} feature values of shape {:?} and {} target values of width {t} are not the \
                 same samples",
                self.x.len(),
                self.feature_shape,
                self.y.len()
            ))
            .into());
        }
        Ok(rows)
    }
}

/// The default shard size: 64 MiB of ciphertext (features and targets together).
pub const DEFAULT_SHARD_BYTES: u64 = 64 << 20;

/// Bytes of one encrypted value in a shard: compact form, two `f32` planes.
const BYTES_PER_VALUE: u64 = 2 * 4;

/// How a part's rows are cut into shards: every shard holds `rows_per_shard` rows, the last
/// one the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardPlan {
    /// Rows of the part.
    pub rows: usize,
    /// Rows per shard (≥ 1).
    pub rows_per_shard: usize,
}

impl ShardPlan {
    /// The plan for `rows` rows of `width` feature values and `target_dim` target values each,
    /// shards of at most `shard_bytes` bytes of ciphertext (at least one row per shard).
    pub fn new(rows: usize, width: usize, target_dim: usize, shard_bytes: u64) -> Self {
        let row_bytes = (width + target_dim).max(1) as u64 * BYTES_PER_VALUE;
        let per = (shard_bytes / row_bytes).clamp(1, rows.max(1) as u64) as usize;
        ShardPlan {
            rows,
            rows_per_shard: per,
        }
    }

    /// Shards in the plan.
    pub fn shards(&self) -> usize {
        self.rows.div_ceil(self.rows_per_shard)
    }

    /// The rows of shard `index`.
    pub fn range(&self, index: usize) -> Range<usize> {
        let start = (index * self.rows_per_shard).min(self.rows);
        start..(start + self.rows_per_shard).min(self.rows)
    }
}

/// Where an upload in shards starts.
#[derive(Clone, Debug)]
pub enum Start {
    /// Create a new dataset with this metadata.
    Create(CreateDataset),
    /// Continue the upload of this existing dataset id.
    Resume(String),
}

/// One step of an upload, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardProgress {
    /// The shard just handled.
    pub index: usize,
    /// Shards in the plan.
    pub shards: usize,
    /// Whether the node had it already (skipped, nothing sent).
    pub skipped: bool,
    /// Bytes of this shard's request body (0 when skipped).
    pub bytes: u64,
    /// Bytes sent so far by this call, this shard included.
    pub sent: u64,
}

/// What an upload in shards did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardUpload {
    /// The dataset's id.
    pub dataset_id: String,
    /// Shards in the plan (and on the node now).
    pub shards: usize,
    /// Shards sent by this call.
    pub sent: usize,
    /// Shards the node had confirmed before this call (skipped).
    pub skipped: usize,
    /// Request-body bytes sent by this call.
    pub bytes: u64,
}

/// Settings of [`upload_sharded`].
#[derive(Clone, Debug)]
pub struct ShardOptions {
    /// Bytes of ciphertext per shard ([`DEFAULT_SHARD_BYTES`]).
    pub shard_bytes: u64,
    /// The feature shadow (for all shards: [`crypto::feature_shadow`] of the whole part).
    pub feature_shadow: ShadowDistribution,
}

/// Encrypts `part` (one shadow for all shards: [`ShardOptions::feature_shadow`]) shard by shard and appends each shard the node has not confirmed;
/// `on_dataset(id)` once the dataset id is known (created or resumed: a caller keeps it to resume
/// later), `progress` after each shard; an error from either stops the upload (a caller's cancel)
/// and is returned.
///
/// # Errors
/// [`CliError::Unreachable`], [`CliError::Rejected`] (e.g. 409 when another client appended
/// meanwhile), [`CliError::Data`] when the node's confirmed shards do not match the plan,
/// the encryption's errors.
pub fn upload_sharded(
    node: &Node,
    key: &SecretKey,
    part: &TrainingRows<'_>,
    start: Start,
    options: &ShardOptions,
    on_dataset: &mut dyn FnMut(&str) -> Result<()>,
    progress: &mut dyn FnMut(&ShardProgress) -> Result<()>,
) -> Result<ShardUpload> {
    let plan = ShardPlan::new(
        part.rows()?,
        part.width(),
        part.target_dim,
        options.shard_bytes,
    );
    let (id, confirmed) = match start {
        Start::Create(meta) => (id_of(&node.create_dataset(&meta)?)?, 0),
        Start::Resume(id) => {
            let confirmed = confirmed_shards(&node.dataset(&id)?, &plan, &id)?;
            (id, confirmed)
        }
    };
    on_dataset(&id)?;
    let shards = plan.shards();
    let mut done = ShardUpload {
        dataset_id: id.clone(),
        shards,
        sent: 0,
        skipped: confirmed,
        bytes: 0,
    };
    for index in 0..shards {
        if index < confirmed {
            let step = ShardProgress {
                index,
                shards,
                skipped: true,
                bytes: 0,
                sent: 0,
            };
            progress(&step)?;
            continue;
        }
        let body = shard_bundle(key, part, plan.range(index), &options.feature_shadow)?;
        node.append_shard(&id, index, &body)?;
        done.sent += 1;
        done.bytes += body.len() as u64;
        progress(&ShardProgress {
            index,
            shards,
            skipped: false,
            bytes: body.len() as u64,
            sent: done.bytes,
        })?;
    }
    Ok(done)
}

/// How many leading shards of `plan` the dataset record `ds` holds, after checking that each
/// holds the rows the plan gives its index.
///
/// # Errors
/// [`CliError::Data`] for a record whose shards do not follow the plan.
pub fn confirmed_shards(ds: &Value, plan: &ShardPlan, id: &str) -> Result<usize> {
    let list = ds["shards"].as_array().cloned().unwrap_or_default();
    if list.len() > plan.shards() {
        return Err(mismatch(id, list.len(), plan));
    }
    for (i, shard) in list.iter().enumerate() {
        let samples = shard["samples"].as_u64().unwrap_or(0) as usize;
        if shard["index"].as_u64() != Some(i as u64) || samples != plan.range(i).len() {
            return Err(mismatch(id, list.len(), plan));
        }
    }
    Ok(list.len())
}

fn mismatch(id: &str, confirmed: usize, plan: &ShardPlan) -> CliError {
    DataError(format!(
        "dataset {id} has {confirmed} shard(s) that do not match this upload ({} rows, {} rows \
         per shard, {} shards): resume with the same data and shard size, or start a new upload",
        plan.rows,
        plan.rows_per_shard,
        plan.shards()
    ))
    .into()
}

/// The request body of one shard: rows `rows` of `part` encrypted (features with `shadow`,
/// targets with the task's target shadow) into a bundle of `features` and `targets`.
///
/// # Errors
/// The encryption's errors.
pub fn shard_bundle(
    key: &SecretKey,
    part: &TrainingRows<'_>,
    rows: Range<usize>,
    shadow: &ShadowDistribution,
) -> Result<Vec<u8>> {
    let (w, t) = (part.width(), part.target_dim);
    let mut shape = vec![rows.len()];
    shape.extend(part.feature_shape);
    let x = &part.x[rows.start * w..rows.end * w];
    let features = crypto::encrypt_tensor(key, x, &shape, shadow, |_, _| {})?;
    let y = &part.y[rows.start * t..rows.end * t];
    let target_shadow = crypto::target_shadow(part.task);
    let targets = crypto::encrypt_tensor(key, y, &[rows.len(), t], &target_shadow, |_, _| {})?;
    let bundle = Bundle {
        metadata: Value::Object(Default::default()),
        tensors: vec![
            ("features".into(), AnyTensor::CompactF32(features)),
            ("targets".into(), AnyTensor::CompactF32(targets)),
        ],
    };
    Ok(encode_bundle(&bundle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_cuts_rows_into_shards_of_the_byte_budget() {
        // 10 features + 2 targets = 12 values, 96 bytes of ciphertext per row.
        let plan = ShardPlan::new(1000, 10, 2, 96 * 300);
        assert_eq!(plan.rows_per_shard, 300);
        assert_eq!(plan.shards(), 4);
        assert_eq!(plan.range(0), 0..300);
        assert_eq!(plan.range(3), 900..1000);
        let total: usize = (0..plan.shards()).map(|k| plan.range(k).len()).sum();
        assert_eq!(total, 1000);
        // A budget below one row still sends one row per shard; a huge one, one shard.
        assert_eq!(ShardPlan::new(5, 10, 2, 1).rows_per_shard, 1);
        assert_eq!(ShardPlan::new(5, 10, 2, u64::MAX).shards(), 1);
    }

    #[test]
    fn confirmed_shards_must_follow_the_plan() {
        let plan = ShardPlan::new(1000, 10, 2, 96 * 300);
        let ds = |samples: &[u64]| {
            let list: Vec<Value> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| serde_json::json!({"index": i, "samples": s}))
                .collect();
            serde_json::json!({ "shards": list })
        };
        assert_eq!(confirmed_shards(&ds(&[]), &plan, "d").unwrap(), 0);
        assert_eq!(confirmed_shards(&ds(&[300, 300]), &plan, "d").unwrap(), 2);
        // Another shard size, or more shards than the plan: not this upload.
        assert!(confirmed_shards(&ds(&[250]), &plan, "d").is_err());
        assert!(confirmed_shards(&ds(&[300, 300, 300, 100, 1]), &plan, "d").is_err());
    }
}
