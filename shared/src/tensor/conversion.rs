//! Exact conversion between the compact and the matrix form.

use super::planar::PlanarTensor;
use super::representation::{Compact, MatrixForm};
use super::CompactBasis;
use crate::Float;

impl<F: Float> PlanarTensor<F, Compact> {
    /// The same ciphertexts in matrix form: `C = a·I + b·C0`.
    pub fn to_matrix_form(&self) -> PlanarTensor<F, MatrixForm> {
        let c0 = self.rep.basis.c0.map(F::of_f64);
        let (a, b) = (&self.planes[0], &self.planes[1]);
        let planes = vec![a + &(b * c0[0]), b * c0[1], b * c0[2], a + &(b * c0[3])];
        PlanarTensor::from_planes_unchecked(MatrixForm, planes)
    }

    /// The public basis `C0`.
    pub fn basis(&self) -> &CompactBasis {
        &self.rep.basis
    }
}

impl<F: Float> PlanarTensor<F, MatrixForm> {
    /// The same ciphertexts in compact form over `basis` (which must be a ciphertext of the same
    /// key): `b = c01 / C0[0][1]`, `a = c00 − b·C0[0][0]`. Exact up to rounding; ciphertexts of
    /// another key give meaningless results, which cannot be detected in general.
    pub fn to_compact_form(&self, basis: CompactBasis) -> PlanarTensor<F, Compact> {
        let c0 = basis.c0.map(F::of_f64);
        let b = &self.planes[1] / c0[1];
        let a = &self.planes[0] - &(&b * c0[0]);
        PlanarTensor::from_planes_unchecked(Compact { basis }, vec![a, b])
    }
}
