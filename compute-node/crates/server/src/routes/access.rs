//! Signing in: `GET /v1/auth` (public: how to get a token), `GET /v1/whoami` (the caller), and a
//! tenant admin's API keys (`/v1/apikeys`).

use actix_web::{delete, get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::auth::api_keys::{self, ApiKeyInfo, NewApiKey};
use crate::auth::{AuthMethod, Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// `GET /v1/auth` answer: how clients sign in to this node.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthInfo {
    /// Requests without a token are taken, as the tenant `local` with the admin role
    /// (`--insecure-no-auth`, loopback only).
    pub anonymous: bool,
    /// The identity provider whose access tokens the node accepts, if any.
    pub oidc: Option<OidcInfo>,
}

/// The identity provider, for a browser's authorization code flow with PKCE.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OidcInfo {
    /// The issuer (`iss` of accepted tokens).
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: Option<String>,
    /// Where the code is exchanged for tokens.
    pub token_endpoint: Option<String>,
    /// The public client id of the web page.
    pub client_id: Option<String>,
    /// The `aud` accepted tokens carry (some providers take it as an `audience` parameter).
    pub audience: String,
}

/// How to sign in (no token needed).
#[utoipa::path(tag = "access", responses((status = 200, description = "Sign-in methods", body = AuthInfo)))]
#[get("/auth")]
pub async fn auth_info(state: web::Data<AppState>) -> HttpResponse {
    let oidc = state.auth.oidc().map(|v| OidcInfo {
        issuer: v.settings().issuer.clone(),
        authorization_endpoint: v.authorization_endpoint().map(str::to_string),
        token_endpoint: v.token_endpoint().map(str::to_string),
        client_id: v.settings().client_id.clone(),
        audience: v.settings().audience.clone(),
    });
    HttpResponse::Ok().json(AuthInfo {
        anonymous: state.auth.anonymous(),
        oidc,
    })
}

/// The caller: tenant, subject, role and how it signed in.
#[utoipa::path(tag = "access", responses((status = 200, description = "The caller", body = Caller)))]
#[get("/whoami")]
pub async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(caller)
}

/// `POST /v1/apikeys` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key may do.
    pub role: Role,
}

/// The tenant's API keys (ids and roles, never the keys). Admins only.
#[utoipa::path(tag = "access", responses((status = 200, description = "The tenant's keys", body = Vec<ApiKeyInfo>), (status = 403, description = "not an admin, or a refused host or origin", body = ErrorBody)))]
#[get("/apikeys")]
pub async fn list_keys(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let keys = api_keys::keys(&state.db, Some(&caller.tenant)).await?;
    Ok(HttpResponse::Ok().json(keys))
}

/// Makes an API key for the caller's tenant; the key is in this answer only. Admins only.
#[utoipa::path(tag = "access", request_body = CreateApiKey, responses((status = 201, description = "Created; keep `key` now", body = NewApiKey), (status = 400, description = "invalid request", body = ErrorBody), (status = 403, description = "not an admin, or a refused host or origin", body = ErrorBody), (status = 415, description = "wrong content type", body = ErrorBody)))]
#[post("/apikeys")]
pub async fn create_key(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<CreateApiKey>,
) -> ApiResult<HttpResponse> {
    let new = api_keys::create_key(&state.db, &caller.tenant, body.role).await?;
    audit::created(&req, &new.info.id);
    Ok(HttpResponse::Created().json(new))
}

/// Revokes one of the tenant's keys. Admins only; not the key the request is signed with (409:
/// the tenant could lock itself out).
#[utoipa::path(tag = "access", params(("id" = String, Path, description = "The key's id")), responses((status = 200, description = "Revoked", body = ApiKeyInfo), (status = 403, description = "not an admin, or a refused host or origin", body = ErrorBody), (status = 404, description = "no such key of this tenant", body = ErrorBody), (status = 409, description = "the key signing this request", body = ErrorBody)))]
#[delete("/apikeys/{id}")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    if signed_with(&caller, &id) {
        return Err(ApiError::conflict(
            "an API key cannot revoke itself (the tenant could be left without an admin key): \
             revoke it with another admin key or `more-node apikey revoke`",
        ));
    }
    let key = api_keys::revoke_key(&state.db, Some(&caller.tenant), &id).await?;
    Ok(HttpResponse::Ok().json(key))
}

/// Whether `caller` signed its request with the API key `id`.
fn signed_with(caller: &Caller, id: &str) -> bool {
    caller.method == AuthMethod::ApiKey
        && caller
            .subject
            .strip_prefix("apikey:")
            .is_some_and(|own| own == id)
}
