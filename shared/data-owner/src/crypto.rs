//! Encryption and decryption exactly as the page's wasm layer does them (`wasm-client/src/lib.rs`):
//! compact-form f32 wire tensors, shadows per [`ShadowDistribution`], a plaintext tensor from the
//! node is an error (never "decrypted"), models decrypt into safetensors.

use more_secret_key::{SecretKey, ShadowDistribution};
use more_core::nn::Model;
use more_core::tensor::{CompactCiphertext, Plain, PlanarTensor};
use more_core::wire::{self, AnyTensor, DecodeLimits};
use more_core::Float;
use ndarray::{ArrayD, IxDyn};

use crate::data::{Part, Task};
use crate::{CliError, Result};

/// Rows encrypted per call (the page's worker uses the same chunk size).
pub const CHUNK_ROWS: usize = 2000;

fn internal(e: impl std::fmt::Display) -> CliError {
    CliError::Io(format!("encryption failed: {e}"))
}

/// Encrypts row-major `values` of `shape` (first axis = samples) into one compact-form wire
/// tensor, [`CHUNK_ROWS`] rows at a time; `progress(done_rows, rows)` after each chunk.
///
/// # Errors
/// [`CliError::Data`] when `values.len()` is not the product of `shape` or the shadow does not fit
/// the sample width.
pub fn encrypt_rows<F: Float>(
    key: &SecretKey,
    values: &[F],
    shape: &[usize],
    shadow: &ShadowDistribution,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<u8>> {
    let bad = |e: &dyn std::fmt::Display| CliError::Data(crate::DataError(e.to_string()));
    if shape.iter().product::<usize>() != values.len() {
        return Err(bad(&format!(
            "{} values do not fill the shape {shape:?}",
            values.len()
        )));
    }
    let mut rng = SecretKey::shadow_rng().map_err(|e| CliError::Key(e.to_string()))?;
    if shape.is_empty() || shape[0] <= CHUNK_ROWS {
        let x = ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).map_err(|e| bad(&e))?;
        let c = key
            .encrypt_compact(&x, shadow, &mut rng)
            .map_err(|e| bad(&e))?;
        progress(
            shape.first().copied().unwrap_or(1),
            shape.first().copied().unwrap_or(1),
        );
        return Ok(wire::encode(&c));
    }
    let rows = shape[0];
    let width: usize = shape[1..].iter().product();
    let mut parts: Vec<CompactCiphertext<F>> = Vec::new();
    for start in (0..rows).step_by(CHUNK_ROWS) {
        let n = CHUNK_ROWS.min(rows - start);
        let mut s = shape.to_vec();
        s[0] = n;
        let x = ArrayD::from_shape_vec(
            IxDyn(&s),
            values[start * width..(start + n) * width].to_vec(),
        )
        .map_err(|e| bad(&e))?;
        parts.push(
            key.encrypt_compact(&x, shadow, &mut rng)
                .map_err(|e| bad(&e))?,
        );
        progress(start + n, rows);
    }
    Ok(wire::encode(
        &PlanarTensor::concatenate(0, &parts).map_err(internal)?,
    ))
}

/// The page's feature shadow: `N(0, 0.1²)`, or with `matched` the training part's per-feature
/// mean and standard deviation (0 becomes 0.1).
pub fn feature_shadow(part: &Part, matched: bool) -> ShadowDistribution {
    if !matched {
        return ShadowDistribution::Gaussian { std: 0.1 };
    }
    let (rows, width) = (part.rows().max(1), part.width());
    let (mut mean, mut sq) = (vec![0.0f64; width], vec![0.0f64; width]);
    for row in part.x.chunks(width.max(1)) {
        for (j, &v) in row.iter().enumerate() {
            let v = f64::from(v);
            mean[j] += v / rows as f64;
            sq[j] += v * v / rows as f64;
        }
    }
    let std = mean
        .iter()
        .zip(&sq)
        .map(|(m, s)| {
            let d = (s - m * m).max(0.0).sqrt();
            if d == 0.0 {
                0.1
            } else {
                d
            }
        })
        .collect();
    ShadowDistribution::MomentMatched { mean, std }
}

