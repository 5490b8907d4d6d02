//! The node's HTTP and process tests as ONE test binary (each module was a binary of its own,
//! each linking the whole node): the in-process server (`server_common`), the binary as a child
//! process (`server_common::process`), real PostgreSQL and SeaweedFS (`services`), and the
//! helpers of the audit, fault and secure-mode tests. Run one group with a filter on its module:
//! `cargo test -p more-node --test node server_auth::` (or `faults_`, `secure_`, ...).
//!
//! Not here: tests that need their own features or process (`server_mpi.rs`, built with
//! `--features mpi`), and the tests that share no harness with these (`architecture_rules`,
//! `licences`, `data_loaders`, `experiment_*`).
//!
//! Each test still starts its own servers and services (nothing is shared between tests but the
//! process): only `hygiene_file_modes` changes process-wide state, setting the umask to the usual
//! 022, which every other test already expects.

// Harness.
mod audit_common;
mod faults_common;
mod mnist;
mod secure_common;
mod server_common;
mod services;

// Tests, by the area they check.
mod audit_postgres;
mod audit_requests;
mod audit_sqlite;
mod backends;
mod backup_restore;
mod crash_recovery;
mod dataset_shards;
mod faults_full_store;
mod faults_postgres;
mod faults_restart;
mod faults_seaweed;
mod hygiene_file_modes;
mod hygiene_http;
mod large_dataset;
mod large_dataset_bench;
mod large_dataset_memory;
mod limits_bodies;
mod limits_weights;
mod multi_node;
mod observability;
mod races;
mod secure_limits;
mod secure_postgres;
mod secure_predict;
mod secure_quota;
mod server_auth;
mod server_errors;
mod server_exposure;
mod server_flow;
mod server_oidc;
mod server_openapi;
mod server_restart;
mod server_web_hygiene;
mod soak;
mod spec_bounds;
mod spec_bounds_random;
mod streaming;
mod validation;
