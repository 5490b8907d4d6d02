//! Encoding and decoding of one tensor.

use std::any::Any;
use std::io::{Read, Write};

use ndarray::{ArrayD, IxDyn};

use super::header::{decode_header, total_len_for, write_header, FIXED_HEADER_LEN};
use super::{DecodeLimits, Header, WireError};
use crate::tensor::{
    Compact, CompactCiphertext, MatrixCiphertext, MatrixForm, Plain, PlainTensor, PlanarTensor,
    Representation, RepresentationKind,
};
use crate::{Dtype, Float};

fn header_bytes<F: Float, R: Representation<F>>(t: &PlanarTensor<F, R>) -> (Vec<u8>, usize) {
    let total = total_len_for(t.shape(), R::KIND, F::DTYPE)
        .expect("an in-memory tensor's byte size fits usize");
    let mut out = Vec::with_capacity(total);
    let key = t.public_key();
    let basis = key.as_ref().map(|k| k.basis());
    write_header(&mut out, R::KIND, F::DTYPE, t.shape(), basis, total);
    (out, total)
}

/// Appends the little-endian bytes of `values` to `out`.
fn push_values<F: Float>(out: &mut Vec<u8>, values: impl Iterator<Item = F>) {
    match F::DTYPE {
        // f32 → f64 → f32 is exact.
        Dtype::F32 => {
            values.for_each(|v| out.extend_from_slice(&(v.as_f64() as f32).to_le_bytes()))
        }
        Dtype::F64 => values.for_each(|v| out.extend_from_slice(&v.as_f64().to_le_bytes())),
    }
}

/// Encodes a tensor of any representation and element type into wire format v1.
///
/// The output is exactly `header_len + values · planes · size_of::<F>()` bytes. Non-finite values
/// are written as they are (and rejected by [`decode`]).
///
/// # Panics
/// Only for a rank above 65,535.
pub fn encode<F: Float, R: Representation<F>>(t: &PlanarTensor<F, R>) -> Vec<u8> {
    let (mut out, _) = header_bytes(t);
    for p in t.planes() {
        push_values(&mut out, p.iter().copied());
    }
    out
}

/// Streams the encoding of [`encode`] into `w` in chunks of at most 64 KiB, without building the
/// whole message in memory.
///
/// # Errors
/// Whatever `w` returns.
pub fn encode_into<F: Float, R: Representation<F>>(
    t: &PlanarTensor<F, R>,
    w: &mut impl Write,
) -> std::io::Result<()> {
    const CHUNK_VALUES: usize = 8192;
    let (header, _) = header_bytes(t);
    w.write_all(&header)?;
    let mut buf = Vec::with_capacity(CHUNK_VALUES * 8);
    for p in t.planes() {
        let mut it = p.iter().copied().peekable();
        while it.peek().is_some() {
            buf.clear();
            push_values(&mut buf, it.by_ref().take(CHUNK_VALUES));
            w.write_all(&buf)?;
        }
    }
    Ok(())
}

/// A decoded tensor whose representation and element type are known only at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyTensor {
    /// Plaintext, f32.
    PlainF32(PlainTensor<f32>),
    /// Plaintext, f64.
    PlainF64(PlainTensor<f64>),
    /// Compact ciphertext, f32.
    CompactF32(CompactCiphertext<f32>),
    /// Compact ciphertext, f64.
    CompactF64(CompactCiphertext<f64>),
    /// Matrix-form ciphertext, f32.
    MatrixF32(MatrixCiphertext<f32>),
    /// Matrix-form ciphertext, f64.
    MatrixF64(MatrixCiphertext<f64>),
}

macro_rules! each {
    ($self:expr, $t:ident => $body:expr) => {
        match $self {
            AnyTensor::PlainF32($t) => $body,
            AnyTensor::PlainF64($t) => $body,
            AnyTensor::CompactF32($t) => $body,
            AnyTensor::CompactF64($t) => $body,
            AnyTensor::MatrixF32($t) => $body,
            AnyTensor::MatrixF64($t) => $body,
        }
    };
}

macro_rules! from_typed {
    ($($variant:ident: $ty:ty),*) => {$(
        impl From<$ty> for AnyTensor {
            fn from(t: $ty) -> Self {
                AnyTensor::$variant(t)
            }
        }
    )*};
}

from_typed!(
    PlainF32: PlainTensor<f32>,
    PlainF64: PlainTensor<f64>,
    CompactF32: CompactCiphertext<f32>,
    CompactF64: CompactCiphertext<f64>,
    MatrixF32: MatrixCiphertext<f32>,
    MatrixF64: MatrixCiphertext<f64>
);

impl AnyTensor {
    /// Logical shape.
    pub fn shape(&self) -> &[usize] {
        each!(self, t => t.shape())
    }

