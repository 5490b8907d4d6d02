//! The body of a secure predict: an encrypted batch (`more_secure::wire`) read as it arrives,
//! never buffered whole, into the input ciphertexts of one model.
//!
//! Before a byte is read: a declared `Content-Length` outside what `input_len` ciphertexts can
//! take is refused (413 above the largest batch, 400 below the smallest), and the memory the
//! decoded batch will hold is reserved in the node's body budget (503 `busy` when it stays
//! full). While it arrives: the chunks go to a blocking thread that parses them with
//! `BatchReader` (decoding a ciphertext, a seed expansion and an NTT of 1-2 ms, is CPU work that
//! must not stall the async workers; frames are decoded [`DECODE_BATCH`] at a time on both
//! cores while the next ones arrive); the header's sample and ciphertext counts are checked as
//! soon as they are in, every frame is bounded by the largest valid ciphertext, and a byte past
//! the last frame is refused. Once the 12-byte header is in and valid, the caller's `on_header`
//! sees the sample count before another byte is read (the route reserves the tenant's quota
//! there: a batch over quota is refused after its header, never evaluated).

use std::future::Future;

use actix_web::{web, HttpRequest};
use bytes::Bytes;
use more_secure::wire::{decode_ciphertexts, BatchReader, HEADER_BYTES};
use more_secure::Ciphertext;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::routes::body::{content_length, BodyStream, Share};
use crate::state::AppState;

/// Bytes of a frame's length prefix.
const FRAME_PREFIX: usize = 4;

/// Chunks queued between the connection and the parsing thread.
const QUEUED_CHUNKS: usize = 4;

/// Frames decoded at once (in parallel); their bytes count in the body budget.
pub const DECODE_BATCH: usize = 16;

/// A parsed batch: samples and the ciphertexts, in order.
pub struct Batch {
    /// Samples in the slots (1 to `more_secure::params::slots()`).
    pub samples: usize,
    /// One ciphertext per input value.
    pub ciphertexts: Vec<Ciphertext>,
}

/// The largest body a batch of `count` ciphertexts can be, bytes.
pub fn max_body_bytes(count: usize) -> usize {
    count
        .saturating_mul(FRAME_PREFIX + more_secure::wire::max_ciphertext_bytes())
        .saturating_add(HEADER_BYTES)
}

/// Memory `count` decoded ciphertexts hold, bytes: two polynomials of `N` coefficients per
/// modulus of the parameter set, 8 bytes each.
pub fn decoded_bytes(count: usize) -> usize {
    let params = more_secure::params::bfv_parameters();
    count.saturating_mul(2 * params.degree() * params.moduli().len() * 8)
}

/// Refuses a declared length that no batch of `count` ciphertexts can have, or over `limit`.
///
/// # Errors
/// 413 above [`max_body_bytes`] or `limit`, 400 below a header and `count` empty frames.
pub fn check_declared(req: &HttpRequest, count: usize, limit: usize) -> ApiResult<()> {
    let Some(declared) = content_length(req) else {
        return Ok(());
    };
    let max = max_body_bytes(count).min(limit);
    if declared > max {
        return Err(ApiError::too_large(format!(
            "an encrypted batch of {count} ciphertexts is at most {max} bytes; got {declared}"
        )));
    }
    let min = HEADER_BYTES + count * FRAME_PREFIX;
    if declared < min {
        return Err(ApiError::bad_request(format!(
            "an encrypted batch of {count} ciphertexts is more than {min} bytes; got {declared}"
        )));
    }
    Ok(())
}

