//! The compute node: an actix-web service that stores MORE ciphertexts, trains and runs networks on
//! them, and never holds a secret key ([`server`]); loaders for real data sets ([`data`]); and the
//! lab, which plays both sides in one process to reproduce the study's experiments ([`lab`]).
#![deny(missing_docs)]

pub mod data;
pub mod lab;
pub mod server;
