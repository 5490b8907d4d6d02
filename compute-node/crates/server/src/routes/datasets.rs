//! Datasets: create, list, get, delete, and the streamed tensor uploads.
//!
//! An upload is validated as it arrives (header and limits from the first chunk, every value
//! finite, exact length) and streamed into the object store; only then does one transaction point
//! the dataset at the new blob. A dataset that a job references is immutable.

use actix_web::{delete, get, post, put};
use actix_web::{web, HttpRequest, HttpResponse};
use more_core::nn::limits::MAX_CLASSES;
use more_core::tensor::RepresentationKind;
use more_core::wire::{DecodeLimits, Header, StreamValidator};
use more_core::Dtype;
use serde::Deserialize;

use super::body::{self, BodyStream, Share, UPLOAD_MEMORY};
use crate::audit;
use crate::auth::Caller;
use crate::blobs::{BlobRef, BlobWriter};
use crate::db::dataset_locked;
use crate::db::Scope;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::fault;
use crate::guard::require_content_type;
use crate::records::{new_id, now, Dataset, DatasetState, Task};
use crate::state::AppState;
use crate::weights::kind_name;

/// `POST /v1/datasets` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    /// Free text, 1 to 200 bytes, not only spaces.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Classification or regression.
    pub task: Task,
    /// Classes (classification only; checked against the targets' width): 1 to 2²⁰.
    #[schema(minimum = 1, maximum = 1048576)]
    pub num_classes: Option<usize>,
}

/// `POST /v1/datasets` → 201 dataset.
#[utoipa::path(tag = "datasets", request_body = CreateDataset, responses((status = 201, description = "Created", body = Dataset), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody)))]
#[post("/datasets")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<CreateDataset>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::bad_request("name must be 1 to 200 characters"));
    }
    let classes_ok = body
        .num_classes
        .is_none_or(|k| (1..=MAX_CLASSES).contains(&k));
    if !classes_ok || (body.task == Task::Regression && body.num_classes.is_some()) {
        return Err(ApiError::bad_request(format!(
            "num_classes must be 1 to {MAX_CLASSES}, and only for classification"
        )));
    }
    let ds = Dataset {
        id: new_id(),
        name: body.name,
        task: body.task,
        num_classes: body.num_classes,
        samples: None,
        feature_shape: None,
        target_shape: None,
        representation: None,
        basis: None,
        state: DatasetState::Created,
        created_at: now(),
        features_sha256: None,
        targets_sha256: None,
        features_bytes: None,
        targets_bytes: None,
        shards: Vec::new(),
    };
    state.db.insert(&caller.tenant, &ds).await?;
    audit::created(&req, &ds.id);
    Ok(HttpResponse::Created().json(ds))
}

/// `GET /v1/datasets`.
#[utoipa::path(tag = "datasets", responses((status = 200, description = "All datasets", body = Vec<Dataset>), (status = 500, description = "internal error (details in the node's log under the request id)", body = ErrorBody)))]
#[get("/datasets")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.db.list::<Dataset>(&caller.tenant).await?))
}

/// `GET /v1/datasets/{id}`.
#[utoipa::path(tag = "datasets", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "The dataset", body = Dataset), (status = 404, description = "no such object", body = ErrorBody)))]
#[get("/datasets/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (ds, _) = state.db.get::<Dataset>(caller.scope(), &id).await?;
    Ok(HttpResponse::Ok().json(ds))
}

/// `DELETE /v1/datasets/{id}` → 204 (409 while a queued or running job uses it). Its blobs are
/// collected later unless a job still references them.
#[utoipa::path(tag = "datasets", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 204, description = "Deleted"), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody)))]
#[delete("/datasets/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    state.db.delete::<Dataset>(&caller.tenant, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /v1/datasets/{id}/features`.
#[utoipa::path(tag = "datasets", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A tensor in the MORE wire format v1 (shared/WIRE_FORMAT.md)"), responses((status = 200, description = "Stored", body = Dataset), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 408, description = "the body stopped arriving or was too slow", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody), (status = 413, description = "body too large", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody), (status = 503, description = "the node holds its limit of request bodies in memory (retry after Retry-After seconds), or the database or store is unavailable", body = ErrorBody)))]
#[put("/datasets/{id}/features")]
pub async fn put_features(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    upload(state, &caller, id, req, payload, Part::Features).await
}

/// `PUT /v1/datasets/{id}/targets`.
#[utoipa::path(tag = "datasets", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A tensor in the MORE wire format v1 (shared/WIRE_FORMAT.md)"), responses((status = 200, description = "Stored", body = Dataset), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 408, description = "the body stopped arriving or was too slow", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody), (status = 413, description = "body too large", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody), (status = 503, description = "the node holds its limit of request bodies in memory (retry after Retry-After seconds), or the database or store is unavailable", body = ErrorBody)))]
#[put("/datasets/{id}/targets")]
pub async fn put_targets(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    upload(state, &caller, id, req, payload, Part::Targets).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Features,
    Targets,
}

