//! The attack suite: executed attacks on real-number MORE (see SECURITY.md at the repository root).
//!
//! Every attack takes **ciphertexts only** — matrix-form [`MatrixCiphertext`]s or compact
//! ciphertexts with their public basis, never the `SecretKey`. Compact ciphertexts `a·I + b·C0` turn
//! into matrix form with [`more_core::tensor::CompactCiphertext::to_matrix_form`], which is public
//! arithmetic on public data (`C = a·I + b·C0`, with `C0` shipped beside the planes), and back
//! (`b = c01 / C0[0][1]`, `a = c00 − b·C0[0][0]`). The basis itself is a ciphertext of the key's
//! value `m0` with shadow `r0`: with generation-1 keys the sign of its eigenvalues named the
//! message slot, so the compact form leaked more than the matrix form (attack 5,
//! [`basis_eigenvalue`]); with generation-2 keys it does not.
//!
//! The attacker's product is a [`RecoveredKey`]: the eigenvector matrix `V` of the key (the columns
//! of the secret `S` up to scale and order) with the column order (the "swap bit") chosen so that
//! slot 0 of `V⁻¹·C·V` is the plaintext. It decrypts every ciphertext of the key, including
//! homomorphic results and trained model weights.
//!
//! The attacks (each module gives its derivation; the numbers are in SECURITY.md, "The attacks
//! (implemented and measured)"):
//! 1. [`ciphertext_only`]: eigenvectors of one non-scalar ciphertext are the columns of `S`
//!    (Tsaban & Lifshitz, Lemma 2.1: ciphertexts of one key commute, so they share eigenvectors);
//!    the swap bit is chosen by a documented plausibility score ([`DataPrior`]).
//! 2. [`known_plaintext`]: one known pair `(x0, C0)` with `C0` non-scalar gives every plaintext:
//!    `C_i = a_i·I + b_i·C0` with public `a_i, b_i`, hence `m_i = a_i + b_i·x0`.
//! 3. [`zero_detection`]: `det Enc(0) = 0·r = 0`, so zeros are visible; a zero is a free known
//!    plaintext, and attack 2 then decrypts everything (and settles the swap bit exactly).
//! 4. [`model_extraction`]: a recovered key decrypts an encrypted model's weight tensors.
//! 5. [`basis_eigenvalue`]: the eigenvalues `{m0, r0}` of the public compact basis `C0` give two
//!    candidate decryptions `a + b·λ` of every compact value; a rule picks one (generation-1 keys:
//!    the positive one is always right).
//! 6. [`report`]: [`report::run_all`] runs them as a victim-and-attacker experiment and
//!    [`report::markdown_table`] formats the results; [`study`] measures the basis attack over many
//!    keys ([`study::basis_study`]) and every attack on each object a node stores
//!    ([`study::attack_stored_objects`]).
//!
//! Eigen-decomposition of 2x2 ciphertexts lives only in this module ([`eigen`]), in closed form.

#![deny(missing_docs)]

pub mod basis_eigenvalue;
pub mod ciphertext_only;
pub mod eigen;
pub mod known_plaintext;
pub mod model_extraction;
pub mod report;
pub mod study;
pub mod zero_detection;

pub use basis_eigenvalue::{
    basis_candidates, basis_eigenvalue_attack, basis_eigenvalues, decrypt_with_eigenvalue,
    BasisAttackResult, BasisCandidates, BasisRule,
};
pub use ciphertext_only::{ciphertext_only_attack, CiphertextOnlyResult, DataPrior, SlotScores};
pub use eigen::{eigen2, Eigen2, RecoveredKey};
pub use known_plaintext::{affine_coordinates, known_plaintext_attack};
pub use model_extraction::{extract_compact_model, extract_model};
pub use report::markdown_table;
pub use report::run_all;
pub use report::AttackReport;
pub use study::{
    attack_stored_objects, basis_markdown_table, basis_study, objects_markdown_table,
    BasisStudyRow, ObjectReport, StoredObject,
};
pub use zero_detection::{detect_zeros, zero_attack, ZeroAttackResult};

use more_core::tensor::MatrixCiphertext;
use more_core::Float;

/// Errors of the attacks. They never panic on odd input (NaN, empty tensors, scalar ciphertexts).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AttackError {
    /// The ciphertext is (numerically) a multiple of `I` (`x = r`, or a public constant `w·I`): its
    /// eigenvectors are arbitrary, so it carries no information about the key.
    #[error("scalar ciphertext: a multiple of I has no key information")]
    ScalarCiphertext,
    /// No usable (non-scalar, finite) ciphertext was found among the inputs.
    #[error("no non-scalar, finite ciphertext among {0} values")]
    NoUsableCiphertext(usize),
    /// The ciphertext has complex eigenvalues: it is not a MORE ciphertext of a real key.
    #[error("ciphertext has complex eigenvalues (not a real MORE ciphertext)")]
    ComplexEigenvalues,
    /// A ciphertext entry is NaN or infinite.
    #[error("non-finite ciphertext entry")]
    NonFinite,
    /// Fewer known (plaintext, ciphertext) pairs than needed.
    #[error("not enough known pairs: need {needed}, got {got}")]
    NotEnoughPairs {
        /// Pairs needed.
        needed: usize,
        /// Usable pairs given.
        got: usize,
    },
    /// No encryption of zero was detected.
    #[error("no encryption of zero detected")]
    NoZeros,
    /// Inputs of inconsistent lengths or shapes.
    #[error("shape: {0}")]
    Shape(String),
    /// An error of the victim's side (encryption in [`report::run_all`]).
    #[error("victim side: {0}")]
    Victim(#[from] more_core::MoreError),
}

/// Row-major `[c00, c01, c10, c11]` of every value of a matrix-form tensor, in `f64`.
pub(crate) fn matrices<F: Float>(ct: &MatrixCiphertext<F>) -> Vec<[f64; 4]> {
    let p = ct.planes();
    let it: Vec<_> = p.iter().map(|plane| plane.iter()).collect();
    let [mut i0, mut i1, mut i2, mut i3]: [_; 4] = match it.try_into() {
        Ok(a) => a,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::with_capacity(ct.len());
    while let (Some(a), Some(b), Some(c), Some(d)) = (i0.next(), i1.next(), i2.next(), i3.next()) {
        out.push([a.as_f64(), b.as_f64(), c.as_f64(), d.as_f64()]);
    }
    out
}
