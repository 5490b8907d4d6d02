//! Attack 4, model extraction: every trained weight of a model trained on MORE ciphertexts is a
//! ciphertext of the same key (each gradient step mixes ciphertext gradients into the weights;
//! SECURITY.md, attack 4), so a [`RecoveredKey`] from the data decrypts the model.
//!
//! Works on tensors only (the weight tensors of any model, in any order); weights that were never
//! updated are public `w·I` and decrypt to `w` as well.

use ndarray::ArrayD;

use crate::eigen::RecoveredKey;
use more_core::tensor::{CompactCiphertext, MatrixCiphertext};
use more_core::Float;

/// Decrypts every matrix-form weight tensor (same order and logical shapes).
pub fn extract_model<F: Float>(
    key: &RecoveredKey,
    weights: &[MatrixCiphertext<F>],
) -> Vec<ArrayD<F>> {
    weights.iter().map(|w| key.decrypt_matrix(w)).collect()
}

/// Decrypts every compact weight tensor after the public conversion to matrix form.
pub fn extract_compact_model<F: Float>(
    key: &RecoveredKey,
    weights: &[CompactCiphertext<F>],
) -> Vec<ArrayD<F>> {
    weights.iter().map(|w| key.decrypt_compact(w)).collect()
}
