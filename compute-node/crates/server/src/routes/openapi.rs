//! `GET /v1/openapi.json`: the OpenAPI document generated from the handlers' `#[utoipa::path]`
//! annotations and the records' types ([`super::document`]).

use actix_web::get;
use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

use crate::error::ErrorBody;

/// What the document says besides the routes: title, description, tags, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "MORE compute node",
        description = "Trains and runs neural networks on MORE ciphertexts. Metadata is JSON; \
            tensors travel in the MORE wire format v1 (shared/WIRE_FORMAT.md) as \
            application/octet-stream. Every error is an ErrorBody whose request_id is also the \
            X-Request-Id header and is on the node's log lines for that request. The node never \
            receives a secret key."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "node", description = "Health and this document"),
        (name = "datasets", description = "Encrypted features and targets"),
        (name = "models", description = "Architectures, trained weights, predictions"),
        (name = "jobs", description = "Training runs on the node's queue")
    )
)]
pub struct ApiDoc;

/// The document as served (JSON, rendered once at start-up).
pub struct Document(pub String);

impl Document {
    /// Renders `document`.
    ///
    /// # Errors
    /// When it cannot be serialised (a bug in a schema).
    pub fn new(document: &utoipa::openapi::OpenApi) -> serde_json::Result<Self> {
        document.to_json().map(Document)
    }
}

/// This document.
#[utoipa::path(tag = "node", responses((status = 200, description = "This document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn serve_document(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}
