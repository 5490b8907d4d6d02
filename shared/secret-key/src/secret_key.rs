//! The secret key `S`, the compact basis it defines, and how keys are drawn and exported.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::KeyError;
use more_core::algebra::Mat2;
use more_core::tensor::{CompactBasis, PublicKey};

/// Which procedure drew a key's compact-basis eigenvalues `(m0, r0)`. It is recorded in the first
/// 8 bytes of [`SecretKey::export_bytes`] (and so inside every wrapped key file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Zeroize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyGeneration {
    /// Magic `MOREKEY1`: keys made before 2026-12-01. `m0 ∈ [0.5, 1.5)`, `r0 ∈ (−1.5, −0.5]`, so
    /// the positive eigenvalue of the public basis `C0` is the message slot and every compact
    /// ciphertext of such a key decrypts from public data alone (SECURITY.md, the basis-eigenvalue
    /// attack). Still imported, so old data decrypts; never drawn for new keys except by
    /// [`SecretKey::generate_legacy_for_attack_demo`].
    V1SignedBasis,
    /// Magic `MOREKEY2`: `m0` and `r0` drawn independently from one distribution symmetric under
    /// exchange (magnitude uniform in `[0.5, 1.5)`, random sign) and redrawn together until
    /// `|m0 − r0| ≥ 0.5`. The pair is exchangeable, so the basis names the message slot with
    /// probability exactly 1/2: it reveals what one matrix-form ciphertext reveals, no more.
    V2Symmetric,
}

impl KeyGeneration {
    fn magic(self) -> &'static [u8; 8] {
        match self {
            KeyGeneration::V1SignedBasis => b"MOREKEY1",
            KeyGeneration::V2Symmetric => b"MOREKEY2",
        }
    }

    fn from_magic(magic: &[u8]) -> Option<Self> {
        [KeyGeneration::V1SignedBasis, KeyGeneration::V2Symmetric]
            .into_iter()
            .find(|g| g.magic().as_slice() == magic)
    }

    /// The version number (1 or 2) shown to users.
    pub fn number(self) -> u8 {
        match self {
            KeyGeneration::V1SignedBasis => 1,
            KeyGeneration::V2Symmetric => 2,
        }
    }

    /// Whether the key's public basis reveals its data (generation 1).
    pub fn basis_reveals_data(self) -> bool {
        self == KeyGeneration::V1SignedBasis
    }

    /// Draws `(m0, r0)` as this generation does.
    fn draw_basis_pair(self, rng: &mut impl Rng) -> (f64, f64) {
        match self {
            KeyGeneration::V1SignedBasis => {
                (rng.random_range(0.5..1.5), -rng.random_range(0.5..1.5))
            }
            KeyGeneration::V2Symmetric => loop {
                let mut draw = || {
                    let magnitude: f64 = rng.random_range(0.5..1.5);
                    if rng.random_bool(0.5) {
                        magnitude
                    } else {
                        -magnitude
                    }
                };
                let (m0, r0) = (draw(), draw());
                if (m0 - r0).abs() >= SecretKey::MIN_BASIS_GAP {
                    return (m0, r0);
                }
            },
        }
    }
}

/// The secret key: an invertible real 2x2 matrix `S` (encryption is `C = S·diag(x, r)·S⁻¹`), its
/// inverse, the two eigenvalues `(m0, r0)` of the key's public compact basis
/// `C0 = S·diag(m0, r0)·S⁻¹`, and the [`KeyGeneration`] that drew them.
///
/// Deliberately not `Serialize`, `Clone` or `Debug`-printable: it leaves memory only through
/// [`SecretKey::export_bytes`], and is zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    pub(crate) s: [f64; 4],
    pub(crate) s_inv: [f64; 4],
    pub(crate) m0: f64,
    pub(crate) r0: f64,
    generation: KeyGeneration,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.fingerprint())
    }
}

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

/// `S⁻¹` of a 2x2 matrix with non-zero determinant.
fn inverse(s: [f64; 4]) -> [f64; 4] {
    let det = s[0] * s[3] - s[1] * s[2];
    [s[3] / det, -s[1] / det, -s[2] / det, s[0] / det]
}

