//! A ciphertext value in compact form: `a·I + b·C0`.

use super::Elem2;
use crate::Float;

/// The value `a·I + b·C0`, carrying the invariants of the public basis matrix `C0`:
/// `t = tr C0`, `d = det C0` (so `C0² = t·C0 − d·I`, Cayley-Hamilton) and `‖C0‖_F`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactElem<F> {
    /// Coefficient of `I`.
    pub a: F,
    /// Coefficient of `C0`.
    pub b: F,
    /// `tr C0`.
    pub t: F,
    /// `det C0`.
    pub d: F,
    /// Frobenius norm of `C0`.
    pub c0_norm: F,
}

impl<F: Float> CompactElem<F> {
    fn with(self, a: F, b: F) -> Self {
        CompactElem { a, b, ..self }
    }
}

impl<F: Float> Elem2<F> for CompactElem<F> {
    fn scalar(&self, c: F) -> Self {
        self.with(c, F::zero())
    }
    fn add(self, o: Self) -> Self {
        self.with(self.a + o.a, self.b + o.b)
    }
    fn sub(self, o: Self) -> Self {
        self.with(self.a - o.a, self.b - o.b)
    }
    /// `(a1 + b1·C0)(a2 + b2·C0) = (a1a2 − d·b1b2) + (a1b2 + a2b1 + t·b1b2)·C0`.
    fn mul(self, o: Self) -> Self {
        let bb = self.b * o.b;
        self.with(
            self.a * o.a - self.d * bb,
            self.a * o.b + o.a * self.b + self.t * bb,
        )
    }
    fn scale(self, c: F) -> Self {
        self.with(self.a * c, self.b * c)
    }
    /// `tr(aI + bC0) = 2a + b·t`.
    fn trace(self) -> F {
        self.a + self.a + self.b * self.t
    }
    /// `det(aI + bC0) = a² + a·b·t + b²·d`.
    fn det(self) -> F {
        self.a * self.a + self.a * self.b * self.t + self.b * self.b * self.d
    }
    fn spectral_bound(self) -> F {
        self.a.abs() * (F::one() + F::one()).sqrt() + self.b.abs() * self.c0_norm
    }
}
