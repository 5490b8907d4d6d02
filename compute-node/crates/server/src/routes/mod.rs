//! The handlers, registered under `/v1`, then the static web page at `/` (registered last).

pub mod datasets;
pub mod health;
pub mod jobs;
pub mod models;
pub mod openapi;
pub mod predict;

use actix_web::{web, HttpResponse};
use futures_util::StreamExt;

use super::error::{ApiError, ApiResult};
use super::guard;
use super::startup::Settings;

/// Every registered API route as (method, path) in OpenAPI path syntax; the OpenAPI sync test
/// checks each against `/v1/openapi.json` and the server.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/datasets"),
    ("post", "/v1/datasets"),
    ("get", "/v1/datasets/{id}"),
    ("delete", "/v1/datasets/{id}"),
    ("put", "/v1/datasets/{id}/features"),
    ("put", "/v1/datasets/{id}/targets"),
    ("get", "/v1/models"),
    ("post", "/v1/models"),
    ("get", "/v1/models/{id}"),
    ("delete", "/v1/models/{id}"),
    ("get", "/v1/models/{id}/weights"),
    ("post", "/v1/models/{id}/predict"),
    ("get", "/v1/jobs"),
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("get", "/v1/jobs/{id}/losses"),
    ("post", "/v1/jobs/{id}/cancel"),
    ("post", "/v1/jobs/{id}/resume"),
    ("get", "/v1/openapi.json"),
];

/// Registers the API and the static files.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    let json = web::JsonConfig::default()
        .limit(settings.max_json_bytes)
        .error_handler(|err, _| match err {
            actix_web::error::JsonPayloadError::ContentType => {
                ApiError::unsupported_media_type("this route takes Content-Type: application/json")
                    .into()
            }
            err => ApiError::bad_request(format!("invalid JSON body: {err}")).into(),
        });
    let path = web::PathConfig::default()
        .error_handler(|err, _| ApiError::bad_request(format!("bad path: {err}")).into());
    cfg.service(
        web::scope("/v1")
            .wrap(actix_web::middleware::from_fn(guard::same_site))
            // Outside the origin check: answers preflights of --cors-origin pages.
            .wrap(actix_web::middleware::Condition::new(
                !settings.cors_origins.is_empty(),
                guard::cors(&settings.cors_origins),
            ))
            .app_data(json)
            .app_data(path)
            .route("/health", web::get().to(health::health))
            .route("/openapi.json", web::get().to(openapi::openapi))
            .route("/datasets", web::get().to(datasets::list))
            .route("/datasets", web::post().to(datasets::create))
            .route("/datasets/{id}", web::get().to(datasets::get))
            .route("/datasets/{id}", web::delete().to(datasets::delete))
            .route(
                "/datasets/{id}/features",
                web::put().to(datasets::put_features),
            )
            .route(
                "/datasets/{id}/targets",
                web::put().to(datasets::put_targets),
            )
            .route("/models", web::get().to(models::list))
            .route("/models", web::post().to(models::create))
            .route("/models/{id}", web::get().to(models::get))
            .route("/models/{id}", web::delete().to(models::delete))
            .route("/models/{id}/weights", web::get().to(models::weights))
            .route("/models/{id}/predict", web::post().to(predict::predict))
            .route("/jobs", web::get().to(jobs::list))
            .route("/jobs", web::post().to(jobs::create))
            .route("/jobs/{id}", web::get().to(jobs::get))
            .route("/jobs/{id}/losses", web::get().to(jobs::losses))
            .route("/jobs/{id}/cancel", web::post().to(jobs::cancel))
            .route("/jobs/{id}/resume", web::post().to(jobs::resume))
            .default_service(web::to(not_found)),
    );
    cfg.service(
        actix_files::Files::new("/", settings.web_dir.clone())
            .index_file("index.html")
            .prefer_utf8(true),
    );
}

async fn not_found(req: actix_web::HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError {
        code: "not_found",
        status: actix_web::http::StatusCode::NOT_FOUND,
        message: format!("no route {} {}", req.method(), req.path()),
    })
}

/// A wire-format response.
pub fn octets(bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(bytes)
}

/// Reads a whole body into memory, refusing more than `limit` bytes (413). The rest of an
/// oversized body is drained (up to 64 MiB) so that the client reads the 413 instead of a reset.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> ApiResult<Vec<u8>> {
    let mut buf = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            let seen = buf.len() + chunk.len();
            drain(payload, seen).await;
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// The 413 error for a body over `limit`.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(format!("body exceeds the limit of {limit} bytes"))
}

/// Reads and discards the rest of a body (at most 64 MiB more).
pub async fn drain(mut payload: web::Payload, mut seen: usize) {
    const MAX_DRAIN: usize = 64 << 20;
    let start = seen;
    while let Some(Ok(chunk)) = payload.next().await {
        seen += chunk.len();
        if seen - start > MAX_DRAIN {
            break;
        }
    }
}
