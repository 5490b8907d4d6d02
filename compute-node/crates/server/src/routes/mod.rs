//! The handlers, registered under `/v1` and documented from their annotations (OpenAPI at
//! `/v1/openapi.json`), then the static web page at `/` (registered last).

pub mod access;
pub mod body;
pub mod bundle_split;
pub mod dataset_shards;
pub mod datasets;
pub mod health;
pub mod job_validation;
pub mod jobs;
pub mod models;
pub mod openapi;
pub mod predict;
pub mod predict_dataset;
pub mod secure;
pub mod security;
pub mod served_weights;

use actix_web::{web, HttpResponse};
use utoipa::OpenApi as _;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt as _};

use super::auth;
use super::error::ApiError;
use super::guard;
use crate::settings::Settings;

/// Registers the API under `/v1`. Every handler is registered through utoipa-actix-web's
/// `service`, which adds its `#[utoipa::path]` to the OpenAPI document: a registered route is a
/// documented one ([`document`]).
pub fn configure(cfg: &mut ServiceConfig, settings: &Settings) {
    let json = web::JsonConfig::default()
        .limit(settings.max_json_bytes)
        .error_handler(|err, _| match err {
            actix_web::error::JsonPayloadError::ContentType => {
                ApiError::unsupported_media_type("this route takes Content-Type: application/json")
                    .into()
            }
            actix_web::error::JsonPayloadError::Payload(e) => body::payload_error(&e).into(),
            err => ApiError::bad_request(format!("invalid JSON body: {err}")).into(),
        });
    let path = web::PathConfig::default()
        .error_handler(|err, _| ApiError::bad_request(format!("bad path: {err}")).into());
    cfg.service(
        scope("/v1")
            .wrap(actix_web::middleware::from_fn(body::timed_payload))
            .wrap(actix_web::middleware::from_fn(auth::authenticate))
            .wrap(actix_web::middleware::from_fn(guard::same_site))
            // Outside the origin check: answers preflights of --cors-origin pages.
            .wrap(actix_web::middleware::Condition::new(
                !settings.cors_origins.is_empty(),
                guard::cors(&settings.cors_origins),
            ))
            .app_data(json)
            .app_data(path)
            .service(health::health)
            .service(health::readiness)
            .service(openapi::serve_document)
            .service(access::auth_info)
            .service(access::whoami)
            .service(access::list_keys)
            .service(access::create_key)
            .service(access::revoke_key)
            .service(datasets::list)
            .service(datasets::create)
            .service(datasets::get)
            .service(datasets::delete)
            .service(datasets::put_features)
            .service(datasets::put_targets)
            .service(dataset_shards::append)
            .service(models::list)
            .service(models::create)
            .service(models::get)
            .service(models::delete)
            .service(models::weights)
            .service(predict::predict)
            .service(predict_dataset::predict_dataset)
            .service(jobs::list)
            .service(jobs::create)
            .service(jobs::get)
            .service(jobs::losses)
            .service(jobs::cancel)
            .service(jobs::resume)
            .service(job_validation::validation_losses)
            .service(job_validation::keep)
            .service(secure::publish)
            .service(secure::list)
            .service(secure::get)
            .service(secure::set_grants)
            .service(secure::delete_model)
            .service(secure::upload_key)
            .service(secure::predict)
            .default_service(web::to(not_found)),
    );
    if settings.metrics.on_api_listener() {
        crate::metrics::configure(cfg);
    }
}

/// The OpenAPI document of exactly what [`configure`] registers (collected by registering it on
/// a throwaway app), with [`openapi::ApiDoc`]'s title, description and shared schemas.
pub fn document(settings: &Settings) -> utoipa::openapi::OpenApi {
    let (_, document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(|cfg| configure(cfg, settings))
        .split_for_parts();
    let mut document = document;
    openapi::add_security(&mut document);
    document
}

/// The web page's files at `/` (register after the API and [`security::page`]).
pub fn static_files(settings: &Settings) -> actix_files::Files {
    actix_files::Files::new("/", settings.web_dir.clone())
        .index_file("index.html")
        .prefer_utf8(true)
}

/// The answer for anything not registered: 405 with `Allow` for a documented path asked with
/// another method, else 404.
async fn not_found(
    req: actix_web::HttpRequest,
    document: web::Data<openapi::Document>,
) -> HttpResponse {
    use actix_web::ResponseError as _;
    if let Some(methods) = document.methods_for(req.path()) {
        let allow = methods.join(", ");
        let mut res = ApiError::method_not_allowed(format!(
            "{} {} is not served; this path takes {allow}",
            req.method(),
            req.path()
        ))
        .error_response();
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
            res.headers_mut()
                .insert(actix_web::http::header::ALLOW, value);
        }
        return res;
    }
    ApiError::not_found_route(format!("no route {} {}", req.method(), req.path())).error_response()
}

/// A wire-format response (a `Vec`, or `Bytes` shared with the weights cache), sent as slices of
/// at most [`SEND_CHUNK`] bytes: actix-http copies each body chunk into the connection's write
/// buffer, so one whole chunk of 150 MiB of weights would be copied once per download; slices
/// are copied only as the client reads them.
pub fn octets(bytes: impl Into<bytes::Bytes>) -> HttpResponse {
    octets_holding(bytes, ())
}

/// [`octets`], keeping `held` (e.g. a [`body::Share`] of the budget) until the last slice is sent
/// or the client goes away.
pub fn octets_holding(bytes: impl Into<bytes::Bytes>, held: impl Send + 'static) -> HttpResponse {
    let bytes: bytes::Bytes = bytes.into();
    let len = bytes.len();
    let slices = (0..len).step_by(SEND_CHUNK).map(move |at| {
        let _held = &held;
        Ok::<_, std::convert::Infallible>(bytes.slice(at..len.min(at + SEND_CHUNK)))
    });
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(actix_web::body::SizedStream::new(
            len as u64,
            futures_util::stream::iter(slices),
        ))
}

/// The largest slice of a wire-format response handed to actix at once.
pub const SEND_CHUNK: usize = 64 << 10;
