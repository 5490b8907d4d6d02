//! Closed-form eigen-decomposition of real 2x2 ciphertexts and the attacker's [`RecoveredKey`].
//!
//! This is the only place in the crate that computes eigenvalues or eigenvectors (the engine needs
//! none: its matrix functions use closed forms). Source: every MORE ciphertext is
//! `C = S·diag(x, r)·S⁻¹`, so its eigenvalues are `{x, r}` (the roots of `λ² − tr C·λ + det C`) and
//! its eigenvectors are the columns of `S`; by Tsaban & Lifshitz's Lemma 2.1 (a 2x2 matrix commuting
//! with all diagonal matrices is diagonal) all ciphertexts of a key share them (SECURITY.md, "Why
//! the scheme leaks").

use ndarray::{ArrayD, IxDyn};

use crate::{matrices, AttackError};
use more_core::tensor::{CompactCiphertext, MatrixCiphertext};
use more_core::Float;

/// Eigen-decomposition of one real 2x2 matrix with distinct real eigenvalues.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eigen2 {
    /// Eigenvalues, larger first: `[λ₊, λ₋]`.
    pub values: [f64; 2],
    /// Unit eigenvectors `[v₊, v₋]` (each `[v0, v1]`), in the order of `values`.
    pub vectors: [[f64; 2]; 2],
    /// `(λ₊ − λ₋) / ‖C‖_F`: how well separated the eigenvalues are relative to the matrix size.
    /// Eigenvectors computed from rounded entries are accurate to about `ε / rel_gap`.
    pub rel_gap: f64,
}

/// Relative eigenvalue gap below which a matrix counts as a multiple of `I`.
pub const SCALAR_REL_GAP: f64 = 1e-9;

/// Closed-form eigen-decomposition of `C = [c00, c01, c10, c11]` (row-major).
///
/// `λ± = tr/2 ± √((c00 − c11)²/4 + c01·c10)`; for each eigenvalue the eigenvector is the larger of
/// the two candidates `(c01, λ − c00)` and `(λ − c11, c10)` (both exact in exact arithmetic; the
/// larger avoids cancellation), normalised.
///
/// # Errors
/// [`AttackError::NonFinite`], [`AttackError::ScalarCiphertext`] (relative gap below
/// [`SCALAR_REL_GAP`], including the zero matrix), [`AttackError::ComplexEigenvalues`].
pub fn eigen2(c: [f64; 4]) -> Result<Eigen2, AttackError> {
    if c.iter().any(|v| !v.is_finite()) {
        return Err(AttackError::NonFinite);
    }
    let [p, q, s, t] = c;
    let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(AttackError::ScalarCiphertext);
    }
    let h = (p - t) / 2.0;
    let disc = h * h + q * s;
    if disc < -1e-12 * norm * norm {
        return Err(AttackError::ComplexEigenvalues);
    }
    let half = disc.max(0.0).sqrt();
    let rel_gap = 2.0 * half / norm;
    if rel_gap.is_nan() || rel_gap <= SCALAR_REL_GAP {
        return Err(AttackError::ScalarCiphertext);
    }
    let mid = (p + t) / 2.0;
    let values = [mid + half, mid - half];
    let vectors = values.map(|l| {
        let u = [q, l - p];
        let w = [l - t, s];
        let (nu, nw) = (u[0].hypot(u[1]), w[0].hypot(w[1]));
        let (v, n) = if nu >= nw { (u, nu) } else { (w, nw) };
        [v[0] / n, v[1] / n]
    });
    Ok(Eigen2 {
        values,
        vectors,
        rel_gap,
    })
}

/// An equivalent key recovered by an attack: `V = [v_msg | v_shadow]` (columns of the secret `S` up
/// to scale), ordered so that slot 0 of `V⁻¹·C·V` is the plaintext and slot 1 the shadow.
///
/// Any `V` whose columns are eigenvectors of the key's ciphertexts diagonalises all of them, so
/// this decrypts exactly like the secret key (up to rounding), without knowing `S`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecoveredKey {
    /// `V`, row-major `[v00, v01, v10, v11]`; column 0 is the message eigenvector.
    pub v: [f64; 4],
    v_inv: [f64; 4],
    /// Whether the message column is the eigenvector of the *smaller* eigenvalue of the reference
    /// ciphertext it was built from (the "swap bit" the attack had to decide).
    pub swap: bool,
}

impl RecoveredKey {
    /// The key from a reference ciphertext's eigen-decomposition; `swap = false` takes the
    /// eigenvector of the larger eigenvalue as the message column.
    pub fn from_eigen(e: &Eigen2, swap: bool) -> Self {
        let (m, r) = if swap {
            (e.vectors[1], e.vectors[0])
        } else {
            (e.vectors[0], e.vectors[1])
        };
        Self::from_columns(m, r, swap)
    }

    fn from_columns(m: [f64; 2], r: [f64; 2], swap: bool) -> Self {
        let v = [m[0], r[0], m[1], r[1]];
        let det = v[0] * v[3] - v[1] * v[2];
        let v_inv = [v[3] / det, -v[1] / det, -v[2] / det, v[0] / det];
        RecoveredKey { v, v_inv, swap }
    }

