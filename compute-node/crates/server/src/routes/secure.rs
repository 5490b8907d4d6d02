//! Secure mode (issue #30): `/v1/secure/...`. An owner tenant publishes a quantized model in
//! plaintext and grants it to other tenants; a granted tenant uploads its evaluation key
//! (relinearization key, public) and sends BFV-encrypted batches that the node evaluates without
//! being able to read them; the answer is the encrypted outputs. The node stores the models and
//! the keys, never a predict's ciphertexts or outputs.
//!
//! A model is seen by its owner and the tenants it is granted to; anyone else gets 404 (never
//! 403: its existence is not revealed). Publishing, grants and deletion are the owner tenant's
//! trainers'; listing, reading, uploading an evaluation key and predicting need a viewer
//! (`crate::auth::required_role`). Every request is audited by `crate::auth::authenticate`;
//! publishes and grant changes name the grantee tenants in their row, predicts the sample count
//! and the evaluation key, a predict refused by the quota the limit and the use.
//!
//! Quota (`crate::secure::quota`): a granted tenant scores at most `samples_per_day` samples of a
//! model per rolling 24 hours (the model's, set by its owner, else the node's
//! `--secure-samples-per-day`); the samples are reserved as soon as the batch's header is in,
//! before anything is evaluated; over it, 429 `quota_exceeded` with `Retry-After`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use more_secure::eval::Evaluator;
use more_secure::model::QuantizedModel;
use more_secure::params::{plaintext_modulus, PARAMETER_SET};
use more_secure::{RelinearizationKey, SecureError};
use serde::{Deserialize, Serialize};

use super::body::read_body;
use super::octets;
use crate::audit;
use crate::auth::api_keys::valid_tenant_name;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::guard::require_content_type;
use crate::records::{new_id, now};
use crate::secure::intake::read_batch;
use crate::secure::quota::{self, OverQuota, Reservation, MAX_SAMPLES_PER_DAY};
use crate::secure::store::{
    self, normalise_grants, EvaluationKeyRow, ModelFacts, SecureModelRow, MAX_GRANTS,
};
use crate::state::AppState;
use crate::StoreError;

/// Largest accepted publish body (the model's JSON), bytes.
pub const MAX_MODEL_JSON_BYTES: usize = 32 << 20;

/// Largest accepted evaluation key, bytes.
pub const MAX_EVALUATION_KEY_BYTES: usize = 2 << 20;

/// `POST /v1/secure/models` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishModel {
    /// Free text, 1 to 200 bytes, not only spaces.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// The quantized model (`more_secure::model::QuantizedModel`: `input_shape`, `input`,
    /// `layers`, `output_scale`, `class_names`; see `compute-node/API.md`).
    #[schema(value_type = Object)]
    pub model: QuantizedModel,
    /// Tenants that may read and predict with it (besides the owner), at most 64.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub grants: Vec<String>,
    /// Samples each granted tenant may score per rolling 24 hours (1 to 2^40; absent or null:
    /// the node's default, `--secure-samples-per-day`, 0 there meaning unlimited). The owner's
    /// tenant is never limited.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub samples_per_day: Option<u64>,
}

/// `PUT /v1/secure/models/{id}/grants` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// The tenants that may read and predict with the model from now on (replaces the list).
    #[schema(max_items = 64)]
    pub grants: Vec<String>,
    /// Samples each granted tenant may score per rolling 24 hours from now on (replaces the
    /// model's limit; null: the node's default; absent: unchanged, so that a client that only
    /// changes the grants never drops a quota). Use already counted stays counted.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1)]
    pub samples_per_day: Option<Option<u64>>,
}

/// A field that is present (`Some`, its value possibly null) rather than absent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

