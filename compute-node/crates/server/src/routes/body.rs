//! Request bodies under the node's limits: a byte budget shared by every body in memory, a read
//! timeout, and refusals that never read what they refuse.
//!
//! - [`BodyBudget`]: the bytes of request bodies held in memory at once, node-wide
//!   (`--max-body-bytes-in-flight-mb`). A body's share is reserved *before* its first byte is
//!   read: from its declared `Content-Length`, else step by step as chunks arrive. A body that
//!   does not fit waits at most `body_budget_wait`, then gets 503 `busy` with `Retry-After`.
//!   Predict bodies are buffered whole and count whole; dataset uploads stream into the store and
//!   count the memory they hold on the way ([`UPLOAD_MEMORY`] at most).
//! - [`timed_payload`]: every request body of the API (JSON ones too) is read under the timeouts:
//!   each chunk awaited at most `body_idle_timeout`, all of them within `body_timeout`; past
//!   them the body ends in a `TimedOut` error, which [`BodyStream`] and the JSON extractor answer
//!   with 408 `request_timeout`.
//! - A declared `Content-Length` over the route's limit is answered 413 before any byte is read.
//!
//! Refusals never drain the body: actix-http answers a request whose body is unread with
//! `Connection: close` and discards what still arrives for `client_disconnect_timeout` (so the
//! client reads the answer instead of a reset), then closes the connection.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, HttpRequest};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::blobs::PART_BYTES;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The budget's unit: permits are KiB, so that a `u32` count covers 4 TiB.
const UNIT: usize = 1024;

/// Memory a streamed dataset upload holds at most: the store writer's part being filled and the
/// two parts in flight (`crate::blobs`), 24 MiB.
pub const UPLOAD_MEMORY: usize = 3 * PART_BYTES;

/// How much more a body of undeclared length reserves each time it outgrows its share.
const STEP: usize = 1 << 20;

/// The node-wide budget of request-body bytes held in memory.
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    total_units: usize,
    wait: Duration,
}

impl BodyBudget {
    /// A budget of `total_bytes` (rounded up to whole KiB); a body that does not fit waits at
    /// most `wait` for others to finish.
    pub fn new(total_bytes: usize, wait: Duration) -> Self {
        let total_units = total_bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        BodyBudget {
            permits: Arc::new(Semaphore::new(total_units)),
            total_units,
            wait,
        }
    }

    /// Bytes reserved by bodies now (a multiple of 1 KiB).
    pub fn in_use(&self) -> usize {
        (self.total_units - self.permits.available_permits()) * UNIT
    }

    /// The whole budget, bytes.
    pub fn total(&self) -> usize {
        self.total_units * UNIT
    }

    /// Grows `share` to at least `bytes`.
    ///
    /// # Errors
    /// 503 `busy` when the budget stays short for the wait; 413 when `bytes` exceeds the whole
    /// budget.
    pub async fn reserve(&self, share: &mut Share, bytes: usize) -> ApiResult<()> {
        let units = bytes.div_ceil(UNIT);
        if units <= share.units {
            return Ok(());
        }
        if units > self.total_units {
            return Err(ApiError::too_large(format!(
                "body of {bytes} bytes exceeds the node's budget of {} bytes of bodies in memory",
                self.total()
            )));
        }
        let more = u32::try_from(units - share.units).map_err(|_| too_large_units(bytes))?;
        let acquire = self.permits.clone().acquire_many_owned(more);
        let permit = match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(ApiError::internal("body budget closed")),
            Err(_) => {
                return Err(ApiError::busy(format!(
                    "the node holds its limit of {} bytes of request bodies; retry later",
                    self.total()
                )))
            }
        };
        share.units = units;
        match &mut share.permit {
            Some(held) => held.merge(permit),
            None => share.permit = Some(permit),
        }
        Ok(())
    }
}

fn too_large_units(bytes: usize) -> ApiError {
    ApiError::too_large(format!("body of {bytes} bytes is too large"))
}

/// A request's reserved part of the [`BodyBudget`], given back when dropped (keep it while the
/// body, or what is decoded from it, is in memory).
#[derive(Default)]
pub struct Share {
    permit: Option<OwnedSemaphorePermit>,
    units: usize,
}

impl Share {
    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.units * UNIT
    }
}

