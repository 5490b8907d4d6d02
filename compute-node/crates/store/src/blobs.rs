//! Ciphertext blobs in an object store: a local directory (`file:///path`, the default) or any
//! S3-compatible server (`s3://bucket`, configured by the standard `AWS_*` environment variables).
//!
//! Blobs are immutable and content-addressed: the key is `blobs/{sha256}` of the bytes, so a
//! record that names a SHA-256 names exactly one content, and a read is verified against it.
//! Large uploads stream through `staging/{random}` as a multipart upload (S3 parts of
//! [`PART_BYTES`]), then move to their content address; nothing holds a whole upload in memory.
//! Superseded and orphaned blobs are removed by [`crate::gc::sweep`].

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreFault, StoreResult};

/// The object store's own error, the source of [`StoreError::ObjectStore`].
pub use object_store::Error as ObjectStoreError;

/// Size of one multipart part (S3 needs ≥ 5 MiB for every part but the last).
pub const PART_BYTES: usize = 8 << 20;
/// Parts uploaded concurrently by one writer (bounds its memory to about this many parts).
const PARTS_IN_FLIGHT: usize = 2;

/// The object store holding every blob of the node.
#[derive(Clone, Debug)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    url: String,
    /// The directory of a `file://` store.
    local_root: Option<PathBuf>,
}

/// A stored blob: its content address and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn blob_path(sha256: &str) -> Path {
    Path::from(format!("blobs/{sha256}"))
}

/// An object-store error: [`StoreError::ObjectStore`] with the fault behind it (full, read-only,
/// unreachable after object_store's own retries, or none); details logged, not sent (they hold
/// paths and addresses).
fn store_error(what: &str, e: object_store::Error) -> StoreError {
    tracing::error!(error = %e, "object store: {what}");
    metrics::counter!("more_store_errors_total").increment(1);
    StoreError::ObjectStore {
        what: what.to_string(),
        fault: fault_of(&e),
        source: e,
    }
}

/// The fault behind `e` (an I/O error anywhere in its chain decides), `None` for errors that
/// will not change by waiting (a missing blob, a refused request).
fn fault_of(e: &object_store::Error) -> Option<StoreFault> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(fault) = fault_of_io(io) {
                return Some(fault);
            }
        }
        source = err.source();
    }
    // Some wrappers keep only the text of the OS error.
    let text = e.to_string();
    for (code, fault) in [
        (libc_errno::ENOSPC, StoreFault::Full),
        (libc_errno::EDQUOT, StoreFault::Full),
        (libc_errno::EROFS, StoreFault::ReadOnly),
    ] {
        if text.contains(&format!("(os error {code})")) {
            return Some(fault);
        }
    }
    match e {
        object_store::Error::Generic { .. } | object_store::Error::JoinError { .. } => {
            Some(StoreFault::Unreachable)
        }
        _ => None,
    }
}

/// The fault an I/O error names, if any.
fn fault_of_io(io: &std::io::Error) -> Option<StoreFault> {
    use std::io::ErrorKind;
    match io.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => return Some(StoreFault::Full),
        ErrorKind::ReadOnlyFilesystem => return Some(StoreFault::ReadOnly),
        _ => {}
    }
    match io.raw_os_error() {
        Some(libc_errno::ENOSPC | libc_errno::EDQUOT) => Some(StoreFault::Full),
        Some(libc_errno::EROFS) => Some(StoreFault::ReadOnly),
        _ => None,
    }
}

/// The Linux error numbers of a full or read-only file system.
mod libc_errno {
    /// No space left on device.
    pub const ENOSPC: i32 = 28;
    /// Read-only file system.
    pub const EROFS: i32 = 30;
    /// Disk quota exceeded.
    pub const EDQUOT: i32 = 122;
}

/// The S3 client's own retries of one request: few and short. The node retries above it with its
/// own budgets (a job's `--job-retry-seconds`, each with backoff, then `interrupted`; an HTTP
/// request answers 503 and its client retries), so a request only rides out a blip here. With the
/// client's defaults (10 retries, up to 3 minutes) one store operation during an outage took 2 to
/// more than 10 seconds to fail and a job overran its 20-second retry budget past 30 s
/// (`faults_seaweed::training_survives_a_30_second_store_outage`, a loaded test run).
fn s3_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(5),
    }
}

