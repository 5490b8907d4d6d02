//! Trained weights and checkpoints as wire bundles: encoding, decoding, and building a model from
//! them.

use more_core::nn::{Checkpoint, Model, ModelSpec};
use more_core::tensor::{Plain, PlanarTensor, Representation, RepresentationKind};
use more_core::wire::{self, AnyTensor, Bundle, DecodeLimits};

use crate::error::{StoreError, StoreResult};
use crate::records::ModelRecord;

/// Limits for reading the node's own blobs (validated when uploaded or written by the node).
pub fn storage_limits() -> DecodeLimits {
    DecodeLimits {
        max_bytes: usize::MAX / 2,
        max_rank: 8,
    }
}

/// Decodes a stored bundle.
///
/// # Errors
/// [`StoreError::MalformedTensor`] when it does not decode.
pub fn decode_bundle(bytes: &[u8], what: &str) -> StoreResult<Bundle> {
    wire::decode_bundle(bytes, &storage_limits())
        .map_err(|e| StoreError::MalformedTensor(format!("stored {what}: {e}")))
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
) -> StoreResult<Vec<(String, PlanarTensor<f32, R>)>> {
    bundle
        .tensors
        .into_iter()
        .map(|(n, t)| {
            t.into_typed::<f32, R>()
                .map(|t| (n.clone(), t))
                .map_err(|e| StoreError::MalformedTensor(format!("stored tensor {n}: {e}")))
        })
        .collect()
}

/// The model built from its decoded trained weights, which must be in representation `rep`.
///
/// # Errors
/// [`StoreError::BasisMismatch`] when the weights are of another representation or key;
/// [`StoreError::MalformedTensor`] when they do not fit the model's spec.
pub fn model_from_weights<R: Representation<f32>>(
    record: &ModelRecord,
    rep: R,
    bundle: Bundle,
) -> StoreResult<Model<f32, R>> {
    let named = bundle_tensors::<R>(bundle).map_err(|_| {
        StoreError::BasisMismatch(format!(
            "model {} was trained on {} ciphertexts",
            record.id,
            record.representation.as_deref().unwrap_or("other")
        ))
    })?;
    if named
        .first()
        .is_some_and(|(_, t)| t.representation() != &rep)
    {
        return Err(StoreError::BasisMismatch(format!(
            "model {} was trained under another key (compact basis differs)",
            record.id
        )));
    }
    Model::from_parameters(&record.spec, rep, named)
        .map_err(|e| StoreError::MalformedTensor(format!("stored weights: {e}")))
}

/// The public initial weights of a model (from its spec and seed) as the plaintext bundle that
/// `GET /v1/models/{id}/weights` serves before training: built once when the model is created and
/// stored as a blob (`ModelRecord::initial_weights_sha256`). The model is dropped before the
/// bundle is encoded, so the peak is about twice the parameters' f32 bytes.
///
/// # Errors
/// [`StoreError::Engine`] when the spec does not build.
pub fn initial_weights_blob(spec: &ModelSpec, seed: u64) -> StoreResult<Vec<u8>> {
    let tensors = {
        let model = Model::<f32, Plain>::new(spec, Plain, seed)?;
        model
            .parameters()
            .into_iter()
            .map(|(n, t)| (n, any(t.clone())))
            .collect()
    };
    let metadata = serde_json::json!({
        "spec": spec,
        "representation": "plain",
        "trained_epochs": 0,
    });
    Ok(wire::encode_bundle(&Bundle { metadata, tensors }))
}