    /// Plain, compact or matrix form.
    pub fn kind(&self) -> RepresentationKind {
        match self {
            AnyTensor::PlainF32(_) | AnyTensor::PlainF64(_) => RepresentationKind::Plain,
            AnyTensor::CompactF32(_) | AnyTensor::CompactF64(_) => RepresentationKind::Compact,
            AnyTensor::MatrixF32(_) | AnyTensor::MatrixF64(_) => RepresentationKind::Matrix,
        }
    }

    /// Element type of the planes.
    pub fn dtype(&self) -> Dtype {
        match self {
            AnyTensor::PlainF32(_) | AnyTensor::CompactF32(_) | AnyTensor::MatrixF32(_) => {
                Dtype::F32
            }
            AnyTensor::PlainF64(_) | AnyTensor::CompactF64(_) | AnyTensor::MatrixF64(_) => {
                Dtype::F64
            }
        }
    }

    /// Wire-format v1 bytes (as [`encode`]).
    pub fn encode(&self) -> Vec<u8> {
        each!(self, t => encode(t))
    }

    /// Streams the wire-format bytes into `w` (as [`encode_into`]).
    ///
    /// # Errors
    /// Whatever `w` returns.
    pub fn encode_into(&self, w: &mut impl Write) -> std::io::Result<()> {
        each!(self, t => encode_into(t, w))
    }

    /// Wraps a tensor of generic type; `None` only for `Float`/`Representation` implementations
    /// outside this crate.
    pub fn from_typed<F: Float, R: Representation<F>>(t: PlanarTensor<F, R>) -> Option<Self> {
        let b: Box<dyn Any> = Box::new(t);
        let b = match b.downcast::<PlainTensor<f32>>() {
            Ok(t) => return Some(AnyTensor::PlainF32(*t)),
            Err(b) => b,
        };
        let b = match b.downcast::<PlainTensor<f64>>() {
            Ok(t) => return Some(AnyTensor::PlainF64(*t)),
            Err(b) => b,
        };
        let b = match b.downcast::<CompactCiphertext<f32>>() {
            Ok(t) => return Some(AnyTensor::CompactF32(*t)),
            Err(b) => b,
        };
        let b = match b.downcast::<CompactCiphertext<f64>>() {
            Ok(t) => return Some(AnyTensor::CompactF64(*t)),
            Err(b) => b,
        };
        let b = match b.downcast::<MatrixCiphertext<f32>>() {
            Ok(t) => return Some(AnyTensor::MatrixF32(*t)),
            Err(b) => b,
        };
        b.downcast::<MatrixCiphertext<f64>>()
            .ok()
            .map(|t| AnyTensor::MatrixF64(*t))
    }

    /// The tensor as the statically typed `PlanarTensor<F, R>`.
    ///
    /// # Errors
    /// [`WireError::UnexpectedType`] when it holds another representation or element type.
    pub fn into_typed<F: Float, R: Representation<F>>(
        self,
    ) -> Result<PlanarTensor<F, R>, WireError> {
        let (kind, dtype) = (self.kind(), self.dtype());
        let b: Box<dyn Any> = each!(self, t => Box::new(t));
        b.downcast::<PlanarTensor<F, R>>()
            .map(|t| *t)
            .map_err(|_| WireError::UnexpectedType {
                expected_kind: R::KIND,
                expected_dtype: F::DTYPE,
                kind,
                dtype,
            })
    }
}

/// Reads one plane of `n` values of width `W` starting at `bytes[0]`, rejecting non-finite values.
fn read_plane<F: Float, const W: usize>(
    bytes: &[u8],
    shape: &[usize],
    plane: usize,
    conv: impl Fn([u8; W]) -> F,
) -> Result<ArrayD<F>, WireError> {
    let mut values = Vec::with_capacity(bytes.len() / W);
    for (index, chunk) in bytes.chunks_exact(W).enumerate() {
        let mut a = [0u8; W];
        a.copy_from_slice(chunk);
        let v = conv(a);
        if !v.is_finite() {
            return Err(WireError::NonFinite { plane, index });
        }
        values.push(v);
    }
    ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|_| WireError::ShapeOverflow)
}

fn read_planes<F: Float>(header: &Header, bytes: &[u8]) -> Result<Vec<ArrayD<F>>, WireError> {
    let plane_bytes = header.values() * F::DTYPE.size();
    (0..header.planes())
        .map(|k| {
            let start = header.header_len + k * plane_bytes;
            let slice = bytes
                .get(start..start + plane_bytes)
                .ok_or(WireError::Truncated {
                    expected: start + plane_bytes,
                    got: bytes.len(),
                })?;
            match F::DTYPE {
                Dtype::F32 => read_plane(slice, &header.shape, k, |a| {
                    F::of_f64(f32::from_le_bytes(a).into())
                }),
                Dtype::F64 => read_plane(slice, &header.shape, k, |a| {
                    F::of_f64(f64::from_le_bytes(a))
                }),
            }
        })
        .collect()
}

