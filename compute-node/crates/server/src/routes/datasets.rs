//! Datasets: create, list, get, delete, and the streamed tensor uploads.

use std::io::Write;
use std::path::PathBuf;

use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use more_core::tensor::RepresentationKind;
use more_core::wire::{self, AnyTensor, DecodeLimits};
use more_core::Dtype;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::jobs::kind_name;
use crate::startup::AppState;
use crate::storage::{new_id, now, sha256_hex, Dataset, DatasetState, Kind, Task};

/// `POST /v1/datasets` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    /// Free text.
    pub name: String,
    /// Classification or regression.
    pub task: Task,
    /// Classes (classification; checked against the targets' width).
    pub num_classes: Option<usize>,
}

/// `POST /v1/datasets` → 201 dataset.
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<CreateDataset>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::bad_request("name must be 1 to 200 characters"));
    }
    if body.num_classes == Some(0) || (body.task == Task::Regression && body.num_classes.is_some())
    {
        return Err(ApiError::bad_request(
            "num_classes must be ≥ 1, and only for classification",
        ));
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
    };
    let st = state.clone();
    let ds =
        web::block(move || st.storage.create(Kind::Dataset, &ds.id, &ds).map(|_| ds)).await??;
    Ok(HttpResponse::Created().json(ds))
}

/// `GET /v1/datasets`.
pub async fn list(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let list = web::block(move || state.storage.list::<Dataset>(Kind::Dataset)).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// `GET /v1/datasets/{id}`.
pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let ds = web::block(move || state.storage.load::<Dataset>(Kind::Dataset, &id)).await??;
    Ok(HttpResponse::Ok().json(ds))
}

/// `DELETE /v1/datasets/{id}` → 204 (409 while a job uses it).
pub async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    if state.jobs.busy(&id) {
        return Err(ApiError::conflict(format!(
            "dataset {id} is used by a running job"
        )));
    }
    web::block(move || {
        let _g = state.records.lock().expect("records lock");
        state.storage.delete(Kind::Dataset, &id)
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /v1/datasets/{id}/features`.
pub async fn put_features(
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    upload(state, id.into_inner(), payload, Part::Features).await
}

/// `PUT /v1/datasets/{id}/targets`.
pub async fn put_targets(
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    upload(state, id.into_inner(), payload, Part::Targets).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Features,
    Targets,
}

impl Part {
    fn file(self) -> &'static str {
        match self {
            Part::Features => "features.more",
            Part::Targets => "targets.more",
        }
    }
}

/// A temporary upload file, removed on drop unless persisted.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn upload(
    state: web::Data<AppState>,
    id: String,
    mut payload: web::Payload,
    part: Part,
) -> ApiResult<HttpResponse> {
    // Fail fast on an unknown id (before reading the body).
    let st = state.clone();
    let idc = id.clone();
    web::block(move || st.storage.load::<Dataset>(Kind::Dataset, &idc)).await??;
    let limit = state.settings.max_upload_bytes;
    let path = state.storage.tmp_dir().join(format!("{}.upload", new_id()));
    let mut temp = TempFile(Some(path.clone()));
    let file = std::fs::File::create(&path)?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut len = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        len += chunk.len();
        if len > limit {
            super::drain(payload, len).await;
            return Err(super::too_large(limit));
        }
        writer.write_all(&chunk)?;
    }
    let path = temp.0.take().expect("temp path");
    let result = web::block(move || -> ApiResult<Dataset> {
        let guard = TempFile(Some(path.clone()));
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let bytes = std::fs::read(&path)?;
        let tensor = validate(&bytes, limit)?;
        let sha = sha256_hex(&bytes);
        let _g = state.records.lock().expect("records lock");
        let mut ds: Dataset = state.storage.load(Kind::Dataset, &id)?;
        check_consistency(&ds, &tensor, part)?;
        let dest = state.storage.file(Kind::Dataset, &id, part.file())?;
        std::fs::rename(&path, &dest)?;
        std::mem::forget(guard);
        let shape = tensor.shape();
        let (samples, rest) = (shape[0], shape[1..].to_vec());
        ds.samples = Some(samples);
        ds.representation = Some(kind_name(tensor.kind()).to_string());
        ds.basis = match &tensor {
            AnyTensor::CompactF32(t) => Some(t.representation().basis.c0),
            _ => None,
        };
        match part {
            Part::Features => {
                ds.feature_shape = Some(rest);
                ds.features_sha256 = Some(sha);
                ds.features_bytes = Some(bytes.len() as u64);
            }
            Part::Targets => {
                ds.target_shape = Some(rest);
                ds.targets_sha256 = Some(sha);
                ds.targets_bytes = Some(bytes.len() as u64);
            }
        }
        ds.state = if ds.features_sha256.is_some() && ds.targets_sha256.is_some() {
            DatasetState::Ready
        } else {
            DatasetState::Created
        };
        state.storage.save(Kind::Dataset, &id, &ds)?;
        tracing::info!(dataset = %id, part = part.file(), bytes = bytes.len(), "upload stored");
        Ok(ds)
    })
    .await??;
    Ok(HttpResponse::Ok().json(result))
}

/// Decodes an uploaded tensor: f32, compact or matrix form, rank ≥ 1 with samples ≥ 1.
pub fn validate(bytes: &[u8], limit: usize) -> ApiResult<AnyTensor> {
    let header = wire::decode_header(bytes)?;
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
    let tensor = wire::decode(
        bytes,
        &DecodeLimits {
            max_bytes: limit,
            max_rank: 8,
        },
    )?;
    if tensor.shape().is_empty() || tensor.shape()[0] == 0 {
        return Err(ApiError::shape_mismatch(format!(
            "expected (samples, ...) with samples ≥ 1, got {:?}",
            tensor.shape()
        )));
    }
    Ok(tensor)
}

fn check_consistency(ds: &Dataset, t: &AnyTensor, part: Part) -> ApiResult<()> {
    let shape = t.shape();
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
        let kind = kind_name(t.kind());
        if ds.representation.as_deref() != Some(kind) {
            return Err(ApiError::basis_mismatch(format!(
                "this tensor is {kind}, the dataset is {}",
                ds.representation.as_deref().unwrap_or("?")
            )));
        }
        if let AnyTensor::CompactF32(c) = t {
            if !same_basis(ds.basis, c.representation().basis.c0) {
                return Err(ApiError::basis_mismatch(
                    "the compact basis C0 differs from the dataset's: encrypted under another key",
                ));
            }
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