/// The untrained model in representation `rep` from its decoded initial weights: each plaintext
/// `w` embedded as `w·I`, bit for bit what `Model::new(spec, rep, seed)` builds.
///
/// # Errors
/// [`StoreError::MalformedTensor`] when the bundle is not plaintext f32 tensors fitting the spec.
pub fn model_from_initial<R: Representation<f32>>(
    record: &ModelRecord,
    rep: R,
    bundle: &Bundle,
) -> StoreResult<Model<f32, R>> {
    let named = bundle
        .tensors
        .iter()
        .map(|(n, t)| {
            let plain = t.clone().into_typed::<f32, Plain>().map_err(|e| {
                StoreError::MalformedTensor(format!("stored initial weights {n}: {e}"))
            })?;
            Ok((
                n.clone(),
                PlanarTensor::embed(rep.clone(), plain.values().clone()),
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Model::from_parameters(&record.spec, rep, named)
        .map_err(|e| StoreError::MalformedTensor(format!("stored initial weights: {e}")))
}

/// The public compact basis `C0` of a tensor's key (none for matrix form or plaintext).
pub fn x_basis<R: Representation<f32>>(x: &PlanarTensor<f32, R>) -> Option<[f64; 4]> {
    x.public_key().map(|key| key.c0())
}

/// A trainer's checkpoint as a bundle: its tensors, with `epochs_done`, `step` and a random
/// 128-bit `nonce` in the metadata (a job's checkpoint blob, written by the node and by
/// `train-distributed`).
///
/// The nonce makes every checkpoint a blob of its own: two jobs that train the same bits (same
/// data, spec and seed) would otherwise share one content-addressed blob, and the job that
/// supersedes its checkpoint could delete the blob another job's row is about to name. With it,
/// a superseded checkpoint is deleted at once (`jobs::train::record_epoch`).
pub fn checkpoint_bundle<R: Representation<f32>>(checkpoint: &Checkpoint<f32, R>) -> Vec<u8> {
    let metadata = serde_json::json!({
        "epochs_done": checkpoint.epochs_done,
        "step": checkpoint.step,
        "nonce": format!("{:032x}", rand::random::<u128>()),
    });
    let named = checkpoint
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t))
        .collect();
    params_bundle(metadata, named)
}

/// Reads a checkpoint blob written by [`checkpoint_bundle`].
///
/// # Errors
/// [`StoreError::MalformedTensor`] when the blob is not such a bundle, lacks a counter, or holds
/// tensors of another representation.
pub fn decode_checkpoint<R: Representation<f32>>(bytes: &[u8]) -> StoreResult<Checkpoint<f32, R>> {
    let bundle = decode_bundle(bytes, "checkpoint")?;
    let counter = |name: &str| {
        bundle.metadata[name]
            .as_u64()
            .ok_or_else(|| StoreError::MalformedTensor(format!("stored checkpoint lacks {name}")))
    };
    let (epochs_done, step) = (counter("epochs_done")? as usize, counter("step")?);
    Ok(Checkpoint {
        epochs_done,
        step,
        tensors: bundle_tensors::<R>(bundle)?,
    })
}

/// The encrypted mean loss of each epoch as one wire tensor `(epochs,)` (a job's losses blob).
///
/// # Errors
/// [`StoreError::MalformedTensor`] when the losses do not concatenate (no epochs, or differing
/// representations).
pub fn losses_blob<R: Representation<f32>>(
    losses: &[PlanarTensor<f32, R>],
) -> StoreResult<Vec<u8>> {
    let all = PlanarTensor::concatenate(0, losses)
        .map_err(|e| StoreError::MalformedTensor(format!("losses: {e}")))?;
    Ok(wire::encode(&all))
}

/// The first `epochs` losses of a blob written by [`losses_blob`], one tensor `(1,)` each.
///
/// # Errors
/// [`StoreError::MalformedTensor`] when the blob is not an f32 tensor of this representation.
pub fn decode_losses<R: Representation<f32>>(
    bytes: &[u8],
    epochs: usize,
) -> StoreResult<Vec<PlanarTensor<f32, R>>> {
    let invalid =
        |e: &dyn std::fmt::Display| StoreError::MalformedTensor(format!("stored losses: {e}"));
    let all: PlanarTensor<f32, R> = wire::decode(bytes, &storage_limits())
        .and_then(|t| t.into_typed())
        .map_err(|e| invalid(&e))?;
    (0..epochs.min(all.shape()[0]))
        .map(|i| all.select(0, &[i]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))
}

#[cfg(test)]
mod tests {
    use more_core::nn::Checkpoint;
    use more_core::tensor::{MatrixForm, PlanarTensor};

    use super::{checkpoint_bundle, decode_checkpoint};

    /// Two jobs that train the same bits must not share a checkpoint blob (a job deletes its
    /// superseded checkpoint at once): the same checkpoint bundles to different bytes, which
    /// read back to the same checkpoint.
    #[test]
    fn every_checkpoint_is_a_blob_of_its_own() {
        let checkpoint = Checkpoint {
            epochs_done: 3,
            step: 12,
            tensors: vec![(
                "w0".to_string(),
                PlanarTensor::<f32, MatrixForm>::full(MatrixForm, &[2, 3], 0.5),
            )],
        };
        let (a, b) = (
            checkpoint_bundle(&checkpoint),
            checkpoint_bundle(&checkpoint),
        );
        assert_ne!(a, b, "identical checkpoints would share one blob");
        for bytes in [a, b] {
            let read: Checkpoint<f32, MatrixForm> = decode_checkpoint(&bytes).expect("decode");
            assert_eq!((read.epochs_done, read.step), (3, 12));
            assert_eq!(read.tensors[0].0, "w0");
            assert_eq!(read.tensors[0].1.planes(), checkpoint.tensors[0].1.planes());
        }
    }
}
