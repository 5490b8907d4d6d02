//! Attack 3, zero detection: `det Enc(0) = 0·r = 0`, so encryptions of zero are visible; each is a
//! free known plaintext for attack 2, which then decrypts everything and fixes the swap bit.
//!
//! Source: SECURITY.md, attack 3 (measured there). In floating point the determinant of a rounded
//! ciphertext is not exactly 0: with entries rounded to precision `ε_F`, `|det C|` of an
//! encryption of 0 stays below about `2·ε_F·‖C‖_F²` (`|c00·c11| + |c01·c10| ≤ ‖C‖_F²`). A value is
//! flagged when `|det C| ≤ τ·‖C‖_F²` with `τ =` [`ZERO_DET_FACTOR`]`·ε_F`. A nonzero `x` is falsely
//! flagged only when `|x/r| ≲ τ·cond(S)²` (a shadow hundreds of thousands of times larger in f32)
//! or when its shadow is itself ≈ 0 — then the *other* eigenvector is the null vector, which is why
//! the attack takes the null direction shared by the majority of flagged ciphertexts.
//!
//! The zero matrix (`x = r = 0`, e.g. moment-matched shadows of a pixel that is 0 in every sample)
//! is flagged too: it is certainly a zero, but carries no key information.

use ndarray::ArrayD;

use crate::eigen::{eigen2, RecoveredKey};
use crate::known_plaintext::known_plaintext_attack;
use crate::{matrices, AttackError};
use more_core::tensor::MatrixCiphertext;
use more_core::Float;

/// `τ = ZERO_DET_FACTOR · ε_F` is the flagging threshold on `|det C| / ‖C‖_F²`.
pub const ZERO_DET_FACTOR: f64 = 16.0;

/// Ciphertexts consulted for the majority vote on the null direction.
const VOTERS: usize = 64;

/// Flags every value whose ciphertext looks like an encryption of 0 (flat order, one flag per
/// value): `|det C| ≤ 16·ε_F·‖C‖_F²`. Non-finite ciphertexts are not flagged.
pub fn detect_zeros<F: Float>(ct: &MatrixCiphertext<F>) -> Vec<bool> {
    let tau = ZERO_DET_FACTOR * F::epsilon().as_f64();
    matrices(ct)
        .iter()
        .map(|c| {
            let det = c[0] * c[3] - c[1] * c[2];
            let n2: f64 = c.iter().map(|v| v * v).sum();
            det.is_finite() && n2.is_finite() && det.abs() <= tau * n2
        })
        .collect()
}

/// The outcome of [`zero_attack`].
#[derive(Clone, Debug)]
pub struct ZeroAttackResult<F> {
    /// One flag per value (flat order): looks like an encryption of 0.
    pub flagged: Vec<bool>,
    /// The key from the known pair `(0, C_ref)`; its swap bit needs no statistics.
    pub key: RecoveredKey,
    /// Flat index of the zero used as the known plaintext.
    pub reference_index: usize,
    /// Decryption of the whole tensor (logical shape).
    pub plaintext: ArrayD<F>,
}

/// Attack 3: flags zeros, takes the flagged non-scalar ciphertext whose null direction is shared by
/// most of the (up to 64 largest) flagged ones, and runs attack 2 on the pair `(0, C)`.
///
/// # Errors
/// [`AttackError::NoZeros`] when no non-scalar ciphertext is flagged.
pub fn zero_attack<F: Float>(ct: &MatrixCiphertext<F>) -> Result<ZeroAttackResult<F>, AttackError> {
    let flagged = detect_zeros(ct);
    let mats = matrices(ct);
    // (index, norm², null direction) of flagged non-scalar ciphertexts.
    let mut cands: Vec<(usize, f64, [f64; 2])> = flagged
        .iter()
        .enumerate()
        .filter(|(_, &f)| f)
        .filter_map(|(i, _)| {
            let e = eigen2(mats[i]).ok()?;
            let k = if e.values[0].abs() <= e.values[1].abs() {
                0
            } else {
                1
            };
            Some((i, mats[i].iter().map(|v| v * v).sum::<f64>(), e.vectors[k]))
        })
        .collect();
    if cands.is_empty() {
        return Err(AttackError::NoZeros);
    }
    cands.sort_by(|a, b| b.1.total_cmp(&a.1));
    cands.truncate(VOTERS);
    let votes = |n: [f64; 2]| {
        cands
            .iter()
            .filter(|c| (n[0] * c.2[1] - n[1] * c.2[0]).abs() < 1e-3)
            .count()
    };
    let (reference_index, _, _) = *cands.iter().max_by_key(|c| votes(c.2)).expect("non-empty");
    let key = known_plaintext_attack(&[(0.0, mats[reference_index])])?;
    let plaintext = key.decrypt_matrix(ct);
    Ok(ZeroAttackResult {
        flagged,
        key,
        reference_index,
        plaintext,
    })
}