/// A secure model without its weights.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SecureModelSummary {
    /// Id (32 lowercase hex digits).
    pub id: String,
    /// Free text.
    pub name: String,
    /// The tenant that published it.
    pub owner_tenant: String,
    /// The tenants it is granted to (the owner sees all; a granted tenant sees itself only).
    pub grants: Vec<String>,
    /// One sample's input shape; the encrypted batch has one ciphertext per input value.
    pub input_shape: Vec<usize>,
    /// Output values (logits) per sample: the ciphertexts of the answer.
    pub outputs: usize,
    /// Names of the outputs (may be empty).
    pub class_names: Vec<String>,
    /// The BFV parameter set ciphertexts and evaluation keys must use.
    pub parameter_set: String,
    /// Bits of the largest worst-case |value| of any layer (below the plaintext modulus's).
    pub bound_bits: u32,
    /// Unix seconds.
    pub created_at: u64,
    /// Samples a granted tenant may score per rolling 24 hours (the model's limit, else the
    /// node's default; null: unlimited). The owner's tenant is never limited.
    pub samples_per_day: Option<u64>,
    /// For a granted tenant: the samples it scored with the model within the last 24 hours
    /// (null for the owner's tenant).
    pub samples_used_24h: Option<u64>,
}

/// The body of a 429 `quota_exceeded` (with a `Retry-After` header, seconds).
#[derive(Serialize, utoipa::ToSchema)]
pub struct QuotaExceededBody {
    /// `quota_exceeded`.
    #[schema(example = "quota_exceeded")]
    pub error: String,
    /// The limit, the use and when it frees, in words.
    pub message: String,
    /// The request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The limit: samples per rolling 24 hours.
    pub samples_per_day: u64,
    /// Samples the tenant scored with the model within the last 24 hours.
    pub samples_used_24h: u64,
    /// Samples the refused batch holds.
    pub samples_asked: u64,
    /// Unix seconds at which the batch would fit.
    pub frees_at: u64,
    /// Seconds until then (also the `Retry-After` header).
    pub retry_after_seconds: u64,
}

/// A refused predict: any API error, or the quota's 429 (which carries `Retry-After`).
#[derive(Debug)]
pub enum PredictError {
    /// The node's usual JSON error.
    Api(ApiError),
    /// Over the tenant's quota on the model.
    Quota(OverQuota),
}

impl From<StoreError> for PredictError {
    fn from(e: StoreError) -> Self {
        PredictError::Api(e.into())
    }
}

impl From<ApiError> for PredictError {
    fn from(e: ApiError) -> Self {
        PredictError::Api(e)
    }
}

impl std::fmt::Display for PredictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PredictError::Api(e) => e.fmt(f),
            PredictError::Quota(q) => f.write_str(&quota_message(q)),
        }
    }
}

fn quota_message(q: &OverQuota) -> String {
    format!(
        "quota_exceeded: this model allows {} samples per 24 hours; {} used, {} asked; \
         they fit again at {} (Unix seconds)",
        q.limit,
        q.used,
        q.asked,
        frees_at_secs(q)
    )
}

fn frees_at_secs(q: &OverQuota) -> u64 {
    (q.frees_at_micros.max(0) as u64).div_ceil(1_000_000)
}

impl ResponseError for PredictError {
    fn status_code(&self) -> StatusCode {
        match self {
            PredictError::Api(e) => e.status,
            PredictError::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let q = match self {
            PredictError::Api(e) => return e.error_response(),
            PredictError::Quota(q) => q,
        };
        let retry = frees_at_secs(q).saturating_sub(now()).max(1);
        // The rest of the body is not read: the connection cannot be reused.
        HttpResponse::TooManyRequests()
            .insert_header((actix_web::http::header::RETRY_AFTER, retry.to_string()))
            .force_close()
            .json(QuotaExceededBody {
                error: "quota_exceeded".into(),
                message: quota_message(q),
                request_id: crate::request_id::current(),
                samples_per_day: q.limit,
                samples_used_24h: q.used,
                samples_asked: q.asked,
                frees_at: frees_at_secs(q),
                retry_after_seconds: retry,
            })
    }
}

/// A secure model with its weights (`GET /v1/secure/models/{id}`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SecureModelDetail {
    /// The summary's fields.
    #[serde(flatten)]
    pub summary: SecureModelSummary,
    /// The quantized model, as published (clients need its input quantizer and shapes).
    #[schema(value_type = Object)]
    pub model: QuantizedModel,
}

/// An uploaded evaluation key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EvaluationKeyInfo {
    /// Id, for `?evaluation_key=` of predict.
    pub id: String,
    /// Its size, bytes.
    pub bytes: u64,
    /// The parameter set it belongs to.
    pub parameter_set: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds after which the node deletes it.
    pub expires_at: u64,
}