impl Part {
    fn word(self) -> &'static str {
        match self {
            Part::Features => "features",
            Part::Targets => "targets",
        }
    }
}

/// Checks the request, then streams the body into a new blob (its memory reserved in the body
/// budget first) and points the dataset at it. Refusals do not read the body (`super::body`).
async fn upload(
    state: web::Data<AppState>,
    caller: &Caller,
    id: String,
    req: HttpRequest,
    payload: web::Payload,
    part: Part,
) -> ApiResult<HttpResponse> {
    let limit = state.settings.max_upload_bytes;
    body::check_declared(&req, limit)?;
    require_content_type(&req, "application/octet-stream")?;
    let (ds, _) = state.db.get::<Dataset>(caller.scope(), &id).await?;
    if state.db.dataset_in_use(&id).await? {
        return Err(dataset_locked(&id).into());
    }
    check_not_sharded(&ds)?;
    let mut share = Share::default();
    let window = body::content_length(&req).map_or(UPLOAD_MEMORY, |n| n.min(UPLOAD_MEMORY));
    state.bodies.reserve(&mut share, window).await?;
    let mut payload = BodyStream::new(payload);
    let mut writer = None;
    let received = receive(&state, &ds, part, &mut payload, &mut writer).await;
    let header = match received {
        Ok(h) => h,
        Err(e) => {
            if let Some(w) = writer {
                w.abort().await;
            }
            return Err(e);
        }
    };
    let blob = writer
        .ok_or_else(|| ApiError::internal("upload without a writer"))?
        .finish()
        .await?;
    fault::point(fault::UPLOAD_STORED);
    let ds = commit(&state, &id, part, &header, &blob).await?;
    tracing::info!(dataset = %id, part = part.word(), bytes = blob.bytes, "upload stored");
    Ok(HttpResponse::Ok().json(ds))
}

/// Validates the body chunk by chunk and streams it into a new blob (created once the header
/// passed every check, so a refused upload stores nothing).
async fn receive(
    state: &AppState,
    ds: &Dataset,
    part: Part,
    payload: &mut BodyStream,
    writer: &mut Option<BlobWriter>,
) -> ApiResult<Header> {
    let limits = DecodeLimits {
        max_bytes: state.settings.max_upload_bytes,
        max_rank: 8,
    };
    let mut validator = StreamValidator::new(limits);
    let mut before_header = Vec::new();
    while let Some(chunk) = payload.next().await? {
        validator.feed(&chunk)?;
        match writer {
            Some(w) => w.write(&chunk).await?,
            None => {
                before_header.extend_from_slice(&chunk);
                if let Some(header) = validator.header() {
                    check_header(header)?;
                    check_consistency(ds, header, part)?;
                    let mut w = state.blobs.writer().await?;
                    w.write(&std::mem::take(&mut before_header)).await?;
                    *writer = Some(w);
                }
            }
        }
    }
    Ok(validator.finish()?)
}

/// Points the dataset at the new blob (re-checked against the current record; retried when a
/// concurrent upload to the other part came first).
async fn commit(
    state: &AppState,
    id: &str,
    part: Part,
    header: &Header,
    blob: &BlobRef,
) -> ApiResult<Dataset> {
    for _ in 0..8 {
        // The tenant was checked before the upload; the row is read again for its version.
        let (mut ds, version) = state.db.get::<Dataset>(Scope::Node, id).await?;
        check_consistency(&ds, header, part)?;
        check_not_sharded(&ds)?;
        apply(&mut ds, header, part, blob);
        if state.db.update_dataset(&ds, version).await? {
            return Ok(ds);
        }
    }
    Err(ApiError::conflict(format!(
        "dataset {id} kept changing during the upload; retry"
    )))
}

fn apply(ds: &mut Dataset, header: &Header, part: Part, blob: &BlobRef) {
    let (samples, rest) = (header.shape[0], header.shape[1..].to_vec());
    ds.samples = Some(samples);
    ds.representation = Some(kind_name(header.kind).to_string());
    ds.basis = header.basis.as_ref().map(|b| b.c0);
    match part {
        Part::Features => {
            ds.feature_shape = Some(rest);
            ds.features_sha256 = Some(blob.sha256.clone());
            ds.features_bytes = Some(blob.bytes);
        }
        Part::Targets => {
            ds.target_shape = Some(rest);
            ds.targets_sha256 = Some(blob.sha256.clone());
            ds.targets_bytes = Some(blob.bytes);
        }
    }
    ds.state = if ds.features_sha256.is_some() && ds.targets_sha256.is_some() {
        DatasetState::Ready
    } else {
        DatasetState::Created
    };
    // The two blobs are the dataset's one shard.
    ds.shards = ds.legacy_shard().into_iter().collect();
}

