//! The weights the routes serve, trained or initial, all from stored blobs through the
//! [`crate::weights_cache::WeightsCache`]: nothing is rebuilt per request.
//!
//! A model's public initial weights are built once, when it is created, and stored as a
//! content-addressed blob that its row references (`initial_weights_sha256`, kept by the garbage
//! collector like trained weights). A model made before that is backfilled on its first request
//! that needs them: built once per node (single-flight), stored, and recorded on the row.

use std::sync::Arc;

use actix_web::web;
use bytes::Bytes;
use more_core::nn::ModelSpec;
use more_core::wire::Bundle;
use tokio::sync::Semaphore;

use super::body::Share;
use crate::db::Scope;
use crate::error::{ApiError, ApiResult};
use crate::records::ModelRecord;
use crate::state::AppState;
use crate::weights::{decode_bundle, initial_weights_blob};

/// The encoded blob `sha` (verified against its hash when read from the store), shared with
/// concurrent requests through the cache. A blob too large for the cache is this request's own
/// copy: its bytes are reserved in the body budget (the share is returned with it; keep it until
/// the bytes are sent), taken while the load lock is held, so copies never outgrow the budget by
/// more than one per lock.
///
/// # Errors
/// 500 when the store fails or the blob is corrupt; 503 `busy` when the budget stays full.
pub async fn encoded(state: &AppState, sha: &str) -> ApiResult<(Bytes, Share)> {
    if let Some(hit) = state.weights.get_encoded(sha) {
        return Ok((hit, Share::default()));
    }
    let _loading = state.weights.loading(sha).await;
    if let Some(hit) = state.weights.get_encoded(sha) {
        return Ok((hit, Share::default()));
    }
    let bytes = state.blobs.get(sha).await?;
    let mut share = Share::default();
    if !state.weights.insert_encoded(sha, bytes.clone()) {
        state.bodies.reserve(&mut share, bytes.len()).await?;
    }
    Ok((bytes, share))
}

/// The decoded bundle `sha`: from the cache, else read from the store (verified) and decoded on
/// the blocking pool, once for concurrent misses.
///
/// # Errors
/// 500 when the store fails or the blob does not decode.
pub async fn decoded(state: &AppState, sha: &str) -> ApiResult<Arc<Bundle>> {
    if let Some(hit) = state.weights.get(sha) {
        return Ok(hit);
    }
    let _loading = state.weights.loading(sha).await;
    if let Some(hit) = state.weights.get(sha) {
        return Ok(hit);
    }
    let bytes = state.blobs.get(sha).await?;
    let bundle = web::block(move || decode_bundle(&bytes, "weights")).await??;
    Ok(state.weights.insert(sha, bundle))
}

/// Initial weights built at once per node: one. A build holds about four times the parameters'
/// f32 bytes for a moment (the model, the bundle's tensors, their encodings, the blob: 600 MiB
/// for 40 M parameters), so concurrent model creations take turns instead of adding up.
static BUILDS: Semaphore = Semaphore::const_new(1);

/// Builds the initial weights of `spec` and `seed` and stores them; returns the blob's SHA-256.
/// One build at a time per node (the `BUILDS` semaphore).
///
/// # Errors
/// 400 when the spec does not build; 500 when the store fails.
pub async fn store_initial(state: &AppState, spec: &ModelSpec, seed: u64) -> ApiResult<String> {
    let _turn = BUILDS
        .acquire()
        .await
        .map_err(|_| ApiError::internal("initial weights builds closed"))?;
    let spec = spec.clone();
    let bytes = web::block(move || initial_weights_blob(&spec, seed)).await??;
    Ok(state.blobs.put(Bytes::from(bytes)).await?.sha256)
}

/// The SHA-256 of the model's stored initial weights; for a model made before they were stored,
/// builds, stores and records them first (once per node for concurrent requests).
///
/// # Errors
/// 500 when the database or the store fails.
pub async fn initial_sha(state: &AppState, record: &ModelRecord) -> ApiResult<String> {
    if let Some(sha) = &record.initial_weights_sha256 {
        return Ok(sha.clone());
    }
    let _loading = state
        .weights
        .loading(&format!("initial:{}", record.id))
        .await;
    // Read again: a request before this one may have recorded them.
    let (mut current, version) = state.db.get::<ModelRecord>(Scope::Node, &record.id).await?;
    if let Some(sha) = current.initial_weights_sha256 {
        return Ok(sha);
    }
    let sha = store_initial(state, &current.spec, current.seed).await?;
    current.initial_weights_sha256 = Some(sha.clone());
    // Refused while a job trains the model or when the row changed: the blob serves this request
    // and a later one records it.
    if !state.db.record_initial_weights(&current, version).await? {
        tracing::info!(model = %record.id, "initial weights stored, not yet recorded");
    }
    Ok(sha)
}