/// The query of `POST /v1/secure/models/{id}/predict`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PredictQuery {
    /// The id of one of the caller tenant's evaluation keys.
    pub evaluation_key: String,
}

/// A model refused at publish: 422 `may_overflow` naming the layer and its bound, else 400.
fn refused_model(e: SecureError) -> ApiError {
    match e {
        SecureError::MayOverflow { .. } => ApiError::may_overflow(e.to_string()),
        e => ApiError::bad_request(format!("invalid model: {e}")),
    }
}

/// The quota that applies to `caller` on `row`'s model (`None`: unlimited).
fn caller_limit(state: &AppState, row: &SecureModelRow, caller: &str) -> Option<u64> {
    quota::effective_limit(
        &row.tenant,
        caller,
        row.samples_per_day,
        state.settings.secure_samples_per_day,
    )
}

/// The summary of `row` as `caller` sees it, with the caller's quota use when granted.
async fn summary_for(
    state: &AppState,
    row: &SecureModelRow,
    caller: &str,
) -> ApiResult<SecureModelSummary> {
    let mut out = summary(row, caller);
    out.samples_per_day = row
        .samples_per_day
        .or((state.settings.secure_samples_per_day > 0)
            .then_some(state.settings.secure_samples_per_day));
    if row.tenant != caller {
        let used = quota::used(&state.db, &row.id, caller, audit::now_micros()).await?;
        out.samples_used_24h = Some(used);
    }
    Ok(out)
}

/// A quota as given: absent, or 1 to [`MAX_SAMPLES_PER_DAY`].
fn checked_quota(samples_per_day: Option<u64>) -> ApiResult<Option<u64>> {
    match samples_per_day {
        Some(n) if n == 0 || n > MAX_SAMPLES_PER_DAY => Err(ApiError::bad_request(format!(
            "samples_per_day must be 1 to {MAX_SAMPLES_PER_DAY} (null: the node's default); got {n}"
        ))),
        n => Ok(n),
    }
}

fn summary(row: &SecureModelRow, caller: &str) -> SecureModelSummary {
    let grants = if row.tenant == caller {
        row.grants.clone()
    } else {
        vec![caller.to_string()]
    };
    SecureModelSummary {
        id: row.id.clone(),
        name: row.name.clone(),
        owner_tenant: row.tenant.clone(),
        grants,
        input_shape: row.facts.input_shape.clone(),
        outputs: row.facts.outputs,
        class_names: row.facts.class_names.clone(),
        parameter_set: row.parameter_set.clone(),
        bound_bits: row.facts.bound_bits,
        created_at: row.created_at,
        samples_per_day: row.samples_per_day,
        samples_used_24h: None,
    }
}

/// Grants as given: valid tenant names, at most [`MAX_GRANTS`]; sorted, without the owner.
fn checked_grants(owner: &str, grants: &[String]) -> ApiResult<Vec<String>> {
    if grants.len() > MAX_GRANTS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_GRANTS} grants per model; got {}",
            grants.len()
        )));
    }
    if let Some(bad) = grants.iter().find(|g| !valid_tenant_name(g)) {
        return Err(ApiError::bad_request(format!(
            "{bad:?} is not a tenant name (1 to 64 of a-z 0-9 - _ ., starting with a letter or digit)"
        )));
    }
    Ok(normalise_grants(owner, grants))
}

/// The audit detail of a publish or grants change: the grantee tenants and the model's quota,
/// if it has its own.
fn grants_detail(row: &SecureModelRow) -> String {
    let grants = format!("grants: [{}]", row.grants.join(", "));
    match row.samples_per_day {
        Some(n) => format!("{grants}; samples_per_day: {n}"),
        None => grants,
    }
}

/// Checks a model for publishing and builds its evaluator (on the blocking pool): shapes and
/// limits, then the worst-case bound of every layer against the plaintext modulus.
fn check_model(model: &QuantizedModel) -> Result<(ModelFacts, Evaluator), SecureError> {
    model.validate()?;
    let bounds = model.check_fits(plaintext_modulus())?;
    let facts = ModelFacts {
        input_shape: model.input_shape.clone(),
        outputs: model.output_len(),
        class_names: model.class_names.clone(),
        bound_bits: bounds.iter().map(|b| b.bits()).max().unwrap_or(0),
    };
    Ok((facts, Evaluator::new(model)?))
}

