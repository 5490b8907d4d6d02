//! Attack 5, basis eigenvalues: decrypting compact ciphertexts from the public basis `C0` alone.
//!
//! Every compact ciphertext ships its key's basis `C0 = S·diag(m0, r0)·S⁻¹` beside its planes
//! `(a, b)`, and the value is `x = a + b·m0` (the ciphertext is `a·I + b·C0 =
//! S·diag(a + b·m0, a + b·r0)·S⁻¹`). The eigenvalues of `C0` are `{m0, r0}` in closed form
//! ([`basis_eigenvalues`]), so the attacker holds two candidate decryptions, `a + b·λ₁` and
//! `a + b·λ₂`, one of which is the data exactly; only the choice between them is open.
//!
//! * Generation-1 keys (`MOREKEY1`, before 2026-12-01) drew `m0 ∈ [0.5, 1.5)` and
//!   `r0 ∈ (−1.5, −0.5]`: the positive (and larger) eigenvalue is always the message, so
//!   [`BasisRule::Positive`] and [`BasisRule::Larger`] decrypt everything from public data.
//! * Generation-2 keys draw `m0, r0` exchangeably (random signs, magnitudes in `[0.5, 1.5)`):
//!   the sign or order of the eigenvalues names the message for half of the keys. The plausibility
//!   rule ([`BasisRule::Plausibility`], the swap score of [`crate::ciphertext_only`]) remains, and
//!   it is exactly the swap decision of the matrix-form ciphertext-only attack: the basis reveals
//!   what one matrix-form ciphertext reveals, no more and no less.
//!
//! Cost: one 2x2 eigenvalue computation, then two multiply-adds per value and the plausibility
//! score (`O(n)`).

use ndarray::{ArrayD, IxDyn};

use crate::ciphertext_only::{DataPrior, SlotScores};
use crate::eigen::eigen2;
use crate::AttackError;
use more_core::tensor::{CompactBasis, CompactCiphertext};
use more_core::Float;

/// How the attacker picks the message eigenvalue of the basis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BasisRule {
    /// "The positive eigenvalue is the message". Defined only when exactly one eigenvalue is
    /// positive; when both have the same sign (generation-2 keys only) the rule gives **no**
    /// answer and counts as a failure. (Falling back to the larger eigenvalue would make it
    /// identical to [`BasisRule::Larger`]: with one positive eigenvalue, it is the larger one.)
    Positive,
    /// "The larger eigenvalue is the message". Always defined.
    Larger,
    /// The candidate decryption with the larger [`DataPrior::score`] total; no answer on a tie
    /// (counts as a failure). The attacker's best case; needs side knowledge about the data.
    Plausibility,
}

impl BasisRule {
    /// All rules, in report order.
    pub const ALL: [BasisRule; 3] = [
        BasisRule::Positive,
        BasisRule::Larger,
        BasisRule::Plausibility,
    ];

    /// A short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            BasisRule::Positive => "positive eigenvalue is the message",
            BasisRule::Larger => "larger eigenvalue is the message",
            BasisRule::Plausibility => "plausibility score picks the candidate",
        }
    }
}

/// The two eigenvalues `[λ₁, λ₂]` of the public basis `C0`, larger first, in closed form
/// (`tr/2 ± √((c00 − c11)²/4 + c01·c10)`). For a key's basis they are `{m0, r0}`.
///
/// # Errors
/// [`AttackError::NonFinite`], [`AttackError::ScalarCiphertext`] or
/// [`AttackError::ComplexEigenvalues`] for a matrix that is not a valid basis (a
/// [`CompactBasis`] built by [`CompactBasis::new`] never gives these).
pub fn basis_eigenvalues(basis: &CompactBasis) -> Result<[f64; 2], AttackError> {
    Ok(eigen2(basis.c0)?.values)
}

/// `a + b·λ` for every value of a compact tensor (logical shape), computed in `f64` and rounded to
/// `F`: the decryption under the hypothesis that `λ` is the message eigenvalue of the basis.
pub fn decrypt_with_eigenvalue<F: Float>(ct: &CompactCiphertext<F>, lambda: f64) -> ArrayD<F> {
    let p = ct.planes();
    let values: Vec<F> = p[0]
        .iter()
        .zip(p[1].iter())
        .map(|(a, b)| F::of_f64(a.as_f64() + b.as_f64() * lambda))
        .collect();
    ArrayD::from_shape_vec(IxDyn(ct.shape()), values).expect("one value per element")
}

