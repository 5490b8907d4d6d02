//! The secret key `S` and the compact basis it defines.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::algebra::Mat2;
use crate::tensor::CompactBasis;
use crate::{MoreError, Result};

/// The secret key: an invertible real 2x2 matrix `S` (encryption is `C = S·diag(x, r)·S⁻¹`), its
/// inverse, and the two eigenvalues `(m0, r0)` of the key's public compact basis
/// `C0 = S·diag(m0, r0)·S⁻¹`.
///
/// Deliberately not `Serialize`, `Clone` or `Debug`-printable: it leaves memory only through
/// [`SecretKey::export_bytes`], and is zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    pub(crate) s: [f64; 4],
    pub(crate) s_inv: [f64; 4],
    pub(crate) m0: f64,
    pub(crate) r0: f64,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.fingerprint())
    }
}

const EXPORT_MAGIC: &[u8; 8] = b"MOREKEY1";
/// Length of [`SecretKey::export_bytes`]: 8 magic bytes and six little-endian `f64`.
pub const KEY_EXPORT_LEN: usize = 8 + 6 * 8;

/// Spectral condition number `σ_max/σ_min` of a 2x2 matrix (closed form from `SᵀS`).
fn condition_number(s: [f64; 4]) -> f64 {
    let fro2: f64 = s.iter().map(|v| v * v).sum();
    let det = (s[0] * s[3] - s[1] * s[2]).abs();
    // σ1² + σ2² = ‖S‖_F², σ1·σ2 = |det S|.
    let disc = (fro2 * fro2 - 4.0 * det * det).max(0.0).sqrt();
    let (s1, s2) = (((fro2 + disc) / 2.0).sqrt(), ((fro2 - disc) / 2.0).sqrt());
    if s2 == 0.0 {
        f64::INFINITY
    } else {
        s1 / s2
    }
}

impl SecretKey {
    /// Largest accepted condition number of `S`. Decryption multiplies by `S` and `S⁻¹`, so
    /// rounding errors grow with `cond(S)²`; with 5 the worst-case f32 decryption error stays near
    /// `25 · 6e-8 ≈ 1.5e-6` relative to the larger of `|x|` and `|r|`.
    pub const MAX_CONDITION: f64 = 5.0;

