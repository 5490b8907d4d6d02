//! Encryption exactly as the page's wasm layer does it (`wasm-client/src/lib.rs`): compact-form
//! wire tensors, [`CHUNK_ROWS`] rows at a time, shadows per [`ShadowDistribution`]. Decryption is
//! [`crate::decrypt`].

use more_core::tensor::{CompactCiphertext, PlanarTensor};
use more_core::wire;
use more_core::Float;
use more_secret_key::{SecretKey, ShadowDistribution};
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
    progress: impl FnMut(usize, usize),
) -> Result<Vec<u8>> {
    Ok(wire::encode(&encrypt_tensor(
        key, values, shape, shadow, progress,
    )?))
}

/// [`encrypt_rows`] without the encoding: the compact-form tensor (for a bundle of several,
/// e.g. one shard of an upload in shards).
///
/// # Errors
/// As [`encrypt_rows`].
pub fn encrypt_tensor<F: Float>(
    key: &SecretKey,
    values: &[F],
    shape: &[usize],
    shadow: &ShadowDistribution,
    mut progress: impl FnMut(usize, usize),
) -> Result<CompactCiphertext<F>> {
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
        return Ok(c);
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
    PlanarTensor::concatenate(0, &parts).map_err(internal)
}

/// The page's feature shadow: `N(0, 0.1²)`, or with `matched` the training part's per-feature
/// moments ([`moment_matched`]).
pub fn feature_shadow(part: &Part, matched: bool) -> ShadowDistribution {
    if matched {
        moment_matched(&part.x, part.width())
    } else {
        ShadowDistribution::Gaussian { std: 0.1 }
    }
}

/// The "matched" shadow of row-major samples `x` of `width` values each: per feature the mean
/// and standard deviation (0 becomes 0.1).
pub fn moment_matched(x: &[f32], width: usize) -> ShadowDistribution {
    let rows = (x.len() / width.max(1)).max(1);
    let (mut mean, mut sq) = (vec![0.0f64; width], vec![0.0f64; width]);
    for row in x.chunks(width.max(1)) {
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
