//! The binary wire format of secure mode (little endian).
//!
//! An **encrypted batch** (a request's inputs or a response's outputs):
//!
//! | bytes | field |
//! | --- | --- |
//! | 4 | magic `MSB1` |
//! | 4 | u32 `samples` (1..=8192: slots used; slot j holds sample j) |
//! | 4 | u32 `count` (ciphertexts: `input_len` in a request, `output_len` in a response) |
//! | per ciphertext: 4 | u32 byte length, at most [`max_ciphertext_bytes`] |
//! | per ciphertext: length | fhe.rs `Serialize::to_bytes()` of the ciphertext (protobuf) |
//!
//! The **evaluation key** is fhe.rs's `RelinearizationKey::to_bytes()`.
//!
//! [`BatchReader`] parses a batch as its bytes arrive, holding at most one ciphertext frame
//! plus the last pushed chunk, so a node streams a request in bounded memory.
use crate::params::{bfv_parameters, slots, DEGREE, MODULI_BITS};
use crate::SecureError;
use fhe::bfv::{Ciphertext, RelinearizationKey};
use fhe_math::rq::{Poly, Representation};
use fhe_traits::{DeserializeParametrized, Serialize};

mod seeded;

/// The 4 bytes every encrypted batch starts with.
pub const BATCH_MAGIC: &[u8; 4] = b"MSB1";
/// Bytes of the batch header (magic, samples, count).
pub const HEADER_BYTES: usize = 12;

/// Largest byte length of one serialized ciphertext frame accepted: two polynomials at the top
/// level (8 bytes per coefficient bound, plus protobuf framing).
pub fn max_ciphertext_bytes() -> usize {
    2 * MODULI_BITS.len() * DEGREE * 8 + 1024
}

fn wire(msg: impl Into<String>) -> SecureError {
    SecureError::Wire(msg.into())
}

/// Serializes an encrypted batch of `samples` samples.
pub fn write_batch(samples: usize, ciphertexts: &[Ciphertext]) -> Vec<u8> {
    let frames: Vec<Vec<u8>> = ciphertexts.iter().map(|c| c.to_bytes()).collect();
    write_batch_frames(samples, &frames)
}

