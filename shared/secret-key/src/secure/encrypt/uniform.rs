//! The public polynomial `a` of a seeded ciphertext, expanded from its 32-byte seed exactly as
//! fhe-math-0.1.1's `Poly::random_from_seed` does it (the node expands it with that function):
//! ChaCha8 keyed with SHA-256(seed); per modulus p in order, n values of rand 0.9's
//! `Uniform::new(0, p)` (Lemire's method: draw v, take the high half of v·p, reject while the
//! low half is below (2^64 − p) mod p), already in NTT form.
//!
//! The same numbers, without fhe-math's `u128` product (a `__multi3` call per value on wasm32)
//! and without a polynomial allocation. Checked against `Poly::random_from_seed` when the tables
//! are built and in the tests.
use super::arith::Split;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// Sampling constants of one modulus.
#[derive(Clone, Copy, Debug)]
pub(super) struct UniformMod {
    p: u64,
    p_split: Split,
    /// (2^64 − p) mod p: low halves below it are rejected.
    threshold: u64,
}

impl UniformMod {
    /// Constants for values in `[0, p)`.
    pub(super) fn new(p: u64) -> Self {
        Self {
            p,
            p_split: Split::new(p),
            threshold: p.wrapping_neg() % p,
        }
    }
}

/// The stream that expands `seed`.
pub(super) fn stream(seed: [u8; 32]) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(Sha256::digest(seed).into())
}

/// Fills `out` with the next values in `[0, p)` of `rng` (public data: the rejection branches
/// on the public stream only).
pub(super) fn fill(rng: &mut ChaCha8Rng, m: UniformMod, out: &mut [u64]) {
    for o in out.iter_mut() {
        *o = loop {
            let v = rng.next_u64();
            if v.wrapping_mul(m.p) >= m.threshold {
                break m.p_split.mul_hi(v);
            }
        };
    }
}
