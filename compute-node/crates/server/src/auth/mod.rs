//! Who is calling: every `/v1` request except [`PUBLIC_PATHS`] carries a bearer token, an API
//! key of a tenant ([`api_keys`]) or an OIDC access token from the hospital's identity provider
//! ([`oidc`]). The [`authenticate`] middleware turns it into a [`Caller`] (tenant, subject, role),
//! checks the role against the request ([`required_role`]), hands the caller to the handler and
//! writes the request to the audit log ([`crate::audit`]).
//!
//! A node started with `--insecure-no-auth` (loopback only) also takes requests without a token:
//! they act as the tenant [`LOCAL_TENANT`] with the admin role.

pub mod api_keys;
pub mod oidc;

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::{Deserialize, Serialize};

use crate::db::{Db, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The tenant of rows made before tenants existed and of anonymous requests
/// (`--insecure-no-auth`).
pub const LOCAL_TENANT: &str = "local";

/// The prefix of the subject of an OIDC caller (`oidc:{sub}`).
pub const OIDC_SUBJECT_PREFIX: &str = "oidc:";

/// Paths answered without a token: liveness, readiness, the API document, and how to sign in.
pub const PUBLIC_PATHS: [&str; 4] = ["/v1/health", "/v1/ready", "/v1/openapi.json", "/v1/auth"];

/// What a caller may do; each role includes the ones before it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read datasets, models and jobs; predict.
    Viewer,
    /// Also create and delete datasets, models and jobs (upload, train, cancel, resume).
    Trainer,
    /// Also manage the tenant's API keys and read its audit log.
    Admin,
}

impl Role {
    /// The role named `name` (`viewer`, `trainer` or `admin`).
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "viewer" => Some(Role::Viewer),
            "trainer" => Some(Role::Trainer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Trainer => "trainer",
            Role::Admin => "admin",
        }
    }
}

/// How the caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A tenant's API key.
    ApiKey,
    /// An OIDC access token.
    Oidc,
    /// No token, on a node started with `--insecure-no-auth`.
    Anonymous,
}

impl AuthMethod {
    /// Its name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Oidc => "oidc",
            AuthMethod::Anonymous => "anonymous",
        }
    }
}

/// The authenticated caller of a request (`GET /v1/whoami`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Caller {
    /// The tenant whose datasets, models and jobs the request sees.
    pub tenant: String,
    /// Who: `apikey:{key id}`, `oidc:{the token's sub}`, or `anonymous` (one namespace per
    /// method, so that no token's `sub` reads as another method's subject).
    pub subject: String,
    /// What it may do.
    pub role: Role,
    /// How it signed in.
    pub method: AuthMethod,
}

impl Caller {
    /// The rows this caller sees: its tenant's.
    pub fn scope(&self) -> Scope<'_> {
        Scope::Tenant(&self.tenant)
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal(format!("{} reached a handler unauthenticated", req.path()))
        }))
    }
}

/// Turns bearer tokens into callers.
pub struct Authenticator {
    db: Db,
    oidc: Option<Arc<oidc::OidcVerifier>>,
    anonymous: bool,
}

impl Authenticator {
    /// API keys from `db`, OIDC tokens when `oidc` is configured, requests without a token as
    /// the local admin when `anonymous`.
    pub fn new(db: Db, oidc: Option<Arc<oidc::OidcVerifier>>, anonymous: bool) -> Self {
        Authenticator {
            db,
            oidc,
            anonymous,
        }
    }

    /// Whether requests without a token are taken (`--insecure-no-auth`).
    pub fn anonymous(&self) -> bool {
        self.anonymous
    }

    /// The OIDC verifier, when configured.
    pub fn oidc(&self) -> Option<&oidc::OidcVerifier> {
        self.oidc.as_deref()
    }

