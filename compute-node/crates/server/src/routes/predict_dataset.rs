//! `POST /v1/models/{id}/predict/{dataset_id}`: the model on every sample of a stored dataset,
//! streamed from its shards batch by batch (`more_store::stream`: range reads, bounded
//! read-ahead), so a dataset larger than the node's memory is never whole in it; the outputs
//! `(samples, outputs)` out, encrypted like the data, in the dataset's order.

use actix_web::post;
use actix_web::{web, HttpResponse};
use more_core::nn::SampleSource;
use more_core::tensor::{PlanarTensor, Representation};
use more_store::stream::{AnyStream, ShardStream, StreamOptions};

use super::octets;
use super::predict::{model, weights, Weights};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::records::{Dataset, ModelRecord};
use crate::state::AppState;
use crate::weights::any;

/// Runs the model on every sample of a stored dataset, in batches of the node's predict batch
/// limit read from the dataset's shards; the outputs are encrypted like the dataset, which must
/// be of the trained model's representation and basis (400 `basis_mismatch`).
#[utoipa::path(tag = "models", params(("id" = String, Path, description = "The model's id: 32 lowercase hex digits"), ("dataset_id" = String, Path, description = "The dataset's id: 32 lowercase hex digits")), responses((status = 200, description = "The outputs (samples, outputs) of every sample in the dataset's order (logits for classification), encrypted like the dataset (MORE wire format v1)", content_type = "application/octet-stream", body = Vec<u8>), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "the dataset has no data yet", body = ErrorBody), (status = 503, description = "the object store is unavailable; retry later", body = ErrorBody)))]
#[post("/models/{id}/predict/{dataset_id}")]
pub async fn predict_dataset(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, dataset_id) = path.into_inner();
    let (record, _) = state.db.get::<ModelRecord>(caller.scope(), &id).await?;
    let (dataset, _) = state.db.get::<Dataset>(caller.scope(), &dataset_id).await?;
    let shards: Vec<(String, String)> = dataset
        .with_shards()
        .shards
        .into_iter()
        .map(|s| (s.features_sha256, s.targets_sha256))
        .collect();
    if shards.is_empty() {
        return Err(ApiError::conflict(format!(
            "dataset {dataset_id} has no data yet"
        )));
    }
    let _permit = state
        .predicts
        .acquire()
        .await
        .map_err(|_| ApiError::internal("predict queue closed"))?;
    let weights = weights(&state, &record).await?;
    let options = StreamOptions {
        read_ahead_bytes: state.settings.job_data.read_ahead_bytes,
        retry_budget: std::time::Duration::ZERO,
    };
    let runtime = tokio::runtime::Handle::current();
    let stream = AnyStream::open(&state.blobs, &runtime, &shards, &options).await?;
    let batch = state.settings.max_predict_batch.max(1);
    let out = web::block(move || match stream {
        AnyStream::Compact(s) => outputs(&record, &weights, &s, batch),
        AnyStream::Matrix(s) => outputs(&record, &weights, &s, batch),
    })
    .await??;
    Ok(octets(out))
}

/// The model's outputs on every sample of `source`, `batch` samples at a time in order, with the
/// next batches read ahead.
fn outputs<R: Representation<f32>>(
    record: &ModelRecord,
    weights: &Weights,
    source: &ShardStream<R>,
    batch: usize,
) -> ApiResult<Vec<u8>> {
    let model = model(record, weights, source.representation().clone())?;
    let all: Vec<usize> = (0..source.samples()).collect();
    let batches: Vec<&[usize]> = all.chunks(batch).collect();
    let mut parts = Vec::with_capacity(batches.len());
    for (b, rows) in batches.iter().enumerate() {
        let (x, _) = source
            .gather(rows)
            .map_err(|e| match source.take_failure() {
                Some(store) => ApiError::from(store),
                None => ApiError::from(e),
            })?;
        source.read_ahead(&batches[b + 1..]);
        parts.push(model.forward(&x)?);
    }
    let y = PlanarTensor::concatenate(0, &parts)
        .map_err(|e| ApiError::internal(format!("the outputs: {e}")))?;
    Ok(any(y).encode())
}
