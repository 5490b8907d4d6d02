//! `GET /v1/health`.

use actix_web::HttpResponse;

/// `{"status": "ok", "version": ...}`.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
