//! Jobs: create (train a model on a dataset), list, get, losses, cancel, resume.

use actix_web::{get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use more_core::nn::{LossKind, OptimizerSpec, TrainConfig};
use serde::Deserialize;

use super::octets;
use crate::audit;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::jobs::MpiLaunch;
use crate::records::{new_id, now, Dataset, DatasetState, Job, JobState, ModelRecord, Task};
use crate::state::AppState;

/// `POST /v1/jobs` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// The model to train (continues from its trained weights, if any).
    pub model_id: String,
    /// A `ready` dataset.
    pub dataset_id: String,
    /// Epochs, 1 to 10,000.
    #[schema(minimum = 1, maximum = 10000)]
    pub epochs: usize,
    /// Mini-batch size, 1 to 65,536.
    #[schema(minimum = 1, maximum = 65536)]
    pub batch_size: usize,
    /// SGD or Adam.
    pub optimizer: OptimizerSpec,
    /// Default: cross-entropy for classification, MSE for regression.
    pub loss: Option<LossKind>,
    /// Shuffling and dropout seed (default 0).
    pub seed: Option<u64>,
    /// Largest accepted ciphertext plane value before training stops (default 1e6).
    #[schema(exclusive_minimum = 0.0)]
    pub divergence_limit: Option<f64>,
    /// MPI ranks that train the job data-parallel (default 1: in the node's process). More than
    /// one needs nodes started with `--mpi-max-ranks` (at most that many) and a model without
    /// dropout.
    #[schema(minimum = 1)]
    pub ranks: Option<usize>,
    /// A `ready` dataset of the same task, shapes and key as `dataset_id`: after each epoch the
    /// node stores the model's encrypted mean loss over it (`GET /v1/jobs/{id}/validation_losses`).
    /// Jobs of one rank only.
    pub validation_dataset_id: Option<String>,
}

/// `POST /v1/jobs` → 202 job.
#[utoipa::path(tag = "jobs", request_body = CreateJob, responses((status = 202, description = "Queued", body = Job), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody)))]
#[post("/jobs")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    http: HttpRequest,
    body: web::Json<CreateJob>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    if !(1..=10_000).contains(&req.epochs) {
        return Err(ApiError::bad_request("epochs must be 1 to 10000"));
    }
    if !(1..=65_536).contains(&req.batch_size) {
        return Err(ApiError::bad_request("batch_size must be 1 to 65536"));
    }
    req.optimizer.check().map_err(ApiError::bad_request)?;
    if req
        .divergence_limit
        .is_some_and(|d| !(d > 0.0 && d.is_finite()))
    {
        return Err(ApiError::bad_request(
            "divergence_limit must be a positive number",
        ));
    }
    let ranks = check_ranks(req.ranks, state.settings.mpi.as_ref())?;
    // An upload that commits between reading the dataset and inserting the job changes its
    // version: read and check again (the job must train on what it was checked against).
    for _ in 0..8 {
        let scope = caller.scope();
        let (model, _) = state.db.get::<ModelRecord>(scope, &req.model_id).await?;
        let (ds, version) = state.db.get::<Dataset>(scope, &req.dataset_id).await?;
        let mut job = new_job(&req, &model, &ds, ranks)?;
        if let Some(vid) = &req.validation_dataset_id {
            let (val, _) = state.db.get::<Dataset>(scope, vid).await?;
            let (features, targets) = super::job_validation::pin(&ds, &val, ranks)?;
            job.validation_dataset_id = Some(val.id);
            job.validation_features_sha256 = Some(features);
            job.validation_targets_sha256 = Some(targets);
        }
        if state
            .jobs
            .queue()
            .enqueue_new(&caller.tenant, &job, version)
            .await?
        {
            audit::created(&http, &job.id);
            return Ok(HttpResponse::Accepted().json(job));
        }
    }
    Err(ApiError::conflict(format!(
        "dataset {} kept changing while the job was created; retry",
        req.dataset_id
    )))
}

