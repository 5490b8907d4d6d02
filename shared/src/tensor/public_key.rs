//! The public half of a MORE key: what a node, a second data owner or an attacker may hold.

use serde::{Deserialize, Serialize};

use super::CompactBasis;
use crate::Result;

/// The public half of a secret key: its compact basis `C0` (a ciphertext of a random value under
/// the key, see [`CompactBasis`]), which every compact ciphertext of the key carries in its wire
/// header. Nothing else of a key is public: `S`, `m0` and `r0` stay in `more-secret-key`.
///
/// Two tensors can be combined (added, multiplied, trained on together) only when they share one
/// public key; a node compares the public keys of a dataset and a model before it trains. Plain
/// and matrix-form tensors carry none ([`crate::tensor::PlanarTensor::public_key`] is `None`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicKey {
    basis: CompactBasis,
}

impl PublicKey {
    /// The public key whose compact basis is `basis`.
    pub fn new(basis: CompactBasis) -> Self {
        PublicKey { basis }
    }

    /// The public key of a compact basis received from outside, row-major `C0`.
    ///
    /// # Errors
    /// As [`CompactBasis::new`]: a non-finite entry, a `C0` without two distinct real eigenvalues,
    /// or an off-diagonal entry too small for the matrix-to-compact conversion.
    pub fn from_c0(c0: [f64; 4]) -> Result<Self> {
        CompactBasis::new(c0).map(PublicKey::new)
    }

    /// The compact basis `C0`.
    pub fn basis(&self) -> &CompactBasis {
        &self.basis
    }

    /// `C0`, row-major `[c00, c01, c10, c11]` (as the wire header and the node's records store it).
    pub fn c0(&self) -> [f64; 4] {
        self.basis.c0
    }
}

impl From<CompactBasis> for PublicKey {
    fn from(basis: CompactBasis) -> Self {
        PublicKey::new(basis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Compact, MatrixForm, Plain, PlanarTensor};
    use ndarray::ArrayD;

    const C0: [f64; 4] = [0.7, 1.3, 0.4, 2.1];

    #[test]
    fn only_compact_tensors_carry_a_public_key() {
        let values = ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 3]));
        let basis = CompactBasis::new(C0).unwrap();
        let compact = PlanarTensor::embed(Compact { basis }, values.clone());
        assert_eq!(compact.public_key(), Some(PublicKey::new(basis)));
        assert_eq!(compact.public_key().unwrap().c0(), C0);
        let matrix = PlanarTensor::embed(MatrixForm, values.clone());
        assert_eq!(matrix.public_key(), None);
        assert_eq!(PlanarTensor::embed(Plain, values).public_key(), None);
    }

    #[test]
    fn a_received_c0_is_validated() {
        assert_eq!(PublicKey::from_c0(C0).unwrap().basis().c0, C0);
        // A multiple of I has no two distinct eigenvalues: no basis of any key.
        assert!(PublicKey::from_c0([1.0, 0.0, 0.0, 1.0]).is_err());
        assert!(PublicKey::from_c0([f64::NAN, 1.0, 0.0, 1.0]).is_err());
    }
}
