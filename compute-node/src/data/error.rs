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
    /// A named column is not in the CSV header.
    #[error("{path}: no column {column:?}; the header has: {available}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// The header, comma-separated.
        available: String,
    },
    /// A feature (or regression target) cell is not a finite number.
    #[error("{path}: row {row}, column {column:?}: {value:?} is not a finite number")]
    NonNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based data row (the header is row 0).
        row: usize,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// A file without data rows (or without a header).
    #[error("{path}: empty: {what}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// A CSV syntax error.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// Anything else (bad arguments, inconsistent shapes).
    #[error("{0}")]
    Invalid(String),
}
