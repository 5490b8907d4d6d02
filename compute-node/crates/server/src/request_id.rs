//! A request id for every request: in the `X-Request-Id` response header, in every JSON error
//! body (`request_id`), and on every log line written while the request is handled (a tracing
//! span field, and the access log's `%{x-request-id}o`), so an operator finds a user's failed
//! request in the logs from the id the user reports.
//!
//! A client may send its own `X-Request-Id` (1–64 characters of `A-Z a-z 0-9 - _ .`, e.g. a
//! proxy's); anything else is replaced by 16 random hex digits.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;

/// The header carrying the id, both ways.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, if any (error bodies read it).
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The middleware: picks the id, handles the request inside a `request` span and with the id
/// set for [`current`], and adds the response header.
///
/// # Errors
/// The inner service's errors.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map_or_else(fresh, str::to_owned);
    let span = tracing::info_span!("request", id = %id);
    let mut res = CURRENT
        .scope(id.clone(), next.call(req).instrument(span))
        .await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(res)
}

fn is_acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn fresh() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_kept_only_when_plain() {
        assert!(is_acceptable("b1946ac9-2492-4b2c"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("a b"));
        assert!(!is_acceptable("<script>"));
        assert!(!is_acceptable(&"a".repeat(65)));
        let id = fresh();
        assert_eq!(id.len(), 16);
        assert!(is_acceptable(&id));
    }
}