    /// The same eigenvectors with the other slot taken as the message (flips the swap bit).
    pub fn swapped(&self) -> Self {
        Self::from_columns([self.v[1], self.v[3]], [self.v[0], self.v[2]], !self.swap)
    }

    /// `V⁻¹·C·V` for one ciphertext (row-major); diagonal up to rounding for ciphertexts of the key.
    pub fn diagonalise(&self, c: [f64; 4]) -> [f64; 4] {
        let mul = |a: [f64; 4], b: [f64; 4]| {
            [
                a[0] * b[0] + a[1] * b[2],
                a[0] * b[1] + a[1] * b[3],
                a[2] * b[0] + a[3] * b[2],
                a[2] * b[1] + a[3] * b[3],
            ]
        };
        mul(mul(self.v_inv, c), self.v)
    }

    /// `(plaintext, shadow)` of one ciphertext: the diagonal of `V⁻¹·C·V`.
    pub fn slots(&self, c: [f64; 4]) -> (f64, f64) {
        let d = self.diagonalise(c);
        (d[0], d[3])
    }

    /// Spectral condition number of the normalised `V` (rounding in decryption grows with its
    /// square; it equals `cond` of the secret `S` with unit columns).
    pub fn condition(&self) -> f64 {
        let fro2: f64 = self.v.iter().map(|x| x * x).sum();
        let det = (self.v[0] * self.v[3] - self.v[1] * self.v[2]).abs();
        let disc = (fro2 * fro2 - 4.0 * det * det).max(0.0).sqrt();
        let (s1, s2) = (
            ((fro2 + disc) / 2.0).sqrt(),
            ((fro2 - disc) / 2.0).max(0.0).sqrt(),
        );
        if s2 == 0.0 {
            f64::INFINITY
        } else {
            s1 / s2
        }
    }

    /// Both slots of every value of a matrix-form tensor: `(plaintexts, shadows)`, each of the
    /// logical shape.
    pub fn decrypt_slots<F: Float>(&self, ct: &MatrixCiphertext<F>) -> (ArrayD<F>, ArrayD<F>) {
        let (x, r): (Vec<F>, Vec<F>) = matrices(ct)
            .into_iter()
            .map(|c| {
                let (x, r) = self.slots(c);
                (F::of_f64(x), F::of_f64(r))
            })
            .unzip();
        let shape = IxDyn(ct.shape());
        (
            ArrayD::from_shape_vec(shape.clone(), x).expect("one value per element"),
            ArrayD::from_shape_vec(shape, r).expect("one value per element"),
        )
    }

    /// Decrypts a matrix-form tensor (logical shape): slot 0 of `V⁻¹·C·V` for every value.
    pub fn decrypt_matrix<F: Float>(&self, ct: &MatrixCiphertext<F>) -> ArrayD<F> {
        self.decrypt_slots(ct).0
    }

    /// Decrypts a compact tensor after the public conversion `C = a·I + b·C0`.
    pub fn decrypt_compact<F: Float>(&self, ct: &CompactCiphertext<F>) -> ArrayD<F> {
        self.decrypt_matrix(&ct.to_matrix_form())
    }
}

/// Index of the most informative ciphertext (largest relative eigenvalue gap) among `mats`, with
/// its decomposition; non-finite, scalar and complex ones are skipped.
pub(crate) fn best_reference(
    mats: impl IntoIterator<Item = [f64; 4]>,
) -> Option<(usize, [f64; 4], Eigen2)> {
    let mut best: Option<(usize, [f64; 4], Eigen2)> = None;
    for (i, c) in mats.into_iter().enumerate() {
        if let Ok(e) = eigen2(c) {
            let better = match &best {
                None => true,
                Some(b) => e.rel_gap > b.2.rel_gap,
            };
            if better {
                best = Some((i, c, e));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn closed_form_matches_definition() {
        // S = [[2, 1], [1, 1]], x = 0.3, r = -0.7.
        let s = [2.0, 1.0, 1.0, 1.0];
        let si = [1.0, -1.0, -1.0, 2.0];
        let (x, r) = (0.3, -0.7);
        let c = [
            s[0] * x * si[0] + s[1] * r * si[2],
            s[0] * x * si[1] + s[1] * r * si[3],
            s[2] * x * si[0] + s[3] * r * si[2],
            s[2] * x * si[1] + s[3] * r * si[3],
        ];
        let e = eigen2(c).unwrap();
        assert!((e.values[0] - x).abs() < 1e-14 && (e.values[1] - r).abs() < 1e-14);
        let k = RecoveredKey::from_eigen(&e, false);
        let (a, b) = k.slots(c);
        assert!((a - x).abs() < 1e-14 && (b - r).abs() < 1e-14);
        assert_eq!(
            eigen2([1.0, 0.0, 0.0, 1.0]),
            Err(AttackError::ScalarCiphertext)
        );
        assert_eq!(
            eigen2([0.0, 1.0, -1.0, 0.0]),
            Err(AttackError::ComplexEigenvalues)
        );
        assert_eq!(
            eigen2([f64::NAN, 0.0, 0.0, 1.0]),
            Err(AttackError::NonFinite)
        );
    }
}