/// Middleware: the request's body read under the node's idle and total timeouts (counted from
/// the request's start), for every handler and extractor.
///
/// # Errors
/// Those of the next service.
pub async fn timed_payload(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        let (idle, total) = (
            state.settings.body_idle_timeout,
            state.settings.body_timeout,
        );
        let payload = req.take_payload();
        req.set_payload(Payload::from(
            Box::pin(timed(payload, idle, total)) as BoxedPayloadStream
        ));
    }
    next.call(req).await
}

/// The stream type of [`Payload::Stream`] (actix-http's `BoxedPayloadStream`).
type BoxedPayloadStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, PayloadError>>>>;

/// `payload`, ended by a `TimedOut` I/O error when a chunk takes longer than `idle` or the whole
/// longer than `total`.
fn timed(
    payload: Payload,
    idle: Duration,
    total: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, PayloadError>> {
    let deadline = Instant::now() + total;
    futures_util::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        let wait = idle.min(deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, payload.next()).await {
            Ok(Some(item)) => Some((item, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let message = if wait < idle {
                    format!("the body did not arrive within {} s", total.as_secs())
                } else {
                    format!("no byte of the body arrived for {} s", idle.as_secs())
                };
                let error = std::io::Error::new(std::io::ErrorKind::TimedOut, message);
                Some((Err(PayloadError::Io(error)), None))
            }
        }
    })
}

/// A body read error as the API answers it: 408 `request_timeout` for [`timed_payload`]'s
/// timeouts, else 400.
pub fn payload_error(e: &PayloadError) -> ApiError {
    match e {
        PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::request_timeout(io.to_string())
        }
        e => ApiError::bad_request(format!("reading the body: {e}")),
    }
}

/// The chunks of a request body (under [`timed_payload`]'s timeouts).
pub struct BodyStream {
    payload: web::Payload,
}

impl BodyStream {
    /// The body of a request.
    pub fn new(payload: web::Payload) -> Self {
        BodyStream { payload }
    }

    /// The next chunk; `None` at the end of the body.
    ///
    /// # Errors
    /// 408 `request_timeout` when no byte arrives for the idle timeout or the body is not done by
    /// the total one; 400 when the connection fails or ends early.
    pub async fn next(&mut self) -> ApiResult<Option<Bytes>> {
        match self.payload.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(payload_error(&e)),
            Some(Ok(chunk)) => Ok(Some(chunk)),
        }
    }
}

/// The declared body length, if any.
pub fn content_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// 413 when the declared length exceeds `limit` (before a byte is read).
///
/// # Errors
/// 413 `payload_too_large`.
pub fn check_declared(req: &HttpRequest, limit: usize) -> ApiResult<()> {
    match content_length(req) {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// The 413 error for a body over `limit`.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(format!("body exceeds the limit of {limit} bytes"))
}

/// Reads a whole body of at most `limit` bytes into memory, its bytes reserved in the budget
/// first (returned with it: keep the share while the bytes or their decoding live).
///
/// # Errors
/// 413 past `limit` (a declared length at once), 503 when the budget stays full, 408 on a body
/// that stops or is too slow, 400 when the connection fails.
pub async fn read_body(
    budget: &BodyBudget,
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> ApiResult<(Vec<u8>, Share)> {
    check_declared(req, limit)?;
    let declared = content_length(req);
    let mut share = Share::default();
    budget
        .reserve(&mut share, declared.unwrap_or(STEP.min(limit)))
        .await?;
    let mut body = BodyStream::new(payload);
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = body.next().await? {
        let len = buf.len() + chunk.len();
        if len > limit {
            return Err(too_large(limit));
        }
        if len > share.bytes() {
            budget
                .reserve(&mut share, len.saturating_add(STEP).min(limit))
                .await?;
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, share))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shares_grow_wait_and_return_to_the_budget() {
        let budget = BodyBudget::new(4 * UNIT, Duration::from_millis(50));
        let mut a = Share::default();
        budget.reserve(&mut a, 1).await.unwrap();
        budget.reserve(&mut a, 3 * UNIT).await.unwrap();
        assert_eq!((a.bytes(), budget.in_use()), (3 * UNIT, 3 * UNIT));
        let mut b = Share::default();
        let busy = budget.reserve(&mut b, 2 * UNIT).await.unwrap_err();
        assert_eq!(busy.status.as_u16(), 503);
        assert_eq!(budget.in_use(), 3 * UNIT);
        let too_big = budget.reserve(&mut b, 5 * UNIT).await.unwrap_err();
        assert_eq!(too_big.status.as_u16(), 413);
        drop(a);
        budget.reserve(&mut b, 4 * UNIT).await.unwrap();
        assert_eq!(budget.in_use(), 4 * UNIT);
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }
}