fn build<F: Float, R: Representation<F>>(
    rep: R,
    header: &Header,
    bytes: &[u8],
) -> Result<PlanarTensor<F, R>, WireError> {
    PlanarTensor::from_planes(rep, read_planes(header, bytes)?)
        .map_err(|e| WireError::InvalidHeader(e.to_string()))
}

/// Decodes one tensor message (exactly: no bytes may follow it).
///
/// Checks, in order: the header ([`decode_header`]), the limits, that the length matches the
/// header, then every value (NaN/∞ rejected). Allocates nothing before the length checks pass.
///
/// # Errors
/// Every [`WireError`] variant that applies to a single tensor.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<AnyTensor, WireError> {
    let header = decode_header(bytes)?;
    header.check(limits)?;
    if bytes.len() < header.total_len {
        return Err(WireError::Truncated {
            expected: header.total_len,
            got: bytes.len(),
        });
    }
    if bytes.len() > header.total_len {
        return Err(WireError::TrailingBytes);
    }
    Ok(match (header.kind, header.dtype, header.basis) {
        (RepresentationKind::Plain, Dtype::F32, _) => {
            AnyTensor::PlainF32(build(Plain, &header, bytes)?)
        }
        (RepresentationKind::Plain, Dtype::F64, _) => {
            AnyTensor::PlainF64(build(Plain, &header, bytes)?)
        }
        (RepresentationKind::Compact, Dtype::F32, Some(basis)) => {
            AnyTensor::CompactF32(build(Compact { basis }, &header, bytes)?)
        }
        (RepresentationKind::Compact, Dtype::F64, Some(basis)) => {
            AnyTensor::CompactF64(build(Compact { basis }, &header, bytes)?)
        }
        (RepresentationKind::Compact, _, None) => {
            return Err(WireError::InvalidBasis(
                "compact tensor without a basis".into(),
            ))
        }
        (RepresentationKind::Matrix, Dtype::F32, _) => {
            AnyTensor::MatrixF32(build(MatrixForm, &header, bytes)?)
        }
        (RepresentationKind::Matrix, Dtype::F64, _) => {
            AnyTensor::MatrixF64(build(MatrixForm, &header, bytes)?)
        }
    })
}

/// Decodes a tensor of a representation and element type known at compile time, e.g.
/// `decode_as::<f32, Compact>(bytes, &limits)`. The header is checked before any plane is read.
///
/// # Errors
/// As [`decode`], and [`WireError::UnexpectedType`] for another representation or element type.
pub fn decode_as<F: Float, R: Representation<F>>(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<PlanarTensor<F, R>, WireError> {
    let header = decode_header(bytes)?;
    if header.kind != R::KIND || header.dtype != F::DTYPE {
        return Err(WireError::UnexpectedType {
            expected_kind: R::KIND,
            expected_dtype: F::DTYPE,
            kind: header.kind,
            dtype: header.dtype,
        });
    }
    decode(bytes, limits)?.into_typed()
}

fn read_exact(
    r: &mut impl Read,
    buf: &mut [u8],
    total: usize,
    before: usize,
) -> Result<(), WireError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            WireError::Truncated {
                expected: total,
                got: before,
            }
        } else {
            WireError::Io(e.to_string())
        }
    })
}

/// Reads exactly one tensor message from a stream: the header first (checked against `limits`
/// before the planes are read or their buffer allocated), then the planes. Nothing after the
/// message is consumed, so messages can follow each other on one stream.
///
/// # Errors
/// As [`decode`]; [`WireError::Io`] for read errors. A stream that ends early gives
/// [`WireError::Truncated`] (its `got` counts the bytes before the failed read).
pub fn decode_from(r: &mut impl Read, limits: &DecodeLimits) -> Result<AnyTensor, WireError> {
    let mut buf = vec![0u8; FIXED_HEADER_LEN];
    read_exact(r, &mut buf, FIXED_HEADER_LEN, 0)?;
    let header = match decode_header(&buf) {
        Ok(h) => h,
        Err(WireError::Truncated { expected, .. }) => {
            let rank = usize::from(u16::from_le_bytes([buf[8], buf[9]]));
            if rank > limits.max_rank {
                return Err(WireError::BadRank {
                    rank,
                    limit: limits.max_rank,
                });
            }
            buf.resize(expected, 0);
            read_exact(r, &mut buf[FIXED_HEADER_LEN..], expected, FIXED_HEADER_LEN)?;
            decode_header(&buf)?
        }
        Err(e) => return Err(e),
    };
    header.check(limits)?;
    let have = buf.len();
    buf.resize(header.total_len, 0);
    read_exact(r, &mut buf[have..], header.total_len, have)?;
    decode(&buf, limits)
}
