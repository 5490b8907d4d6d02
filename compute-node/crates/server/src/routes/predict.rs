//! `POST /v1/models/{id}/predict`: a wire tensor `(batch, input_shape...)` in, the outputs out.

use actix_web::post;
use actix_web::{web, HttpRequest, HttpResponse};
use more_core::tensor::{PlanarTensor, Representation};
use more_core::wire::{self, AnyTensor};

use super::body::read_body;
use super::{octets, served_weights};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::guard::require_content_type;
use crate::records::ModelRecord;
use crate::state::AppState;
use crate::weights::{any, model_from_initial, model_from_weights};
use more_core::wire::Bundle;
use std::sync::Arc;

/// Runs the model on an encrypted batch. The input must be f32 and, once the model is trained,
/// in the representation (and compact basis) of its training data (400 `basis_mismatch`); an
/// untrained model runs its public initial weights on any f32 representation.
#[utoipa::path(tag = "models", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A tensor in the MORE wire format v1 (shared/WIRE_FORMAT.md)"), responses((status = 200, description = "The outputs (logits for classification), encrypted like the input (MORE wire format v1)", content_type = "application/octet-stream", body = Vec<u8>), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 408, description = "the body stopped arriving or was too slow", body = ErrorBody), (status = 413, description = "body too large", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody), (status = 503, description = "the node holds its limit of request bodies in memory; retry after Retry-After seconds", body = ErrorBody)))]
#[post("/models/{id}/predict")]
pub async fn predict(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_content_type(&req, "application/octet-stream")?;
    let (record, _) = state.db.get::<ModelRecord>(caller.scope(), &id).await?;
    let max_batch = state.settings.max_predict_batch;
    let limit = predict_body_limit(&record, max_batch).min(state.settings.max_upload_bytes);
    // The body's bytes are reserved in the node's budget before any is read, and stay reserved
    // while it and its decoding are in memory.
    let (body, _share) = read_body(&state.bodies, &req, payload, limit).await?;
    // Taken before the weights are loaded: weights too large for the cache are a copy per
    // request, so at most one per permit.
    let _permit = state
        .predicts
        .acquire()
        .await
        .map_err(|_| ApiError::internal("predict queue closed"))?;
    let weights = weights(&state, &record).await?;
    let out = web::block(move || -> ApiResult<Vec<u8>> {
        let header = wire::decode_header(&body)?;
        if header.dtype != more_core::Dtype::F32 {
            return Err(ApiError::invalid_tensor(format!(
                "the node works in f32; got a {:?} tensor",
                header.dtype
            )));
        }
        if header.shape.first().is_some_and(|&n| n > max_batch) {
            return Err(ApiError::too_large(format!(
                "batch of {} samples exceeds the limit of {max_batch}; split it",
                header.shape[0]
            )));
        }
        let x = wire::decode(
            &body,
            &more_core::wire::DecodeLimits {
                max_bytes: limit,
                max_rank: 8,
            },
        )?;
        drop(body);
        match x {
            AnyTensor::CompactF32(x) => run(&record, &weights, x),
            AnyTensor::MatrixF32(x) => run(&record, &weights, x),
            AnyTensor::PlainF32(x) => run(&record, &weights, x),
            _ => Err(ApiError::invalid_tensor("f32 tensors only")),
        }
    })
    .await??;
    Ok(octets(out))
}

/// The decoded weights a predict runs: trained (encrypted, in the data's representation) or
/// the public initial ones (plaintext, embedded in the input's representation).
pub(super) enum Weights {
    Trained(Arc<Bundle>),
    Initial(Arc<Bundle>),
}

/// The model's weights, from the cache or the store.
pub(super) async fn weights(state: &AppState, record: &ModelRecord) -> ApiResult<Weights> {
    Ok(match &record.weights_sha256 {
        Some(sha) => Weights::Trained(served_weights::decoded(state, sha).await?),
        None => {
            let sha = served_weights::initial_sha(state, record).await?;
            Weights::Initial(served_weights::decoded(state, &sha).await?)
        }
    })
}

/// The model of `record` with `weights`, in the representation (and basis) of the data.
pub(super) fn model<R: Representation<f32>>(
    record: &ModelRecord,
    weights: &Weights,
    rep: R,
) -> ApiResult<more_core::nn::Model<f32, R>> {
    Ok(match weights {
        Weights::Trained(bundle) => model_from_weights(record, rep, Bundle::clone(bundle))?,
        Weights::Initial(bundle) => model_from_initial(record, rep, bundle)?,
    })
}

/// The largest body a predict request to this model can need: a full batch (`max_batch` samples
/// of the model's input shape) as f32 matrix-form ciphertexts (4 planes of 4 bytes per value),
/// plus the largest header (rank ≤ 8 axes of 8 bytes and a 32-byte basis). Bodies are refused
/// with 413 as soon as they pass it, instead of being buffered up to the upload limit first.
fn predict_body_limit(record: &ModelRecord, max_batch: usize) -> usize {
    const HEADER_BOUND: usize = wire::FIXED_HEADER_LEN + 8 * 8 + 32;
    record
        .spec
        .input_shape
        .iter()
        .try_fold(max_batch, |n, &d| n.checked_mul(d))
        .and_then(|values| values.checked_mul(16))
        .and_then(|bytes| bytes.checked_add(HEADER_BOUND))
        .unwrap_or(usize::MAX)
}

fn run<R: Representation<f32>>(
    record: &ModelRecord,
    weights: &Weights,
    x: PlanarTensor<f32, R>,
) -> ApiResult<Vec<u8>> {
    let model = model(record, weights, x.representation().clone())?;
    let y = model.forward(&x)?;
    Ok(any(y).encode())
}
