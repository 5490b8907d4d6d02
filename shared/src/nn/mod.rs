//! The encrypted neural-network engine: layers, losses, optimizers and the training loop, written
//! once over [`crate::tensor::PlanarTensor`] and therefore the same code for plaintext
//! ([`crate::tensor::Plain`]), compact ciphertexts ([`crate::tensor::Compact`], the fast path) and
//! matrix-form ciphertexts ([`crate::tensor::MatrixForm`], the reference).
//!
//! Config → module → forward, as in burn: a [`ModelSpec`] (serde JSON) describes the layers,
//! [`Model::new`] initialises them from a seed (weights embedded as `w·I`, so every representation
//! starts from the same weights), [`Model::forward`] runs inference and [`Trainer`] trains.

mod collective;
mod contribution;
mod data_parallel;
mod error;
mod layers;
pub mod limits;
mod loss;
mod model;
mod optim;
mod source;
mod spec;
mod train;
mod validation;

pub use collective::{shard_range, Collective, CollectiveError, Local};
pub use data_parallel::DataParallelError;
pub use error::NnError;
pub use limits::SpecBudget;
pub use loss::LossKind;
pub use model::{LayerParameters, Model, INITIAL_BIAS};
pub use optim::OptimizerSpec;
pub use source::{Batch, SampleSource, Tensors};
pub use spec::{LayerSpec, ModelSpec, PRESETS};
pub use train::{Checkpoint, NoObserver, TrainConfig, TrainObserver, Trainer};
pub use validation::validation_loss;
