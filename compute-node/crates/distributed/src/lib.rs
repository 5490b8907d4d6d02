//! Data-parallel encrypted training across processes and nodes.
//!
//! Every rank (an MPI process launched by `mpirun` or `srun`) reads only its part of each
//! mini-batch of the encrypted data set from the node's object store (range reads of the
//! dataset's shards), trains the same model with
//! [`more_core::nn::Trainer::train_epoch_distributed`] on its shard of every mini-batch, and the
//! ranks sum their encrypted gradients (ciphertext addition is plane-wise float addition). Rank 0
//! writes a checkpoint to the store after every epoch and the trained weights at the end; a run
//! resumes from a checkpoint with any number of ranks.
//!
//! - [`world`]: the ranks of this process (`Mpi` with the `mpi` feature when launched by MPI,
//!   else [`more_core::nn::Local`]);
//! - [`run`]: the `train-distributed` command.

#![deny(missing_docs)]

mod error;
#[cfg(feature = "mpi")]
mod mpi_world;
mod runner;

pub use error::DistributedError;
#[cfg(feature = "mpi")]
pub use mpi_world::Mpi;
pub use runner::{run, world, Progress, TrainDistributedArgs};
