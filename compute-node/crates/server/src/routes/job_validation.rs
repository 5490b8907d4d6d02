//! A job's validation set and what the key holder does with its losses: the checks of
//! `validation_dataset_id` at creation, `GET /v1/jobs/{id}/validation_losses` (the encrypted
//! validation loss of each epoch), and `POST /v1/jobs/{id}/keep` (a cancelled job's model takes
//! the weights of its last completed epoch: "stop now, keep what was trained").
//!
//! The node never reads a loss: early stopping is the key holder's decision (it decrypts the
//! validation losses, cancels the job, then keeps what was trained).

use actix_web::{get, post, web, HttpRequest, HttpResponse};

use super::octets;
use crate::audit;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::records::{Dataset, DatasetState, Job, JobState, ModelRecord};
use crate::state::AppState;

/// The validation dataset's pinned (features, targets) blobs, when `val` can validate a job that
/// trains on `train` with `ranks` ranks: ready, one shard, the same task, shapes, representation
/// and key basis as the training dataset.
///
/// # Errors
/// 400 `bad_request` for an MPI job or a different task; 400 `shape_mismatch`; 400
/// `basis_mismatch` for another key or representation; 409 when it is not ready or is sharded.
pub(super) fn pin(train: &Dataset, val: &Dataset, ranks: usize) -> ApiResult<(String, String)> {
    if ranks > 1 {
        return Err(ApiError::bad_request(
            "a validation dataset is computed by jobs of one rank only (ranks must be 1)",
        ));
    }
    let (Some(features), Some(targets), DatasetState::Ready) =
        (&val.features_sha256, &val.targets_sha256, val.state)
    else {
        return Err(ApiError::conflict(format!(
            "validation dataset {} is not ready: upload its features and targets first",
            val.id
        )));
    };
    if val.shards.len() > 1 {
        return Err(ApiError::conflict(format!(
            "validation dataset {} has {} shards; a validation set is one upload (features and \
             targets)",
            val.id,
            val.shards.len()
        )));
    }
    if val.task != train.task || val.num_classes != train.num_classes {
        return Err(ApiError::bad_request(
            "the validation dataset must have the training dataset's task and classes",
        ));
    }
    if val.feature_shape != train.feature_shape || val.target_shape != train.target_shape {
        return Err(ApiError::shape_mismatch(format!(
            "the validation samples are {:?} with targets {:?}; the training samples are {:?} \
             with targets {:?}",
            val.feature_shape.clone().unwrap_or_default(),
            val.target_shape.clone().unwrap_or_default(),
            train.feature_shape.clone().unwrap_or_default(),
            train.target_shape.clone().unwrap_or_default(),
        )));
    }
    if val.representation != train.representation || val.basis != train.basis {
        return Err(ApiError::basis_mismatch(
            "the validation dataset is encrypted under another key or representation than the \
             training dataset",
        ));
    }
    Ok((features.clone(), targets.clone()))
}

/// `GET /v1/jobs/{id}/validation_losses`: wire tensor `(epochs_done,)` of encrypted mean
/// validation losses.
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "Encrypted mean loss over the validation dataset after each completed epoch, shape (epochs_done,) (MORE wire format v1)", content_type = "application/octet-stream", body = Vec<u8>), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody)))]
#[get("/jobs/{id}/validation_losses")]
pub async fn validation_losses(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let job = state.jobs.live(state.db.job(caller.scope(), &id).await?);
    if job.validation_dataset_id.is_none() {
        return Err(ApiError::conflict(format!(
            "job {id} was created without a validation dataset"
        )));
    }
    // The live record may name a blob of one epoch more than the row: cut to the epochs done.
    let (Some(sha), true) = (job.validation_losses_sha256, job.epoch > 0) else {
        return Err(ApiError::conflict(format!(
            "job {id} has not completed an epoch yet"
        )));
    };
    let bytes = state.blobs.get(&sha).await?;
    Ok(octets(first_epochs(&bytes, job.epoch)?))
}

/// The first `epochs` values of a stored losses tensor, re-encoded.
fn first_epochs(bytes: &[u8], epochs: usize) -> ApiResult<Vec<u8>> {
    use more_core::tensor::{Compact, MatrixForm};
    use more_core::wire::{self, AnyTensor};
    use more_store::weights::{decode_losses, losses_blob, storage_limits};
    let corrupt = || ApiError::internal("stored validation losses are unreadable");
    let any = wire::decode(bytes, &storage_limits()).map_err(|_| corrupt())?;
    let blob = match any {
        AnyTensor::CompactF32(_) => losses_blob(&decode_losses::<Compact>(bytes, epochs)?)?,
        AnyTensor::MatrixF32(_) => losses_blob(&decode_losses::<MatrixForm>(bytes, epochs)?)?,
        _ => return Err(corrupt()),
    };
    Ok(blob)
}

