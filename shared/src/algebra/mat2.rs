//! A ciphertext value in matrix form: the 2x2 matrix itself.

use super::Elem2;
use crate::Float;

/// A 2x2 real matrix `[[c00, c01], [c10, c11]]`, row-major.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mat2<F>(pub [F; 4]);

impl<F: Float> Mat2<F> {
    /// Matrix product (not assumed commutative here: used for keys too).
    pub fn matmul(self, o: Self) -> Self {
        let [a, b, c, d] = self.0;
        let [e, f, g, h] = o.0;
        Mat2([a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h])
    }
}

impl<F: Float> Elem2<F> for Mat2<F> {
    fn scalar(&self, c: F) -> Self {
        Mat2([c, F::zero(), F::zero(), c])
    }
    fn add(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        Mat2([a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]])
    }
    fn sub(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        Mat2([a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]])
    }
    fn mul(self, o: Self) -> Self {
        self.matmul(o)
    }
    fn scale(self, c: F) -> Self {
        let a = self.0;
        Mat2([a[0] * c, a[1] * c, a[2] * c, a[3] * c])
    }
    fn trace(self) -> F {
        self.0[0] + self.0[3]
    }
    fn det(self) -> F {
        self.0[0] * self.0[3] - self.0[1] * self.0[2]
    }
    fn spectral_bound(self) -> F {
        self.0.iter().fold(F::zero(), |s, &v| s + v * v).sqrt()
    }
}
