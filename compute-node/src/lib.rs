//! The `more-node` binary's library: loaders for real data sets ([`data`]) and the lab, which plays
//! both sides in one process to reproduce the study's experiments and attacks ([`lab`]). The REST
//! service lives in the `more-server` crate, which cannot hold a secret key: it does not depend on
//! `more-secret-key` (checked by `tests/architecture_rules.rs` on `cargo metadata`).
#![deny(missing_docs)]

pub mod backup;
pub mod data;
pub mod inspect;
pub mod lab;
