//! The API's error type: every failure is a JSON body
//! `{"error": code, "message": text, "request_id": id}` with a matching status (codes listed in
//! `compute-node/API.md`; the id is the request's, see [`crate::request_id`]). Messages name
//! objects by their API ids and hashes, never server paths, addresses or store URLs; a 500's
//! details go to the log under the same request id.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use more_core::nn::NnError;
use more_core::wire::WireError;
use more_store::{StoreError, StoreFault};
use serde::Serialize;

/// A failed request: a machine-readable code, a status and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code (`bad_request`, `invalid_tensor`, ...).
    pub code: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in words.
    pub message: String,
}

/// The JSON body of an error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The code: `bad_request`, `invalid_tensor`, `shape_mismatch`, `basis_mismatch`,
    /// `unknown_layer`, `unauthorized`, `not_found`, `forbidden`, `conflict`, `payload_too_large`,
    /// `unsupported_media_type`, `method_not_allowed`, `request_timeout`, `may_overflow`, `busy`,
    /// `unavailable`, `insufficient_storage` or `internal`.
    #[schema(example = "not_found")]
    pub error: String,
    /// What went wrong, in words.
    pub message: String,
    /// The request's id (also the `X-Request-Id` header and on the node's log lines for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            status,
            message: message.into(),
        }
    }
    /// 400 `bad_request`.
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new("bad_request", StatusCode::BAD_REQUEST, m)
    }
    /// 400 `invalid_tensor`.
    pub fn invalid_tensor(m: impl Into<String>) -> Self {
        Self::new("invalid_tensor", StatusCode::BAD_REQUEST, m)
    }
    /// 400 `shape_mismatch`.
    pub fn shape_mismatch(m: impl Into<String>) -> Self {
        Self::new("shape_mismatch", StatusCode::BAD_REQUEST, m)
    }
    /// 400 `basis_mismatch`.
    pub fn basis_mismatch(m: impl Into<String>) -> Self {
        Self::new("basis_mismatch", StatusCode::BAD_REQUEST, m)
    }
    /// 400 `unknown_layer`.
    pub fn unknown_layer(m: impl Into<String>) -> Self {
        Self::new("unknown_layer", StatusCode::BAD_REQUEST, m)
    }
    /// 404 `not_found`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            "not_found",
            StatusCode::NOT_FOUND,
            format!("{what} {id:?} not found"),
        )
    }
    /// 404 `not_found` for a path the API does not have.
    pub fn not_found_route(m: impl Into<String>) -> Self {
        Self::new("not_found", StatusCode::NOT_FOUND, m)
    }
    /// 405 `method_not_allowed`: a path the API has, asked with another method.
    pub fn method_not_allowed(m: impl Into<String>) -> Self {
        Self::new("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED, m)
    }
    /// 422 `may_overflow`: a secure model whose worst-case value of some layer could reach half
    /// the plaintext modulus (the message names the layer and the bound).
    pub fn may_overflow(m: impl Into<String>) -> Self {
        Self::new("may_overflow", StatusCode::UNPROCESSABLE_ENTITY, m)
    }
    /// 413 `payload_too_large`.
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE, m)
    }
    /// 401 `unauthorized`: no bearer token, or one that is not valid (answered with
    /// `WWW-Authenticate: Bearer`).
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new("unauthorized", StatusCode::UNAUTHORIZED, m)
    }
    /// 403 `forbidden`: a cross-site request, a Host this node does not serve, or a role
    /// without the right to this request.
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new("forbidden", StatusCode::FORBIDDEN, m)
    }
    /// 415 `unsupported_media_type`: a body without the content type its route takes.
    pub fn unsupported_media_type(m: impl Into<String>) -> Self {
        Self::new(
            "unsupported_media_type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            m,
        )
    }
    /// 409 `conflict`.
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new("conflict", StatusCode::CONFLICT, m)
    }
    /// 408 `request_timeout`: the body stopped arriving or was too slow (the connection is
    /// closed after the answer).
    pub fn request_timeout(m: impl Into<String>) -> Self {
        Self::new("request_timeout", StatusCode::REQUEST_TIMEOUT, m)
    }
    /// 503 `busy`: a bounded resource (the bytes of request bodies in memory) stayed full; the
    /// answer carries `Retry-After`.
    pub fn busy(m: impl Into<String>) -> Self {
        Self::new("busy", StatusCode::SERVICE_UNAVAILABLE, m)
    }
    /// 503 `unavailable`: a service the node depends on (the database, the object store) cannot
    /// be reached or is read-only right now; the request may be retried later. The message
    /// names the service, never its address or path.
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new("unavailable", StatusCode::SERVICE_UNAVAILABLE, m)
    }
    /// 507 `insufficient_storage`: the object store is full (no space left, quota exceeded).
    pub fn insufficient_storage(m: impl Into<String>) -> Self {
        Self::new("insufficient_storage", StatusCode::INSUFFICIENT_STORAGE, m)
    }
    /// Whether the error is one of a service that may come back (503 `unavailable`, 507): a
    /// job retries it.
    pub fn is_transient(&self) -> bool {
        self.code == "unavailable" || self.code == "insufficient_storage"
    }
    /// 500 `internal` (logged).
    pub fn internal(m: impl Into<String>) -> Self {
        let e = Self::new("internal", StatusCode::INTERNAL_SERVER_ERROR, m);
        tracing::error!(message = %e.message, "internal error");
        e
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
        }
        if self.code == "busy" {
            response.insert_header((actix_web::http::header::RETRY_AFTER, "2"));
        }
        // The rest of a refused or stalled body is not read: the connection cannot be reused.
        if matches!(
            self.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            response.force_close();
        }
        response.json(ErrorBody {
            error: self.code.to_string(),
            message: self.message.clone(),
            request_id: crate::request_id::current(),
        })
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::TooLarge { .. } => ApiError::too_large(e.to_string()),
            _ => ApiError::invalid_tensor(e.to_string()),
        }
    }
}