/// Reads the body of `req` into `count` input ciphertexts (with the share of the body budget
/// that their memory holds: keep it while they live, and what `on_header` answered). As soon as
/// the batch's 12-byte header is in and valid, `on_header(samples)` runs before another byte is
/// read; its error ends the request.
///
/// # Errors
/// `on_header`'s error;
/// 413/400 for a declared length outside the batch's bounds (413 also over the node's upload
/// limit); 503 `busy` when the budget stays full; 400 for a malformed batch, a sample count outside `1..=slots`, a ciphertext count other
/// than `count`, bytes after the last ciphertext; 408 for a body that stalls.
pub async fn read_batch<T, E, F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    count: usize,
    on_header: F,
) -> Result<(Batch, Share, T), E>
where
    E: From<ApiError>,
    F: FnOnce(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let limit = max_body_bytes(count).min(state.settings.max_upload_bytes);
    check_declared(req, count, limit)?;
    let mut share = Share::default();
    let frame = FRAME_PREFIX + more_secure::wire::max_ciphertext_bytes();
    state
        .bodies
        .reserve(
            &mut share,
            decoded_bytes(count).saturating_add(frame.saturating_mul(DECODE_BATCH + 1)),
        )
        .await?;
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
    let parser = tokio::task::spawn_blocking(move || parse(rx, count));
    let mut body = BodyStream::new(payload);
    let mut received = 0usize;
    let mut head = Vec::with_capacity(HEADER_BYTES);
    let mut on_header = Some(on_header);
    let mut admitted = None;
    while let Some(chunk) = body.next().await? {
        received += chunk.len();
        if received > limit {
            return Err(ApiError::too_large(format!(
                "an encrypted batch of {count} ciphertexts is at most {limit} bytes here"
            ))
            .into());
        }
        if head.len() < HEADER_BYTES {
            let take = (HEADER_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() == HEADER_BYTES {
                if let Some(hook) = on_header.take() {
                    admitted = Some(hook(peek_header(&head, count)?).await?);
                }
            }
        }
        if tx.send(chunk).await.is_err() {
            // The parser stopped at an error: answer it without reading the rest.
            break;
        }
    }
    drop(tx);
    let batch = parser
        .await
        .map_err(|e| ApiError::internal(format!("batch parser: {e}")))??;
    let admitted = admitted.ok_or_else(|| ApiError::bad_request("no encrypted batch header"))?;
    Ok((batch, share, admitted))
}

/// The sample count of a batch's first [`HEADER_BYTES`] bytes, checked as the parser checks
/// them (the same reader, the same errors: magic, sample and ciphertext counts).
fn peek_header(head: &[u8], count: usize) -> ApiResult<usize> {
    let mut reader = BatchReader::new(count);
    reader.push(head).map_err(invalid)?;
    let header = reader
        .header()
        .ok_or_else(|| ApiError::bad_request("no encrypted batch header"))?;
    check_header(header.samples, header.count, count)?;
    Ok(header.samples)
}

/// The parsing thread: chunks in, ciphertexts out, until the channel closes.
fn parse(mut rx: mpsc::Receiver<Bytes>, count: usize) -> ApiResult<Batch> {
    let mut reader = BatchReader::new(count);
    let mut ciphertexts = Vec::new();
    let mut frames = Vec::with_capacity(DECODE_BATCH);
    let mut checked = false;
    while let Some(chunk) = rx.blocking_recv() {
        reader.push(&chunk).map_err(invalid)?;
        if !checked {
            if let Some(header) = reader.header() {
                check_header(header.samples, header.count, count)?;
                ciphertexts.reserve_exact(count);
                checked = true;
            }
        }
        while let Some(frame) = reader.next_frame().map_err(invalid)? {
            frames.push(frame);
            if frames.len() == DECODE_BATCH {
                ciphertexts.extend(decode_ciphertexts(&frames).map_err(invalid)?);
                frames.clear();
            }
        }
    }
    if reader.header().is_none() {
        return Err(ApiError::bad_request(
            "the body ended before the encrypted batch's 12-byte header",
        ));
    }
    let samples = reader.finish().map_err(invalid)?.samples;
    ciphertexts.extend(decode_ciphertexts(&frames).map_err(invalid)?);
    if ciphertexts.len() != count {
        return Err(ApiError::bad_request(format!(
            "the encrypted batch ended after {} of its {count} ciphertexts",
            ciphertexts.len()
        )));
    }
    Ok(Batch {
        samples,
        ciphertexts,
    })
}

fn check_header(samples: usize, n: usize, count: usize) -> ApiResult<()> {
    let slots = more_secure::params::slots();
    if samples == 0 || samples > slots {
        return Err(ApiError::bad_request(format!(
            "an encrypted batch holds 1 to {slots} samples; the header says {samples}"
        )));
    }
    if n != count {
        return Err(ApiError::shape_mismatch(format!(
            "the model takes {count} input ciphertexts (one per input value); the batch has {n}"
        )));
    }
    Ok(())
}

fn invalid(e: more_secure::SecureError) -> ApiError {
    ApiError::bad_request(format!("not a valid encrypted batch: {e}"))
}