/// 32 bytes from the operating system (`crypto.getRandomValues` on wasm32).
fn os_seed() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Randomness(e.to_string()))?;
    Ok(seed)
}

impl SecretKey {
    /// Largest accepted condition number of `S`. Decryption multiplies by `S` and `S⁻¹`, so
    /// rounding errors grow with `cond(S)²`; with 5 the worst-case f32 decryption error stays near
    /// `25 · 6e-8 ≈ 1.5e-6` relative to the larger of `|x|` and `|r|`.
    pub const MAX_CONDITION: f64 = 5.0;

    /// Smallest `|m0 − r0|` of a generation-2 key. Compact encryption divides by the gap
    /// (`b = (x − r)/(m0 − r0)`), so a small gap would amplify rounding.
    pub const MIN_BASIS_GAP: f64 = 0.5;

    /// A fresh key from the operating system's random source (`crypto.getRandomValues` on wasm32).
    ///
    /// # Errors
    /// [`KeyError::Randomness`] if the random source fails.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self::generate_with(
            &mut ChaCha20Rng::from_seed(*os_seed()?),
        ))
    }

    /// A reproducible key from a seed, for tests and experiments. Never use for real data.
    pub fn from_seed(seed: u64) -> Self {
        Self::generate_with(&mut ChaCha20Rng::seed_from_u64(seed))
    }

    /// A current ([`KeyGeneration::V2Symmetric`]) key drawn from `rng`: Gaussian entries of `S`,
    /// redrawn until `cond(S) ≤ MAX_CONDITION`; then the basis eigenvalues, redrawn until
    /// [`CompactBasis::new`] accepts `C0`.
    pub fn generate_with(rng: &mut impl Rng) -> Self {
        Self::draw(KeyGeneration::V2Symmetric, rng)
    }

    /// A key drawn as before 2026-12-01 ([`KeyGeneration::V1SignedBasis`]), whose public basis
    /// reveals every value it encrypts. Only for measuring that leak (`more-node attack`); never
    /// for data.
    pub fn generate_legacy_for_attack_demo(rng: &mut impl Rng) -> Self {
        Self::draw(KeyGeneration::V1SignedBasis, rng)
    }

    fn draw(generation: KeyGeneration, rng: &mut impl Rng) -> Self {
        loop {
            let s: [f64; 4] = std::array::from_fn(|_| rng.sample(StandardNormal));
            if condition_number(s) > Self::MAX_CONDITION {
                continue;
            }
            for _ in 0..16 {
                let (m0, r0) = generation.draw_basis_pair(rng);
                let key = SecretKey {
                    s,
                    s_inv: inverse(s),
                    m0,
                    r0,
                    generation,
                };
                if CompactBasis::new(key.conjugate(m0, r0).0).is_ok() {
                    return key;
                }
            }
        }
    }

    /// The procedure that drew this key (from the export magic for imported keys).
    pub fn generation(&self) -> KeyGeneration {
        self.generation
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

    /// The public half of this key ([`PublicKey`]: its compact basis `C0`), which every compact
    /// ciphertext of the key carries.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.compact_basis())
    }

    /// A short public fingerprint: the first 16 hex digits of SHA-256 over the exported bytes. It
    /// identifies a key without revealing it.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.export_bytes().as_slice());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The explicit, only way out of memory: the generation's magic (`"MOREKEY1"` or
    /// `"MOREKEY2"`, see [`KeyGeneration`]) then `S` (row-major), `m0`, `r0` as little-endian
    /// `f64` ([`KEY_EXPORT_LEN`] bytes). The buffer is zeroized on drop. Wrap it
    /// ([`crate::wrap`]) before storing it anywhere.
    pub fn export_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(KEY_EXPORT_LEN));
        out.extend_from_slice(self.generation.magic());
        for v in self.s.iter().chain([&self.m0, &self.r0]) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads [`SecretKey::export_bytes`] back, of either generation.
    ///
    /// # Errors
    /// [`KeyError::Import`] for a wrong length or magic, non-finite entries, a singular or
    /// ill-conditioned `S`, or an invalid basis.
    pub fn import_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let generation = (bytes.len() == KEY_EXPORT_LEN)
            .then(|| KeyGeneration::from_magic(&bytes[..8]))
            .flatten()
            .ok_or_else(|| {
                KeyError::Import(format!(
                    "expected {KEY_EXPORT_LEN} bytes starting with MOREKEY1 or MOREKEY2, got {} bytes",
                    bytes.len()
                ))
            })?;
        let mut v = Zeroizing::new([0f64; 6]);
        for (i, chunk) in bytes[8..].chunks_exact(8).enumerate() {
            v[i] = f64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(KeyError::Import("non-finite key entry".into()));
        }
        let s = [v[0], v[1], v[2], v[3]];
        if condition_number(s) > Self::MAX_CONDITION * (1.0 + 1e-9) {
            return Err(KeyError::Import("S is singular or ill-conditioned".into()));
        }
        let key = SecretKey {
            s,
            s_inv: inverse(s),
            m0: v[4],
            r0: v[5],
            generation,
        };
        CompactBasis::new(key.conjugate(key.m0, key.r0).0)
            .map_err(|e| KeyError::Import(format!("basis: {e}")))?;
        Ok(key)
    }

    /// A fresh CSPRNG (ChaCha20) seeded from the operating system, for drawing shadows.
    ///
    /// # Errors
    /// [`KeyError::Randomness`] if the random source fails.
    pub fn shadow_rng() -> Result<ChaCha20Rng, KeyError> {
        Ok(ChaCha20Rng::from_seed(*os_seed()?))
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
    fn generation_is_kept_through_export_and_legacy_keys_still_import() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let legacy = SecretKey::generate_legacy_for_attack_demo(&mut rng);
        let bytes = legacy.export_bytes();
        assert_eq!(&bytes[..8], b"MOREKEY1");
        let back = SecretKey::import_bytes(&bytes).unwrap();
        assert_eq!(back.generation(), KeyGeneration::V1SignedBasis);
        assert_eq!(back.fingerprint(), legacy.fingerprint());
        let current = SecretKey::from_seed(9);
        assert_eq!(&current.export_bytes()[..8], b"MOREKEY2");
        assert_eq!(
            SecretKey::import_bytes(&current.export_bytes())
                .unwrap()
                .generation(),
            KeyGeneration::V2Symmetric
        );
    }

    /// Generation 2 must not tie the message slot to the sign or the order of the basis
    /// eigenvalues: over 4,000 keys each rule is right close to half the time (binomial standard
    /// deviation 0.8 %, bound 3 %), and generation 1 is always right, so the check can fail.
    #[test]
    fn basis_eigenvalues_do_not_name_the_message_slot() {
        let rate = |keys: &[SecretKey], rule: fn(f64, f64) -> bool| {
            keys.iter().filter(|k| rule(k.m0, k.r0)).count() as f64 / keys.len() as f64
        };
        let positive_is_message: fn(f64, f64) -> bool = |m0, r0| m0 > 0.0 && r0 <= 0.0;
        let larger_is_message: fn(f64, f64) -> bool = |m0, r0| m0 > r0;
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let current: Vec<_> = (0..4000)
            .map(|_| SecretKey::generate_with(&mut rng))
            .collect();
        let legacy: Vec<_> = (0..200)
            .map(|_| SecretKey::generate_legacy_for_attack_demo(&mut rng))
            .collect();
        assert!((rate(&current, larger_is_message) - 0.5).abs() < 0.03);
        // "positive is the message" applies to mixed-sign pairs (about half of them) only.
        let mixed: Vec<_> = current.into_iter().filter(|k| k.m0 * k.r0 < 0.0).collect();
        assert!((rate(&mixed, positive_is_message) - 0.5).abs() < 0.04);
        assert_eq!(rate(&legacy, positive_is_message), 1.0);
        assert_eq!(rate(&legacy, larger_is_message), 1.0);
        assert!(mixed
            .iter()
            .all(|k| (k.m0 - k.r0).abs() >= SecretKey::MIN_BASIS_GAP));
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
