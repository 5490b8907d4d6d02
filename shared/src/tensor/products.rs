//! Matrix products.

use ndarray::{Array2, ArrayView2, Ix2};

use super::planar::PlanarTensor;
use super::representation::Representation;
use crate::{Float, MoreError, Result};

fn as_matrix<'a, F: Float>(
    op: &'static str,
    p: &'a ndarray::ArrayD<F>,
) -> Result<ArrayView2<'a, F>> {
    p.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| MoreError::BadRank {
            op,
            expected: "a 2-D tensor",
            shape: p.shape().to_vec(),
        })
}

/// The planes of a 2-D tensor as matrix views, transposed (strides swapped) when asked.
fn matrices<F: Float, R>(
    t: &PlanarTensor<F, R>,
    transposed: bool,
) -> Result<Vec<ArrayView2<'_, F>>> {
    t.planes
        .iter()
        .map(|p| {
            let m = as_matrix("matmul", p)?;
            Ok(if transposed { m.reversed_axes() } else { m })
        })
        .collect()
}

impl<F: Float, R: Representation<F>> PlanarTensor<F, R> {
    /// Matrix product of logical `(m, k)·(k, n)`: 1 real GEMM in plaintext, 3 in compact form,
    /// 8 in matrix form.
    ///
    /// # Errors
    /// [`MoreError::BadRank`] unless both are 2-D; [`MoreError::ShapeMismatch`] if the inner
    /// dimensions differ; [`MoreError::BasisMismatch`] for different bases.
    pub fn matmul(&self, other: &Self) -> Result<Self> {
        self.product(other, false, false)
    }

    /// `selfᵀ·other` for `self: (k, m)`, `other: (k, n)`, without copying the transpose (the
    /// GEMM reads it strided). Errors as [`Self::matmul`].
    pub fn t_matmul(&self, other: &Self) -> Result<Self> {
        self.product(other, true, false)
    }

    /// `self·otherᵀ` for `self: (m, k)`, `other: (n, k)`, without copying the transpose.
    /// Errors as [`Self::matmul`].
    pub fn matmul_t(&self, other: &Self) -> Result<Self> {
        self.product(other, false, true)
    }

    /// The product of both operands, each read transposed when asked.
    fn product(&self, other: &Self, transpose_lhs: bool, transpose_rhs: bool) -> Result<Self> {
        self.check_same_rep(other, "matmul")?;
        let (a, b) = (
            matrices(self, transpose_lhs)?,
            matrices(other, transpose_rhs)?,
        );
        if a[0].ncols() != b[0].nrows() {
            return Err(MoreError::ShapeMismatch {
                op: "matmul",
                lhs: a[0].shape().to_vec(),
                rhs: b[0].shape().to_vec(),
            });
        }
        let planes = self
            .rep
            .matmul(&a, &b)
            .into_iter()
            .map(Array2::into_dyn)
            .collect();
        Ok(self.with_planes(planes))
    }

    /// Product with a plaintext matrix on the right, `(m, k)·W(k, n)`: one GEMM per plane.
    ///
    /// # Errors
    /// As [`Self::matmul`].
    pub fn matmul_plain(&self, w: &Array2<F>) -> Result<Self> {
        let a = self
            .planes
            .iter()
            .map(|p| as_matrix("matmul_plain", p))
            .collect::<Result<Vec<_>>>()?;
        if a[0].ncols() != w.nrows() {
            return Err(MoreError::ShapeMismatch {
                op: "matmul_plain",
                lhs: self.shape().to_vec(),
                rhs: w.shape().to_vec(),
            });
        }
        Ok(self.with_planes(a.iter().map(|p| p.dot(w).into_dyn()).collect()))
    }
}
