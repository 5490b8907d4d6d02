//! Per-value algebra of MORE ciphertexts.
//!
//! Every ciphertext value under one key is a real 2x2 matrix `C = S·diag(x, r)·S⁻¹`, and all of them
//! commute: they form a 2-dimensional commutative algebra isomorphic to R×R. [`Elem2`] is one value of
//! that algebra in either representation ([`Mat2`], the matrix form; [`CompactElem`], the compact form
//! `a·I + b·C0`), and [`functions`] evaluates matrix functions (|C|, sign, exp, log, sqrt, tanh,
//! sigmoid) on it with ring operations and closed 2x2 forms only: no eigen-decomposition.

pub mod compact_elem;
pub mod functions;
pub mod mat2;

pub use compact_elem::CompactElem;
pub use mat2::Mat2;

use crate::Float;

/// One value of the 2-dimensional commutative algebra spanned by `I` and a ciphertext.
///
/// Ring operations act on both eigenvalues (the plaintext `x` and the shadow `r`) at once.
pub trait Elem2<F: Float>: Copy {
    /// `c·I` in the same algebra (same basis).
    fn scalar(&self, c: F) -> Self;
    /// Sum.
    fn add(self, other: Self) -> Self;
    /// Difference.
    fn sub(self, other: Self) -> Self;
    /// Product (commutative).
    fn mul(self, other: Self) -> Self;
    /// Multiplication by a real number.
    fn scale(self, c: F) -> Self;
    /// Trace: `x + r`.
    fn trace(self) -> F;
    /// Determinant: `x·r`.
    fn det(self) -> F;
    /// An upper bound of the spectral radius `max(|x|, |r|)` computed without eigenvalues
    /// (a Frobenius norm).
    fn spectral_bound(self) -> F;

    /// `c·I + self`.
    fn add_scalar(self, c: F) -> Self {
        self.add(self.scalar(c))
    }
    /// Inverse by the adjugate, `(tr(C)·I − C) / det(C)`: decrypts to `1/x` (shadow `1/r`).
    fn inv(self) -> Self {
        let adj = self.scalar(self.trace()).sub(self);
        adj.scale(F::one() / self.det())
    }
    /// `self²`.
    fn square(self) -> Self {
        self.mul(self)
    }
}
