//! Average and max pooling with a square window and stride equal to the window.
//!
//! # Shapes
//! `x: (n, c, h, w) → y: (n, c, h/s, w/s)`.

use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// `(n, c, h, w) → (n, c, h/s, s, w/s, s)`.
fn windows<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    s: usize,
) -> Result<PlanarTensor<F, R>> {
    let [n, c, h, w] = *x.shape() else {
        unreachable!("checked by the model spec")
    };
    x.reshape(&[n, c, h / s, s, w / s, s])
}

/// Average pooling (linear).
pub(crate) fn avg_forward<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    s: usize,
) -> Result<PlanarTensor<F, R>> {
    let [n, c, h, w] = *x.shape() else {
        unreachable!("checked by the model spec")
    };
    let sum = windows(x, s)?.sum_axis(5)?.sum_axis(3)?;
    Ok(sum
        .reshape(&[n, c, h / s, w / s])?
        .scale(F::one() / F::from_usize(s * s).unwrap()))
}

/// Adjoint of average pooling: each input gets `dy/s²` of its window.
pub(crate) fn avg_backward<F: Float, R: Representation<F>>(
    dy: &PlanarTensor<F, R>,
    s: usize,
) -> Result<PlanarTensor<F, R>> {
    let [n, c, oh, ow] = *dy.shape() else {
        unreachable!("checked by the model spec")
    };
    let spread = dy
        .reshape(&[n, c, oh, 1, ow, 1])?
        .broadcast_to(&[n, c, oh, s, ow, s])?
        .reshape(&[n, c, oh * s, ow * s])?;
    Ok(spread.scale(F::one() / F::from_usize(s * s).unwrap()))
}

/// What max pooling keeps for its backward pass: for each window element `j ≥ 1`, the weight
/// `(1 − sign(m_{j−1} − e_j))/2` that the running maximum gave `e_j` (the earlier elements share the
/// rest), with ties split in half.
pub(crate) struct MaxPoolCache<F, R> {
    steps: Vec<PlanarTensor<F, R>>,
}

/// Exact max pooling: a running maximum `m_j = max(m_{j−1}, e_j)` over the window's `s²`
/// elements, `max(a, b) = (a + b + |a − b|)/2`.
pub(crate) fn max_forward<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    s: usize,
) -> Result<(PlanarTensor<F, R>, MaxPoolCache<F, R>)> {
    let [n, c, h, w] = *x.shape() else {
        unreachable!("checked by the model spec")
    };
    // (n, c, oh, ow, s·s): window elements on the last axis.
    let win = windows(x, s)?
        .permute(&[0, 1, 2, 4, 3, 5])?
        .reshape(&[n, c, h / s, w / s, s * s])?;
    let mut m = win.slice_axis(4, 0, 1)?;
    let mut steps = Vec::with_capacity(s * s - 1);
    for j in 1..s * s {
        let e = win.slice_axis(4, j, j + 1)?;
        // weight of e_j in d m_j: (1 − sign(m − e))/2; ties (common: equal ReLU outputs over
        // blank regions) split the gradient in half in plaintext and encrypted alike.
        steps.push(
            m.sign_of_difference(&e)?
                .neg()
                .add_scalar(F::one())
                .scale(F::of_f64(0.5)),
        );
        m = m.maximum(&e)?;
    }
    Ok((m.reshape(&[n, c, h / s, w / s])?, MaxPoolCache { steps }))
}

/// Backward pass of [`max_forward`].
pub(crate) fn max_backward<F: Float, R: Representation<F>>(
    dy: &PlanarTensor<F, R>,
    cache: &MaxPoolCache<F, R>,
    s: usize,
) -> Result<PlanarTensor<F, R>> {
    let [n, c, oh, ow] = *dy.shape() else {
        unreachable!("checked by the model spec")
    };
    let mut g = dy.reshape(&[n, c, oh, ow, 1])?;
    let mut parts = Vec::with_capacity(s * s);
    for weight in cache.steps.iter().rev() {
        parts.push(g.mul(weight)?);
        g = g.mul(&weight.neg().add_scalar(F::one()))?;
    }
    parts.push(g);
    parts.reverse();
    PlanarTensor::concatenate(4, &parts)?
        .reshape(&[n, c, oh, ow, s, s])?
        .permute(&[0, 1, 2, 4, 3, 5])?
        .reshape(&[n, c, oh * s, ow * s])
}
