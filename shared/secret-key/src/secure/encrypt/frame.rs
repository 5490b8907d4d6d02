//! The bytes of one seeded ciphertext exactly as fhe.rs serializes it
//! (`Ciphertext::to_bytes()`), written in one pass into one buffer.
//!
//! Protobuf (fhe-0.1.1 `src/proto/bfv.proto`, fhe-math-0.1.1 `src/proto/rq.proto`), fields in
//! tag order as prost writes them, defaults omitted:
//! `Ciphertext { c: [Rq { representation: NTT, degree, coefficients, allow_variable_time: true }],
//! seed, level: 0 }`. `coefficients` holds c0 in the power basis, per modulus, each value at
//! ⌈log2 q_i⌉ bits, least significant bit first (fhe-util `transcode_to_bytes`).
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

/// `Representation::Ntt` in fhe-math's `Rq` message.
const RQ_NTT: u64 = 2;

/// Bits per packed coefficient modulo `p`.
fn bits(p: u64) -> u32 {
    64 - (p - 1).leading_zeros()
}

/// Bytes of the packed coefficients of a polynomial of `degree` over `moduli`.
pub(super) fn coefficient_bytes(degree: usize, moduli: &[u64]) -> usize {
    moduli
        .iter()
        .map(|&p| (degree * bits(p) as usize).div_ceil(8))
        .sum()
}

/// Bytes of the `Rq` message of c0.
fn rq_len(degree: usize, coefficient_bytes: usize) -> usize {
    2 + 1
        + encoded_len_varint(degree as u64)
        + 1
        + encoded_len_varint(coefficient_bytes as u64)
        + coefficient_bytes
        + 2
}

/// Bytes of a whole frame (the same for every ciphertext of the parameter set).
pub(super) fn frame_len(degree: usize, coefficient_bytes: usize) -> usize {
    let rq_len = rq_len(degree, coefficient_bytes);
    1 + encoded_len_varint(rq_len as u64) + rq_len + 2 + 32
}

/// Starts a frame: everything before c0's packed coefficients, with room for all of it.
pub(super) fn begin(degree: usize, coefficient_bytes: usize) -> Vec<u8> {
    let rq_len = rq_len(degree, coefficient_bytes);
    let mut out = Vec::with_capacity(frame_len(degree, coefficient_bytes));
    encode_key(1, WireType::LengthDelimited, &mut out);
    encode_varint(rq_len as u64, &mut out);
    encode_key(1, WireType::Varint, &mut out);
    encode_varint(RQ_NTT, &mut out);
    encode_key(2, WireType::Varint, &mut out);
    encode_varint(degree as u64, &mut out);
    encode_key(3, WireType::LengthDelimited, &mut out);
    encode_varint(coefficient_bytes as u64, &mut out);
    out
}

/// Appends `values` (each `< p`) packed at ⌈log2 p⌉ bits each, least significant bit first.
pub(super) fn pack(values: &[u64], p: u64, out: &mut Vec<u8>) {
    let bits = bits(p);
    // `acc` holds `filled < 64` pending bits.
    let (mut acc, mut filled) = (0u64, 0u32);
    for &v in values {
        acc |= v << filled;
        let total = filled + bits;
        if total >= 64 {
            out.extend_from_slice(&acc.to_le_bytes());
            acc = v.checked_shr(64 - filled).unwrap_or(0);
            filled = total - 64;
        } else {
            filled = total;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..filled.div_ceil(8) as usize]);
}

/// Ends the frame: c0's `allow_variable_time` flag (fhe.rs sets it on a fresh ciphertext) and
/// the seed of c1.
pub(super) fn finish(mut out: Vec<u8>, seed: &[u8; 32]) -> Vec<u8> {
    encode_key(4, WireType::Varint, &mut out);
    encode_varint(1, &mut out);
    encode_key(2, WireType::LengthDelimited, &mut out);
    encode_varint(seed.len() as u64, &mut out);
    out.extend_from_slice(seed);
    out
}
