//! Fast decoding of a fresh seeded ciphertext frame, the shape every client upload has.
//!
//! fhe.rs's `Ciphertext::from_bytes` costs 1.8–2.3 ms per frame; this path gives the same two
//! polynomials (c0 and c1 in NTT form, same coefficients, same flags, level 0) in a fraction
//! of that, so the node's decoding no longer rivals its evaluation.
//!
//! The frame is fhe-0.1.1's protobuf (`src/proto/bfv.proto`, fhe-math-0.1.1 `src/proto/rq.proto`)
//! as prost writes it for a fresh seeded ciphertext:
//! `Ciphertext { c: [Rq { representation: NTT, degree, coefficients, allow_variable_time: true }],
//! seed (32 bytes), level: 0 }`, `coefficients` = c0 in the power basis, per modulus, each value
//! at ⌈log2 q_i⌉ bits (fhe-util `transcode_to_bytes`). Only frames whose bytes are exactly that
//! layout take this path ([`decode_seeded`] returns `None` for anything else, and the caller
//! decodes those with fhe.rs), so acceptance and results are fhe.rs's by construction:
//! - c0: unpacked with fhe-util's `transcode_from_bytes` and converted to NTT form with
//!   fhe-math's own `Poly::try_convert_from` + `change_representation` (as fhe.rs does);
//! - c1: the public polynomial `a`, expanded from the seed as fhe-math-0.1.1's
//!   `Poly::random_from_seed` does: ChaCha8 keyed with SHA-256(seed); per modulus q_i in order,
//!   `degree` values of rand 0.9's `Uniform::new(0, q_i)` (Lemire: draw v, keep the high half of
//!   v·q_i unless the low half is below (2^64 − q_i) mod q_i), taken as NTT coefficients. Public
//!   data: the rejection branches on the public stream only. fhe-math draws through
//!   `rand::distr::Uniform` and a `u128` product per value; this loop is the same arithmetic
//!   without the iterator layers and the extra copy.
use fhe::bfv::Ciphertext;
use fhe_math::rq::{traits::TryConvertFrom, Context, Poly, Representation};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::params::bfv_parameters;
use crate::SecureError;

/// Bytes of a seed (ChaCha8's seed size, as fhe.rs requires).
const SEED_BYTES: usize = 32;
/// Protobuf wire-format keys (field number << 3 | wire type).
const KEY_C: u8 = 0x0a; // Ciphertext.c, length-delimited
const KEY_REPRESENTATION: u8 = 0x08; // Rq.representation, varint
const KEY_DEGREE: u8 = 0x10; // Rq.degree, varint
const KEY_COEFFICIENTS: u8 = 0x1a; // Rq.coefficients, length-delimited
const KEY_VARIABLE_TIME: u8 = 0x20; // Rq.allow_variable_time, varint
const KEY_SEED: u8 = 0x12; // Ciphertext.seed, length-delimited
/// `RepresentationProto::Ntt` in fhe-math's `Rq` message.
const REPRESENTATION_NTT: u64 = 2;

/// Bits per packed coefficient modulo `q` (fhe-math's serialization width).
fn bits(q: u64) -> usize {
    64 - (q - 1).leading_zeros() as usize
}

fn push_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The fixed bytes of a canonical frame around c0's packed coefficients and the seed.
struct Layout {
    /// Everything before the packed coefficients.
    prefix: Vec<u8>,
    /// Everything between the packed coefficients and the seed.
    middle: [u8; 4],
    /// Packed bytes per modulus, in order.
    chunk_bytes: Vec<usize>,
}

impl Layout {
    fn new(ctx: &Context, degree: usize) -> Self {
        let chunk_bytes: Vec<usize> = ctx.moduli().iter().map(|&q| bits(q) * degree / 8).collect();
        let coefficient_bytes: usize = chunk_bytes.iter().sum();
        let mut rq = vec![KEY_REPRESENTATION];
        push_varint(REPRESENTATION_NTT, &mut rq);
        rq.push(KEY_DEGREE);
        push_varint(degree as u64, &mut rq);
        rq.push(KEY_COEFFICIENTS);
        push_varint(coefficient_bytes as u64, &mut rq);
        let rq_len = rq.len() + coefficient_bytes + 2;
        let mut prefix = vec![KEY_C];
        push_varint(rq_len as u64, &mut prefix);
        prefix.extend_from_slice(&rq);
        Self {
            prefix,
            middle: [KEY_VARIABLE_TIME, 1, KEY_SEED, SEED_BYTES as u8],
            chunk_bytes,
        }
    }

