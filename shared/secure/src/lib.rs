//! Secure mode of MORE: prediction on lattice-encrypted samples that no node can read.
//!
//! The public half of secure mode, compiled for the node (natively) and for the page (wasm32):
//! the BFV parameter set ([`params`]), quantized integer models with x² activations and their
//! exact plaintext reference and overflow bounds ([`QuantizedModel`]), the wire format of
//! encrypted batches and evaluation keys ([`wire`]), and the node's [`Evaluator`]. The secret
//! key lives in the client crate (`more_secret_key::secure`), never here: the node's crates may
//! depend on this crate, never on the client.
//!
//! Scheme: BFV (Fan–Vercauteren 2012, "Somewhat Practical Fully Homomorphic Encryption",
//! IACR ePrint 2012/144) through fhe.rs (`fhe` 0.1.1, MIT). Layout and network family:
//! CryptoNets (Gilad-Bachrach et al., ICML 2016) and nGraph-HE2 (Boemer et al., WAHC 2019):
//! one ciphertext per input value, one sample per SIMD slot, linear layers as sums of
//! ciphertexts times integer scalars, x² as the only ciphertext product.
//!
//! Security: IND-CPA under the ring-LWE assumption at N = 8192, log q = 186 (three 62-bit
//! primes), which the HomomorphicEncryption.org standard (Albrecht et al. 2018, Table 1) rates at
//! 128 bits or more (up to log q = 218 at N = 8192). See [`params`] for the noise budget.
#![deny(missing_docs)]

mod error;
pub mod eval;
pub mod model;
pub mod params;
pub mod quantize;
pub mod wire;

pub use error::SecureError;
pub use eval::Evaluator;
pub use fhe::bfv::{BfvParameters, Ciphertext, RelinearizationKey};
pub use model::{InputQuantizer, LayerBound, QuantizedLayer, QuantizedModel};
pub use params::{bfv_parameters, plaintext_modulus, slots, PARAMETER_SET};