/// Publishes a quantized model, granted to the named tenants. Refused with 422 `may_overflow`
/// when some layer's worst-case value could reach half the plaintext modulus (the message names
/// the layer and the bound). Trainers of the owner tenant.
#[utoipa::path(tag = "secure", request_body = PublishModel, responses((status = 201, description = "Published", body = SecureModelSummary), (status = 400, description = "invalid request (model, name, grants, an unregistered tenant)", body = ErrorBody), (status = 403, description = "not a trainer, or a refused host or origin", body = ErrorBody), (status = 408, description = "the body stopped arriving or was too slow", body = ErrorBody), (status = 413, description = "body too large", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody), (status = 422, description = "may_overflow: a layer's worst-case value does not fit the plaintext modulus", body = ErrorBody), (status = 503, description = "the node holds its limit of request bodies in memory; retry after Retry-After seconds", body = ErrorBody)))]
#[post("/secure/models")]
pub async fn publish(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_content_type(&req, "application/json")?;
    let (body, _share) = read_body(&state.bodies, &req, payload, MAX_MODEL_JSON_BYTES).await?;
    let body: PublishModel = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::bad_request("name must be 1 to 200 characters"));
    }
    let grants = checked_grants(&caller.tenant, &body.grants)?;
    let samples_per_day = checked_quota(body.samples_per_day)?;
    let model = body.model;
    let (model, facts, evaluator) = web::block(move || {
        check_model(&model)
            .map(|(facts, evaluator)| (model, facts, evaluator))
            .map_err(refused_model)
    })
    .await??;
    let json = serde_json::to_vec(&model)
        .map_err(|e| ApiError::internal(format!("serialise model: {e}")))?;
    let blob = state.blobs.put(json.into()).await?;
    let row = SecureModelRow {
        id: new_id(),
        tenant: caller.tenant.clone(),
        name: body.name,
        parameter_set: PARAMETER_SET.to_string(),
        model_sha256: blob.sha256,
        facts,
        created_at: now(),
        grants,
        samples_per_day,
    };
    store::insert_model(&state.db, &row).await?;
    state.evaluators.insert(&row.id, evaluator);
    audit::created(&req, &row.id);
    audit::detail(&req, &grants_detail(&row));
    Ok(HttpResponse::Created().json(summary_for(&state, &row, &caller.tenant).await?))
}

/// The secure models the caller's tenant owns or is granted (without weights).
#[utoipa::path(tag = "secure", responses((status = 200, description = "Own models, then granted ones", body = Vec<SecureModelSummary>), (status = 500, description = "internal error (details in the node's log under the request id)", body = ErrorBody)))]
#[get("/secure/models")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let rows = store::visible_models(&state.db, &caller.tenant).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(summary_for(&state, row, &caller.tenant).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

/// A secure model with its weights: 404 unless the caller's tenant owns it or is granted it.
#[utoipa::path(tag = "secure", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "The model", body = SecureModelDetail), (status = 404, description = "no such model for this tenant", body = ErrorBody)))]
#[get("/secure/models/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let row = store::visible_model(&state.db, &caller.tenant, &id).await?;
    let model = load_model(&state, &row).await?;
    Ok(HttpResponse::Ok().json(SecureModelDetail {
        summary: summary_for(&state, &row, &caller.tenant).await?,
        model,
    }))
}

/// Replaces the tenants a model is granted to. Trainers of the owner tenant (404 for anyone
/// else).
#[utoipa::path(tag = "secure", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), request_body = Grants, responses((status = 200, description = "The model with its new grants", body = SecureModelSummary), (status = 400, description = "invalid request (a malformed or unregistered tenant)", body = ErrorBody), (status = 403, description = "not a trainer, or a refused host or origin", body = ErrorBody), (status = 404, description = "no such model of this tenant", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody)))]
#[put("/secure/models/{id}/grants")]
pub async fn set_grants(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<Grants>,
) -> ApiResult<HttpResponse> {
    let grants = checked_grants(&caller.tenant, &body.grants)?;
    let samples_per_day = body.samples_per_day.map(checked_quota).transpose()?;
    let row = store::set_grants(&state.db, &caller.tenant, &id, &grants, samples_per_day).await?;
    audit::detail(&req, &grants_detail(&row));
    Ok(HttpResponse::Ok().json(summary_for(&state, &row, &caller.tenant).await?))
}