/// Serializes an encrypted batch from already serialized ciphertext frames (each fhe.rs
/// `Ciphertext::to_bytes()` bytes, or bytes identical to them).
pub fn write_batch_frames(samples: usize, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(HEADER_BYTES + frames.iter().map(|f| f.len() + 4).sum::<usize>());
    out.extend_from_slice(BATCH_MAGIC);
    out.extend_from_slice(&(samples as u32).to_le_bytes());
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    for f in frames {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Parses one ciphertext frame and checks it is a well-formed two-part ciphertext of the
/// parameter set: NTT form, every coefficient reduced modulo its prime.
///
/// Decoded by fhe.rs's `Ciphertext::from_bytes` (about 1 ms per seeded frame), so a fresh
/// ciphertext keeps its seed and `to_bytes()` gives the frame back byte for byte. For
/// evaluation, [`decode_ciphertexts`] is faster.
pub fn decode_ciphertext(bytes: &[u8]) -> Result<Ciphertext, SecureError> {
    let ct = Ciphertext::from_bytes(bytes, bfv_parameters())
        .map_err(|e| wire(format!("ciphertext: {e}")))?;
    check_ciphertext(ct)
}

/// [`decode_ciphertext`] for evaluation: a fresh seeded frame (every client upload) takes a
/// fast path (`wire/seeded.rs`) with the same polynomials and level as fhe.rs's decoding and
/// the same verdict on malformed bytes; any other frame is decoded by fhe.rs. The one
/// difference: the ciphertext does not remember its seed, so its `to_bytes()` writes c1 in
/// full (the node never re-serializes an input).
pub fn decode_for_evaluation(bytes: &[u8]) -> Result<Ciphertext, SecureError> {
    match seeded::decode_seeded(bytes) {
        Some(ct) => check_ciphertext(ct?),
        None => decode_ciphertext(bytes),
    }
}

/// The wire checks of a decoded ciphertext: two parts, NTT form, reduced coefficients.
fn check_ciphertext(ct: Ciphertext) -> Result<Ciphertext, SecureError> {
    if ct.len() != 2 {
        return Err(wire(format!(
            "a ciphertext has {} parts, 2 expected",
            ct.len()
        )));
    }
    for p in ct.iter() {
        check_poly(p)?;
    }
    Ok(ct)
}

fn check_poly(p: &Poly) -> Result<(), SecureError> {
    if p.representation() != &Representation::Ntt {
        return Err(wire("a ciphertext polynomial is not in NTT form"));
    }
    let coeffs = p.coefficients();
    for (row, &q) in coeffs.outer_iter().zip(p.ctx().moduli()) {
        if row.iter().any(|&c| c >= q) {
            return Err(wire("a ciphertext coefficient is not reduced"));
        }
    }
    Ok(())
}

/// Parses a complete encrypted batch: `(samples, ciphertexts)`; the frames are decoded in
/// parallel (with the `parallel` feature) by [`decode_ciphertext`] (fresh ciphertexts keep their
/// seeds; the node uses [`decode_ciphertexts`]).
pub fn read_batch(bytes: &[u8]) -> Result<(usize, Vec<Ciphertext>), SecureError> {
    let (samples, frames) = read_frames(bytes)?;
    let cts = crate::eval::map_range(frames.len(), |i| decode_ciphertext(&frames[i]))?;
    Ok((samples, cts))
}

/// A whole batch's sample count and raw frames, the header and framing checked.
fn read_frames(bytes: &[u8]) -> Result<(usize, Vec<Vec<u8>>), SecureError> {
    let mut reader = BatchReader::new(usize::MAX);
    reader.push(bytes)?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame()? {
        frames.push(frame);
    }
    Ok((reader.finish()?.samples, frames))
}

/// Reads a whole encrypted batch for evaluation, as the node does (the frames decoded by
/// [`decode_ciphertexts`]: the same polynomials as [`read_batch`], about twice as fast, but the
/// ciphertexts keep no seed, so they cannot be re-serialized to the uploaded bytes).
///
/// # Errors
/// As [`read_batch`].
pub fn read_batch_for_evaluation(bytes: &[u8]) -> Result<(usize, Vec<Ciphertext>), SecureError> {
    let (samples, frames) = read_frames(bytes)?;
    Ok((samples, decode_ciphertexts(&frames)?))
}

/// Decodes ciphertext frames (as [`decode_for_evaluation`]), on rayon's threads with the `parallel`
/// feature: decoding expands each seed and converts c0 to NTT form, about 0.4 ms per seeded
/// frame on one core (fhe.rs's own decoding: about 1 ms; `examples/profile_decode.rs`).
pub fn decode_ciphertexts(frames: &[Vec<u8>]) -> Result<Vec<Ciphertext>, SecureError> {
    crate::eval::map_range(frames.len(), |i| decode_for_evaluation(&frames[i]))
}

/// Parses an evaluation key (relinearization key bytes) and checks it can relinearize at the
/// top level without fault.
pub fn parse_evaluation_key(bytes: &[u8]) -> Result<RelinearizationKey, SecureError> {
    let par = bfv_parameters();
    let key = RelinearizationKey::from_bytes(bytes, par)
        .map_err(|e| wire(format!("evaluation key: {e}")))?;
    let ctx = par.context_at_level(0).map_err(SecureError::from)?;
    let zero = || Poly::zero(ctx, Representation::Ntt);
    let mut probe = Ciphertext::new(vec![zero(), zero(), zero()], par)?;
    let relin = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        key.relinearizes(&mut probe)
    }));
    match relin {
        Ok(Ok(())) => Ok(key),
        _ => Err(wire(
            "evaluation key does not relinearize at these parameters",
        )),
    }
}

/// The header of an encrypted batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Samples in the batch (1..=8192).
    pub samples: usize,
    /// Ciphertexts that follow.
    pub count: usize,
}

