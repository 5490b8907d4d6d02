//! `GET /metrics`: the node's Prometheus metrics (text exposition format 0.0.4), through the
//! [`metrics`] facade and `metrics-exporter-prometheus`'s recorder (one per process).
//!
//! Access is its own rule, never an API key: with `--metrics-token` the scrape must send
//! `Authorization: Bearer TOKEN` (compared in constant time, as SHA-256 digests); with
//! `--metrics-bind ADDR` the route is served on that second listener only (which serves nothing
//! else). Without either, `/metrics` is not served at all.
//!
//! No label carries tenant data: routes are actix's templates (`/v1/datasets/{id}`), never a
//! request's path; no tenant, dataset, model or job id is ever a label value.
//!
//! The series (all names start with `more_`):
//!
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `more_http_requests_total` | counter | `method`, `route`, `status` | answered requests |
//! | `more_http_request_duration_seconds` | histogram | `method`, `route` | time to the response head |
//! | `more_jobs` | gauge | `state` | training jobs by state, read from the database at scrape |
//! | `more_jobs_started_total` | counter | — | jobs this node claimed (the runner) |
//! | `more_jobs_finished_total` | counter | `state` | jobs this node ended: `completed`, `failed`, `cancelled`, `interrupted` |
//! | `more_epochs_total` | counter | — | training epochs this node recorded |
//! | `more_upload_bytes_total` | counter | — | bytes of uploaded tensors stored |
//! | `more_store_errors_total` | counter | — | object store errors |
//! | `more_db_errors_total` | counter | — | database errors |
//! | `more_queue_errors_total` | counter | — | job queue errors |
//! | `more_predict_permits_in_use` / `more_predict_permits` | gauge | — | predicts computing now / at most |
//! | `more_audit_rows` | gauge | — | rows in the audit chain (its head's `seq`) |
//! | `more_scrape_errors_total` | counter | — | scrapes whose database reads failed (the gauges keep their last values) |
//!
//! The store and the runner record theirs with the facade's macros under the names above.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{get, web, HttpRequest, HttpResponse, ResponseError as _};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::startup::AppState;

/// Requests answered, by `method`, `route` (template) and `status`.
pub const HTTP_REQUESTS: &str = "more_http_requests_total";
/// Seconds from a request's arrival to its response head, by `method` and `route`.
pub const HTTP_DURATION: &str = "more_http_request_duration_seconds";
/// Training jobs by `state`, counted in the database at scrape time.
pub const JOBS_BY_STATE: &str = "more_jobs";
/// Predicts computing now.
pub const PREDICT_PERMITS_IN_USE: &str = "more_predict_permits_in_use";
/// Predicts computed at once at most (`--max-concurrent-predicts`).
pub const PREDICT_PERMITS: &str = "more_predict_permits";
/// Rows in the audit chain.
pub const AUDIT_ROWS: &str = "more_audit_rows";
/// Scrapes whose database reads failed.
pub const SCRAPE_ERRORS: &str = "more_scrape_errors_total";

/// Upper bounds of the latency buckets, seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// How long a scrape waits for each database read.
const SCRAPE_QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// How often histograms are drained into their buckets when nobody scrapes.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);
/// The job states shown even at zero.
const JOB_STATES: [&str; 6] = [
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
];

/// Who may scrape `/metrics` (`--metrics-token`, `--metrics-bind`).
#[derive(Clone, Debug, Default)]
pub struct MetricsSettings {
    /// The bearer token a scrape must send (`None`: none asked).
    pub token: Option<String>,
    /// A second listener serving `/metrics` only (`None`: the API's listener serves it, and then
    /// only with a token).
    pub bind: Option<String>,
}

impl MetricsSettings {
    /// Whether the API's own listener serves `/metrics`: only with a token and no second
    /// listener.
    pub fn on_api_listener(&self) -> bool {
        self.bind.is_none() && self.token.is_some()
    }
}

/// The process's Prometheus recorder, installed on first use (several in-process servers share
/// it); a thread drains its histograms every few seconds.
///
/// # Panics
/// When another `metrics` recorder was installed in this process first.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &LATENCY_BUCKETS)
            .expect("latency buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder in this process");
        describe();
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_PERIOD);
                upkeep.run_upkeep();
            })
            .expect("spawn the metrics upkeep thread");
        handle
    })
}

/// The `# HELP` lines of every series, including those the store and the runner record.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by method, route template and status"
    );
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to the response head");
    describe_gauge!(
        JOBS_BY_STATE,
        "Training jobs by state (the database's, at scrape time)"
    );
    describe_counter!("more_jobs_started_total", "Training jobs this node claimed");
    describe_counter!(
        "more_jobs_finished_total",
        "Training jobs this node ended, by end state"
    );
    describe_counter!("more_epochs_total", "Training epochs this node recorded");
    describe_counter!(
        "more_upload_bytes_total",
        Unit::Bytes,
        "Bytes of uploaded tensors stored"
    );
    describe_counter!("more_db_errors_total", "Database errors");
    describe_counter!("more_store_errors_total", "Object store errors");
    describe_counter!("more_queue_errors_total", "Job queue errors");
    describe_gauge!(PREDICT_PERMITS_IN_USE, "Predict requests computing now");
    describe_gauge!(PREDICT_PERMITS, "Predict requests computed at once at most");
    describe_gauge!(AUDIT_ROWS, "Rows in the audit chain");
    describe_counter!(SCRAPE_ERRORS, "Scrapes whose database reads failed");
}

