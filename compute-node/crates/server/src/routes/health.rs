//! `GET /v1/health`: liveness (always 200 while the process serves), and readiness in the body
//! (the database answers, the job worker runs); with `?probe=ready` a node that is not ready
//! answers 503, for a load balancer's or Kubernetes' readiness probe.

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
