//! A request id for every request: in the `X-Request-Id` response header, in every JSON error
//! body (`request_id`), and on every log line written while the request is handled (a tracing
//! span field, and the access log's `%{x-request-id}o`), so an operator finds a user's failed
//! request in the logs from the id the user reports.
//!
//! The id is the node's own, `{node}-{16 random hex digits}` ([`Prefix`]): unique across the
//! nodes of one database, and not chosen by the client, so two tenants cannot share one. A
//! client's (a proxy's) own `X-Request-Id` (1–64 characters of `A-Z a-z 0-9 - _ .`; anything
//! else is dropped) is kept beside it: on the log lines (`client_id`) and in the audit log
//! (`client_request_id`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument as _;

/// The header carrying the id, both ways.
pub const HEADER: &str = "x-request-id";

/// The node's part of its request ids (app data of the service; without it, a random one per
/// process).
#[derive(Clone, Debug)]
pub struct Prefix(String);

impl Prefix {
    /// The prefix of node `node`: its characters of `A-Z a-z 0-9 - _ .`, at most 40.
    pub fn new(node: &str) -> Self {
        let clean: String = node
            .chars()
            .filter(|c| is_plain(*c as u32))
            .take(40)
            .collect();
        Prefix(if clean.is_empty() {
            process_prefix()
        } else {
            clean
        })
    }
}

fn is_plain(c: u32) -> bool {
    u8::try_from(c).is_ok_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn process_prefix() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX
        .get_or_init(|| format!("p{:08x}", rand::random::<u32>()))
        .clone()
}

struct Ids {
    id: String,
    client: Option<String>,
}

tokio::task_local! {
    static CURRENT: Ids;
}

/// The id of the request being handled on this task, if any (error bodies read it).
pub fn current() -> Option<String> {
    CURRENT.try_with(|ids| ids.id.clone()).ok()
}

/// The `X-Request-Id` the client sent with the request being handled on this task, if any.
pub fn client() -> Option<String> {
    CURRENT.try_with(|ids| ids.client.clone()).ok().flatten()
}

/// A fresh id of node `node`: `{node prefix}-{16 random hex digits}`.
pub fn fresh(node: &str) -> String {
    with_prefix(&Prefix::new(node))
}

fn with_prefix(prefix: &Prefix) -> String {
    format!("{}-{:016x}", prefix.0, rand::random::<u64>())
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
    let client = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable(v))
        .map(str::to_owned);
    let id = match req.app_data::<web::Data<Prefix>>() {
        Some(prefix) => with_prefix(prefix),
        None => with_prefix(&Prefix(process_prefix())),
    };
    let span = match &client {
        Some(c) => tracing::info_span!("request", id = %id, client_id = %c),
        None => tracing::info_span!("request", id = %id),
    };
    let ids = Ids {
        id: id.clone(),
        client,
    };
    let mut res = CURRENT.scope(ids, next.call(req).instrument(span)).await?;
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
        let id = fresh("worker-1");
        assert!(id.starts_with("worker-1-"), "{id}");
        assert_eq!(id.len(), "worker-1-".len() + 16);
        assert!(is_acceptable(&id));
        assert_ne!(id, fresh("worker-1"));
        // Odd characters of a node name are left out; an empty name gets the process's prefix.
        assert!(fresh("a b/c").starts_with("abc-"));
        assert!(fresh("//").starts_with('p'));
    }
}
