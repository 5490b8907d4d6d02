//! Errors of the wire format.

use thiserror::Error;

use crate::tensor::RepresentationKind;
use crate::Dtype;

/// Why bytes were rejected by [`super::decode`], [`super::decode_header`] or
/// [`super::decode_bundle`]. Every malformed input maps to one of these; decoding never panics.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WireError {
    /// The message does not start with `MORE` (tensor) or `MOREBNDL` (bundle).
    #[error("bad magic bytes (not a MORE wire message)")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported wire format version {0}")]
    UnsupportedVersion(u16),
    /// A representation tag other than 0 (plain), 1 (compact), 2 (matrix).
    #[error("unknown representation tag {0}")]
    UnknownRepresentation(u8),
    /// An element type tag other than 0 (f32), 1 (f64).
    #[error("unknown element type tag {0}")]
    UnknownDtype(u8),
    /// Fewer bytes than the header (or the declared length) needs.
    #[error("truncated: need {expected} bytes, got {got}")]
    Truncated {
        /// Bytes needed (for a header: enough to read the next field or the whole header).
        expected: usize,
        /// Bytes available.
        got: usize,
    },
    /// Bytes after the end of the message.
    #[error("trailing bytes after the message")]
    TrailingBytes,
    /// A dimension does not fit `usize`, or the number of values or bytes overflows.
    #[error("shape overflow: the tensor size does not fit in memory addresses")]
    ShapeOverflow,
    /// The message is larger than the caller's [`super::DecodeLimits::max_bytes`].
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Declared (or actual) size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A plane value is NaN or infinite.
    #[error("non-finite value in plane {plane} at index {index}")]
    NonFinite {
        /// Plane number (0-based).
        plane: usize,
        /// Row-major index of the value within the plane.
        index: usize,
    },
    /// The compact basis `C0` is rejected by [`crate::tensor::CompactBasis::new`].
    #[error("invalid compact basis: {0}")]
    InvalidBasis(String),
    /// More axes than [`super::DecodeLimits::max_rank`].
    #[error("rank {rank} exceeds the limit of {limit}")]
    BadRank {
        /// The declared rank.
        rank: usize,
        /// The limit.
        limit: usize,
    },
    /// A header field is inconsistent (reserved bytes not zero, header or total length not the
    /// one the shape implies).
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    /// The message holds another representation or element type than the caller asked for.
    #[error("expected a {expected_kind:?} {expected_dtype:?} tensor, got {kind:?} {dtype:?}")]
    UnexpectedType {
        /// What the caller asked for.
        expected_kind: RepresentationKind,
        /// What the caller asked for.
        expected_dtype: Dtype,
        /// What the message holds.
        kind: RepresentationKind,
        /// What the message holds.
        dtype: Dtype,
    },
    /// Bundle metadata is not valid UTF-8 JSON.
    #[error("bundle metadata: {0}")]
    BadMetadata(String),
    /// A bundle entry name is not valid UTF-8, or appears twice.
    #[error("bundle entry name: {0}")]
    BadName(String),
    /// A bundle entry's tensor is malformed.
    #[error("bundle entry {name:?}: {source}")]
    InTensor {
        /// The entry's name.
        name: String,
        /// What is wrong with its tensor.
        #[source]
        source: Box<WireError>,
    },
    /// Reading from a stream failed ([`super::decode_from`]).
    #[error("i/o: {0}")]
    Io(String),
}
