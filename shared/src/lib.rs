//! MORE (Matrix Operation for Randomization or Encryption) over the reals: keys, ciphertext tensors
//! in two representations, exact homomorphic operations, the encrypted neural-network engine, the
//! wire format and the attack suite.
//!
//! A value `x` is encrypted as the 2x2 matrix `C = S·diag(x, r)·S⁻¹` with a secret invertible `S`
//! and a random shadow `r`. Sums, products, inverses and matrix functions of ciphertexts decrypt to
//! the same operations on the plaintexts. **The real-number scheme is weak**: anyone holding
//! ciphertexts can recover an equivalent key (see the `attacks` module and SECURITY.md).
//!
//! Layout: [`algebra`] (one value: 2x2 algebra and exact matrix functions), [`tensor`] (planar
//! tensors: plaintext, compact and matrix-form ciphertexts), `keys` (secret key, encryption,
//! decryption; `client` feature).
#![deny(missing_docs)]
// Forward/backward signatures return tuples of planar tensors (dx, dW, db); aliases would hide them.
#![allow(clippy::type_complexity)]

pub mod algebra;
pub mod attacks;
mod error;
mod float;
#[cfg(feature = "client")]
pub mod keys;
pub mod nn;
pub mod tensor;
pub mod wire;

pub use error::{MoreError, Result};
pub use float::{Dtype, Float};