/// Both candidate decryptions of a compact tensor and their plausibility scores; what
/// [`basis_eigenvalue_attack`] chooses from.
#[derive(Clone, Debug)]
pub struct BasisCandidates<F> {
    /// Eigenvalues of `C0`, larger first.
    pub eigenvalues: [f64; 2],
    /// `[a + b·λ₁, a + b·λ₂]`, each of the tensor's logical shape.
    pub candidates: [ArrayD<F>; 2],
    /// [`DataPrior::score`] of each candidate (same order).
    pub scores: [SlotScores; 2],
}

impl<F> BasisCandidates<F> {
    /// The index (0: larger eigenvalue, 1: smaller) that `rule` takes as the message; `None`
    /// when the rule is undefined ([`BasisRule::Positive`] with both eigenvalues of one sign,
    /// [`BasisRule::Plausibility`] with equal scores).
    pub fn choice(&self, rule: BasisRule) -> Option<usize> {
        let [l1, l2] = self.eigenvalues;
        match rule {
            BasisRule::Positive => match (l1 > 0.0, l2 > 0.0) {
                (true, false) => Some(0),
                (false, true) => Some(1),
                _ => None,
            },
            BasisRule::Larger => Some(0),
            BasisRule::Plausibility => {
                let (s0, s1) = (self.scores[0].total, self.scores[1].total);
                (s0 != s1).then_some(usize::from(s1 > s0))
            }
        }
    }
}

/// Both candidates of `ct` and their scores under `prior` (`ct` flat row-major
/// `(samples, features)` as in [`crate::ciphertext_only_attack`]). The rounding tolerance of value
/// `i` in the scores is `32·ε_F·(|a_i| + |b_i|·max|λ|)`.
///
/// # Errors
/// As [`basis_eigenvalues`].
pub fn basis_candidates<F: Float>(
    ct: &CompactCiphertext<F>,
    prior: &DataPrior,
) -> Result<BasisCandidates<F>, AttackError> {
    let eigenvalues = basis_eigenvalues(ct.basis())?;
    let candidates = eigenvalues.map(|l| decrypt_with_eigenvalue(ct, l));
    let lmax = eigenvalues[0].abs().max(eigenvalues[1].abs());
    let eps = F::epsilon().as_f64();
    let p = ct.planes();
    let tol: Vec<f64> = p[0]
        .iter()
        .zip(p[1].iter())
        .map(|(a, b)| 32.0 * eps * (a.as_f64().abs() + b.as_f64().abs() * lmax))
        .collect();
    let flat = |c: &ArrayD<F>| c.iter().map(|v| v.as_f64()).collect::<Vec<f64>>();
    let scores = [
        prior.score(&flat(&candidates[0]), &tol),
        prior.score(&flat(&candidates[1]), &tol),
    ];
    Ok(BasisCandidates {
        eigenvalues,
        candidates,
        scores,
    })
}

/// The outcome of [`basis_eigenvalue_attack`].
#[derive(Clone, Debug)]
pub struct BasisAttackResult<F> {
    /// The rule applied.
    pub rule: BasisRule,
    /// Eigenvalues of `C0`, larger first.
    pub eigenvalues: [f64; 2],
    /// The eigenvalue taken as the message; `None` when the rule was undefined.
    pub message_eigenvalue: Option<f64>,
    /// The decryption under that eigenvalue (logical shape); `None` when the rule was undefined.
    pub plaintext: Option<ArrayD<F>>,
    /// Plausibility scores of `[a + b·λ₁, a + b·λ₂]`.
    pub scores: [SlotScores; 2],
}

/// Attack 5: decrypts the compact tensor `ct` from its planes and its public basis only, choosing
/// the message eigenvalue by `rule` (`prior` is used by [`BasisRule::Plausibility`] only).
/// Other compact tensors of the same key then decrypt with [`decrypt_with_eigenvalue`] and
/// [`BasisAttackResult::message_eigenvalue`].
///
/// # Errors
/// As [`basis_eigenvalues`]. An undefined rule is not an error: `plaintext` is `None`.
pub fn basis_eigenvalue_attack<F: Float>(
    ct: &CompactCiphertext<F>,
    rule: BasisRule,
    prior: &DataPrior,
) -> Result<BasisAttackResult<F>, AttackError> {
    let c = basis_candidates(ct, prior)?;
    let choice = c.choice(rule);
    let BasisCandidates {
        eigenvalues,
        candidates,
        scores,
    } = c;
    let [c0, c1] = candidates;
    Ok(BasisAttackResult {
        rule,
        eigenvalues,
        message_eigenvalue: choice.map(|i| eigenvalues[i]),
        plaintext: choice.map(|i| if i == 0 { c0 } else { c1 }),
        scores,
    })
}