/// The middleware counting and timing every request by method, route template and status.
///
/// # Errors
/// The inner service's errors (counted with their status first).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = method_label(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(res) => (route_label(res.request()), res.status().as_u16()),
        Err(e) => (
            "unmatched".to_owned(),
            e.as_response_error().status_code().as_u16(),
        ),
    };
    crate::telemetry::annotate_request(method, &route, status);
    let labels = [("method", method.to_owned()), ("route", route)];
    metrics::histogram!(HTTP_DURATION, &labels).record(start.elapsed().as_secs_f64());
    let [method, route] = labels;
    metrics::counter!(
        HTTP_REQUESTS,
        &[method, route, ("status", status.to_string())]
    )
    .increment(1);
    result
}

/// A method as a label: the standard ones by name, anything else `other` (bounded values).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route template a request matched (`/v1/models/{id}`), `static` for the web page's files,
/// `unmatched` for none: never the request's own path, which may carry ids.
pub fn route_label(req: &HttpRequest) -> String {
    match req.match_pattern() {
        Some(pattern) if pattern.starts_with("/v1") || pattern == "/metrics" => pattern,
        Some(_) => "static".to_owned(),
        None => "unmatched".to_owned(),
    }
}

/// Registers `GET /metrics` (on the API's listener when [`MetricsSettings::on_api_listener`],
/// or alone on the `--metrics-bind` listener).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(scrape);
}

/// Prometheus metrics (text format 0.0.4). Served only with `--metrics-token` (send it as a
/// bearer token) or on the `--metrics-bind` listener.
#[utoipa::path(tag = "node", responses(
    (status = 200, description = "The metrics, Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
    (status = 401, description = "No or a wrong scrape token", body = crate::error::ErrorBody)))]
#[get("/metrics")]
pub async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(token) = &state.settings.metrics.token {
        if !token_matches(&req, token) {
            return ApiError::unauthorized("/metrics needs the scrape token (--metrics-token)")
                .error_response();
        }
    }
    refresh_gauges(&state).await;
    let handle = handle();
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// Whether the request carries `Authorization: Bearer {token}`, compared in constant time (the
/// SHA-256 digests, so the comparison does not reveal the token's length either).
fn token_matches(req: &HttpRequest, token: &str) -> bool {
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let sent = Sha256::digest(sent.as_bytes());
    let want = Sha256::digest(token.as_bytes());
    bool::from(sent.as_slice().ct_eq(want.as_slice()))
}

/// Sets the gauges read at scrape time: jobs by state, audit rows, predict permits.
async fn refresh_gauges(state: &AppState) {
    let max = state.settings.max_concurrent_predicts.max(1);
    let free = state.predicts.available_permits().min(max);
    metrics::gauge!(PREDICT_PERMITS).set(max as f64);
    metrics::gauge!(PREDICT_PERMITS_IN_USE).set((max - free) as f64);
    match tokio::time::timeout(SCRAPE_QUERY_TIMEOUT, read_counts(state)).await {
        Ok(Ok((jobs, audit_rows))) => {
            for name in JOB_STATES {
                let count = jobs.iter().find(|(s, _)| s == name).map_or(0, |(_, n)| *n);
                metrics::gauge!(JOBS_BY_STATE, "state" => name).set(count as f64);
            }
            metrics::gauge!(AUDIT_ROWS).set(audit_rows as f64);
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: database read failed");
            metrics::counter!(SCRAPE_ERRORS).increment(1);
        }
        Err(_) => {
            tracing::warn!("metrics: database read timed out");
            metrics::counter!(SCRAPE_ERRORS).increment(1);
        }
    }
}

/// Jobs by state and the audit chain's length, from the database.
async fn read_counts(state: &AppState) -> Result<(Vec<(String, i64)>, i64), sqlx::Error> {
    use sqlx::Row as _;
    let pool = state.db.pool();
    let jobs = sqlx::query("SELECT state, COUNT(*) AS n FROM training_jobs GROUP BY state")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<String, _>("state")?,
                row.try_get::<i64, _>("n")?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let audit_rows = sqlx::query("SELECT seq FROM audit_head")
        .fetch_optional(pool)
        .await?
        .map(|row| row.try_get::<i64, _>("seq"))
        .transpose()?
        .unwrap_or(0);
    Ok((jobs, audit_rows))
}

/// Binds `bind` and serves `GET /metrics` there alone (anything else: 404), with one worker
/// and no signal handlers (stopped by the application after its API listener).
///
/// # Errors
/// When the address cannot be bound.
pub fn serve_alone(
    bind: &str,
    state: web::Data<AppState>,
) -> anyhow::Result<(std::net::SocketAddr, actix_web::dev::Server)> {
    let listener = std::net::TcpListener::bind(bind)?;
    let address = listener.local_addr()?;
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .service(scrape)
            .default_service(web::to(|| async {
                ApiError::not_found_route("this listener serves GET /metrics only").error_response()
            }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    tracing::info!(%address, "metrics listener");
    Ok((address, server))
}
