//! The data owner's side: the secret key, the shadow distribution, encryption and decryption.
//!
//! Only built with the `client` feature. The compute node's server modules never use it.

mod decrypt;
mod encrypt;
mod secret_key;
mod shadow;

pub use decrypt::Decrypt;
pub use secret_key::SecretKey;
pub use shadow::ShadowDistribution;
