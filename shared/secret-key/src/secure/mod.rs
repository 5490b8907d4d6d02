//! Secure mode, the data owner's half: the BFV secret key, encryption of a batch of quantized
//! samples and decryption of the node's encrypted outputs.
//!
//! The secret key never leaves this module in any form a request carries: the node receives
//! the evaluation (relinearization) key and seeded symmetric ciphertexts only. Decrypted outputs
//! must never be sent back to a node. Types, parameters and wire format: `more_secure`.
mod encrypt;
mod key;
mod outputs;

pub use key::BfvSecretKey;
pub use more_secure::SecureError;
pub use outputs::DecryptedOutputs;
