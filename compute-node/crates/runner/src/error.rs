//! Why a job stopped: the store failed (retried first when transient), the engine refused, the
//! stored data is unusable, or an MPI launch failed. The text is what the job's `error` field
//! says (no HTTP status: a job is not a request).

use more_core::nn::NnError;
use more_store::StoreError;

/// A job's failure.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A database or object-store operation failed (after retries, when transient).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Training failed on its own: the spec, the data's shapes, divergence, a cancel.
    #[error(transparent)]
    Engine(#[from] NnError),
    /// The stored dataset is not tensors this node trains on (the text says which).
    #[error("{0}")]
    Data(String),
    /// An MPI job could not be launched, failed, or reported what it should not.
    #[error("{0}")]
    Mpi(String),
}

impl JobError {
    /// Whether the error is a service that may come back (the database or the object store):
    /// the job is left `interrupted` (resumable), not `failed`.
    pub fn is_transient(&self) -> bool {
        matches!(self, JobError::Store(e) if e.is_transient())
    }
}

/// Result of a step of a job.
pub type JobResult<T> = Result<T, JobError>;
