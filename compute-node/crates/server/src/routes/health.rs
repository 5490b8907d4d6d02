//! `GET /v1/health`: liveness (always 200 while the process serves), and readiness in the body
//! (the database answers, the job worker runs); with `?probe=ready` a node that is not ready
//! answers 503. `GET /v1/ready`: the readiness probe proper, checking the database, the object
//! store and the queue, each bounded by [`READY_CHECK`]; 503 `unavailable` names those that
//! failed.

use std::time::Duration;

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::jobs::WorkerStatus;
use crate::startup::AppState;

/// How long the health check waits for the database.
const DATABASE_CHECK: Duration = Duration::from_secs(1);

/// `GET /v1/health` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` while the process serves requests.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The node's version.
    pub version: &'static str,
    /// Whether the node can do its work: the database answers and the job worker runs (or the
    /// node does not train).
    pub ready: bool,
    /// `up` when the metadata database answered a query within 1 s, else `down`.
    #[schema(example = "up")]
    pub database: &'static str,
    /// The job worker: `running`, `restarting` (rebuilt with backoff after a database error),
    /// `starting`, or `off` (`--max-jobs 0`).
    pub worker: WorkerStatus,
}

/// `GET /v1/health` query.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct Probe {
    /// `ready`: answer 503 instead of 200 when the node is not ready.
    pub probe: Option<String>,
}

/// Liveness, readiness and version.
#[utoipa::path(tag = "node", params(Probe), responses((status = 200, description = "The node is up (see `ready`)", body = Health), (status = 503, description = "With `?probe=ready`: the node is up but not ready (database down or job worker restarting)", body = Health)))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>, query: web::Query<Probe>) -> HttpResponse {
    let database_up = state.db.ping(DATABASE_CHECK).await;
    let worker = state.jobs.worker_status();
    let ready = database_up && matches!(worker.state, "running" | "off");
    let body = Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        ready,
        database: if database_up { "up" } else { "down" },
        worker,
    };
    if query.probe.as_deref() == Some("ready") && !ready {
        return HttpResponse::ServiceUnavailable().json(body);
    }
    HttpResponse::Ok().json(body)
}

/// How long readiness waits for each of the database, the object store and the queue.
pub const READY_CHECK: Duration = Duration::from_secs(2);

/// `GET /v1/ready` answer when every check passed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `up`: the metadata database answered a query.
    #[schema(example = "up")]
    pub database: &'static str,
    /// `up`: the object store answered a metadata request.
    #[schema(example = "up")]
    pub store: &'static str,
    /// `up`: the job queue's database answered a query.
    #[schema(example = "up")]
    pub queue: &'static str,
}

/// Readiness: the database, the object store and the queue each answer within 2 s (checked at
/// once, so the answer comes within about 2 s). For a load balancer's or Kubernetes'
/// readiness probe; `/v1/health` stays the liveness probe.
#[utoipa::path(tag = "node", responses(
    (status = 200, description = "The database, the object store and the queue answered", body = Ready),
    (status = 503, description = "`unavailable`: the message names each check that failed (`database`, `store`, `queue`)", body = crate::error::ErrorBody)))]
#[get("/ready")]
pub async fn readiness(state: web::Data<AppState>) -> HttpResponse {
    let (database, store, queue) = tokio::join!(
        state.db.ping(READY_CHECK),
        state.blobs.ping(READY_CHECK),
        state.jobs.queue().ping(READY_CHECK),
    );
    let failed: Vec<&str> = [("database", database), ("store", store), ("queue", queue)]
        .into_iter()
        .filter(|(_, up)| !up)
        .map(|(name, _)| name)
        .collect();
    if !failed.is_empty() {
        use actix_web::ResponseError as _;
        return crate::error::ApiError::unavailable(format!(
            "not ready: {} did not answer within {} s",
            failed.join(", "),
            READY_CHECK.as_secs()
        ))
        .error_response();
    }
    HttpResponse::Ok().json(Ready {
        status: "ready",
        database: "up",
        store: "up",
        queue: "up",
    })
}
