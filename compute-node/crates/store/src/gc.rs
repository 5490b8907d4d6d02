//! Garbage collection of blobs: a blob no row references (superseded weights, checkpoints and
//! uploads, deleted objects), staging objects of interrupted uploads and partial files of a killed
//! process are removed once older than a grace period, which covers a blob written but whose row
//! is not yet committed.

use std::time::Duration;

use crate::blobs::BlobStore;
use crate::db::Db;
use crate::error::StoreResult;
use crate::records::{now, now_micros};

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Unreferenced blobs removed.
    pub blobs: usize,
    /// Abandoned staging objects and partial files removed.
    pub staging: usize,
}

/// Removes unreferenced blobs, staging objects and partial files last modified more than `grace`
/// ago (in whole seconds, so a blob written this second is never removed).
///
/// # Errors
/// An object-store or database error (deletions done so far stay done).
pub async fn sweep(db: &Db, blobs: &BlobStore, grace: Duration) -> StoreResult<Swept> {
    let cutoff = now() as i64 - grace.as_secs() as i64;
    // Listed before the references are read: a blob committed in between is still referenced.
    let stored = blobs.list("blobs").await?;
    let staging = blobs.list("staging").await?;
    let referenced = db.referenced_blobs().await?;
    let mut swept = Swept::default();
    for (sha, modified) in stored {
        // Looked up again just before deleting: an upload of the same content since the listing
        // renewed it.
        if modified < cutoff
            && !referenced.contains(&sha)
            && blobs.modified(&sha).await?.is_some_and(|m| m < cutoff)
        {
            blobs.delete(&sha).await?;
            swept.blobs += 1;
        }
    }
    for (name, modified) in staging {
        if modified < cutoff {
            blobs.delete_staging(&name).await?;
            swept.staging += 1;
        }
    }
    swept.staging += blobs.sweep_partial_files(cutoff).await?;
    if swept != Swept::default() {
        tracing::info!(
            blobs = swept.blobs,
            staging = swept.staging,
            "garbage collected"
        );
    }
    Ok(swept)
}

/// Sweeps every `interval` until the task is aborted; before each sweep, deletes the evaluation
/// keys older than `key_ttl` (their blobs are then collected like any unreferenced blob).
pub async fn run_periodically(
    db: Db,
    blobs: BlobStore,
    interval: Duration,
    grace: Duration,
    key_ttl: Duration,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_secs(1)));
    loop {
        tick.tick().await;
        let ttl = i64::try_from(key_ttl.as_micros()).unwrap_or(i64::MAX);
        let cutoff = now_micros().saturating_sub(ttl);
        match crate::secure::store::expire_keys(&db, cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "expired evaluation keys deleted"),
            Err(e) => tracing::warn!(error = %e, "evaluation key expiry failed; retrying later"),
        }
        if let Err(e) = sweep(&db, &blobs, grace).await {
            tracing::warn!(error = %e, "garbage collection failed; retrying later");
        }
    }
}