    /// The caller a bearer token (or its absence) stands for.
    ///
    /// # Errors
    /// 401 without a valid token; 403 when a valid OIDC token names an unknown tenant or role.
    pub async fn caller(&self, token: Option<&str>) -> ApiResult<Caller> {
        let Some(token) = token else {
            return match self.anonymous {
                true => Ok(Caller {
                    tenant: LOCAL_TENANT.into(),
                    subject: "anonymous".into(),
                    role: Role::Admin,
                    method: AuthMethod::Anonymous,
                }),
                false => Err(ApiError::unauthorized(
                    "this route needs Authorization: Bearer <API key or access token>",
                )),
            };
        };
        if api_keys::looks_like_key(token) {
            return api_keys::caller(&self.db, token).await;
        }
        let Some(verifier) = &self.oidc else {
            return Err(ApiError::unauthorized(
                "not an API key of this node, and the node accepts no OIDC tokens",
            ));
        };
        let identity = verifier
            .verify(token)
            .await
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        let role = Role::parse(&identity.role).ok_or_else(|| {
            ApiError::forbidden(format!(
                "the token's role {:?} is not viewer, trainer or admin",
                identity.role
            ))
        })?;
        if !api_keys::tenant_exists(&self.db, &identity.tenant).await? {
            return Err(ApiError::forbidden(format!(
                "tenant {:?} is not registered on this node",
                identity.tenant
            )));
        }
        Ok(Caller {
            tenant: identity.tenant,
            // Prefixed: a token's `sub` of `apikey:…` must not read as an API key's subject.
            subject: format!("{OIDC_SUBJECT_PREFIX}{}", identity.subject),
            role,
            method: AuthMethod::Oidc,
        })
    }
}

/// The bearer token of `req`; `None` without an `Authorization` header.
///
/// # Errors
/// 401 for another scheme or a malformed header.
fn bearer_token(req: &ServiceRequest) -> ApiResult<Option<String>> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(parse_bearer)
        .map(|token| Some(token.to_string()))
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be \"Bearer <token>\"")
        })
}

/// The token of an `Authorization` value `Bearer <b64token>` (RFC 6750 §2.1), the scheme in any
/// case (RFC 7235 §2.1: `bearer`, `BEARER`), one or more spaces after it.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
    (scheme.eq_ignore_ascii_case("bearer") && !body.is_empty() && body.bytes().all(b64))
        .then_some(token)
}

/// The `POST` routes a viewer may call: predictions, and the evaluation key a secure predict
/// needs (public key material of the caller's own tenant).
pub const VIEWER_POSTS: [&str; 3] = [
    "/v1/models/{id}/predict",
    "/v1/secure/models/{id}/predict",
    "/v1/secure/evaluation-keys",
];

/// The least role a request needs: reading, predicting and uploading an evaluation key
/// ([`VIEWER_POSTS`]) take a viewer, the tenant's keys and
/// audit log an admin, every other change a trainer. `pattern` is the matched route
/// (`/v1/models/{id}/predict`).
pub fn required_role(method: &Method, pattern: &str) -> Role {
    if pattern.starts_with("/v1/apikeys") || pattern.starts_with("/v1/audit") {
        Role::Admin
    } else if method == Method::GET
        || method == Method::HEAD
        || (method == Method::POST && VIEWER_POSTS.contains(&pattern))
    {
        Role::Viewer
    } else {
        Role::Trainer
    }
}

/// Answers `req` with `error`, audited under `caller` (when it was identified).
async fn refuse(
    state: &AppState,
    req: ServiceRequest,
    caller: Option<&Caller>,
    error: ApiError,
) -> ServiceResponse<BoxBody> {
    let reason = error.message.clone();
    let response = req.error_response(error);
    state.audit.record(caller, &response, Some(&reason)).await;
    response
}

/// The middleware of the `/v1` scope: authenticates, authorises and audits every request but
/// those to [`PUBLIC_PATHS`].
///
/// # Errors
/// Never its own: refusals are 401/403 responses; the inner service's errors pass through.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if PUBLIC_PATHS.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(ApiError::internal("no application state")));
    };
    let caller = match bearer_token(&req) {
        Ok(token) => state.auth.caller(token.as_deref()).await,
        Err(e) => Err(e),
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) => return Ok(refuse(&state, req, None, e).await),
    };
    let needed = required_role(req.method(), &req.match_pattern().unwrap_or_default());
    if caller.role < needed {
        let e = ApiError::forbidden(format!(
            "this request needs the {} role; the caller is a {}",
            needed.as_str(),
            caller.role.as_str()
        ));
        return Ok(refuse(&state, req, Some(&caller), e).await);
    }
    req.extensions_mut().insert(caller.clone());
    let response = next.call(req).await?.map_into_boxed_body();
    state.audit.record(Some(&caller), &response, None).await;
    Ok(response)
}
