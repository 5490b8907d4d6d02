//! The one error type of secure mode.

/// Errors of secure mode: invalid models, models that could overflow the plaintext modulus,
/// malformed wire bytes and failures reported by the BFV library.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecureError {
    /// The model, a sample or an argument is malformed (shapes, sizes, limits).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The model's worst-case value at `layer` (0-based index into `layers`) could reach half the
    /// plaintext modulus, so a decryption could wrap around and differ from the plaintext
    /// computation: the model is refused.
    #[error("layer {layer} may overflow: worst-case |value| {bound} exceeds the limit {limit} (half the plaintext modulus)")]
    MayOverflow {
        /// Index of the first layer whose bound is too large.
        layer: usize,
        /// Worst-case absolute value of that layer's outputs (saturating).
        bound: u128,
        /// The largest absolute value that decodes exactly: (t - 1) / 2.
        limit: u64,
    },
    /// Bytes on the wire (an encrypted batch or an evaluation key) are malformed.
    #[error("wire: {0}")]
    Wire(String),
    /// The BFV library reported an error.
    #[error("bfv: {0}")]
    Fhe(String),
}

impl From<fhe::Error> for SecureError {
    fn from(e: fhe::Error) -> Self {
        SecureError::Fhe(e.to_string())
    }
}

impl From<fhe_math::Error> for SecureError {
    fn from(e: fhe_math::Error) -> Self {
        SecureError::Fhe(e.to_string())
    }
}
