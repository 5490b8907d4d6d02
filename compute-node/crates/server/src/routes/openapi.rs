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
        (name = "access", description = "Signing in, the caller, a tenant's API keys"),
        (name = "datasets", description = "Encrypted features and targets"),
        (name = "models", description = "Architectures, trained weights, predictions"),
        (name = "jobs", description = "Training runs on the node's queue"),
        (name = "secure", description = "Secure mode: quantized models granted to other tenants, \
            evaluation keys, predictions on BFV ciphertexts the node cannot read")
    )
)]
pub struct ApiDoc;

/// Adds the bearer security scheme: every operation but those of
/// [`crate::auth::PUBLIC_PATHS`] requires it and may answer 401.
pub fn add_security(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    use utoipa::openapi::{Ref, ResponseBuilder};
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "An API key of a tenant (`more_` and 64 hex digits, from `more-node apikey create`) \
             or an OIDC access token (JWT) of the configured identity provider.",
        ))
        .build();
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    document.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    let unauthorized = ResponseBuilder::new()
        .description("no valid token")
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for (path, item) in document.paths.paths.iter_mut() {
        let public = crate::auth::PUBLIC_PATHS.contains(&path.as_str());
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            if public {
                operation.security = Some(vec![SecurityRequirement::default()]);
            } else {
                operation
                    .responses
                    .responses
                    .insert("401".into(), unauthorized.clone().into());
            }
        }
    }
}

/// The document as served (JSON, rendered once at start-up), and its path templates with their
/// methods (a known path asked with another method gets 405, not 404).
pub struct Document {
    json: String,
    paths: Vec<(String, Vec<String>)>,
}

impl Document {
    /// Renders `document`.
    ///
    /// # Errors
    /// When it cannot be serialised (a bug in a schema).
    pub fn new(document: &utoipa::openapi::OpenApi) -> serde_json::Result<Self> {
        let json = document.to_json()?;
        let value: serde_json::Value = serde_json::from_str(&json)?;
        let paths = value["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let methods = item.as_object().map_or_else(Vec::new, |ops| {
                            ops.keys().map(|m| m.to_ascii_uppercase()).collect()
                        });
                        (path.clone(), methods)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Document { json, paths })
    }

    /// The methods documented for the template that `path` matches (`{id}` matches one
    /// segment), if any.
    pub fn methods_for(&self, path: &str) -> Option<&[String]> {
        self.paths
            .iter()
            .find(|(template, _)| matches_template(template, path))
            .map(|(_, methods)| methods.as_slice())
    }
}

fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

/// This document.
#[utoipa::path(tag = "node", responses((status = 200, description = "This document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn serve_document(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.json.clone())
}
