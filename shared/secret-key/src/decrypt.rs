//! Decryption of ciphertext tensors of every representation.

use ndarray::ArrayD;

use crate::SecretKey;
use more_core::algebra::Mat2;
use more_core::nn::Model;
use more_core::tensor::{Compact, MatrixForm, Plain, PlanarTensor, Representation};
use more_core::{Float, MoreError, Result};

/// Representations the key holder can decrypt: the two ciphertext forms. [`Plain`] is
/// deliberately not one of them, so a plaintext tensor can never pass as "decrypted" (a node that
/// answers in plaintext is an error for the caller to show, not a result).
pub trait Decrypt<F: Float>: Representation<F> {
    /// Both eigen-slots of every value: `(plaintexts, shadows)`, each of the logical shape.
    ///
    /// # Errors
    /// [`MoreError::BasisMismatch`] when a compact tensor's basis is not this key's.
    fn decrypt_slots(key: &SecretKey, t: &PlanarTensor<F, Self>) -> Result<(ArrayD<F>, ArrayD<F>)>;
}

impl<F: Float> Decrypt<F> for Compact {
    /// `x = a + b·m0`, `r = a + b·r0`.
    fn decrypt_slots(
        key: &SecretKey,
        t: &PlanarTensor<F, Compact>,
    ) -> Result<(ArrayD<F>, ArrayD<F>)> {
        if *t.basis() != key.compact_basis() {
            return Err(MoreError::BasisMismatch { op: "decrypt" });
        }
        let (a, b) = (&t.planes()[0], &t.planes()[1]);
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
        let p = t.planes();
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

    /// Decrypts every parameter of an encrypted model into a plaintext model.
    ///
    /// # Errors
    /// [`MoreError::BasisMismatch`] if the model was trained under another key's basis.
    pub fn decrypt_model<F: Float, R: Decrypt<F>>(
        &self,
        model: &Model<F, R>,
    ) -> Result<Model<F, Plain>> {
        model.map_parameters(Plain, |t| Ok(PlanarTensor::plain(self.decrypt(t)?)))
    }
}