/// The ranks `requested`, checked against what this node's MPI launch allows.
fn check_ranks(requested: Option<usize>, mpi: Option<&MpiLaunch>) -> ApiResult<usize> {
    let ranks = requested.unwrap_or(1);
    let max = mpi.map_or(1, |m| m.max_ranks);
    if ranks == 0 {
        return Err(ApiError::bad_request("ranks must be at least 1"));
    }
    if ranks > max {
        return Err(ApiError::bad_request(match mpi {
            None => format!(
                "ranks {ranks}: this node does not launch MPI jobs (start it with --mpi-max-ranks)"
            ),
            Some(_) => format!("ranks {ranks}: this node launches MPI jobs of at most {max} ranks"),
        }));
    }
    Ok(ranks)
}

/// Refuses a job whose training batch of `samples` would need more activation memory than a pass
/// may take (`more_core::nn::limits::ACTIVATION_BUDGET_BYTES`), at creation rather than at its
/// first epoch. Jobs train in f32: 2 planes of 4 bytes per compact value, 4 in matrix form.
fn check_batch_memory(model: &ModelRecord, ds: &Dataset, samples: usize) -> ApiResult<()> {
    let planes = if ds.representation.as_deref() == Some("matrix") {
        4
    } else {
        2
    };
    let bytes_per_value = planes * std::mem::size_of::<f32>();
    Ok(model
        .spec
        .budget()?
        .check_batch(samples, bytes_per_value, true)?)
}

/// The blobs of the dataset's first shard, when `model` can train on `ds` with `ranks` ranks:
/// the dataset is ready, its shapes are the model's, its key and representation those the model
/// was trained under, and dropout runs on one rank.
fn check_fits<'d>(
    model: &ModelRecord,
    ds: &'d Dataset,
    ranks: usize,
) -> ApiResult<(&'d String, &'d String)> {
    if ranks > 1 && model.spec.has_dropout() {
        return Err(ApiError::bad_request(
            "a model with dropout trains on one rank only: its masks are drawn in one sequence \
             over the whole batch",
        ));
    }
    let (Some(first), DatasetState::Ready) = (ds.shards.first(), ds.state) else {
        return Err(ApiError::conflict(format!(
            "dataset {} is not ready: upload its features and targets first",
            ds.id
        )));
    };
    let (fshape, tshape) = (
        ds.feature_shape.clone().unwrap_or_default(),
        ds.target_shape.clone().unwrap_or_default(),
    );
    if fshape != model.spec.input_shape {
        return Err(ApiError::shape_mismatch(format!(
            "the model takes inputs of shape {:?}, the dataset's samples are {fshape:?}",
            model.spec.input_shape
        )));
    }
    if tshape != model.output_shape {
        return Err(ApiError::shape_mismatch(format!(
            "the model outputs {:?}, the dataset's targets are {tshape:?}",
            model.output_shape
        )));
    }
    if model.weights_sha256.is_some()
        && (model.representation != ds.representation || model.basis != ds.basis)
    {
        return Err(ApiError::basis_mismatch(
            "the model was trained on data under another key or representation",
        ));
    }
    Ok((&first.features_sha256, &first.targets_sha256))
}

/// The training configuration `req` asks for, with the task's default loss.
fn train_config(req: &CreateJob, task: Task) -> TrainConfig {
    let loss = req.loss.unwrap_or(match task {
        Task::Classification => LossKind::CrossEntropy,
        Task::Regression => LossKind::Mse,
    });
    let mut config = TrainConfig::new(
        req.epochs,
        req.batch_size,
        req.optimizer.clone(),
        loss,
        req.seed.unwrap_or(0),
    );
    if let Some(d) = req.divergence_limit {
        config.divergence_limit = d;
    }
    config
}

