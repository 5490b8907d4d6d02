//! The compute node's storage, below HTTP: the records of the API (datasets, models, jobs) and
//! their rows in the metadata database, the durable job queue, the ciphertext blobs, weights and
//! checkpoints as wire bundles, the garbage collection of unreferenced blobs, and the secure
//! mode's rows. Its one error type is [`StoreError`]: what happened, never an HTTP status (the
//! server maps it at its edge).
//!
//! # One way to pick a backend
//!
//! A backend is picked once, from the URL the operator gives, when a store is opened, and is
//! invisible afterwards:
//!
//! - blobs: [`blobs::BlobStore::open`] takes `file:///dir` or `s3://bucket` and holds a
//!   `dyn ObjectStore`; every operation is written once, against that trait;
//! - metadata: [`db::Db::connect`] takes `sqlite://…` or `postgres://…` and holds one sqlx `Any`
//!   pool; every query is written once, in SQL both databases accept (the few PostgreSQL-only
//!   row locks are one `if` on [`db::Db::is_postgres`]);
//! - the queue: [`queue::Queue::connect`] takes the same URL. apalis's storages are typed by
//!   their pool (there is no `Any` backend for them), so the queue keeps the typed pool the
//!   worker needs, and its transactions (a job row and its task, committed together) are
//!   written once, generic over the two databases, with the per-database part (pushing a task,
//!   the `FOR SHARE` locks) in one small trait.
//!
//! Modules:
//! - [`records`]: the API's objects (datasets, models, jobs);
//! - [`db`]: their rows in SQLite or PostgreSQL (sqlx, migrations in `migrations/`), scoped by
//!   tenant, with blob references and optimistic concurrency;
//! - [`queue`]: the durable training queue shared by every node (apalis, in the database);
//! - [`blobs`]: ciphertexts, checkpoints and weights in an object store (local or S3),
//!   content-addressed; [`gc`] removes the unreferenced ones;
//! - [`weights`]: weights, checkpoints and losses as wire bundles;
//! - [`stream`]: a dataset's shards read batch by batch by range reads, with bounded
//!   read-ahead (the training and prediction source of data sets larger than memory);
//! - [`weights_cache`]: decoded trained weights kept for predict (LRU, bounded bytes);
//! - [`secure`]: the secure mode's rows (models, grants, evaluation keys) and sample quota;
//! - [`fault`]: crash points for tests (feature `fault-injection`);
//! - [`StoreError`] (module [`error`]): what went wrong, without an HTTP status.

#![deny(missing_docs)]

pub mod blobs;
pub mod db;
pub mod error;
pub mod fault;
pub mod gc;
pub mod queue;
pub mod records;
pub mod secure;
pub mod stream;
pub mod weights;
pub mod weights_cache;

pub use error::{StoreError, StoreFault, StoreResult};