    /// A fresh key from the operating system's random source (`crypto.getRandomValues` on wasm32).
    ///
    /// # Errors
    /// [`MoreError::Randomness`] if the random source fails.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| MoreError::Randomness(e.to_string()))?;
        Ok(Self::generate_with(&mut ChaCha20Rng::from_seed(*seed)))
    }

    /// A reproducible key from a seed, for tests and experiments. Never use for real data.
    pub fn from_seed(seed: u64) -> Self {
        Self::generate_with(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    /// A key drawn from `rng`: Gaussian entries, redrawn until `cond(S) ≤ MAX_CONDITION`; then the
    /// compact basis eigenvalues `m0 ∈ [0.5, 1.5]`, `r0 ∈ [−1.5, −0.5]`, redrawn until
    /// [`CompactBasis::new`] accepts `C0`.
    pub fn generate_with(rng: &mut impl Rng) -> Self {
        loop {
            let s: [f64; 4] = std::array::from_fn(|_| rng.sample(StandardNormal));
            if condition_number(s) > Self::MAX_CONDITION {
                continue;
            }
            let det = s[0] * s[3] - s[1] * s[2];
            let s_inv = [s[3] / det, -s[1] / det, -s[2] / det, s[0] / det];
            for _ in 0..16 {
                let m0 = rng.random_range(0.5..1.5);
                let r0 = -rng.random_range(0.5..1.5);
                let key = SecretKey { s, s_inv, m0, r0 };
                if CompactBasis::new(key.conjugate(m0, r0).0).is_ok() {
                    return key;
                }
            }
        }
    }

    /// `S·diag(x, r)·S⁻¹`.
    pub(crate) fn conjugate(&self, x: f64, r: f64) -> Mat2<f64> {
        Mat2(self.s)
            .matmul(Mat2([x, 0.0, 0.0, r]))
            .matmul(Mat2(self.s_inv))
    }

    /// `(S⁻¹·C·S)` diagonal: `(x, r)`.
    pub(crate) fn unconjugate(&self, c: Mat2<f64>) -> (f64, f64) {
        let d = Mat2(self.s_inv).matmul(c).matmul(Mat2(self.s));
        (d.0[0], d.0[3])
    }

    /// The public compact basis `C0` of this key (a ciphertext of `m0` with shadow `r0`).
    pub fn compact_basis(&self) -> CompactBasis {
        CompactBasis::new(self.conjugate(self.m0, self.r0).0).expect("checked at generation")
    }

    /// A short public fingerprint: the first 16 hex digits of SHA-256 over the exported bytes. It
    /// identifies a key without revealing it.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.export_bytes().as_slice());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The explicit, only way out of memory: `"MOREKEY1"` then `S` (row-major), `m0`, `r0` as
    /// little-endian `f64` ([`KEY_EXPORT_LEN`] bytes). The buffer is zeroized on drop. Wrap it
    /// (passphrase + AEAD) before storing it anywhere.
    pub fn export_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(KEY_EXPORT_LEN));
        out.extend_from_slice(EXPORT_MAGIC);
        for v in self.s.iter().chain([&self.m0, &self.r0]) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads [`SecretKey::export_bytes`] back.
    ///
    /// # Errors
    /// [`MoreError::KeyImport`] for a wrong length or magic, non-finite entries, a singular or
    /// ill-conditioned `S`, or an invalid basis.
    pub fn import_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != KEY_EXPORT_LEN || &bytes[..8] != EXPORT_MAGIC {
            return Err(MoreError::KeyImport(format!(
                "expected {KEY_EXPORT_LEN} bytes starting with MOREKEY1, got {} bytes",
                bytes.len()
            )));
        }
        let mut v = Zeroizing::new([0f64; 6]);
        for (i, chunk) in bytes[8..].chunks_exact(8).enumerate() {
            v[i] = f64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(MoreError::KeyImport("non-finite key entry".into()));
        }
        let s = [v[0], v[1], v[2], v[3]];
        if condition_number(s) > Self::MAX_CONDITION * (1.0 + 1e-9) {
            return Err(MoreError::KeyImport(
                "S is singular or ill-conditioned".into(),
            ));
        }
        let det = s[0] * s[3] - s[1] * s[2];
        let key = SecretKey {
            s,
            s_inv: [s[3] / det, -s[1] / det, -s[2] / det, s[0] / det],
            m0: v[4],
            r0: v[5],
        };
        CompactBasis::new(key.conjugate(key.m0, key.r0).0)
            .map_err(|e| MoreError::KeyImport(format!("basis: {e}")))?;
        Ok(key)
    }

    /// A fresh CSPRNG (ChaCha20) seeded from the operating system, for drawing shadows.
    ///
    /// # Errors
    /// [`MoreError::Randomness`] if the random source fails.
    pub fn shadow_rng() -> Result<ChaCha20Rng> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| MoreError::Randomness(e.to_string()))?;
        Ok(ChaCha20Rng::from_seed(*seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_well_conditioned_and_round_trip_through_export() {
        for seed in 0..50 {
            let key = SecretKey::from_seed(seed);
            assert!(condition_number(key.s) <= SecretKey::MAX_CONDITION);
            let back = SecretKey::import_bytes(&key.export_bytes()).unwrap();
            assert_eq!(back.s, key.s);
            assert_eq!(back.fingerprint(), key.fingerprint());
        }
        assert_ne!(
            SecretKey::from_seed(1).fingerprint(),
            SecretKey::from_seed(2).fingerprint()
        );
    }

    #[test]
    fn import_rejects_bad_bytes() {
        let key = SecretKey::from_seed(3);
        let bytes = key.export_bytes();
        assert!(SecretKey::import_bytes(&bytes[..20]).is_err());
        let mut bad = bytes.to_vec();
        bad[0] = b'X';
        assert!(SecretKey::import_bytes(&bad).is_err());
        let mut singular = bytes.to_vec();
        singular[8..40].fill(0);
        assert!(SecretKey::import_bytes(&singular).is_err());
    }

    #[test]
    fn os_keys_differ() {
        let (a, b) = (
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