/// Streaming parser of an encrypted batch: [`push`](Self::push) bytes as they arrive, then pull
/// whole ciphertexts with [`next_ciphertext`](Self::next_ciphertext) until it returns `None`;
/// [`finish`](Self::finish) at the end of the body checks that nothing is missing or left over.
#[derive(Debug)]
pub struct BatchReader {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pos: usize,
    header: Option<BatchHeader>,
    read: usize,
    max_count: usize,
}

impl BatchReader {
    /// A reader that refuses batches of more than `max_count` ciphertexts.
    pub fn new(max_count: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            header: None,
            read: 0,
            max_count,
        }
    }

    /// Appends bytes. Errors once the bytes cannot start a valid batch (bad magic, sample count,
    /// ciphertext count, or a frame length over [`max_ciphertext_bytes`]).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), SecureError> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
        self.parse_header()?;
        self.frame_len().map(|_| ())
    }

    /// The header, once its 12 bytes have arrived.
    pub fn header(&self) -> Option<BatchHeader> {
        self.header
    }

    /// Ciphertexts (frames) returned so far.
    pub fn read_count(&self) -> usize {
        self.read
    }

    /// Bytes pushed and not yet consumed.
    fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn parse_header(&mut self) -> Result<(), SecureError> {
        if self.header.is_some() {
            return Ok(());
        }
        let b = self.pending();
        if !BATCH_MAGIC.starts_with(&b[..b.len().min(4)]) {
            return Err(wire("not an encrypted batch (bad magic)"));
        }
        if b.len() < HEADER_BYTES {
            return Ok(());
        }
        let (samples, count) = (u32_at(b, 4) as usize, u32_at(b, 8) as usize);
        if samples == 0 || samples > slots() {
            return Err(wire(format!("{samples} samples: 1..={} expected", slots())));
        }
        if count == 0 || count > self.max_count {
            return Err(wire(format!(
                "{count} ciphertexts: 1..={} expected",
                self.max_count
            )));
        }
        self.header = Some(BatchHeader { samples, count });
        self.pos += HEADER_BYTES;
        Ok(())
    }

    /// Length of the next frame once its 4 length bytes are buffered.
    fn frame_len(&self) -> Result<Option<usize>, SecureError> {
        let Some(h) = self.header else {
            return Ok(None);
        };
        let b = self.pending();
        if self.read == h.count {
            if !b.is_empty() {
                return Err(wire("bytes after the last ciphertext"));
            }
            return Ok(None);
        }
        if b.len() < 4 {
            return Ok(None);
        }
        let len = u32_at(b, 0) as usize;
        if len == 0 || len > max_ciphertext_bytes() {
            return Err(wire(format!(
                "ciphertext frame of {len} bytes: 1..={} expected",
                max_ciphertext_bytes()
            )));
        }
        Ok(Some(len))
    }

    /// The next whole frame's bytes (not yet decoded: decode many at once with
    /// [`decode_ciphertexts`] to use both cores), or `None` until more bytes arrive (or after
    /// the last one).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, SecureError> {
        let Some(len) = self.frame_len()? else {
            return Ok(None);
        };
        if self.pending().len() < 4 + len {
            return Ok(None);
        }
        let frame = self.pending()[4..4 + len].to_vec();
        self.pos += 4 + len;
        self.read += 1;
        Ok(Some(frame))
    }

    /// The next whole ciphertext, decoded and checked ([`decode_ciphertext`]), or `None` until
    /// more bytes arrive (or after the last one).
    pub fn next_ciphertext(&mut self) -> Result<Option<Ciphertext>, SecureError> {
        self.next_frame()?
            .map(|f| decode_ciphertext(&f))
            .transpose()
    }

    /// Ends the stream: errors unless the header and exactly `count` ciphertexts were read and
    /// no byte is left over.
    pub fn finish(self) -> Result<BatchHeader, SecureError> {
        let h = self.header.ok_or_else(|| wire("truncated batch header"))?;
        if self.read != h.count {
            return Err(wire(format!(
                "truncated batch: {} of {} ciphertexts",
                self.read, h.count
            )));
        }
        if !self.pending().is_empty() {
            return Err(wire("bytes after the last ciphertext"));
        }
        Ok(h)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
