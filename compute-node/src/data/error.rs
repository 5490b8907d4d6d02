//! Errors of the data loaders: every message names the file and what is wrong with it.

use std::path::PathBuf;

/// A data set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: not the expected JSON ({source})")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The file ends before the data its header announces.
    #[error("{path}: truncated: {what} needs {expected} bytes, the file has {got}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// An IDX file with the wrong magic number (not IDX, or images and labels swapped).
    #[error("{path}: wrong magic 0x{got:08x}, expected 0x{expected:08x} ({what})")]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// What was expected.
        what: &'static str,
        /// Expected magic.
        expected: u32,
        /// Found magic.
        got: u32,
    },
    /// Images and labels disagree on the number of samples.
    #[error("{images} images but {labels} labels")]
    CountMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// The data owner's rules refused the data (`more_data_owner::data`).
    #[error(transparent)]
    Rules(#[from] more_data_owner::data::DataError),
    /// Anything else (bad arguments, inconsistent shapes).
    #[error("{0}")]
    Invalid(String),
}