/// Deletes a model (its grants end at once). Trainers of the owner tenant (404 for anyone else).
#[utoipa::path(tag = "secure", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 204, description = "Deleted"), (status = 403, description = "not a trainer, or a refused host or origin", body = ErrorBody), (status = 404, description = "no such model of this tenant", body = ErrorBody)))]
#[delete("/secure/models/{id}")]
pub async fn delete_model(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    store::delete_model(&state.db, &caller.tenant, &id).await?;
    state.evaluators.remove(&id);
    Ok(HttpResponse::NoContent().finish())
}

/// Uploads an evaluation key of the caller's tenant: the relinearization key bytes of
/// `more_secure` (public; at most 2 MiB), checked by parsing. A tenant keeps at most 16 (the
/// oldest go) and each expires after the node's key lifetime.
#[utoipa::path(tag = "secure", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A BFV relinearization key of the node's parameter set (fhe.rs to_bytes)"), responses((status = 201, description = "Stored", body = EvaluationKeyInfo), (status = 400, description = "not an evaluation key of this parameter set", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 408, description = "the body stopped arriving or was too slow", body = ErrorBody), (status = 413, description = "body too large", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody), (status = 503, description = "the node holds its limit of request bodies in memory; retry after Retry-After seconds", body = ErrorBody)))]
#[post("/secure/evaluation-keys")]
pub async fn upload_key(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    require_content_type(&req, "application/octet-stream")?;
    let (bytes, _share) = read_body(&state.bodies, &req, payload, MAX_EVALUATION_KEY_BYTES).await?;
    let bytes = bytes::Bytes::from(bytes);
    let parsed = bytes.clone();
    web::block(move || more_secure::wire::parse_evaluation_key(&parsed).map(drop))
        .await?
        .map_err(|e| {
            ApiError::bad_request(format!("not an evaluation key of {PARAMETER_SET}: {e}"))
        })?;
    let blob = state.blobs.put(bytes).await?;
    let row = EvaluationKeyRow {
        id: new_id(),
        tenant: caller.tenant.clone(),
        parameter_set: PARAMETER_SET.to_string(),
        sha256: blob.sha256,
        bytes: blob.bytes,
        created_micros: audit::now_micros(),
    };
    let evicted = store::insert_key(&state.db, &row).await?;
    audit::created(&req, &row.id);
    if !evicted.is_empty() {
        audit::detail(
            &req,
            &format!("replaced the oldest keys: {}", evicted.join(", ")),
        );
    }
    Ok(HttpResponse::Created().json(EvaluationKeyInfo {
        created_at: row.created_at(),
        expires_at: row.created_at() + state.settings.evaluation_key_ttl.as_secs(),
        id: row.id,
        bytes: row.bytes,
        parameter_set: row.parameter_set,
    }))
}

