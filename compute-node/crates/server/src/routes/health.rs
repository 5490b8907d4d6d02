//! `GET /v1/health`.

use actix_web::get;
use actix_web::HttpResponse;
use serde::Serialize;

/// `GET /v1/health` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The node's version.
    pub version: &'static str,
}

/// Liveness and version.
#[utoipa::path(tag = "node", responses((status = 200, description = "The node is up", body = Health)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}
