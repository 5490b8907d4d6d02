//! Tensors stored as real planes: plaintext, compact ciphertexts and matrix-form ciphertexts, with
//! every homomorphic operation written once for all three.

pub(crate) mod alloc;
mod basis;
mod conversion;
mod elementwise;
mod gemm;
mod linear;
pub(crate) mod parallel;
mod planar;
mod products;
mod public_key;
mod reduce;
pub mod representation;
mod value_map;

pub use basis::CompactBasis;
pub use planar::PlanarTensor;
pub use public_key::PublicKey;
pub use representation::{Compact, MatrixForm, Plain, Representation, RepresentationKind, Unary};

/// A plaintext tensor in the engine's storage (one plane).
pub type PlainTensor<F> = PlanarTensor<F, Plain>;
/// A compact ciphertext tensor `a·I + b·C0` (two planes, the fast path).
pub type CompactCiphertext<F> = PlanarTensor<F, Compact>;
/// A matrix-form ciphertext tensor (four planes, the papers' form).
pub type MatrixCiphertext<F> = PlanarTensor<F, MatrixForm>;
