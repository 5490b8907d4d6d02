//! The public basis `C0` of the compact form.

use serde::{Deserialize, Serialize};

use crate::{MoreError, Result};

/// The public 2x2 matrix `C0` (a ciphertext of a random value under the key) whose span with `I`
/// holds every ciphertext of that key: each ciphertext is `a·I + b·C0`.
///
/// `C0 = S·diag(m0, r0)·S⁻¹` is public: it reveals the unordered pair `{m0, r0}` and its own
/// eigenvectors, the columns of `S` up to scale, i.e. an equivalent key up to which slot holds the message, exactly what any
/// one matrix-form ciphertext reveals. Whether it also names the message slot depends on how the
/// key holder drew `(m0, r0)`: keys of generation 1 did (the positive eigenvalue), generation-2
/// keys do not (SECURITY.md, the basis-eigenvalue attack). Row-major `[c00, c01, c10, c11]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompactBasis {
    /// `C0`, row-major.
    pub c0: [f64; 4],
}

impl CompactBasis {
    /// Smallest accepted `|C0[0][1]| / ‖C0‖_F`: matrix → compact conversion divides by `C0[0][1]`.
    pub const MIN_OFF_DIAGONAL_RATIO: f64 = 0.05;

    /// Validates a basis received from outside.
    ///
    /// # Errors
    /// [`MoreError::InvalidParameter`] when an entry is not finite, when `C0` is (close to) a
    /// multiple of `I` (it must have two distinct real eigenvalues: `tr² − 4·det > 0`), or when
    /// its off-diagonal entry is too small for an accurate conversion.
    pub fn new(c0: [f64; 4]) -> Result<Self> {
        if c0.iter().any(|v| !v.is_finite()) {
            return Err(MoreError::InvalidParameter(
                "C0 has a non-finite entry".into(),
            ));
        }
        let norm = c0.iter().map(|v| v * v).sum::<f64>().sqrt();
        let (t, d) = (c0[0] + c0[3], c0[0] * c0[3] - c0[1] * c0[2]);
        if norm == 0.0 || t * t - 4.0 * d <= 1e-12 * norm * norm {
            return Err(MoreError::InvalidParameter(
                "C0 must have two distinct real eigenvalues".into(),
            ));
        }
        if c0[1].abs() < Self::MIN_OFF_DIAGONAL_RATIO * norm {
            return Err(MoreError::InvalidParameter(format!(
                "C0[0][1] = {} is too small relative to ‖C0‖ = {norm}",
                c0[1]
            )));
        }
        Ok(CompactBasis { c0 })
    }

    /// `tr C0`.
    pub fn trace(&self) -> f64 {
        self.c0[0] + self.c0[3]
    }

    /// `det C0`.
    pub fn det(&self) -> f64 {
        self.c0[0] * self.c0[3] - self.c0[1] * self.c0[2]
    }
}
