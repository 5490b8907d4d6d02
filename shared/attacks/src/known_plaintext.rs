//! Attack 2, known plaintext: one pair `(x0, C0)` with `C0` non-scalar recovers the key.
//!
//! Derivation (Tsaban & Lifshitz's Lemma 2.1; measured in SECURITY.md, attack 2): with
//! `C_i = S·diag(m_i, r_i)·S⁻¹` and `C0 = S·diag(x0, r0)·S⁻¹`, `x0 ≠ r0`, the diagonal system
//! `diag(m_i, r_i) = a_i·I + b_i·diag(x0, r0)` has the solution `b_i = (m_i − r_i)/(x0 − r0)`,
//! `a_i = m_i − b_i·x0`; conjugating by `S` gives `C_i = a_i·I + b_i·C0`. The coefficients are
//! public: with the traceless parts `dev(C) = C − (tr C/2)·I`,
//! `b_i = ⟨dev C_i, dev C0⟩ / ‖dev C0‖²` and `a_i = (tr C_i − b_i·tr C0)/2`
//! ([`affine_coordinates`]). Hence **`m_i = a_i + b_i·x0`**: one known value decrypts everything.
//! Equivalently, `x0` names which eigenvector of `C0` is the message column of `S`, which is how
//! [`known_plaintext_attack`] builds a [`RecoveredKey`].
//!
//! With `k > 1` pairs the reference is the best-conditioned known ciphertext (largest relative
//! eigenvalue gap) and its message eigenvalue `μ` is fitted by least squares,
//! `μ = Σ b_j (x_j − a_j) / Σ b_j²`, which makes the swap decision robust to a wrong pair; the
//! accuracy is already at the rounding floor with `k = 1` (SECURITY.md).

use crate::eigen::{best_reference, eigen2, RecoveredKey};
use crate::{matrices, AttackError};
use more_core::tensor::MatrixCiphertext;
use more_core::Float;

/// `(a, b)` with `C = a·I + b·C_ref` (least squares on the traceless parts; exact for ciphertexts of
/// one key). `None` when `C_ref` is a multiple of `I` or an entry is not finite.
pub fn affine_coordinates(c: [f64; 4], c_ref: [f64; 4]) -> Option<(f64, f64)> {
    let dev = |m: [f64; 4]| [(m[0] - m[3]) / 2.0, m[1], m[2], (m[3] - m[0]) / 2.0];
    let (d, d0) = (dev(c), dev(c_ref));
    let n0: f64 = d0.iter().map(|v| v * v).sum();
    if !(n0 > 0.0 && n0.is_finite()) || c.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let b = d.iter().zip(&d0).map(|(x, y)| x * y).sum::<f64>() / n0;
    let a = ((c[0] + c[3]) - b * (c_ref[0] + c_ref[3])) / 2.0;
    Some((a, b))
}

/// Known pairs `(plaintext, ciphertext matrix)` at the flat indices `indices` of a tensor and its
/// encryption (what an attacker who knows some values holds).
///
/// # Errors
/// [`AttackError::Shape`] for different lengths or an index out of range.
pub fn known_pairs<F: Float>(
    plaintexts: &[F],
    ct: &MatrixCiphertext<F>,
    indices: &[usize],
) -> Result<Vec<(f64, [f64; 4])>, AttackError> {
    let mats = matrices(ct);
    if mats.len() != plaintexts.len() {
        return Err(AttackError::Shape(format!(
            "{} plaintexts for {} ciphertexts",
            plaintexts.len(),
            mats.len()
        )));
    }
    indices
        .iter()
        .map(|&i| {
            mats.get(i)
                .map(|&c| (plaintexts[i].as_f64(), c))
                .ok_or_else(|| AttackError::Shape(format!("index {i} out of {}", mats.len())))
        })
        .collect()
}

/// Attack 2: an equivalent key from `k ≥ 1` known `(plaintext, ciphertext)` pairs of one key.
///
/// Scalar or non-finite pairs are skipped (they carry no key information).
///
/// # Errors
/// [`AttackError::NotEnoughPairs`] when no pair has a non-scalar ciphertext.
pub fn known_plaintext_attack(pairs: &[(f64, [f64; 4])]) -> Result<RecoveredKey, AttackError> {
    let usable: Vec<(f64, [f64; 4])> = pairs
        .iter()
        .copied()
        .filter(|(x, c)| x.is_finite() && eigen2(*c).is_ok())
        .collect();
    let (_, c_ref, e) = best_reference(usable.iter().map(|p| p.1))
        .ok_or(AttackError::NotEnoughPairs { needed: 1, got: 0 })?;
    let (mut num, mut den) = (0.0, 0.0);
    for &(x, c) in &usable {
        if let Some((a, b)) = affine_coordinates(c, c_ref) {
            num += b * (x - a);
            den += b * b;
        }
    }
    let mu = num / den;
    let swap = (e.values[1] - mu).abs() < (e.values[0] - mu).abs();
    Ok(RecoveredKey::from_eigen(&e, swap))
}
