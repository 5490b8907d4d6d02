//! MORE (Matrix Operation for Randomization or Encryption) over the reals, the public half:
//! ciphertext tensors in two representations, exact homomorphic operations, the encrypted
//! neural-network engine and the wire format. No secret-key type exists here: the key, encryption
//! and decryption live in `more-secret-key`, the attacks in `more-attacks`.
//!
//! A value `x` is encrypted as the 2x2 matrix `C = S·diag(x, r)·S⁻¹` with a secret invertible `S`
//! and a random shadow `r`. Sums, products, inverses and matrix functions of ciphertexts decrypt to
//! the same operations on the plaintexts. **The real-number scheme is weak**: anyone holding
//! ciphertexts can recover an equivalent key (see `more-attacks` and SECURITY.md).
//!
//! Layout: [`algebra`] (one value: 2x2 algebra and exact matrix functions), [`tensor`] (planar
//! tensors: plaintext, compact and matrix-form ciphertexts), [`nn`] (the engine), [`wire`] (the
//! binary wire format).
#![deny(missing_docs)]
// Forward/backward signatures return tuples of planar tensors (dx, dW, db); aliases would hide them.
#![allow(clippy::type_complexity)]

pub mod algebra;
mod error;
mod float;
pub mod nn;
pub mod tensor;
pub mod wire;

pub use error::{MoreError, Result};
pub use float::{Dtype, Float};