/// The job `req` asks for, checked against the model and the dataset (pinned to the dataset's
/// current blobs).
fn new_job(req: &CreateJob, model: &ModelRecord, ds: &Dataset, ranks: usize) -> ApiResult<Job> {
    let (features, targets) = check_fits(model, ds, ranks)?;
    let config = train_config(req, ds.task);
    let samples = ds.samples.unwrap_or(0);
    check_batch_memory(model, ds, req.batch_size.min(samples.max(1)))?;
    Ok(Job {
        id: new_id(),
        model_id: model.id.clone(),
        dataset_id: ds.id.clone(),
        state: JobState::Queued,
        epoch: 0,
        epochs: req.epochs,
        batches_done: 0,
        batches_total: samples.div_ceil(req.batch_size),
        elapsed_seconds: 0.0,
        error: None,
        config,
        ranks,
        base_epochs: model.trained_epochs,
        created_at: now(),
        node: None,
        features_sha256: features.clone(),
        targets_sha256: targets.clone(),
        shards: ds.shards.clone(),
        checkpoint_sha256: None,
        losses_sha256: None,
        validation_dataset_id: None,
        validation_features_sha256: None,
        validation_targets_sha256: None,
        validation_losses_sha256: None,
        kept_epochs: None,
        data_bytes_read: Vec::new(),
    })
}

/// `GET /v1/jobs`.
#[utoipa::path(tag = "jobs", responses((status = 200, description = "All jobs", body = Vec<Job>), (status = 500, description = "internal error (details in the node's log under the request id)", body = ErrorBody)))]
#[get("/jobs")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let jobs: Vec<Job> = state
        .db
        .jobs(&caller.tenant)
        .await?
        .into_iter()
        .map(|j| state.jobs.live(j))
        .collect();
    Ok(HttpResponse::Ok().json(jobs))
}

/// `GET /v1/jobs/{id}`.
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "The job and its progress", body = Job), (status = 404, description = "no such object", body = ErrorBody)))]
#[get("/jobs/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let job = state.jobs.live(state.db.job(caller.scope(), &id).await?);
    Ok(HttpResponse::Ok().json(job))
}

/// `GET /v1/jobs/{id}/losses`: wire tensor `(epochs_done,)` of encrypted mean losses.
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "Encrypted mean loss of each completed epoch, shape (epochs_done,) (MORE wire format v1)", content_type = "application/octet-stream", body = Vec<u8>), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody)))]
#[get("/jobs/{id}/losses")]
pub async fn losses(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // The live record on the node running the job names its blobs once they are stored.
    let job = state.jobs.live(state.db.job(caller.scope(), &id).await?);
    let Some(sha) = job.losses_sha256 else {
        return Err(ApiError::conflict(format!(
            "job {id} has not completed an epoch yet"
        )));
    };
    Ok(octets(state.blobs.get(&sha).await?.to_vec()))
}

/// `POST /v1/jobs/{id}/cancel`: a queued job is cancelled at once, a running one stops at its next
/// mini-batch.
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 200, description = "Cancelled (a running job stops at its next mini-batch)", body = Job), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody)))]
#[post("/jobs/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let job = state.db.cancel_job(&caller.tenant, &id).await?;
    state.jobs.cancel_local(&id);
    Ok(HttpResponse::Ok().json(state.jobs.live(job)))
}

/// `POST /v1/jobs/{id}/resume`: queues an `interrupted`, `cancelled` or `failed` job again; it
/// continues from its last checkpoint (its error cleared).
#[utoipa::path(tag = "jobs", params(("id" = String, Path, description = "The object's id: 32 lowercase hex digits")), responses((status = 202, description = "Queued again", body = Job), (status = 403, description = "refused host or origin", body = ErrorBody), (status = 404, description = "no such object", body = ErrorBody), (status = 409, description = "conflict with the object's state", body = ErrorBody)))]
#[post("/jobs/{id}/resume")]
pub async fn resume(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let scope = caller.scope();
    let job = state.db.job(scope, &id).await?;
    if !state.jobs.queue().requeue(&job).await? {
        let now = state.db.job(scope, &id).await?;
        return Err(ApiError::conflict(format!(
            "job {id} is {}; only interrupted, cancelled or failed jobs resume",
            now.state.as_str()
        )));
    }
    Ok(HttpResponse::Accepted().json(state.db.job(scope, &id).await?))
}
