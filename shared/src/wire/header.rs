//! The tensor header: layout constants, parsing and size checks.

use super::WireError;
use crate::tensor::{CompactBasis, PublicKey, RepresentationKind};
use crate::Dtype;

/// First four bytes of every tensor message.
pub const MAGIC: &[u8; 4] = b"MORE";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Length of the fixed prefix: magic (4), version (2), representation (1), dtype (1), rank (2),
/// reserved (2), header length (4), total length (8).
pub const FIXED_HEADER_LEN: usize = 24;
/// Bytes of the compact basis `C0` (four `f64`).
pub(crate) const BASIS_LEN: usize = 32;

/// What a decoder accepts. Checked before any plane is read or any buffer is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted message (header and planes; for a bundle, the whole bundle).
    pub max_bytes: usize,
    /// Largest accepted number of axes.
    pub max_rank: usize,
}

impl Default for DecodeLimits {
    /// 1 GiB and 8 axes: a batch of 60,000 MNIST images as f32 matrix-form ciphertexts is
    /// 60,000·784·16 B ≈ 753 MB.
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 1 << 30,
            max_rank: 8,
        }
    }
}

/// A parsed and validated tensor header: everything but the planes.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Format version (1).
    pub version: u16,
    /// Plain, compact or matrix form.
    pub kind: RepresentationKind,
    /// Element type of the planes.
    pub dtype: Dtype,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// The public basis `C0` (compact tensors only), validated.
    pub basis: Option<CompactBasis>,
    /// Bytes before the first plane (a multiple of 8).
    pub header_len: usize,
    /// Bytes of the whole message (header and planes).
    pub total_len: usize,
}

impl Header {
    /// The public key of a compact tensor (its validated basis `C0`); `None` for plaintext and
    /// matrix-form tensors.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.basis.map(PublicKey::new)
    }

    /// Number of logical values (the product of the shape; 1 for rank 0).
    pub fn values(&self) -> usize {
        // Checked when the header was parsed.
        self.shape.iter().product()
    }

    /// Number of planes: 1, 2 or 4.
    pub fn planes(&self) -> usize {
        planes_of(self.kind)
    }

    /// Bytes of plane data (`total_len − header_len`).
    pub fn payload_len(&self) -> usize {
        self.total_len - self.header_len
    }

    /// Checks the header against `limits` (rank and total size).
    ///
    /// # Errors
    /// [`WireError::BadRank`], [`WireError::TooLarge`].
    pub fn check(&self, limits: &DecodeLimits) -> Result<(), WireError> {
        if self.shape.len() > limits.max_rank {
            return Err(WireError::BadRank {
                rank: self.shape.len(),
                limit: limits.max_rank,
            });
        }
        if self.total_len > limits.max_bytes {
            return Err(WireError::TooLarge {
                size: self.total_len,
                limit: limits.max_bytes,
            });
        }
        Ok(())
    }
}

pub(crate) fn planes_of(kind: RepresentationKind) -> usize {
    match kind {
        RepresentationKind::Plain => 1,
        RepresentationKind::Compact => 2,
        RepresentationKind::Matrix => 4,
    }
}

pub(crate) fn kind_tag(kind: RepresentationKind) -> u8 {
    match kind {
        RepresentationKind::Plain => 0,
        RepresentationKind::Compact => 1,
        RepresentationKind::Matrix => 2,
    }
}

pub(crate) fn dtype_tag(dtype: Dtype) -> u8 {
    match dtype {
        Dtype::F32 => 0,
        Dtype::F64 => 1,
    }
}

/// Header length for a rank and representation (no overflow: rank ≤ u16::MAX).
pub(crate) fn header_len_for(rank: usize, kind: RepresentationKind) -> usize {
    FIXED_HEADER_LEN
        + 8 * rank
        + if kind == RepresentationKind::Compact {
            BASIS_LEN
        } else {
            0
        }
}

