//! Secure mode (issue #30), the node's side: quantized models that an owner tenant publishes in
//! plaintext and grants to other tenants, who send BFV ciphertexts (`more_secure`) that the node
//! evaluates without being able to read them. The node holds only public material: the models,
//! the tenants' evaluation (relinearization) keys; it never stores a secure predict's ciphertexts
//! or outputs. The secret key type is in `more-secret-key`, which this crate cannot reach
//! (`compute-node/tests/architecture_rules.rs`).
//!
//! - [`store`]: the rows (models, grants, evaluation keys), in `more-store`;
//! - [`cache`]: the evaluators of recently used models;
//! - [`intake`]: a secure predict's body, streamed into ciphertexts under the node's limits;
//! - [`quota`]: the samples a granted tenant may score per 24 hours, reserved before evaluation;
//! - the routes are in `crate::routes::secure`.

pub mod cache;
pub mod intake;

pub use more_store::secure::{quota, store};
pub use more_store::{StoreError, StoreResult};
