//! Attack 1, ciphertext-only: one ciphertext's eigenvectors give the key up to a swap bit; a
//! plausibility score on the two decrypted slots sets the bit.
//!
//! Source: SECURITY.md, "Why the scheme leaks" and attack 1. The eigenvectors of any non-scalar
//! ciphertext are the columns of `S` (up to scale and order); `V⁻¹·C·V` is then diagonal for
//! **every** ciphertext of the key (Tsaban & Lifshitz, Lemma 2.1). The attacker gets, for every
//! value, the pair `{x, r}` in a consistent order and only has to decide which of the two slots is
//! the data.
//!
//! # Swap heuristic (documented, measured in SECURITY.md)
//! For each slot `s ∈ {0, 1}` the [`SlotScores::total`] is the sum of three fractions in `[0, 1]`:
//! * `in_range`: values inside the attacker's known plausible range of their feature (pixels:
//!   `[0, 1]`; tabular: e.g. age in `[0, 120]`), with a rounding tolerance `τ_i`;
//! * `zeros`: values within `τ_i` of 0 (only when the prior expects exact zeros, e.g. image
//!   background). Shadows are continuous random numbers and are almost never 0;
//! * `correlation`: mean `|Pearson correlation|` of neighbouring features across samples (real data
//!   is correlated — neighbouring pixels, related vital signs — while shadows are drawn
//!   independently for every value, so their correlation is ≈ `1/√samples`).
//!
//! The slot with the larger total is taken as the data. `τ_i = 32·ε_F·‖C_i‖_F·cond(V)²` is the
//! rounding error of decrypting value `i` in precision `F`. When data and shadows share marginals
//! (moment-matched shadows) and the features are independent, the values alone cannot tell the
//! slots apart: the bit is then a coin flip, and the attacker keeps both candidate decryptions (one
//! of them is the data, exactly) and settles the bit with any single known value.

use ndarray::{ArrayD, IxDyn};

use crate::eigen::{best_reference, RecoveredKey};
use crate::{matrices, AttackError};
use more_core::tensor::MatrixCiphertext;
use more_core::Float;

/// What the attacker assumes about the plaintexts (side knowledge, not key material).
#[derive(Clone, Debug, PartialEq)]
pub struct DataPrior {
    /// Values per sample (the data is row-major `(samples, features)`); used for per-feature
    /// ranges and the neighbour correlation. 0 or a non-divisor of the length disables both.
    pub features: usize,
    /// Plausible `(min, max)` per feature: empty (no range knowledge), one pair for every feature,
    /// or `features` pairs.
    pub ranges: Vec<(f64, f64)>,
    /// Whether the data is expected to contain many exact zeros (image background, padding).
    pub expect_zeros: bool,
}

impl DataPrior {
    /// Image data: pixels in `[0, 1]` with many exact zeros; `features` pixels per image.
    pub fn image(features: usize) -> Self {
        DataPrior {
            features,
            ranges: vec![(0.0, 1.0)],
            expect_zeros: true,
        }
    }

    /// Tabular data with known per-feature ranges (one pair for all, or one per feature).
    pub fn tabular(features: usize, ranges: Vec<(f64, f64)>) -> Self {
        DataPrior {
            features,
            ranges,
            expect_zeros: false,
        }
    }

    /// The attacker's best case: per-feature `(min, max)` of the data itself, and
    /// `expect_zeros` when at least 5 % of the values are exactly 0. `data` is row-major
    /// `(samples, features)`; a `features` that does not divide the length is treated as 1.
    pub fn from_data(data: &[f64], features: usize) -> Self {
        let features = if data.len().checked_rem(features) != Some(0) {
            1
        } else {
            features
        };
        let mut ranges = vec![(f64::INFINITY, f64::NEG_INFINITY); features];
        for row in data.chunks(features) {
            for (r, &v) in ranges.iter_mut().zip(row) {
                if v.is_finite() {
                    *r = (r.0.min(v), r.1.max(v));
                }
            }
        }
        let zeros = data.iter().filter(|&&v| v == 0.0).count();
        DataPrior {
            features,
            ranges,
            expect_zeros: !data.is_empty() && zeros * 20 >= data.len(),
        }
    }

    /// The plausibility scores of one candidate slot. `tol[i]` is the rounding tolerance of value
    /// `i` (same length as `values`).
    pub fn score(&self, values: &[f64], tol: &[f64]) -> SlotScores {
        let n = values.len().max(1) as f64;
        let feats = if values.len().checked_rem(self.features) == Some(0) {
            self.features
        } else {
            1
        };
        let range_of = |i: usize| -> Option<(f64, f64)> {
            match self.ranges.len() {
                0 => None,
                1 => Some(self.ranges[0]),
                k if k == feats => Some(self.ranges[i % feats]),
                _ => None,
            }
        };
        let mut in_range = 0usize;
        let mut zeros = 0usize;
        for (i, (&v, &t)) in values.iter().zip(tol).enumerate() {
            if let Some((lo, hi)) = range_of(i) {
                if v >= lo - t && v <= hi + t {
                    in_range += 1;
                }
            }
            if self.expect_zeros && v.abs() <= t {
                zeros += 1;
            }
        }
        let correlation = neighbour_correlation(values, feats);
        let in_range = if self.ranges.is_empty() {
            0.0
        } else {
            in_range as f64 / n
        };
        let zeros = zeros as f64 / n;
        SlotScores {
            in_range,
            zeros,
            correlation,
            total: in_range + zeros + correlation,
        }
    }
}

