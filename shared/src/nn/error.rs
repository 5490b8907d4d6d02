//! Errors of the network engine.

use thiserror::Error;

use crate::MoreError;

/// Errors of model construction, training and inference.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NnError {
    /// A tensor operation failed (shape mismatch, basis mismatch, ...).
    #[error("{layer}: {source}")]
    Tensor {
        /// Where: a layer (`"layers.2 (dense)"`), the loss or the optimizer.
        layer: String,
        /// The tensor error.
        source: MoreError,
    },
    /// The model description is inconsistent (unknown preset, bad sizes, non-divisible pooling...).
    #[error("invalid model description: {0}")]
    InvalidSpec(String),
    /// Training hyper-parameters are out of range.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// Ciphertext norms grew past the limit or became NaN/∞: the shadow channel (or the training
    /// itself) diverged.
    #[error("{where_}: ciphertext norm {norm:e} {cause}; remedy: {remedy}")]
    Diverged {
        /// The tensor that diverged.
        where_: String,
        /// Its largest absolute plane value (∞ for NaN/∞).
        norm: f64,
        /// What happened, in words.
        cause: String,
        /// What to do about it.
        remedy: &'static str,
    },
    /// A sample source could not read the rows of a batch (the text says why; no paths).
    #[error("reading the samples: {0}")]
    Source(String),
    /// Training was cancelled by the observer.
    #[error("training cancelled")]
    Cancelled,
}

pub(crate) trait Context<T> {
    fn at(self, layer: impl Into<String>) -> Result<T, NnError>;
}

impl<T> Context<T> for Result<T, MoreError> {
    fn at(self, layer: impl Into<String>) -> Result<T, NnError> {
        self.map_err(|source| NnError::Tensor {
            layer: layer.into(),
            source,
        })
    }
}
