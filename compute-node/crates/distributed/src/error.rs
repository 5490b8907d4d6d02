//! Errors of a distributed training run.

use more_store::StoreError;
use thiserror::Error;

/// Why a distributed run failed.
#[derive(Debug, Error)]
pub enum DistributedError {
    /// The object store failed, lacks a blob or holds a corrupt one (the text names the store).
    #[error("{0}")]
    Store(String),
    /// A stored tensor or bundle (data set, checkpoint, weights, losses) does not decode or does
    /// not fit the run.
    #[error("tensor: {0}")]
    Tensor(String),
    /// An argument is not what the run needs (a spec, a configuration), or the data's kinds
    /// differ.
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

impl From<StoreError> for DistributedError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::MalformedTensor(m) | StoreError::BasisMismatch(m) => {
                DistributedError::Tensor(m)
            }
            StoreError::Engine(e) => e.into(),
            e => DistributedError::Store(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use more_core::tensor::Compact;
    use more_store::weights::decode_checkpoint;

    use super::DistributedError;

    /// A checkpoint blob that is not a bundle is a tensor error of the run, not the store's.
    #[test]
    fn a_malformed_checkpoint_is_a_tensor_error() {
        let Err(e) = decode_checkpoint::<Compact>(b"not a bundle") else {
            panic!("garbage decodes as a checkpoint");
        };
        let e = DistributedError::from(e);
        assert!(matches!(e, DistributedError::Tensor(_)), "{e:?}");
        assert!(
            e.to_string().starts_with("tensor: stored checkpoint: "),
            "{e}"
        );
    }
}
