//! `HEAD` answered like `GET` without the body (RFC 9110 §9.3.2), on every route that takes
//! `GET`: the API's and the web page's.
//!
//! The middleware turns a `HEAD` request into a `GET` before routing; the handler's answer
//! keeps its status and headers (`Content-Length` included), and actix-http, which knows from
//! the wire that the request was `HEAD`, sends no body (HTTP/1.1 and HTTP/2). Roles, the host
//! and origin checks and the audit log see the request as the `GET` it is answered as.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

/// The middleware (wrap it on the `App`, so that it runs before routing).
///
/// # Errors
/// The inner service's errors.
pub async fn as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
