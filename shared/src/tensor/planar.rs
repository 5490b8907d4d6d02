//! The tensor type: a logical shape, a representation, and its planes.

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn};

use super::representation::{Plain, Representation};
use crate::{Float, MoreError, Result};

/// A tensor of logical shape `s` stored as `R::PLANES` real planes of shape `s`.
///
/// `PlanarTensor<F, Plain>` is a plaintext tensor, `PlanarTensor<F, Compact>` and
/// `PlanarTensor<F, MatrixForm>` are ciphertexts. Every operation decrypts to the same operation
/// on the plaintexts (and, independently, on the shadows). Planes are kept in standard (row-major)
/// layout.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanarTensor<F, R> {
    pub(crate) rep: R,
    pub(crate) planes: Vec<ArrayD<F>>,
}

impl<F: Float, R: Representation<F>> PlanarTensor<F, R> {
    /// Builds a tensor from its planes.
    ///
    /// # Errors
    /// [`MoreError::InvalidParameter`] if the number of planes is not `R::PLANES`;
    /// [`MoreError::ShapeMismatch`] if the planes' shapes differ.
    pub fn from_planes(rep: R, planes: Vec<ArrayD<F>>) -> Result<Self> {
        if planes.len() != R::PLANES {
            return Err(MoreError::InvalidParameter(format!(
                "{:?} needs {} planes, got {}",
                R::KIND,
                R::PLANES,
                planes.len()
            )));
        }
        for p in &planes[1..] {
            if p.shape() != planes[0].shape() {
                return Err(MoreError::ShapeMismatch {
                    op: "from_planes",
                    lhs: planes[0].shape().to_vec(),
                    rhs: p.shape().to_vec(),
                });
            }
        }
        Ok(Self::from_planes_unchecked(rep, planes))
    }

    pub(crate) fn from_planes_unchecked(rep: R, planes: Vec<ArrayD<F>>) -> Self {
        let planes = planes
            .into_iter()
            .map(|p| {
                if p.is_standard_layout() {
                    p
                } else {
                    p.as_standard_layout().into_owned()
                }
            })
            .collect();
        PlanarTensor { rep, planes }
    }

    /// Embeds plaintext values `w` as `w·I`: what the node does with public constants and initial
    /// weights (it has no key). `w·I` decrypts to `w` with shadow `w`.
    pub fn embed(rep: R, values: ArrayD<F>) -> Self {
        let planes = rep
            .identity()
            .iter()
            .map(|&c| {
                if c == 0.0 {
                    ArrayD::zeros(values.raw_dim())
                } else {
                    values.mapv(|v| v * F::of_f64(c))
                }
            })
            .collect();
        Self::from_planes_unchecked(rep, planes)
    }

    /// A tensor of `c·I` everywhere.
    pub fn full(rep: R, shape: &[usize], c: F) -> Self {
        Self::embed(rep, ArrayD::from_elem(IxDyn(shape), c))
    }

    /// Logical shape.
    pub fn shape(&self) -> &[usize] {
        self.planes[0].shape()
    }

    /// Number of logical values.
    pub fn len(&self) -> usize {
        self.planes[0].len()
    }

    /// Whether the tensor has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The planes, `R::PLANES` of them, each of the logical shape.
    pub fn planes(&self) -> &[ArrayD<F>] {
        &self.planes
    }

    /// Consumes the tensor, returning its planes.
    pub fn into_planes(self) -> Vec<ArrayD<F>> {
        self.planes
    }

    /// The representation (for compact tensors, it carries the public basis).
    pub fn representation(&self) -> &R {
        &self.rep
    }

    /// The public key the values are encrypted under: `Some` for compact ciphertexts (their basis
    /// `C0`), `None` for plaintext and matrix-form tensors.
    pub fn public_key(&self) -> Option<super::PublicKey> {
        self.rep.public_key()
    }

    /// Largest absolute plane value: a norm that grows without bound when the shadow channel
    /// diverges, and is NaN/∞ when a value is not finite.
    pub fn max_abs(&self) -> F {
        // Eight independent lanes so that the loop vectorizes; a NaN or ∞ fails `a <= MAX`.
        const LANES: usize = 8;
        let (mut m, mut finite) = ([F::zero(); LANES], [true; LANES]);
        let mut lane = |i: usize, v: F| {
            let a = v.abs();
            finite[i] &= a <= F::max_value();
            m[i] = if a > m[i] { a } else { m[i] };
        };
        for p in &self.planes {
            let values = p.as_slice_memory_order().map(Cow::Borrowed);
            let values = values.unwrap_or_else(|| Cow::Owned(p.iter().copied().collect()));
            let chunks = values.chunks_exact(LANES);
            for (i, &v) in chunks.remainder().iter().enumerate() {
                lane(i, v);
            }
            for chunk in chunks {
                for (i, &v) in chunk.iter().enumerate() {
                    lane(i, v);
                }
            }
        }
        if finite.iter().all(|&f| f) {
            m.into_iter()
                .fold(F::zero(), |a, b| if b > a { b } else { a })
        } else {
            F::infinity()
        }
    }

    pub(crate) fn check_same_rep(&self, other: &Self, op: &'static str) -> Result<()> {
        if self.rep != other.rep {
            return Err(MoreError::BasisMismatch { op });
        }
        Ok(())
    }

    pub(crate) fn with_planes(&self, planes: Vec<ArrayD<F>>) -> Self {
        Self::from_planes_unchecked(self.rep.clone(), planes)
    }
}

impl<F: Float> PlanarTensor<F, Plain> {
    /// A plaintext tensor.
    pub fn plain(values: ArrayD<F>) -> Self {
        Self::from_planes_unchecked(Plain, vec![values])
    }

    /// The plaintext values.
    pub fn values(&self) -> &ArrayD<F> {
        &self.planes[0]
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{arr1, ArrayD};

    use super::PlanarTensor;

    fn plain(values: &[f32]) -> PlanarTensor<f32, super::Plain> {
        PlanarTensor::plain(arr1(values).into_dyn())
    }

    #[test]
    fn max_abs_is_the_largest_magnitude_or_infinite() {
        assert_eq!(plain(&[1.0, -3.5, 2.0]).max_abs(), 3.5);
        assert_eq!(plain(&[1.0, f32::NAN, 2.0]).max_abs(), f32::INFINITY);
        assert_eq!(plain(&[f32::NEG_INFINITY, 0.0]).max_abs(), f32::INFINITY);
        let transposed = ArrayD::from_shape_vec(vec![2, 2], vec![0.0, -7.0, 1.0, 2.0])
            .unwrap()
            .reversed_axes();
        assert_eq!(PlanarTensor::plain(transposed).max_abs(), 7.0);
    }
}