impl BlobStore {
    /// Opens the store at `url`: `file:///absolute/dir` (created if missing; writes are fsynced)
    /// or `s3://bucket[/prefix]` with credentials, region and endpoint from the `AWS_*`
    /// environment (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP=true` for a local server).
    ///
    /// # Errors
    /// An unsupported scheme, a directory that cannot be created, or an invalid S3 configuration.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let (inner, local_root): (Arc<dyn ObjectStore>, _) =
            if let Some(dir) = url.strip_prefix("file://") {
                std::fs::create_dir_all(dir)?;
                let store = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
                (Arc::new(store), Some(PathBuf::from(dir)))
            } else if url.starts_with("s3://") {
                let store = AmazonS3Builder::from_env()
                    .with_url(url)
                    .with_retry(s3_retry())
                    .build()?;
                (Arc::new(store), None)
            } else {
                anyhow::bail!("--store must be file:///path or s3://bucket, got {url:?}");
            };
        Ok(BlobStore {
            inner,
            url: url.to_string(),
            local_root,
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the store answers within `timeout`: a `HEAD` of an object that need not exist
    /// (absent counts as an answer), bounded whatever object_store's retries do.
    #[tracing::instrument(name = "store.ping", skip_all, level = "debug")]
    pub async fn ping(&self, timeout: std::time::Duration) -> bool {
        let path = Path::from("blobs/ping");
        let probe = self.inner.head(&path);
        matches!(
            tokio::time::timeout(timeout, probe).await,
            Ok(Ok(_) | Err(object_store::Error::NotFound { .. }))
        )
    }

    /// Stores small bytes (checkpoints, losses, weights) at their content address.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the store fails.
    #[tracing::instrument(name = "store.put", skip_all)]
    pub async fn put(&self, bytes: Bytes) -> StoreResult<BlobRef> {
        let blob = BlobRef {
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        };
        self.inner
            .put(&blob_path(&blob.sha256), bytes.into())
            .await
            .map_err(|e| store_error("put", e))?;
        Ok(blob)
    }

    /// Starts a streamed upload (multipart on S3).
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the store refuses to start it.
    #[tracing::instrument(name = "store.writer", skip_all)]
    pub async fn writer(&self) -> StoreResult<BlobWriter> {
        let staging = Path::from(format!("staging/{:032x}", rand::random::<u128>()));
        let upload = self
            .inner
            .put_multipart(&staging)
            .await
            .map_err(|e| store_error("start upload", e))?;
        Ok(BlobWriter {
            store: self.clone(),
            staging,
            parts: WriteMultipart::new_with_chunk_size(upload, PART_BYTES),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// The bytes of a blob, verified against its SHA-256.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the blob is missing or unreadable;
    /// [`StoreError::CorruptBlob`] when it does not match its address.
    #[tracing::instrument(name = "store.get", skip_all)]
    pub async fn get(&self, sha256: &str) -> StoreResult<Bytes> {
        let bytes = async { self.inner.get(&blob_path(sha256)).await?.bytes().await }
            .await
            .map_err(|e| store_error(&format!("read blob {sha256}"), e))?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            tracing::error!(%sha256, %actual, "stored blob is corrupt");
            return Err(StoreError::CorruptBlob {
                sha256: sha256.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Bytes `range` (half-open, byte offsets into the blob) of a blob: one ranged GET on S3, a
    /// positioned read of the file on a `file://` store, never the whole blob. Not verified
    /// against the SHA-256 (only a whole blob can be): the streaming readers of shards use it
    /// for rows at computable offsets (`shared/WIRE_FORMAT.md`: header, then planes).
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the blob is missing or unreadable, or the range is empty,
    /// reversed or past its end.
    #[tracing::instrument(name = "store.get_range", skip_all, level = "debug")]
    pub async fn get_range(&self, sha256: &str, range: Range<u64>) -> StoreResult<Bytes> {
        let want = range.end.saturating_sub(range.start);
        let bytes = self
            .inner
            .get_range(&blob_path(sha256), range)
            .await
            .map_err(|e| store_error(&format!("read a range of blob {sha256}"), e))?;
        if bytes.len() as u64 != want {
            return Err(StoreError::Io(format!(
                "object store: a range read of blob {sha256} returned {} of {want} bytes",
                bytes.len()
            )));
        }
        metrics::counter!("more_store_range_read_bytes_total").increment(want);
        Ok(bytes)
    }

    /// Several byte ranges of a stored blob, in the order asked: one request for all of them
    /// (`ObjectStore::get_ranges`: one open file and one blocking task on a `file://` store,
    /// nearby ranges coalesced on S3). Not verified against the SHA-256, like
    /// [`BlobStore::get_range`].
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the blob is missing or unreadable, or a range is empty,
    /// reversed or past its end; [`StoreError::Io`] when the store returns fewer bytes.
    #[tracing::instrument(name = "store.get_ranges", skip_all, level = "debug")]
    pub async fn get_ranges(&self, sha256: &str, ranges: &[Range<u64>]) -> StoreResult<Vec<Bytes>> {
        let parts = self
            .inner
            .get_ranges(&blob_path(sha256), ranges)
            .await
            .map_err(|e| store_error(&format!("read ranges of blob {sha256}"), e))?;
        if parts.len() != ranges.len() {
            return Err(StoreError::Io(format!(
                "object store: {} of {} ranges of blob {sha256} returned",
                parts.len(),
                ranges.len()
            )));
        }
        let mut total = 0;
        for (range, bytes) in ranges.iter().zip(&parts) {
            let want = range.end.saturating_sub(range.start);
            if bytes.len() as u64 != want {
                return Err(StoreError::Io(format!(
                    "object store: a range read of blob {sha256} returned {} of {want} bytes",
                    bytes.len()
                )));
            }
            total += want;
        }
        metrics::counter!("more_store_range_read_bytes_total").increment(total);
        Ok(parts)
    }

    /// Size in bytes of a stored blob (`None` when absent), from its metadata.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the store fails.
    #[tracing::instrument(name = "store.size", skip_all, level = "debug")]
    pub async fn size(&self, sha256: &str) -> StoreResult<Option<u64>> {
        match self.inner.head(&blob_path(sha256)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error("head", e)),
        }
    }

    /// Removes a blob (absent is fine).
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the store fails.
    #[tracing::instrument(name = "store.delete", skip_all)]
    pub async fn delete(&self, sha256: &str) -> StoreResult<()> {
        match self.inner.delete(&blob_path(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error("delete", e)),
        }
    }

    /// Every stored object under `prefix` (`blobs` or `staging`) as (key's last segment,
    /// Unix seconds of its last modification).
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when listing fails.
    #[tracing::instrument(name = "store.list", skip_all, level = "debug")]
    pub async fn list(&self, prefix: &str) -> StoreResult<Vec<(String, i64)>> {
        let mut out = Vec::new();
        let mut stream = self.inner.list(Some(&Path::from(prefix)));
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| store_error("list", e))?;
            if let Some(name) = meta.location.filename() {
                out.push((name.to_string(), meta.last_modified.timestamp()));
            }
        }
        Ok(out)
    }

    /// Unix seconds of a blob's last modification (`None` when absent).
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the store fails.
    #[tracing::instrument(name = "store.modified", skip_all, level = "debug")]
    pub async fn modified(&self, sha256: &str) -> StoreResult<Option<i64>> {
        match self.inner.head(&blob_path(sha256)).await {
            Ok(meta) => Ok(Some(meta.last_modified.timestamp())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error("head", e)),
        }
    }

    /// Removes the partial files a killed process left in a `file://` store (`NAME#N`, which the
    /// store writes before renaming and does not list) last modified before `cutoff` (Unix
    /// seconds); returns how many. No-op for S3, whose incomplete multipart uploads a bucket
    /// lifecycle rule removes.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the directories cannot be read.
    #[tracing::instrument(name = "store.sweep_partial_files", skip_all, level = "debug")]
    pub async fn sweep_partial_files(&self, cutoff: i64) -> StoreResult<usize> {
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        let removed = tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
            let mut removed = 0;
            for dir in ["staging", "blobs"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let partial = entry.file_name().to_string_lossy().contains('#');
                    let modified = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default())
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(i64::MAX);
                    if partial && modified < cutoff && std::fs::remove_file(entry.path()).is_ok() {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(|e| StoreError::Io(format!("sweep task: {e}")))?;
        removed.map_err(|e| {
            tracing::error!(error = %e, "sweeping partial files");
            StoreError::Io("object store: sweeping partial files failed".into())
        })
    }

    /// Removes a staging object left by an interrupted upload.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the store fails.
    #[tracing::instrument(name = "store.delete_staging", skip_all, level = "debug")]
    pub async fn delete_staging(&self, name: &str) -> StoreResult<()> {
        match self
            .inner
            .delete(&Path::from(format!("staging/{name}")))
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error("delete staging", e)),
        }
    }
}

/// A streamed upload in progress; hashes what it writes. Dropping it without
/// [`BlobWriter::finish`] leaves a staging object for the sweeper (call
/// [`BlobWriter::abort`] to remove it at once).
pub struct BlobWriter {
    store: BlobStore,
    staging: Path,
    parts: WriteMultipart,
    hasher: Sha256,
    bytes: u64,
}

impl BlobWriter {
    /// Appends a chunk, waiting while `PARTS_IN_FLIGHT` (2) parts are being uploaded.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when a part upload fails.
    pub async fn write(&mut self, chunk: &[u8]) -> StoreResult<()> {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        self.parts.write(chunk);
        self.parts
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| store_error("upload part", e))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Completes the upload and moves it to its content address; the blob is durable on return.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] when the store fails (the staging object is then left for the
    /// sweeper).
    #[tracing::instrument(name = "store.finish", skip_all)]
    pub async fn finish(self) -> StoreResult<BlobRef> {
        let blob = BlobRef {
            sha256: hex(&self.hasher.finalize()),
            bytes: self.bytes,
        };
        self.parts
            .finish()
            .await
            .map_err(|e| store_error("complete upload", e))?;
        self.store
            .inner
            .rename(&self.staging, &blob_path(&blob.sha256))
            .await
            .map_err(|e| store_error("move upload to its address", e))?;
        metrics::counter!("more_upload_bytes_total").increment(blob.bytes);
        Ok(blob)
    }

    /// Abandons the upload and removes what was sent.
    #[tracing::instrument(name = "store.abort", skip_all)]
    pub async fn abort(self) {
        if let Err(e) = self.parts.abort().await {
            tracing::warn!(error = %e, "aborting an upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(code: i32) -> object_store::Error {
        object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from_raw_os_error(code)),
        }
    }

    /// The fault decides whether a job waits (full, read-only, unreachable) or fails (a missing
    /// blob); the HTTP layer maps the same faults to 507 and 503 (`more-server`'s `error.rs`).
    #[test]
    fn a_full_read_only_or_unreachable_store_is_transient_and_says_so() {
        let fault = |e: &StoreError| match e {
            StoreError::ObjectStore { fault, .. } => *fault,
            other => panic!("not an object-store error: {other:?}"),
        };
        let full = store_error("put", wrapped(libc_errno::ENOSPC));
        assert_eq!(fault(&full), Some(StoreFault::Full));
        let quota = store_error("put", wrapped(libc_errno::EDQUOT));
        assert_eq!(fault(&quota), Some(StoreFault::Full));
        let read_only = store_error("put", wrapped(libc_errno::EROFS));
        assert_eq!(fault(&read_only), Some(StoreFault::ReadOnly));
        assert!(read_only.to_string().contains("read-only"), "{read_only}");
        let refused = store_error("put", wrapped(111));
        assert_eq!(fault(&refused), Some(StoreFault::Unreachable));
        for e in [&full, &quota, &read_only, &refused] {
            assert!(e.is_transient());
            assert!(e.to_string().starts_with("object store: put failed"), "{e}");
        }
        let missing = store_error(
            "read blob",
            object_store::Error::NotFound {
                path: "blobs/x".into(),
                source: "absent".into(),
            },
        );
        assert_eq!(fault(&missing), None);
        assert_eq!(missing.to_string(), "object store: read blob failed");
        assert!(!missing.is_transient());
    }
}