/// Mean `|corr(feature j, feature j+1)|` over samples, for pairs where both vary; 0 with fewer
/// than 3 samples or 2 features.
fn neighbour_correlation(values: &[f64], features: usize) -> f64 {
    let samples = values.len() / features.max(1);
    if features < 2 || samples < 3 {
        return 0.0;
    }
    let col = |j: usize| values.iter().skip(j).step_by(features).copied();
    let stats: Vec<(f64, f64)> = (0..features)
        .map(|j| {
            let mean = col(j).sum::<f64>() / samples as f64;
            let var = col(j).map(|v| (v - mean) * (v - mean)).sum::<f64>();
            (mean, var)
        })
        .collect();
    let (mut sum, mut count) = (0.0, 0usize);
    for j in 0..features - 1 {
        let ((m1, v1), (m2, v2)) = (stats[j], stats[j + 1]);
        if !(v1 > 1e-300 && v2 > 1e-300 && v1.is_finite() && v2.is_finite()) {
            continue;
        }
        let cov: f64 = col(j)
            .zip(col(j + 1))
            .map(|(a, b)| (a - m1) * (b - m2))
            .sum();
        let r = cov / (v1 * v2).sqrt();
        if r.is_finite() {
            sum += r.abs();
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

/// The plausibility of one candidate slot (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SlotScores {
    /// Fraction of values inside their feature's plausible range.
    pub in_range: f64,
    /// Fraction of values within rounding of 0 (0 unless the prior expects zeros).
    pub zeros: f64,
    /// Mean absolute correlation of neighbouring features.
    pub correlation: f64,
    /// `in_range + zeros + correlation`.
    pub total: f64,
}

/// The outcome of [`ciphertext_only_attack`].
#[derive(Clone, Debug)]
pub struct CiphertextOnlyResult<F> {
    /// The recovered key, swap bit set by the scores.
    pub key: RecoveredKey,
    /// The decryption of the attacked tensor under `key` (logical shape).
    pub plaintext: ArrayD<F>,
    /// The other candidate (the shadows, if the bit was right).
    pub other_slot: ArrayD<F>,
    /// Scores of `[slot of the larger eigenvalue, slot of the smaller]` of the reference.
    pub scores: [SlotScores; 2],
    /// Flat index of the reference ciphertext whose eigenvectors were used.
    pub reference_index: usize,
    /// Its relative eigenvalue gap (eigenvector accuracy ≈ `ε_F / rel_gap`).
    pub reference_rel_gap: f64,
}

/// Per-value rounding tolerance `32·ε_F·‖C_i‖_F·cond(V)²`.
pub(crate) fn tolerances<F: Float>(mats: &[[f64; 4]], key: &RecoveredKey) -> Vec<f64> {
    let k2 = key.condition().powi(2);
    let eps = F::epsilon().as_f64();
    mats.iter()
        .map(|c| 32.0 * eps * c.iter().map(|v| v * v).sum::<f64>().sqrt() * k2)
        .collect()
}

/// Attack 1: recovers an equivalent key from the ciphertexts `ct` alone (flat row-major
/// `(samples, features)` values, any logical shape) and decrypts them.
///
/// The reference is the ciphertext with the largest relative eigenvalue gap. Cost: one 2x2
/// diagonalisation per value, `O(n·features)` for the correlation score.
///
/// # Errors
/// [`AttackError::NoUsableCiphertext`] when every value is scalar, complex or non-finite
/// (e.g. an all-public `w·I` tensor: nothing to attack).
pub fn ciphertext_only_attack<F: Float>(
    ct: &MatrixCiphertext<F>,
    prior: &DataPrior,
) -> Result<CiphertextOnlyResult<F>, AttackError> {
    let mats = matrices(ct);
    let (reference_index, _, e) =
        best_reference(mats.iter().copied()).ok_or(AttackError::NoUsableCiphertext(mats.len()))?;
    let k0 = RecoveredKey::from_eigen(&e, false);
    let (s0, s1): (Vec<f64>, Vec<f64>) = mats.iter().map(|&c| k0.slots(c)).unzip();
    let tol = tolerances::<F>(&mats, &k0);
    let scores = [prior.score(&s0, &tol), prior.score(&s1, &tol)];
    let swap = scores[1].total > scores[0].total;
    let key = if swap { k0.swapped() } else { k0 };
    let (x, r) = if swap { (s1, s0) } else { (s0, s1) };
    let shape = IxDyn(ct.shape());
    let to_array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(shape.clone(), v.into_iter().map(F::of_f64).collect())
            .expect("one value per element")
    };
    Ok(CiphertextOnlyResult {
        key,
        plaintext: to_array(x),
        other_slot: to_array(r),
        scores,
        reference_index,
        reference_rel_gap: e.rel_gap,
    })
}