/// Evaluates the model on an encrypted batch with one of the caller tenant's evaluation keys;
/// answers the encrypted outputs. 404 unless the model is the caller tenant's or granted to it
/// and the key is the caller tenant's. The body is read as it arrives, within bounds computed
/// from the model before reading; nothing of it is stored.
#[utoipa::path(tag = "secure", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits"), PredictQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "An encrypted batch (magic MSB1, samples, ciphertext count, length-prefixed BFV ciphertexts; one ciphertext per input value, sample j in slot j)"), responses((status = 200, description = "The encrypted outputs batch (one ciphertext per output value)", content_type = "application/octet-stream", body = Vec<u8>), (status = 400, description = "invalid request or batch", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such model for this tenant, or no such evaluation key of this tenant", body = ErrorBody), (status = 408, description = "the body stopped arriving or was too slow", body = ErrorBody), (status = 413, description = "body too large", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody), (status = 429, description = "quota_exceeded: the batch would take the caller's tenant over the model's samples per 24 hours (nothing was evaluated); retry after Retry-After seconds", body = QuotaExceededBody), (status = 503, description = "the node holds its limit of request bodies in memory; retry after Retry-After seconds", body = ErrorBody)))]
#[post("/secure/models/{id}/predict")]
pub async fn predict(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, PredictError> {
    // The model first: for a caller that may not see it, every request is the same 404.
    let row = store::visible_model(&state.db, &caller.tenant, &id).await?;
    let query = web::Query::<PredictQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("query: {e} (evaluation_key=ID needed)")))?;
    require_content_type(&req, "application/octet-stream")?;
    let key_row = store::tenant_key(&state.db, &caller.tenant, &query.evaluation_key).await?;
    let evaluator = evaluator(&state, &row).await?;
    let inputs = row.facts.input_shape.iter().product();
    let limit = caller_limit(&state, &row, &caller.tenant);
    let on_header = |samples: usize| admit(&state, &req, &row, &caller.tenant, limit, samples);
    let (batch, _share, reservation) = read_batch(&state, &req, payload, inputs, on_header).await?;
    let key = load_key(&state, &key_row).await?;
    let _permit = state
        .predicts
        .acquire()
        .await
        .map_err(|_| ApiError::internal("predict queue closed"))?;
    let samples = batch.samples;
    let answer = web::block(move || -> ApiResult<Vec<u8>> {
        let outputs = evaluator
            .evaluate(&key, batch.ciphertexts)
            .map_err(|e| ApiError::bad_request(format!("evaluation refused: {e}")))?;
        Ok(more_secure::wire::write_batch(samples, &outputs))
    })
    .await
    .map_err(ApiError::from)??;
    if let Some(reservation) = reservation {
        reservation.keep();
    }
    audit::detail(
        &req,
        &format!("samples: {samples}; evaluation key: {}", key_row.id),
    );
    Ok(octets(answer))
}

/// Admits a batch of `samples` under `limit` (`None`: unlimited): reserves them in the caller
/// tenant's quota, or refuses (429, audited with the limit and the use; 413 for a batch larger
/// than the whole limit).
async fn admit(
    state: &AppState,
    req: &HttpRequest,
    row: &SecureModelRow,
    tenant: &str,
    limit: Option<u64>,
    samples: usize,
) -> Result<Option<Reservation>, PredictError> {
    let Some(limit) = limit else {
        return Ok(None);
    };
    let asked = samples as u64;
    if asked > limit {
        return Err(ApiError::too_large(format!(
            "this model allows {limit} samples per 24 hours; the batch holds {asked}"
        ))
        .into());
    }
    let now = audit::now_micros();
    match quota::reserve(&state.db, &row.id, tenant, asked, limit, now).await {
        Ok(Ok(reservation)) => Ok(Some(reservation)),
        Ok(Err(over)) => {
            audit::detail(
                req,
                &format!(
                    "quota exceeded: samples: {asked}; samples_per_day: {limit}; used: {}",
                    over.used
                ),
            );
            Err(PredictError::Quota(over))
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

/// The model JSON of `row`, read from its blob (verified against its hash).
async fn load_model(state: &AppState, row: &SecureModelRow) -> ApiResult<QuantizedModel> {
    let bytes = state.blobs.get(&row.model_sha256).await?;
    web::block(move || serde_json::from_slice::<QuantizedModel>(&bytes))
        .await?
        .map_err(|e| ApiError::internal(format!("stored secure model does not parse: {e}")))
}

/// The cached evaluator of `row`'s model, built on a miss (once for concurrent misses).
async fn evaluator(state: &AppState, row: &SecureModelRow) -> ApiResult<Arc<Evaluator>> {
    if let Some(hit) = state.evaluators.get(&row.id) {
        return Ok(hit);
    }
    let _building = state.evaluators.building().await;
    if let Some(hit) = state.evaluators.get(&row.id) {
        return Ok(hit);
    }
    let model = load_model(state, row).await?;
    let built = web::block(move || Evaluator::new(&model))
        .await?
        .map_err(|e| ApiError::internal(format!("stored secure model does not build: {e}")))?;
    Ok(state.evaluators.insert(&row.id, built))
}

/// The evaluation key of `row`, read from its blob and parsed on the blocking pool.
async fn load_key(state: &AppState, row: &EvaluationKeyRow) -> ApiResult<RelinearizationKey> {
    let bytes = state.blobs.get(&row.sha256).await?;
    web::block(move || more_secure::wire::parse_evaluation_key(&bytes))
        .await?
        .map_err(|e| ApiError::internal(format!("stored evaluation key does not parse: {e}")))
}