/// `PUT …/features` and `…/targets` replace the one shard they made; a dataset appended to by
/// `POST …/shards` is append-only (409).
fn check_not_sharded(ds: &Dataset) -> ApiResult<()> {
    let one_put_shard = match ds.shards.as_slice() {
        [] => true,
        [only] => ds.legacy_shard().as_ref() == Some(only),
        _ => false,
    };
    if one_put_shard {
        return Ok(());
    }
    Err(ApiError::conflict(format!(
        "dataset {} is stored in shards: append with POST /v1/datasets/{}/shards",
        ds.id, ds.id
    )))
}

/// An uploaded tensor must be f32 ciphertexts (compact or matrix form) of rank ≥ 1 with no
/// zero-sized axis (samples ≥ 1, features ≥ 1).
pub(super) fn check_header(header: &Header) -> ApiResult<()> {
    if header.dtype != Dtype::F32 {
        return Err(ApiError::invalid_tensor(format!(
            "the node works in f32; got a {:?} tensor (re-encrypt with f32)",
            header.dtype
        )));
    }
    if header.kind == RepresentationKind::Plain {
        return Err(ApiError::invalid_tensor(
            "plaintext tensors are not accepted: encrypt the data (compact or matrix form) first",
        ));
    }
    if header.shape.is_empty() || header.shape.contains(&0) {
        return Err(ApiError::shape_mismatch(format!(
            "expected (samples, ...) with every size ≥ 1 (at least one sample, one feature), got {:?}",
            header.shape
        )));
    }
    Ok(())
}

/// The new tensor must fit the dataset: rank, classes, and (when the other part is there)
/// samples, representation and compact basis.
fn check_consistency(ds: &Dataset, t: &Header, part: Part) -> ApiResult<()> {
    let shape = &t.shape;
    match part {
        Part::Features if shape.len() < 2 => {
            return Err(ApiError::shape_mismatch(format!(
                "features must be (samples, features...), got {shape:?}"
            )))
        }
        Part::Targets if shape.len() != 2 => {
            return Err(ApiError::shape_mismatch(format!(
                "targets must be (samples, outputs), got {shape:?}"
            )))
        }
        _ => {}
    }
    if part == Part::Targets {
        if let Some(k) = ds.num_classes {
            if shape[1] != k {
                return Err(ApiError::shape_mismatch(format!(
                    "targets have {} columns, the dataset has {k} classes (one-hot expected)",
                    shape[1]
                )));
            }
        }
    }
    let other_present = match part {
        Part::Features => ds.targets_sha256.is_some(),
        Part::Targets => ds.features_sha256.is_some(),
    };
    if other_present {
        if ds.samples != Some(shape[0]) {
            return Err(ApiError::shape_mismatch(format!(
                "{} have {} samples, the dataset's {} have {}",
                if part == Part::Features {
                    "features"
                } else {
                    "targets"
                },
                shape[0],
                if part == Part::Features {
                    "targets"
                } else {
                    "features"
                },
                ds.samples.unwrap_or(0)
            )));
        }
        check_same_key(ds, t, "this tensor")?;
    }
    Ok(())
}

/// A tensor (`what`: "this tensor", "this shard") has the dataset's representation and, when
/// compact, its basis C0: else 400 `basis_mismatch` (encrypted under another key).
pub(super) fn check_same_key(ds: &Dataset, t: &Header, what: &str) -> ApiResult<()> {
    let kind = kind_name(t.kind);
    if ds.representation.as_deref() != Some(kind) {
        return Err(ApiError::basis_mismatch(format!(
            "{what} is {kind}, the dataset is {}",
            ds.representation.as_deref().unwrap_or("?")
        )));
    }
    if let Some(basis) = &t.basis {
        if !same_basis(ds.basis, basis.c0) {
            return Err(ApiError::basis_mismatch(
                "the compact basis C0 differs from the dataset's: encrypted under another key",
            ));
        }
    }
    Ok(())
}

/// Whether a stored basis equals `c0`. Records are JSON, whose float parsing may be off by one ulp,
/// so the comparison allows a relative 1e-12 (bases of different keys differ at O(1)).
pub fn same_basis(stored: Option<[f64; 4]>, c0: [f64; 4]) -> bool {
    stored.is_some_and(|b| {
        b.iter()
            .zip(c0)
            .all(|(x, y)| (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0))
    })
}
