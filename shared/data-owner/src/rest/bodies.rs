//! The JSON request bodies the clients send, as types (the node's schemas `CreateDataset`,
//! `CreateModel`, `CreateJob`, `PublishSecureModel`, `SetGrants` of its OpenAPI document).

use serde::Serialize;
use serde_json::Value;

/// `POST /v1/datasets`: a new data set's metadata (its tensors follow by `PUT`).
#[derive(Clone, Debug, Serialize)]
pub struct CreateDataset {
    /// Shown in listings.
    pub name: String,
    /// `"classification"` or `"regression"`.
    pub task: String,
    /// Classes (one-hot target width) of a classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_classes: Option<usize>,
}

/// `POST /v1/models`: a model from one of `more-core`'s presets.
#[derive(Clone, Debug, Serialize)]
pub struct CreateModel {
    /// Shown in listings.
    pub name: String,
    /// The preset (`table_mlp`, `mnist_mlp`, `mnist_cnn`, `regression_mlp`, `image_cnn`).
    pub preset: String,
    /// The shape of one sample.
    pub input_shape: Vec<usize>,
    /// Outputs per sample.
    pub outputs: usize,
    /// Seed of the initial weights.
    pub seed: u64,
}

/// The optimizer of a [`CreateJob`]: SGD.
#[derive(Clone, Debug, Serialize)]
pub struct Sgd {
    /// Always `"sgd"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Step size.
    pub learning_rate: f64,
    /// Momentum (the page uses 0).
    pub momentum: f64,
}

impl Sgd {
    /// SGD with `learning_rate` and `momentum`.
    pub fn new(learning_rate: f64, momentum: f64) -> Self {
        Sgd {
            kind: "sgd",
            learning_rate,
            momentum,
        }
    }
}

/// `POST /v1/jobs`: train a model on a data set.
#[derive(Clone, Debug, Serialize)]
pub struct CreateJob {
    /// The model's id.
    pub model_id: String,
    /// The data set's id.
    pub dataset_id: String,
    /// Passes over the data.
    pub epochs: usize,
    /// Samples per batch.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: Sgd,
    /// Seed of shuffling.
    pub seed: u64,
    /// MPI ranks (1: in the node's process).
    pub ranks: usize,
    /// `"mse"` or `"cross_entropy"`; the node's choice for the task when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<String>,
    /// A data set of the same key and shapes whose encrypted loss the node stores after each
    /// epoch (`GET /v1/jobs/{id}/validation_losses`); none when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_dataset_id: Option<String>,
}

/// `POST /v1/secure/models`: publish a quantized model to granted tenants.
#[derive(Clone, Debug, Serialize)]
pub struct PublishSecureModel {
    /// Shown in listings.
    pub name: String,
    /// The `QuantizedModel` as JSON.
    pub model: Value,
    /// Tenants that may predict with it.
    pub grants: Vec<String>,
    /// Samples each granted tenant may score per rolling 24 hours (the node's default when
    /// absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples_per_day: Option<u64>,
}

/// `PUT /v1/secure/models/{id}/grants`: the tenants granted, and the quota when given.
#[derive(Clone, Debug, Serialize)]
pub struct SetGrants {
    /// Tenants that may predict with it (replaces the list).
    pub grants: Vec<String>,
    /// Samples per granted tenant and rolling 24 hours; unchanged when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples_per_day: Option<u64>,
}
