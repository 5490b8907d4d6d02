//! Browser client: keys, encryption and decryption.
#![deny(missing_docs)]
