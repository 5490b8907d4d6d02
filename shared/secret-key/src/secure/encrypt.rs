//! Fast symmetric BFV encryption of a batch: the same ciphertexts as fhe.rs's
//! `SecretKey::try_encrypt` (same distributions, same seeded wire form), at a fraction of the
//! work, on x86-64 and in the page's wasm32 Worker.
//!
//! A fresh ciphertext is `(c0, c1) = (Δ·m + e − a·s, a)` (Fan–Vercauteren 2012, "Somewhat
//! Practical Fully Homomorphic Encryption", §3, symmetric form), with `a` uniform, expanded from a
//! public 32-byte seed exactly as fhe-math's `Poly::random_from_seed` expands it (already in NTT
//! form; [`uniform`]), `e` from fhe's centred binomial sampler (fhe-util `sample_vec_cbd`, the
//! parameters' variance 10), and `Δ·m` fhe's scaling ⌊q·m/t⌋. fhe.rs serializes `c0` in the
//! power basis and `c1` as its seed only, so `c0` is computed directly in the power basis:
//!
//! - `m`: SIMD encoding, one inverse NTT modulo t;
//! - per ciphertext modulus q_i: `a·s` pointwise against NTT(s) (computed once per key), one
//!   inverse NTT, then `c0 = Δ·m + e − INTT(a·s)` coefficient-wise.
//!
//! That is 4 NTTs per ciphertext where fhe.rs does 16 (it recomputes NTT(s), transforms the
//! plaintext and the error forward, and back again to serialize). The arithmetic is Shoup's with
//! precomputed quotients ([`arith`]), without `u128` products on wasm32. The frame each
//! ciphertext becomes ([`frame`]) is
//! byte for byte fhe.rs's own `Ciphertext::to_bytes()` of a seeded ciphertext, so the node reads
//! it with `Ciphertext::from_bytes` unchanged.
//!
//! Randomness: per ciphertext, a fresh 32-byte seed for `a` and a fresh 32-byte key for a
//! ChaCha20 stream that draws `e`, both from the caller's cryptographic RNG (fhe.rs draws the
//! seed from `rand::rng()` and `e` from the caller's RNG directly).
mod arith;
mod frame;
mod tables;
#[cfg(test)]
mod tests;
mod uniform;

use fhe::bfv::SecretKey;
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use fhe_traits::Serialize;
use more_secure::wire::{BATCH_MAGIC, HEADER_BYTES};
use more_secure::{slots, SecureError};
use prost::Message;
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tables::{tables, Tables};
use zeroize::Zeroizing;

use arith::{mul_shoup_lazy, reduce_once, Split};

/// Ciphertexts encrypted between two progress reports when rayon runs them in parallel.
#[cfg(feature = "parallel")]
const PARALLEL_CHUNK: usize = 32;

/// The per-key state of fast encryption: n^{-1} · NTT(s) modulo each q_i with Shoup quotients.
/// Zeroized on drop.
pub(crate) struct Encryptor {
    tables: &'static Tables,
    /// `moduli × n`, row-major: n^{-1} · NTT(s) mod q_i.
    s: Zeroizing<Vec<u64>>,
    /// Shoup quotients of `s`.
    s_shoup: Zeroizing<Vec<Split>>,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encryptor(..)")
    }
}

impl Encryptor {
    /// Prepares fast encryption under `sk` (a key at the secure-mode parameters).
    pub(crate) fn new(sk: &SecretKey) -> Result<Self, SecureError> {
        let tables = tables()?;
        let n = tables.degree;
        let bytes = Zeroizing::new(sk.to_bytes());
        let proto = fhe::proto::bfv::SecretKey::decode(bytes.as_slice())
            .map_err(|e| SecureError::Fhe(format!("secret key: {e}")))?;
        let coeffs = Zeroizing::new(proto.coeffs);
        if coeffs.len() != n {
            return Err(SecureError::Fhe(format!(
                "secret key of {} coefficients, {n} expected",
                coeffs.len()
            )));
        }
        let mut s_poly = Zeroizing::new(
            Poly::try_convert_from(
                coeffs.as_slice(),
                &tables.ctx,
                false,
                Representation::PowerBasis,
            )
            .map_err(|e| SecureError::Fhe(e.to_string()))?,
        );
        s_poly.change_representation(Representation::Ntt);
        let mut s = Zeroizing::new(Vec::with_capacity(tables.moduli.len() * n));
        let mut s_shoup = Zeroizing::new(Vec::with_capacity(tables.moduli.len() * n));
        for (row, m) in s_poly.coefficients().outer_iter().zip(&tables.moduli) {
            let p = m.ntt.modulus();
            let n_inv = arith::Shoup::new(m.n_inv, p);
            for &c in row.iter() {
                let v = reduce_once(n_inv.mul_lazy(c, p), p);
                s.push(v);
                s_shoup.push(Split::shoup(v, p));
            }
        }
        Ok(Self { tables, s, s_shoup })
    }