    fn frame_bytes(&self) -> usize {
        self.prefix.len() + self.chunk_bytes.iter().sum::<usize>() + self.middle.len() + SEED_BYTES
    }
}

/// Decodes `bytes` if it is exactly a canonical fresh seeded frame at the top level; `None`
/// otherwise (the caller then decodes it with fhe.rs). `Some(Err(..))` only if fhe.rs itself
/// would refuse the two polynomials (it does not for canonical frames).
pub(super) fn decode_seeded(bytes: &[u8]) -> Option<Result<Ciphertext, SecureError>> {
    let par = bfv_parameters();
    let ctx = par.context_at_level(0).ok()?;
    let degree = par.degree();
    let layout = Layout::new(ctx, degree);
    if bytes.len() != layout.frame_bytes() || !bytes.starts_with(&layout.prefix) {
        return None;
    }
    let packed_end = bytes.len() - SEED_BYTES - layout.middle.len();
    if bytes[packed_end..packed_end + layout.middle.len()] != layout.middle {
        return None;
    }
    let packed = &bytes[layout.prefix.len()..packed_end];
    let seed: [u8; SEED_BYTES] = bytes[bytes.len() - SEED_BYTES..].try_into().ok()?;
    Some(build(ctx, degree, &layout, packed, seed))
}

fn build(
    ctx: &Arc<Context>,
    degree: usize,
    layout: &Layout,
    packed: &[u8],
    seed: [u8; SEED_BYTES],
) -> Result<Ciphertext, SecureError> {
    let fhe = |e: &dyn std::fmt::Display| SecureError::Wire(format!("ciphertext: {e}"));
    let mut c0 = Vec::with_capacity(ctx.moduli().len() * degree);
    let mut at = 0;
    for (&q, &len) in ctx.moduli().iter().zip(&layout.chunk_bytes) {
        unpack(&packed[at..at + len], bits(q), degree, &mut c0);
        at += len;
    }
    let mut c0 =
        Poly::try_convert_from(c0, ctx, true, Representation::PowerBasis).map_err(|e| fhe(&e))?;
    c0.change_representation(Representation::Ntt);
    let c1 = Poly::try_convert_from(expand(ctx, degree, seed), ctx, true, Representation::Ntt)
        .map_err(|e| fhe(&e))?;
    Ciphertext::new(vec![c0, c1], bfv_parameters()).map_err(|e| fhe(&e))
}

/// Appends the `count` values packed in `packed` at `nbits` bits each, least significant bit
/// first: fhe-util's `transcode_from_bytes` when `packed.len() * 8 == count * nbits`, reading
/// 16 bytes per value instead of one byte at a time (`nbits <= 64`).
pub(super) fn unpack(packed: &[u8], nbits: usize, count: usize, out: &mut Vec<u64>) {
    debug_assert!(0 < nbits && nbits <= 64 && packed.len() * 8 >= count * nbits);
    let mask = u128::from(u64::MAX >> (64 - nbits));
    for i in 0..count {
        let bit = i * nbits;
        let (byte, shift) = (bit / 8, bit % 8);
        let window = match packed.get(byte..byte + 16) {
            Some(w) => u128::from_le_bytes(w.try_into().unwrap_or([0; 16])),
            None => {
                let mut w = [0u8; 16];
                let tail = &packed[byte.min(packed.len())..];
                w[..tail.len()].copy_from_slice(tail);
                u128::from_le_bytes(w)
            }
        };
        out.push(((window >> shift) & mask) as u64);
    }
}

/// The coefficients of `Poly::random_from_seed(ctx, Ntt, seed)`, modulus by modulus.
pub(super) fn expand(ctx: &Context, degree: usize, seed: [u8; SEED_BYTES]) -> Vec<u64> {
    let mut rng = ChaCha8Rng::from_seed(Sha256::digest(seed).into());
    let mut out = Vec::with_capacity(ctx.moduli().len() * degree);
    for &q in ctx.moduli() {
        // rand 0.9 `UniformInt::<u64>::sample`: range q, threshold (2^64 − q) mod q.
        let threshold = q.wrapping_neg() % q;
        for _ in 0..degree {
            let value = loop {
                let v = rng.next_u64();
                let product = u128::from(v) * u128::from(q);
                if product as u64 >= threshold {
                    break (product >> 64) as u64;
                }
            };
            out.push(value);
        }
    }
    out
}

#[cfg(test)]
mod tests;
