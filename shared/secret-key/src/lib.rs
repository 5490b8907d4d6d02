//! The data owner's side of MORE: the secret key, the shadow distribution, encryption,
//! decryption, and passphrase-wrapped key files.
//!
//! This crate is the only place a [`SecretKey`] exists. The compute node's server crate
//! (`more-server`) does not depend on it, which `compute-node/tests/architecture_rules.rs` checks
//! on `cargo metadata`; the browser (`more-wasm`), the experiments and the attack suite do.
#![deny(missing_docs)]

mod decrypt;
mod encrypt;
mod secret_key;
pub mod secure;
mod shadow;
pub mod wrap;

pub use decrypt::Decrypt;
pub use secret_key::{KeyGeneration, SecretKey, KEY_EXPORT_LEN};
pub use shadow::ShadowDistribution;

/// Errors of making, importing and drawing randomness for keys.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Randomness(String),
    /// Key bytes could not be imported.
    #[error("key import: {0}")]
    Import(String),
}
