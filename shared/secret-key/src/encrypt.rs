//! Encryption of plaintext tensors.

use ndarray::{ArrayD, IxDyn};
use rand::Rng;

use crate::{SecretKey, ShadowDistribution};
use more_core::tensor::{Compact, CompactCiphertext, MatrixCiphertext, MatrixForm, PlanarTensor};
use more_core::{Float, MoreError, Result};

/// Values per sample: all axes but the first (a 0-D or 1-D tensor is one sample).
fn features_per_sample(shape: &[usize]) -> usize {
    if shape.len() >= 2 {
        shape[1..].iter().product()
    } else {
        shape.iter().product()
    }
}

impl SecretKey {
    fn draw_shadows<F: Float>(
        &self,
        x: &ArrayD<F>,
        shadow: &ShadowDistribution,
        rng: &mut impl Rng,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let features = features_per_sample(x.shape()).max(1);
        shadow.validate(features)?;
        let values: Vec<f64> = x.iter().map(|v| v.as_f64()).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(MoreError::NonFinite {
                what: "encrypt: plaintext",
            });
        }
        let r = shadow.sample(rng, values.len(), features);
        Ok((values, r))
    }

    /// Encrypts `x` (any shape) into matrix form: each value becomes `S·diag(x, r)·S⁻¹` with a fresh
    /// shadow `r` from `shadow`.
    ///
    /// # Errors
    /// [`MoreError::NonFinite`] for NaN/∞ plaintexts; [`MoreError::InvalidParameter`] for a
    /// shadow distribution that does not fit the features (axes after the first).
    pub fn encrypt_matrix<F: Float>(
        &self,
        x: &ArrayD<F>,
        shadow: &ShadowDistribution,
        rng: &mut impl Rng,
    ) -> Result<MatrixCiphertext<F>> {
        let (values, r) = self.draw_shadows(x, shadow, rng)?;
        let mut planes: Vec<Vec<F>> = (0..4).map(|_| Vec::with_capacity(values.len())).collect();
        for (&v, &r) in values.iter().zip(&r) {
            let c = self.conjugate(v, r);
            for (plane, &e) in planes.iter_mut().zip(&c.0) {
                plane.push(F::of_f64(e));
            }
        }
        let planes = planes
            .into_iter()
            .map(|p| ArrayD::from_shape_vec(IxDyn(x.shape()), p).expect("same length"))
            .collect();
        PlanarTensor::from_planes(MatrixForm, planes)
    }

    /// Encrypts `x` (any shape) directly into compact form over [`SecretKey::compact_basis`]:
    /// with `C0`'s eigenvalues `(m0, r0)`, `b = (x − r)/(m0 − r0)` and `a = x − b·m0`, so that
    /// `a·I + b·C0 = S·diag(x, r)·S⁻¹` exactly.
    ///
    /// # Errors
    /// As [`SecretKey::encrypt_matrix`].
    pub fn encrypt_compact<F: Float>(
        &self,
        x: &ArrayD<F>,
        shadow: &ShadowDistribution,
        rng: &mut impl Rng,
    ) -> Result<CompactCiphertext<F>> {
        let (values, r) = self.draw_shadows(x, shadow, rng)?;
        let gap = self.m0 - self.r0;
        let (mut a, mut b) = (
            Vec::with_capacity(values.len()),
            Vec::with_capacity(values.len()),
        );
        for (&v, &r) in values.iter().zip(&r) {
            let bv = (v - r) / gap;
            a.push(F::of_f64(v - bv * self.m0));
            b.push(F::of_f64(bv));
        }
        let shape = IxDyn(x.shape());
        PlanarTensor::from_planes(
            Compact {
                basis: self.compact_basis(),
            },
            vec![
                ArrayD::from_shape_vec(shape.clone(), a).expect("same length"),
                ArrayD::from_shape_vec(shape, b).expect("same length"),
            ],
        )
    }
}
