//! Errors of a distributed training run.

use thiserror::Error;

/// Why a distributed run failed.
#[derive(Debug, Error)]
pub enum DistributedError {
    /// The object store failed or lacks a blob.
    #[error("object store: {0}")]
    Store(String),
    /// A stored blob or an argument is not what the run needs.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Training failed (the same on every rank) or the ranks could not exchange gradients.
    #[error("training: {0}")]
    Train(#[from] more_core::nn::DataParallelError),
    /// MPI could not be initialised.
    #[error("MPI: {0}")]
    Mpi(String),
    /// Writing the progress file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<more_core::nn::NnError> for DistributedError {
    fn from(e: more_core::nn::NnError) -> Self {
        DistributedError::Train(e.into())
    }
}

impl From<more_server::error::ApiError> for DistributedError {
    fn from(e: more_server::error::ApiError) -> Self {
        DistributedError::Store(e.message)
    }
}
