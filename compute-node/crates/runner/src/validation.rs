//! A job's validation set: after each epoch the model's mean loss over the job's pinned
//! validation dataset (`more_core::nn::validation_loss`: forward only, the training loss), kept
//! encrypted as a blob beside the training losses. The node never reads it: the key holder
//! decrypts it and decides (early stopping, the learning rate) by cancelling or creating jobs.
//!
//! The blob is stored and named in the live record before the epoch's row is saved
//! (`train::record_epoch` writes the live record), so a saved row names validation losses for at
//! least its epochs; a resumed job reads the first `epochs_done` of them back.

use bytes::Bytes;
use more_core::nn::{validation_loss, Trainer};
use more_core::tensor::{PlanarTensor, Representation};
use more_core::wire;
use more_store::records::Job;
use more_store::weights::{decode_losses, losses_blob, storage_limits};

use super::train::{Context, Stop};
use super::JobHandle;
use crate::error::{JobError, JobResult};

/// The validation set of a running job and its losses so far (nothing for a job without one).
pub(super) struct Validation<R> {
    set: Option<Set<R>>,
}

/// The validation tensors and the encrypted loss after each epoch done.
struct Set<R> {
    x: PlanarTensor<f32, R>,
    y: PlanarTensor<f32, R>,
    losses: Vec<PlanarTensor<f32, R>>,
}

impl<R: Representation<f32>> Validation<R> {
    /// Reads the job's pinned validation set (in the training data's representation `rep`) and
    /// the validation losses of its first `epochs_done` epochs.
    ///
    /// # Errors
    /// [`JobError::Data`] when the stored validation tensors are not of the training data's
    /// representation and key; store errors.
    pub(super) fn load(cx: &Context, job: &Job, rep: &R, epochs_done: usize) -> JobResult<Self> {
        let (Some(fsha), Some(tsha)) = (
            &job.validation_features_sha256,
            &job.validation_targets_sha256,
        ) else {
            return Ok(Validation { set: None });
        };
        let x = read(cx, fsha, "validation features", rep)?;
        let y = read(cx, tsha, "validation targets", rep)?;
        let losses = match &job.validation_losses_sha256 {
            Some(sha) if epochs_done > 0 => {
                let bytes = cx.retry("read the validation losses", || cx.blobs.get(sha))?;
                decode_losses(&bytes, epochs_done)?
            }
            _ => Vec::new(),
        };
        Ok(Validation {
            set: Some(Set { x, y, losses }),
        })
    }

    /// After an epoch: the validation loss of the trainer's model, appended, stored as a blob
    /// `(epochs_done,)` and named in the live record (saved with the epoch's row).
    ///
    /// # Errors
    /// An engine error of the forward pass; a store error.
    pub(super) fn after_epoch(
        &mut self,
        cx: &Context,
        handle: &JobHandle,
        trainer: &Trainer<f32, R>,
    ) -> Result<(), Stop> {
        let Some(set) = &mut self.set else {
            return Ok(());
        };
        let config = trainer.config();
        let loss = validation_loss(
            trainer.model(),
            config.loss,
            &set.x,
            &set.y,
            config.batch_size,
        )?;
        set.losses.push(loss);
        let bytes = Bytes::from(losses_blob(&set.losses)?);
        let blob = cx.retry("store the validation losses", || {
            cx.blobs.put(bytes.clone())
        })?;
        handle
            .job
            .lock()
            .expect("job lock")
            .validation_losses_sha256 = Some(blob.sha256);
        Ok(())
    }
}

/// A stored validation tensor, which must be of representation `rep` (the same key as the
/// training data).
fn read<R: Representation<f32>>(
    cx: &Context,
    sha: &str,
    what: &str,
    rep: &R,
) -> JobResult<PlanarTensor<f32, R>> {
    let bytes = cx.retry("read the validation dataset", || cx.blobs.get(sha))?;
    let t: PlanarTensor<f32, R> = wire::decode(&bytes, &storage_limits())
        .and_then(|t| t.into_typed())
        .map_err(|e| JobError::Data(format!("stored {what}: {e}")))?;
    if t.representation() != rep {
        return Err(JobError::Data(format!(
            "stored {what} are under another key than the training data"
        )));
    }
    Ok(t)
}