/// The page's target shadow: probability vectors for one-hot classification targets (so the
/// shadow run's cross-entropy is well-posed), `N(0, 0.1²)` for regression.
pub fn target_shadow(task: Task) -> ShadowDistribution {
    match task {
        Task::Classification => ShadowDistribution::Simplex,
        Task::Regression => ShadowDistribution::Gaussian { std: 0.1 },
    }
}

/// A decrypted tensor in its element type.
#[derive(Clone, Debug, PartialEq)]
pub enum Decrypted {
    /// From an f32 ciphertext.
    F32(ArrayD<f32>),
    /// From an f64 ciphertext.
    F64(ArrayD<f64>),
}

impl Decrypted {
    /// The values as f32 (f64 values rounded).
    pub fn into_f32(self) -> ArrayD<f32> {
        match self {
            Decrypted::F32(a) => a,
            Decrypted::F64(a) => a.mapv(|v| v as f32),
        }
    }
}

/// Decrypts a decoded tensor of any ciphertext representation and element type.
///
/// # Errors
/// [`CliError::Decrypt`] for a plaintext tensor (it was never encrypted, so nothing is
/// decrypted) or a tensor under another key's basis.
pub fn decrypt_any(key: &SecretKey, t: AnyTensor) -> Result<Decrypted> {
    let d = |e: more_core::MoreError| CliError::Decrypt(e.to_string());
    Ok(match t {
        AnyTensor::PlainF32(_) | AnyTensor::PlainF64(_) => {
            return Err(CliError::Decrypt(
                "the node sent a plaintext tensor where a ciphertext was expected: \
                 it was never encrypted, so nothing was decrypted"
                    .into(),
            ))
        }
        AnyTensor::CompactF32(t) => Decrypted::F32(key.decrypt(&t).map_err(d)?),
        AnyTensor::CompactF64(t) => Decrypted::F64(key.decrypt(&t).map_err(d)?),
        AnyTensor::MatrixF32(t) => Decrypted::F32(key.decrypt(&t).map_err(d)?),
        AnyTensor::MatrixF64(t) => Decrypted::F64(key.decrypt(&t).map_err(d)?),
    })
}

/// Decodes and decrypts one wire tensor.
///
/// # Errors
/// [`CliError::Decrypt`] for malformed bytes and the errors of [`decrypt_any`].
pub fn decrypt_wire(key: &SecretKey, bytes: &[u8]) -> Result<Decrypted> {
    let t = wire::decode(bytes, &DecodeLimits::default())
        .map_err(|e| CliError::Decrypt(format!("malformed tensor: {e}")))?;
    decrypt_any(key, t)
}

/// Decrypts a model bundle (`GET /v1/models/{id}/weights`) into a safetensors file
/// (`layers.{i}.weight|bias`, f32), as the page's download does.
///
/// # Errors
/// [`CliError::Decrypt`] for a malformed bundle, a missing `spec`, plaintext weights (an untrained
/// model: nothing encrypted to decrypt) or weights under another key.
pub fn decrypt_model(key: &SecretKey, bundle: &[u8]) -> Result<Vec<u8>> {
    let d = |e: &dyn std::fmt::Display| CliError::Decrypt(e.to_string());
    let bundle = wire::decode_bundle(bundle, &DecodeLimits::default())
        .map_err(|e| d(&format!("malformed model bundle: {e}")))?;
    let spec = bundle
        .metadata
        .get("spec")
        .ok_or_else(|| d(&"the model bundle has no \"spec\" in its metadata"))?;
    let spec = serde_json::from_value(spec.clone()).map_err(|e| d(&e))?;
    let mut named = Vec::with_capacity(bundle.tensors.len());
    for (name, t) in bundle.tensors {
        named.push((name, PlanarTensor::plain(decrypt_any(key, t)?.into_f32())));
    }
    let model = Model::<f32, Plain>::from_parameters(&spec, Plain, named).map_err(|e| d(&e))?;
    Ok(model.to_safetensors())
}
