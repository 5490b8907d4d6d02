//! Error type of the crate: every fallible public function returns [`Result`].

use std::path::PathBuf;

/// Errors raised by the generator and the loaders. No public function panics on bad input.
#[derive(Debug, thiserror::Error)]
pub enum AngioError {
    /// A parameter is out of its documented range (e.g. image size 0, zero images requested).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A file or folder that was named does not exist.
    #[error("file not found: {0}")]
    MissingFile(PathBuf),
    /// An I/O error while reading or writing `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `path` exists but could not be decoded as a PNG/JPEG image.
    #[error("not a readable PNG/JPEG image: {path}: {reason}")]
    NotAnImage {
        /// The file concerned.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// Encoding or writing an image failed.
    #[error("image encoding failed for {path}: {reason}")]
    ImageWrite {
        /// The file concerned.
        path: PathBuf,
        /// What the encoder said.
        reason: String,
    },
    /// The labels CSV is malformed (missing header, wrong column count, ...).
    #[error("labels CSV {path}: {reason}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A label in the CSV is not one of the accepted class names.
    #[error("unknown label {label:?} for {file} (accepted: {accepted:?})")]
    UnknownLabel {
        /// The image file name from the CSV.
        file: String,
        /// The label as written.
        label: String,
        /// The accepted class names.
        accepted: Vec<String>,
    },
    /// A DICOM file could not be parsed or its pixel data not decoded.
    #[error("DICOM error in {path}: {reason}")]
    Dicom {
        /// The file concerned.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// Crate-wide result alias.
pub type Result<T> = std::result::Result<T, AngioError>;
