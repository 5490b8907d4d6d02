//! Models: create (from a spec or a preset), list, get, delete, weights.

use actix_web::{delete, get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use more_core::nn::limits::MAX_CLASSES;
use more_core::nn::ModelSpec;
use serde_json::Value;

use super::{octets_holding, served_weights};
use crate::audit;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::records::{new_id, now, ModelRecord};
use crate::state::AppState;

/// Layer `type`s the engine knows (`LayerSpec`).
pub const LAYER_TYPES: [&str; 11] = [
    "dense",
    "conv2d",
    "avg_pool2d",
    "max_pool2d",
    "flatten",
    "dropout",
    "relu",
    "sigmoid",
    "tanh",
    "square",
    "polynomial",
];

/// `POST /v1/models` body: a name and either `spec`, or `preset` with `input_shape` and
/// `outputs`. The handler reads it field by field (to name an unknown layer type in its answer);
/// this type is its documented shape.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    /// Free text, 1 to 200 bytes, not only spaces.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// The architecture (or give `preset`).
    pub spec: Option<ModelSpec>,
    /// A built-in architecture: `mnist_mlp`, `mnist_cnn`, `regression_mlp` or `image_cnn`.
    pub preset: Option<String>,
    /// Per-sample input shape for `preset`: 1 to 3 positive sizes.
    pub input_shape: Option<Vec<usize>>,
    /// Outputs for `preset` (classes, or regression targets).
    pub outputs: Option<usize>,
    /// Seed of the initial weights (default 0).
    pub seed: Option<u64>,
}

/// A field of the body, `null` counting as absent.
fn field<'a>(body: &'a Value, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

fn parse_spec(body: &Value) -> ApiResult<(ModelSpec, Option<String>)> {
    if let Some(spec) = field(body, "spec") {
        if field(body, "preset").is_some() {
            return Err(ApiError::bad_request(
                "give either \"spec\" or \"preset\", not both",
            ));
        }
        let layers = spec
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::bad_request("spec.layers must be an array of layers"))?;
        for (i, layer) in layers.iter().enumerate() {
            let ty = layer.get("type").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(format!("spec.layers[{i}] needs a string \"type\""))
            })?;
            if !LAYER_TYPES.contains(&ty) {
                return Err(ApiError::unknown_layer(format!(
                    "spec.layers[{i}]: unknown layer type {ty:?}; known: {}",
                    LAYER_TYPES.join(", ")
                )));
            }
        }
        let spec: ModelSpec = serde_json::from_value(spec.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid spec: {e}")))?;
        spec.shapes()?;
        Ok((spec, None))
    } else if let Some(preset) = field(body, "preset") {
        let preset = preset
            .as_str()
            .ok_or_else(|| ApiError::bad_request("preset must be a string"))?;
        let input_shape: Vec<usize> =
            serde_json::from_value(body.get("input_shape").cloned().unwrap_or(Value::Null))
                .map_err(|e| {
                    ApiError::bad_request(format!("input_shape (array of sizes) needed: {e}"))
                })?;
        let outputs = body
            .get("outputs")
            .and_then(Value::as_u64)
            .filter(|&n| n > 0 && n <= MAX_CLASSES as u64)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "outputs (an integer from 1 to {MAX_CLASSES}) needed"
                ))
            })?;
        if input_shape.is_empty() || input_shape.contains(&0) || input_shape.len() > 3 {
            return Err(ApiError::bad_request(format!(
                "input_shape must have 1 to 3 positive sizes, got {input_shape:?}"
            )));
        }
        let spec = ModelSpec::preset(preset, &input_shape, outputs as usize)?;
        Ok((spec, Some(preset.to_string())))
    } else {
        Err(ApiError::bad_request("give \"spec\" or \"preset\""))
    }
}

/// `POST /v1/models` → 201 model.
#[utoipa::path(tag = "models", request_body = CreateModel, responses((status = 201, description = "Created", body = ModelRecord), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody)))]
#[post("/models")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if !body.is_object() {
        return Err(ApiError::bad_request("body must be a JSON object"));
    }
    for key in body.as_object().expect("object").keys() {
        if !["name", "spec", "preset", "input_shape", "outputs", "seed"].contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!("unknown field {key:?}")));
        }
    }
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty() && n.len() <= 200)
        .ok_or_else(|| ApiError::bad_request("name (1 to 200 characters) needed"))?
        .to_string();
    let seed = match body.get("seed") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| ApiError::bad_request("seed must be a non-negative integer"))?,
    };
    let (spec, preset) = parse_spec(&body)?;
    let output_shape = spec.output_shape()?;
    let parameters = parameter_count(&spec)?;
    // The public initial weights: built once here (not per request), stored, referenced by the row.
    let initial = served_weights::store_initial(&state, &spec, seed).await?;
    let record = ModelRecord {
        id: new_id(),
        name,
        spec,
        preset,
        parameters,
        seed,
        trained_epochs: 0,
        representation: None,
        basis: None,
        weights_sha256: None,
        initial_weights_sha256: Some(initial),
        output_shape,
        created_at: now(),
    };
    state.db.insert(&caller.tenant, &record).await?;
    audit::created(&req, &record.id);
    Ok(HttpResponse::Created().json(record))
}

/// Real parameters of a spec, with every bound of `more_core::nn::limits` checked (sizes,
/// geometry, parameters, activations per sample): a spec outside them is a 400 naming the layer
/// and the rule.
fn parameter_count(spec: &ModelSpec) -> ApiResult<usize> {
    Ok(spec.budget()?.parameters)
}

/// `GET /v1/models`.
#[utoipa::path(tag = "models", responses((status = 200, description = "All models", body = Vec<ModelRecord>), (status = 500, description = "internal error (details in the node's log under the request id)", body = ErrorBody)))]
#[get("/models")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.db.list::<ModelRecord>(&caller.tenant).await?))
}

/// `GET /v1/models/{id}`.
#[utoipa::path(tag = "models", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "The model", body = ModelRecord), (status = 404, description = "no such object", body = ErrorBody)))]
#[get("/models/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (m, _) = state.db.get::<ModelRecord>(caller.scope(), &id).await?;
    Ok(HttpResponse::Ok().json(m))
}

/// `DELETE /v1/models/{id}` → 204 (409 while a job trains it).
#[utoipa::path(tag = "models", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 204, description = "Deleted"), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody)))]
#[delete("/models/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    state.db.delete::<ModelRecord>(&caller.tenant, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/models/{id}/weights`: the trained (encrypted) parameters as a wire bundle with the
/// spec in its metadata; before training, the public initial weights (plaintext, from the seed).
#[utoipa::path(tag = "models", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "The parameters as a bundle (MORE wire format v1)", content_type = "application/octet-stream", body = Vec<u8>), (status = 404, description = "no such object", body = ErrorBody), (status = 500, description = "internal error (details in the node's log under the request id)", body = ErrorBody), (status = 503, description = "the node holds its limit of bodies in memory (a blob too large for the weights cache counts while it is sent; retry after Retry-After seconds)", body = ErrorBody)))]
#[get("/models/{id}/weights")]
pub async fn weights(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (m, _) = state.db.get::<ModelRecord>(caller.scope(), &id).await?;
    let sha = match &m.weights_sha256 {
        Some(sha) => sha.clone(),
        None => served_weights::initial_sha(&state, &m).await?,
    };
    let (bytes, share) = served_weights::encoded(&state, &sha).await?;
    Ok(octets_holding(bytes, share))
}
