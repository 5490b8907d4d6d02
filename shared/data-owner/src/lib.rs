//! The data owner's library: everything a data owner's client does, once, as functions over bytes
//! and values. The web page (through the wasm client), the `more-client` command line (a clap
//! front end, crate `more-cli`), the Python package and the lab of `more-node` are shells over it.
//!
//! - the secret keys are the key crate's, re-exported as [`secret_key`]; [`keyfile`] reads and
//!   writes the page's passphrase-wrapped `.morekey` files ([`more_secret_key::wrap`]);
//! - [`data`] holds the data rules (CSV tables, IDX, image folders, DICOM, splits, standardisation,
//!   targets);
//! - [`crypto`] encrypts rows on f32 values with the page's shadows
//!   (`SecretKey::encrypt_compact`); [`decrypt`] decrypts any wire tensor of the key, refusing
//!   plaintext;
//! - [`rest`] is the REST client of the compute node, once: the route table the page's
//!   `web/api.js` is built from, typed bodies, the native transport and the data owner's steps;
//! - [`presets`] picks the model for a data set (the architectures are `more-core`'s presets,
//!   `table_mlp` included);
//! - [`secure`] is secure mode: prediction on BFV-encrypted samples with a model another tenant
//!   published.
//! - [`dicomweb`] is PACS in: studies searched (QIDO-RS) and retrieved (WADO-RS) on the data
//!   owner's side, decoded with the folder rules; [`fhir`] writes decrypted predictions as FHIR
//!   R4 resources (`RiskAssessment`, `Observation`).
//! - [`evaluate`] turns decrypted predictions into a report a clinician can act on: class
//!   names, sensitivity, specificity, PPV/NPV, ROC/AUC, calibration, errors in the target's
//!   units, and the baselines they must beat.
//!
//! The feature `native` (default) adds what needs an operating system: the blocking HTTP client,
//! the DICOMweb client and the passphrase prompt; without it the crate builds for wasm32.
#![deny(missing_docs)]

pub mod crypto;
pub mod data;
pub mod decrypt;
pub mod describe;
#[cfg(feature = "native")]
pub mod dicomweb;
pub mod evaluate;
pub mod fhir;
#[cfg(feature = "native")]
pub mod keyfile;
pub mod presets;
pub mod rest;
#[cfg(feature = "native")]
pub mod secure;
pub mod tune;

/// The key crate: MORE's [`SecretKey`](more_secret_key::SecretKey), secure mode's
/// [`BfvSecretKey`](more_secret_key::secure::BfvSecretKey), key files' wrapping.
pub use more_secret_key as secret_key;

pub use data::DataError;

/// Every failure of a client operation, with the exit code of the `more-client` command line it
/// maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A local file could not be read or written (exit code 1).
    #[error("{0}")]
    Io(String),
    /// The data file is not usable (exit code 3).
    #[error("bad input data: {0}")]
    Data(#[from] DataError),
    /// The key file or passphrase is wrong or missing (exit code 4).
    #[error("key: {0}")]
    Key(String),
    /// The node could not be reached (exit code 5).
    #[error("the compute node is not reachable: {0}")]
    Unreachable(String),
    /// The node answered with an error (exit code 6).
    #[error("the compute node refused: {message} ({code}, HTTP {status})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The API's error code (`bad_request`, `not_found`, ...).
        code: String,
        /// The node's message.
        message: String,
    },
    /// A training job ended without completing (exit code 7).
    #[error("training job {0}")]
    Job(String),
    /// A tensor from the node could not be decrypted (exit code 8): plaintext where a ciphertext
    /// belongs, another key's basis, or malformed bytes.
    #[error("decryption: {0}")]
    Decrypt(String),
    /// The PACS (DICOMweb) could not be reached, refused, or answered something else than DICOM
    /// (exit code 9).
    #[error("PACS: {0}")]
    Pacs(String),
}

impl CliError {
    /// The process exit code (documented in `more-client --help` and the README):
    /// 1 local I/O, 2 usage, 3 bad data, 4 key, 5 node unreachable, 6 node refused,
    /// 7 training failed, 8 decryption refused, 9 PACS unreachable or refused.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Io(_) => 1,
            CliError::Data(_) => 3,
            CliError::Key(_) => 4,
            CliError::Unreachable(_) => 5,
            CliError::Rejected { .. } => 6,
            CliError::Job(_) => 7,
            CliError::Decrypt(_) => 8,
            CliError::Pacs(_) => 9,
        }
    }
}

pub use presets::default_preset;

/// Results of this crate.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