/// Total message length for a header, or `ShapeOverflow`.
pub(crate) fn total_len_for(
    shape: &[usize],
    kind: RepresentationKind,
    dtype: Dtype,
) -> Result<usize, WireError> {
    let values = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(WireError::ShapeOverflow)?;
    values
        .checked_mul(planes_of(kind))
        .and_then(|v| v.checked_mul(dtype.size()))
        .and_then(|v| v.checked_add(header_len_for(shape.len(), kind)))
        .ok_or(WireError::ShapeOverflow)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn need(bytes: &[u8], expected: usize) -> Result<(), WireError> {
    if bytes.len() < expected {
        Err(WireError::Truncated {
            expected,
            got: bytes.len(),
        })
    } else {
        Ok(())
    }
}

/// Parses and validates the header at the start of `bytes` (which may hold just the header, or
/// the whole message). Applies no size limit: call [`Header::check`] (as [`super::decode`] does)
/// before reading the planes.
///
/// Given only the 24-byte prefix it fails with [`WireError::Truncated`] whose `expected` is the
/// full header length, so a streaming reader knows how much more to read.
///
/// # Errors
/// [`WireError::Truncated`], [`WireError::BadMagic`], [`WireError::UnsupportedVersion`],
/// [`WireError::UnknownRepresentation`], [`WireError::UnknownDtype`],
/// [`WireError::InvalidHeader`], [`WireError::ShapeOverflow`], [`WireError::InvalidBasis`].
pub fn decode_header(bytes: &[u8]) -> Result<Header, WireError> {
    need(bytes, MAGIC.len())?;
    if &bytes[..4] != MAGIC {
        return Err(WireError::BadMagic);
    }
    need(bytes, FIXED_HEADER_LEN)?;
    let version = u16_at(bytes, 4);
    if version != VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    let kind = match bytes[6] {
        0 => RepresentationKind::Plain,
        1 => RepresentationKind::Compact,
        2 => RepresentationKind::Matrix,
        t => return Err(WireError::UnknownRepresentation(t)),
    };
    let dtype = match bytes[7] {
        0 => Dtype::F32,
        1 => Dtype::F64,
        t => return Err(WireError::UnknownDtype(t)),
    };
    let rank = usize::from(u16_at(bytes, 8));
    if u16_at(bytes, 10) != 0 {
        return Err(WireError::InvalidHeader(
            "reserved bytes 10..12 are not zero".into(),
        ));
    }
    let header_len = header_len_for(rank, kind);
    let declared_header = u32_at(bytes, 12);
    if u64::from(declared_header) != header_len as u64 {
        return Err(WireError::InvalidHeader(format!(
            "header length field is {declared_header}, rank {rank} and {kind:?} imply {header_len}"
        )));
    }
    need(bytes, header_len)?;
    let mut shape = Vec::with_capacity(rank);
    for i in 0..rank {
        let d = u64_at(bytes, FIXED_HEADER_LEN + 8 * i);
        shape.push(usize::try_from(d).map_err(|_| WireError::ShapeOverflow)?);
    }
    let total_len = total_len_for(&shape, kind, dtype)?;
    let declared_total = u64_at(bytes, 16);
    if declared_total != total_len as u64 {
        return Err(WireError::InvalidHeader(format!(
            "total length field is {declared_total}, the shape implies {total_len}"
        )));
    }
    let basis = if kind == RepresentationKind::Compact {
        let at = FIXED_HEADER_LEN + 8 * rank;
        let c0: [f64; 4] = std::array::from_fn(|i| f64::from_bits(u64_at(bytes, at + 8 * i)));
        Some(CompactBasis::new(c0).map_err(|e| WireError::InvalidBasis(e.to_string()))?)
    } else {
        None
    };
    Ok(Header {
        version,
        kind,
        dtype,
        shape,
        basis,
        header_len,
        total_len,
    })
}

/// Writes a header (the inverse of [`decode_header`]).
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    kind: RepresentationKind,
    dtype: Dtype,
    shape: &[usize],
    basis: Option<&CompactBasis>,
    total_len: usize,
) {
    let rank = u16::try_from(shape.len()).expect("rank above 65535 cannot be encoded");
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(kind_tag(kind));
    out.push(dtype_tag(dtype));
    out.extend_from_slice(&rank.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    let header_len = header_len_for(shape.len(), kind) as u32;
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&(total_len as u64).to_le_bytes());
    for &d in shape {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
    if let Some(b) = basis {
        for v in b.c0 {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}
