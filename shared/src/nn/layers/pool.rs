//! Average and max pooling with a square window and stride equal to the window.
//!
//! # Shapes
//! `x: (n, c, h, w) → y: (n, c, h/s, w/s)`.

use ndarray::{s, Array4, ArrayD, ArrayView4, Ix4};

use crate::tensor::{alloc, PlanarTensor, Representation};
use crate::{Float, Result};

/// Zeros of `shape`, allocated fallibly ([`crate::MoreError::Allocation`]).
fn zeros<F: Float>(shape: [usize; 4], what: &'static str) -> Result<Array4<F>> {
    let values = alloc::zeros(alloc::count(&shape, what)?, what)?;
    Ok(Array4::from_shape_vec(shape, values).expect("n·c·h·w values"))
}

/// A plane as `(n, c, h, w)`.
fn image_plane<F: Float>(p: &ArrayD<F>) -> ArrayView4<'_, F> {
    p.view()
        .into_dimensionality::<Ix4>()
        .expect("(n, c, h, w), checked by the model spec")
}

/// Average pooling (linear): the sum of the window elements, over `s²`.
pub(crate) fn avg_forward<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    s: usize,
) -> Result<PlanarTensor<F, R>> {
    let scale = F::one() / F::from_usize(s * s).unwrap();
    let planes = (x.planes().iter())
        .map(|p| {
            let p = image_plane(p);
            let [n, c, h, w] = *p.shape() else {
                unreachable!("4-D")
            };
            let mut out = zeros::<F>([n, c, h / s, w / s], "avg_pool2d output")?;
            for (dy, dx) in offsets(s) {
                out += &p.slice(s![.., .., dy..h / s * s;s, dx..w / s * s;s]);
            }
            Ok((out * scale).into_dyn())
        })
        .collect::<Result<_>>()?;
    Ok(x.with_planes(planes))
}

/// Adjoint of average pooling: each input gets `dy/s²` of its window.
pub(crate) fn avg_backward<F: Float, R: Representation<F>>(
    dy: &PlanarTensor<F, R>,
    s: usize,
) -> Result<PlanarTensor<F, R>> {
    let scale = F::one() / F::from_usize(s * s).unwrap();
    let planes = (dy.planes().iter())
        .map(|p| {
            let share = &image_plane(p) * scale;
            let [n, c, oh, ow] = *share.shape() else {
                unreachable!("4-D")
            };
            let mut dx = zeros::<F>([n, c, oh * s, ow * s], "avg_pool2d input gradient")?;
            for (y0, x0) in offsets(s) {
                dx.slice_mut(s![.., .., y0..oh * s;s, x0..ow * s;s])
                    .assign(&share);
            }
            Ok(dx.into_dyn())
        })
        .collect::<Result<_>>()?;
    Ok(dy.with_planes(planes))
}

/// What max pooling keeps for its backward pass: for each window element `j ≥ 1`, the weight
/// `(1 − sign(m_{j−1} − e_j))/2` that the running maximum gave `e_j` (the earlier elements share the
/// rest), with ties split in half.
pub(crate) struct MaxPoolCache<F, R> {
    steps: Vec<PlanarTensor<F, R>>,
}

/// The window offsets `(dy, dx)` in row-major order.
fn offsets(s: usize) -> impl DoubleEndedIterator<Item = (usize, usize)> {
    (0..s * s).map(move |j| (j / s, j % s))
}

/// The `(dy, dx)` element of every `s×s` window: `(n, c, h, w) → (n, c, h/s, w/s)`, one strided
/// copy per plane.
fn window_element<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    s: usize,
    (dy, dx): (usize, usize),
) -> PlanarTensor<F, R> {
    let planes = x
        .planes()
        .iter()
        .map(|p| {
            let p = image_plane(p);
            let (oh, ow) = (p.shape()[2] / s, p.shape()[3] / s);
            p.slice(s![.., .., dy..oh * s;s, dx..ow * s;s])
                .to_owned()
                .into_dyn()
        })
        .collect();
    x.with_planes(planes)
}

/// Exact max pooling: a running maximum `m_j = max(m_{j−1}, e_j)` over the window's `s²`
/// elements, `max(a, b) = (a + b + |a − b|)/2`. The routing weights of the backward pass are
/// computed only for `training`.
pub(crate) fn max_forward<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    s: usize,
    training: bool,
) -> Result<(PlanarTensor<F, R>, MaxPoolCache<F, R>)> {
    let mut elements = offsets(s).map(|o| window_element(x, s, o));
    let mut m = elements.next().expect("a window has at least one element");
    let mut steps = Vec::with_capacity(s * s - 1);
    for e in elements {
        if training {
            // weight of e_j in d m_j: (1 − sign(m − e))/2; ties (common: equal ReLU outputs
            // over blank regions) split the gradient in half in plaintext and encrypted alike.
            steps.push(
                m.sign_of_difference(&e)?
                    .neg()
                    .add_scalar(F::one())
                    .scale(F::of_f64(0.5)),
            );
        }
        m = m.maximum(&e)?;
    }
    Ok((m, MaxPoolCache { steps }))
}

/// Backward pass of [`max_forward`]: each window element's share of `dy`, written back to its
/// place in the window.
pub(crate) fn max_backward<F: Float, R: Representation<F>>(
    dy: &PlanarTensor<F, R>,
    cache: &MaxPoolCache<F, R>,
    s: usize,
) -> Result<PlanarTensor<F, R>> {
    let [n, c, oh, ow] = *dy.shape() else {
        unreachable!("checked by the model spec")
    };
    debug_assert_eq!(
        cache.steps.len(),
        s * s - 1,
        "a cache of a training forward pass"
    );
    let mut dx: Vec<Array4<F>> = (0..R::PLANES)
        .map(|_| zeros([n, c, oh * s, ow * s], "max_pool2d input gradient"))
        .collect::<Result<_>>()?;
    let mut g = dy.clone();
    // Element j ≥ 1 (last first) takes `weight_j` of what reaches it; element 0 the rest.
    let shares = (cache.steps.iter().rev().zip(offsets(s).rev()))
        .map(|(weight, offset)| {
            let share = g.mul(weight)?;
            g = g.mul(&weight.neg().add_scalar(F::one()))?;
            Ok((share, offset))
        })
        .collect::<Result<Vec<_>>>()?;
    for (share, (y0, x0)) in shares.into_iter().chain([(g, (0, 0))]) {
        for (out, p) in dx.iter_mut().zip(share.planes()) {
            out.slice_mut(s![.., .., y0..oh * s;s, x0..ow * s;s])
                .assign(&image_plane(p));
        }
    }
    PlanarTensor::from_planes(
        dy.representation().clone(),
        dx.into_iter().map(Array4::into_dyn).collect(),
    )
}
