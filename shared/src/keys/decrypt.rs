//! Decryption of ciphertext tensors of every representation.

use ndarray::ArrayD;

use super::SecretKey;
use crate::algebra::Mat2;
use crate::tensor::{Compact, MatrixForm, Plain, PlanarTensor, Representation};
use crate::{Float, MoreError, Result};

/// Representations the key holder can decrypt. For [`Plain`] it is the identity (so generic code
/// can treat plaintext runs like encrypted ones).
pub trait Decrypt<F: Float>: Representation<F> {
    /// Both eigen-slots of every value: `(plaintexts, shadows)`, each of the logical shape.
    ///
    /// # Errors
    /// [`MoreError::BasisMismatch`] when a compact tensor's basis is not this key's.
    fn decrypt_slots(key: &SecretKey, t: &PlanarTensor<F, Self>) -> Result<(ArrayD<F>, ArrayD<F>)>;
}

impl<F: Float> Decrypt<F> for Plain {
    fn decrypt_slots(_: &SecretKey, t: &PlanarTensor<F, Plain>) -> Result<(ArrayD<F>, ArrayD<F>)> {
        Ok((t.planes[0].clone(), t.planes[0].clone()))
    }
}

impl<F: Float> Decrypt<F> for Compact {
    /// `x = a + b·m0`, `r = a + b·r0`.
    fn decrypt_slots(
        key: &SecretKey,
        t: &PlanarTensor<F, Compact>,
    ) -> Result<(ArrayD<F>, ArrayD<F>)> {
        if t.rep.basis != key.compact_basis() {
            return Err(MoreError::BasisMismatch { op: "decrypt" });
        }
        let (a, b) = (&t.planes[0], &t.planes[1]);
        let x = ndarray::Zip::from(a)
            .and(b)
            .map_collect(|&a, &b| F::of_f64(a.as_f64() + b.as_f64() * key.m0));
        let r = ndarray::Zip::from(a)
            .and(b)
            .map_collect(|&a, &b| F::of_f64(a.as_f64() + b.as_f64() * key.r0));
        Ok((x, r))
    }
}

impl<F: Float> Decrypt<F> for MatrixForm {
    /// The diagonal of `S⁻¹·C·S`.
    fn decrypt_slots(
        key: &SecretKey,
        t: &PlanarTensor<F, MatrixForm>,
    ) -> Result<(ArrayD<F>, ArrayD<F>)> {
        let p = &t.planes;
        let mut x = ArrayD::zeros(p[0].raw_dim());
        let mut r = ArrayD::zeros(p[0].raw_dim());
        ndarray::Zip::from(&mut x)
            .and(&mut r)
            .and(&p[0])
            .and(&p[1])
            .and(&p[2])
            .and(&p[3])
            .for_each(|x, r, &c0, &c1, &c2, &c3| {
                let c = Mat2([c0, c1, c2, c3].map(|v: F| v.as_f64()));
                let (xv, rv) = key.unconjugate(c);
                *x = F::of_f64(xv);
                *r = F::of_f64(rv);
            });
        Ok((x, r))
    }
}

impl SecretKey {
    /// Decrypts a tensor of any representation into its plaintext values (logical shape).
    ///
    /// # Errors
    /// [`MoreError::BasisMismatch`] when a compact tensor was made under another key's basis.
    /// Matrix-form ciphertexts of another key decrypt to meaningless values, which cannot be
    /// detected in general.
    pub fn decrypt<F: Float, R: Decrypt<F>>(&self, t: &PlanarTensor<F, R>) -> Result<ArrayD<F>> {
        Ok(R::decrypt_slots(self, t)?.0)
    }

    /// The shadow values `r` of a tensor (diagnostics: shadow health, tests).
    ///
    /// # Errors
    /// As [`SecretKey::decrypt`].
    pub fn decrypt_shadow<F: Float, R: Decrypt<F>>(
        &self,
        t: &PlanarTensor<F, R>,
    ) -> Result<ArrayD<F>> {
        Ok(R::decrypt_slots(self, t)?.1)
    }
}