    /// Encrypts `samples` samples of `input_len` values (`quantized`: `samples × input_len`,
    /// row-major; every |value| < t) as an encrypted batch in the `MSB1` layout of
    /// `more_secure::wire` (header, then per ciphertext a u32 length and the frame): ciphertext i
    /// holds value i of sample j in slot j, each frame is fhe.rs's `Ciphertext::to_bytes()` of a
    /// seeded ciphertext. The frames are written straight into the batch (one buffer of the
    /// batch's size, no second copy). `progress(done, input_len)` is called after each
    /// ciphertext (after each group of [`PARALLEL_CHUNK`] when encrypting in parallel). The
    /// bytes depend only on the RNG's output, not on the number of threads.
    pub(crate) fn encrypt_batch<R: RngCore + CryptoRng>(
        &self,
        quantized: &[i64],
        samples: usize,
        input_len: usize,
        rng: &mut R,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<u8>, SecureError> {
        let t = self.tables.t_ntt.modulus();
        if samples == 0
            || samples > slots()
            || input_len == 0
            || samples.checked_mul(input_len) != Some(quantized.len())
        {
            return Err(SecureError::Invalid(format!(
                "{} values for {samples} samples of {input_len} (1..={} samples per batch)",
                quantized.len(),
                slots()
            )));
        }
        if quantized.iter().any(|v| v.unsigned_abs() >= t) {
            return Err(SecureError::Invalid(
                "a quantized value is not below the plaintext modulus".into(),
            ));
        }
        // Fresh randomness per ciphertext, drawn in order so that the bytes do not depend on
        // how the ciphertexts are scheduled.
        let randomness: Vec<([u8; 32], Zeroizing<[u8; 32]>)> = (0..input_len)
            .map(|_| {
                let (mut seed, mut key) = ([0u8; 32], Zeroizing::new([0u8; 32]));
                rng.fill_bytes(&mut seed);
                rng.fill_bytes(key.as_mut());
                (seed, key)
            })
            .collect();
        let frame_bytes = self.tables.frame_bytes;
        let stride = 4 + frame_bytes;
        let mut batch = vec![0u8; HEADER_BYTES + input_len * stride];
        batch[..4].copy_from_slice(BATCH_MAGIC);
        batch[4..8].copy_from_slice(&(samples as u32).to_le_bytes());
        batch[8..12].copy_from_slice(&(input_len as u32).to_le_bytes());
        let write = |i: usize, out: &mut [u8]| -> Result<(), SecureError> {
            let (seed, key) = &randomness[i];
            let mut values = Zeroizing::new(vec![0u64; samples]);
            for (j, v) in values.iter_mut().enumerate() {
                let x = quantized[j * input_len + i];
                // x mod t for |x| < t, without a branch on x.
                *v = (x as u64).wrapping_add(t & ((x >> 63) as u64));
            }
            let frame = self.encrypt_one(&values, *seed, &mut ChaCha20Rng::from_seed(**key))?;
            if frame.len() != frame_bytes {
                return Err(SecureError::Fhe(format!(
                    "a ciphertext frame of {} bytes, {frame_bytes} expected",
                    frame.len()
                )));
            }
            out[..4].copy_from_slice(&(frame_bytes as u32).to_le_bytes());
            out[4..].copy_from_slice(&frame);
            Ok(())
        };
        let body = &mut batch[HEADER_BYTES..];
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            for (g, group) in body.chunks_mut(PARALLEL_CHUNK * stride).enumerate() {
                group
                    .par_chunks_mut(stride)
                    .enumerate()
                    .map(|(k, out)| write(g * PARALLEL_CHUNK + k, out))
                    .collect::<Result<(), SecureError>>()?;
                progress(((g + 1) * PARALLEL_CHUNK).min(input_len), input_len);
            }
        }
        #[cfg(not(feature = "parallel"))]
        for (i, out) in body.chunks_mut(stride).enumerate() {
            write(i, out)?;
            progress(i + 1, input_len);
        }
        Ok(batch)
    }

    /// One seeded ciphertext of the slot values `values` (each `< t`, at most n of them; the
    /// other slots are 0), `a` expanded from `seed`, the error drawn from `noise`.
    pub(crate) fn encrypt_one(
        &self,
        values: &[u64],
        seed: [u8; 32],
        noise: &mut ChaCha20Rng,
    ) -> Result<Vec<u8>, SecureError> {
        let tb = self.tables;
        let n = tb.degree;
        let t = tb.t_ntt.modulus();
        // [q·m]_t in the power basis: SIMD encoding (inverse NTT mod t), times q mod t.
        let mut m = Zeroizing::new(vec![0u64; n]);
        for (&v, &at) in values.iter().zip(&tb.slot_index) {
            m[at] = v;
        }
        tb.t_ntt.backward_unscaled(&mut m);
        for c in m.iter_mut() {
            *c = reduce_once(tb.t_scale.mul_lazy(*c, t), t);
        }
        let e = Zeroizing::new(
            fhe_util::sample_vec_cbd(n, tb.variance, noise)
                .map_err(|e| SecureError::Fhe(e.to_string()))?,
        );
        let mut a_stream = uniform::stream(seed);
        let mut a_row = vec![0u64; n];
        let mut out = frame::begin(n, tb.coefficient_bytes);
        let mut row = vec![0u64; n];
        for (i, cm) in tb.moduli.iter().enumerate() {
            let p = cm.ntt.modulus();
            uniform::fill(&mut a_stream, cm.uniform, &mut a_row);
            let (s, s_shoup) = (
                &self.s[i * n..(i + 1) * n],
                &self.s_shoup[i * n..(i + 1) * n],
            );
            for (((r, &a), &w), &ws) in row.iter_mut().zip(a_row.iter()).zip(s).zip(s_shoup) {
                *r = mul_shoup_lazy(a, w, ws, p);
            }
            cm.ntt.backward_unscaled(&mut row);
            let two_p = 2 * p;
            for ((r, &mi), &ei) in row.iter_mut().zip(m.iter()).zip(e.iter()) {
                let dm = reduce_once(cm.delta.mul_lazy(mi, p), p);
                let e_mod = (ei as u64).wrapping_add(p & ((ei >> 63) as u64));
                // dm + e + 2p − a·s < 4p < 2^64.
                let c = reduce_once(dm + e_mod + two_p - *r, two_p);
                *r = reduce_once(c, p);
            }
            frame::pack(&row, p, &mut out);
        }
        Ok(frame::finish(out, &seed))
    }
}
