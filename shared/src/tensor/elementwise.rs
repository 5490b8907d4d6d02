//! Element-wise products and exact element-wise functions.

use super::planar::PlanarTensor;
use super::representation::{Representation, Unary};
use crate::{Float, Result};

/// A representation's element-wise function of two operands' planes (one shape).
type PlaneFn<F, R> =
    fn(&R, &[ndarray::ArrayD<F>], &[ndarray::ArrayD<F>]) -> Vec<ndarray::ArrayD<F>>;

impl<F: Float, R: Representation<F>> PlanarTensor<F, R> {
    /// `f` on both operands, broadcast first only when their shapes differ.
    fn binary(&self, other: &Self, op: &'static str, f: PlaneFn<F, R>) -> Result<Self> {
        if self.shape() == other.shape() {
            self.check_same_rep(other, op)?;
            return Ok(self.with_planes(f(&self.rep, &self.planes, &other.planes)));
        }
        let (a, b) = self.broadcast_pair(other, op)?;
        Ok(self.with_planes(f(&self.rep, &a, &b)))
    }

    /// Element-wise product, with broadcasting.
    ///
    /// # Errors
    /// [`crate::MoreError::ShapeMismatch`] if the shapes do not broadcast;
    /// [`crate::MoreError::BasisMismatch`] for compact tensors of different bases.
    pub fn mul(&self, other: &Self) -> Result<Self> {
        self.binary(other, "mul", R::mul)
    }

    /// Element-wise quotient `self · other⁻¹`, with broadcasting. Errors as [`Self::mul`].
    pub fn div(&self, other: &Self) -> Result<Self> {
        self.mul(&other.recip())
    }

    /// Element-wise maximum (exact; max-pooling). Errors as [`Self::mul`].
    pub fn maximum(&self, other: &Self) -> Result<Self> {
        self.binary(other, "maximum", R::max)
    }

    /// `sign(self − other)`, with broadcasting; values equal up to the operands' rounding give 0
    /// (max-pooling's routing, where plaintext ties are common). Errors as [`Self::mul`].
    pub fn sign_of_difference(&self, other: &Self) -> Result<Self> {
        self.binary(other, "sign_of_difference", R::sign_of_difference)
    }

    /// `g ⊙ relu'(self)` in one pass (ReLU's backward pass, `relu'` as
    /// [`Unary::ReluDerivative`]), with broadcasting. Errors as [`Self::mul`].
    pub fn relu_backward(&self, g: &Self) -> Result<Self> {
        self.binary(g, "relu_backward", R::relu_backward)
    }

    /// Applies an exact element-wise function.
    pub fn map(&self, f: Unary) -> Self {
        self.with_planes(self.rep.unary(f, &self.planes))
    }

    /// `|x|` (closed 2x2 form, exact at 0).
    pub fn abs(&self) -> Self {
        self.map(Unary::Abs)
    }
    /// `sign(x)`, 0 at 0.
    pub fn sign(&self) -> Self {
        self.map(Unary::Sign)
    }
    /// `max(x, 0)`.
    pub fn relu(&self) -> Self {
        self.map(Unary::Relu)
    }
    /// `relu'(x)` (½ at 0).
    pub fn relu_derivative(&self) -> Self {
        self.map(Unary::ReluDerivative)
    }
    /// `e^x`.
    pub fn exp(&self) -> Self {
        self.map(Unary::Exp)
    }
    /// `ln x` (needs `x > 0` and a positive shadow).
    pub fn log(&self) -> Self {
        self.map(Unary::Log)
    }
    /// `√x` (needs `x ≥ 0` and a non-negative shadow).
    pub fn sqrt(&self) -> Self {
        self.map(Unary::Sqrt)
    }
    /// `tanh x`.
    pub fn tanh(&self) -> Self {
        self.map(Unary::Tanh)
    }
    /// `1/(1 + e^{−x})`.
    pub fn sigmoid(&self) -> Self {
        self.map(Unary::Sigmoid)
    }
    /// `1/x`.
    pub fn recip(&self) -> Self {
        self.map(Unary::Recip)
    }
    /// `x²`.
    pub fn square(&self) -> Self {
        self.with_planes(self.rep.mul(&self.planes, &self.planes))
    }

    /// Softmax over the last axis, stabilised by subtracting the (exact, encrypted) maximum:
    /// `exp(x − max x) / Σ exp(x − max x)`. The shadow gets the same stabilisation.
    ///
    /// # Errors
    /// [`crate::MoreError::BadRank`] for a 0-D or empty tensor.
    pub fn softmax(&self) -> Result<Self> {
        let axis = self
            .shape()
            .len()
            .checked_sub(1)
            .ok_or(crate::MoreError::BadRank {
                op: "softmax",
                expected: "at least one axis",
                shape: vec![],
            })?;
        let shifted = self.sub(&self.max_axis(axis)?)?.exp();
        shifted.mul(&shifted.sum_axis(axis)?.recip())
    }
}
