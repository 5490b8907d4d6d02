//! The crate's error type.

use thiserror::Error;

/// Errors of homomorphic operations and tensor construction.
///
/// Shape errors name the operation and both shapes, as candle's do.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MoreError {
    /// Two operands have shapes the operation cannot combine.
    #[error("{op}: shape mismatch between {lhs:?} and {rhs:?}")]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// Left operand's logical shape.
        lhs: Vec<usize>,
        /// Right operand's logical shape.
        rhs: Vec<usize>,
    },
    /// An operand has the wrong number of axes or an axis out of range.
    #[error("{op}: expected {expected}, got shape {shape:?}")]
    BadRank {
        /// The operation.
        op: &'static str,
        /// What the operation needs, in words.
        expected: &'static str,
        /// The operand's logical shape.
        shape: Vec<usize>,
    },
    /// A reshape to a shape with another number of elements.
    #[error("reshape: cannot reshape {from:?} ({from_len} values) into {to:?}")]
    BadReshape {
        /// Original shape.
        from: Vec<usize>,
        /// Its number of values.
        from_len: usize,
        /// Requested shape.
        to: Vec<usize>,
    },
    /// Two compact ciphertexts carry different public bases `C0` (different keys or data sets).
    #[error("{op}: operands use different compact bases (C0); they were encrypted under different keys or bases")]
    BasisMismatch {
        /// The operation.
        op: &'static str,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{what}: non-finite value")]
    NonFinite {
        /// Where it was found.
        what: &'static str,
    },
    /// A buffer could not be allocated (its size is past what the allocator can give).
    #[error("{what}: cannot allocate {bytes} bytes")]
    Allocation {
        /// What the buffer was for.
        what: &'static str,
        /// The size asked for (saturated at `usize::MAX`).
        bytes: usize,
    },
    /// A parameter is out of its documented range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

/// Shorthand result type.
pub type Result<T, E = MoreError> = std::result::Result<T, E>;
