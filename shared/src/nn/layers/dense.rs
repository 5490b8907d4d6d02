//! Fully connected layer: `y = x·W + b`.
//!
//! # Shapes
//! `x: (n, in)`, `W: (in, out)`, `b: (1, out)`, `y: (n, out)`.

use super::Gradients;
use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// `x·W + b`.
pub(crate) fn forward<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    w: &PlanarTensor<F, R>,
    b: &PlanarTensor<F, R>,
) -> Result<PlanarTensor<F, R>> {
    x.matmul(w)?.add(b)
}

/// `(dx, dW, db) = (dy·Wᵀ, xᵀ·dy, Σ_n dy)`; `dx` only when `input_gradient`.
pub(crate) fn backward<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    w: &PlanarTensor<F, R>,
    dy: &PlanarTensor<F, R>,
    input_gradient: bool,
) -> Result<Gradients<F, R>> {
    let dx = if input_gradient {
        Some(dy.matmul_t(w)?)
    } else {
        None
    };
    Ok((dx, x.t_matmul(dy)?, dy.sum_axis(0)?))
}