impl From<NnError> for ApiError {
    fn from(e: NnError) -> Self {
        match &e {
            NnError::InvalidSpec(_) | NnError::InvalidConfig(_) => {
                ApiError::bad_request(e.to_string())
            }
            NnError::Tensor { source, .. } => match source {
                more_core::MoreError::BasisMismatch { .. } => {
                    ApiError::basis_mismatch(e.to_string())
                }
                more_core::MoreError::ShapeMismatch { .. } => {
                    ApiError::shape_mismatch(e.to_string())
                }
                _ => ApiError::bad_request(e.to_string()),
            },
            NnError::Diverged { .. } | NnError::Cancelled => ApiError::conflict(e.to_string()),
            NnError::Source(_) => ApiError::unavailable(e.to_string()),
        }
    }
}

/// The storage layer's errors at the edge: a missing record 404, a conflicting change 409, a
/// grant to an unknown tenant 400, stored weights of another key 400 `basis_mismatch`, the
/// database or object store unreachable or read-only 503 `unavailable`, a full store 507, an
/// engine refusal as [`NnError`] maps, anything else 500 (logged by the store with its details).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let e = match e {
            StoreError::Engine(nn) => return ApiError::from(nn),
            e => e,
        };
        let message = e.to_string();
        match &e {
            StoreError::NotFound { .. } => ApiError::not_found_route(message),
            StoreError::DatasetLocked { .. }
            | StoreError::ModelBusy { .. }
            | StoreError::InUse { .. }
            | StoreError::JobNotActive { .. } => ApiError::conflict(message),
            StoreError::UnknownTenant(_) => ApiError::bad_request(message),
            StoreError::BasisMismatch(_) => ApiError::basis_mismatch(message),
            StoreError::Unavailable(_) => ApiError::unavailable(message),
            StoreError::ObjectStore { fault, .. } => match fault {
                Some(StoreFault::Full) => ApiError::insufficient_storage(message),
                Some(StoreFault::ReadOnly | StoreFault::Unreachable) => {
                    ApiError::unavailable(message)
                }
                None => ApiError::internal(message),
            },
            StoreError::Engine(_)
            | StoreError::Database(_)
            | StoreError::Corrupt(_)
            | StoreError::Queue(_)
            | StoreError::CorruptBlob { .. }
            | StoreError::MalformedTensor(_)
            | StoreError::Io(_) => ApiError::internal(message),
        }
    }
}

/// A database error of the server's own queries (tenants, keys, audit) as the API answers it:
/// 503 `unavailable` when the database cannot be reached, else 500 (details logged).
pub fn db_error(e: sqlx::Error) -> ApiError {
    StoreError::from(e).into()
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(format!("i/o error: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(format!("worker pool: {e}"))
    }
}

/// Result of a handler or a storage operation.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use more_store::{StoreError, StoreFault};

    use super::ApiError;

    fn store(fault: Option<StoreFault>) -> ApiError {
        StoreError::ObjectStore {
            what: "put".into(),
            fault,
            source: object_store_error(),
        }
        .into()
    }

    fn object_store_error() -> more_store::blobs::ObjectStoreError {
        more_store::blobs::ObjectStoreError::NotImplemented {
            operation: "test".into(),
            implementer: "test".into(),
        }
    }

    /// The statuses the store's faults had before the store had its own error type.
    #[test]
    fn a_full_store_is_507_and_a_read_only_or_unreachable_one_503() {
        let full = store(Some(StoreFault::Full));
        assert_eq!(
            (full.status.as_u16(), full.code),
            (507, "insufficient_storage")
        );
        assert_eq!(full.message, "object store: put failed: the store is full");
        for fault in [StoreFault::ReadOnly, StoreFault::Unreachable] {
            let e = store(Some(fault));
            assert_eq!((e.status.as_u16(), e.code), (503, "unavailable"));
            assert!(e.is_transient());
        }
        let other = store(None);
        assert_eq!((other.status.as_u16(), other.code), (500, "internal"));
        assert!(!other.is_transient());
    }

    #[test]
    fn records_missing_or_in_use_are_404_and_409() {
        let missing: ApiError = StoreError::not_found("dataset", "abc").into();
        assert_eq!(missing, ApiError::not_found("dataset", "abc"));
        let busy: ApiError = StoreError::ModelBusy {
            model_id: "m1".into(),
        }
        .into();
        assert_eq!(
            busy,
            ApiError::conflict("model m1 already has a queued or running job")
        );
        let tenant: ApiError = StoreError::UnknownTenant("t".into()).into();
        assert_eq!(tenant.status.as_u16(), 400);
    }
}