/// `POST /v1/jobs/{id}/keep`: the model of a cancelled job takes the weights of the job's last
/// completed epoch (its checkpoint), and `trained_epochs` counts them: "stop now, keep what was
/// trained". Without it a cancelled job leaves its model's weights as they were before the job.
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "The job, with kept_epochs; its model now has the weights of that epoch", body = Job), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody)))]
#[post("/jobs/{id}/keep")]
pub async fn keep(
    state: web::Data<AppState>,
    caller: Caller,
    http: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let scope = caller.scope();
    let job = state.db.job(scope, &id).await?;
    let checkpoint = keepable(&job)?;
    let (mut model, version) = state.db.get::<ModelRecord>(scope, &job.model_id).await?;
    if model.trained_epochs != job.base_epochs {
        return Err(ApiError::conflict(format!(
            "model {} was trained further after job {id} started; its weights are not replaced",
            model.id
        )));
    }
    let bytes = state.blobs.get(&checkpoint).await?;
    let kept_weights = weights_of_checkpoint(&bytes, &model, job.epoch)?;
    let blob = state
        .blobs
        .put(bytes::Bytes::from(kept_weights.bundle))
        .await?;
    model.weights_sha256 = Some(blob.sha256);
    model.trained_epochs = job.base_epochs + job.epoch;
    model.representation = Some(kept_weights.representation.to_string());
    model.basis = kept_weights.basis;
    let mut kept = job.clone();
    kept.kept_epochs = Some(job.epoch);
    if !state.db.keep_trained(&kept, &model, version).await? {
        return Err(ApiError::conflict(format!(
            "job {id} or its model changed meanwhile; read them and retry"
        )));
    }
    audit::detail(&http, &format!("kept {} epochs of job {id}", job.epoch));
    Ok(HttpResponse::Ok().json(kept))
}

/// The checkpoint of a job whose trained epochs can be kept: cancelled, at least one epoch done,
/// not kept yet.
fn keepable(job: &Job) -> ApiResult<String> {
    if job.state != JobState::Cancelled {
        return Err(ApiError::conflict(format!(
            "job {} is {}; only a cancelled job's trained epochs are kept (cancel it first)",
            job.id,
            job.state.as_str()
        )));
    }
    if let Some(k) = job.kept_epochs {
        return Err(ApiError::conflict(format!(
            "job {}'s {k} epochs were already kept",
            job.id
        )));
    }
    match (&job.checkpoint_sha256, job.epoch) {
        (Some(sha), 1..) => Ok(sha.clone()),
        _ => Err(ApiError::conflict(format!(
            "job {} was cancelled before it completed an epoch: nothing was trained",
            job.id
        ))),
    }
}

/// A model's weights bundle made from a checkpoint, and what the model record says of it.
struct KeptWeights {
    /// The weights bundle (wire format).
    bundle: Vec<u8>,
    /// The representation's name (`compact`, `matrix`).
    representation: &'static str,
    /// The key's public compact basis (none for matrix form).
    basis: Option<[f64; 4]>,
}

/// The model's weights bundle from a checkpoint bundle (its `model.*` tensors, renamed), with the
/// representation's name and the key's public basis.
fn weights_of_checkpoint(
    bytes: &[u8],
    model: &ModelRecord,
    epochs: usize,
) -> ApiResult<KeptWeights> {
    use more_core::tensor::RepresentationKind;
    use more_core::wire::{self, AnyTensor, Bundle};
    use more_store::weights::{decode_bundle, kind_name, x_basis};
    let bundle = decode_bundle(bytes, "checkpoint")?;
    let tensors: Vec<(String, AnyTensor)> = bundle
        .tensors
        .into_iter()
        .filter_map(|(n, t)| n.strip_prefix("model.").map(|n| (n.to_string(), t)))
        .collect();
    let (kind, basis) = match tensors.first().map(|(_, t)| t) {
        Some(AnyTensor::CompactF32(t)) => (RepresentationKind::Compact, x_basis(t)),
        Some(AnyTensor::MatrixF32(_)) => (RepresentationKind::Matrix, None),
        _ => {
            return Err(ApiError::internal(
                "stored checkpoint holds no model tensors",
            ))
        }
    };
    let representation = kind_name(kind);
    let metadata = serde_json::json!({
        "spec": model.spec,
        "representation": representation,
        "basis": basis,
        "trained_epochs": model.trained_epochs + epochs,
    });
    Ok(KeptWeights {
        bundle: wire::encode_bundle(&Bundle { metadata, tensors }),
        representation,
        basis,
    })
}
