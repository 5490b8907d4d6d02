//! `more-node backup --to URL`: a snapshot of the database, then every blob the snapshot's rows
//! reference, then the manifest and, last, its SHA-256 (a backup without `manifest.json.sha256`
//! is incomplete and refused by `verify` and `restore`).
//!
//! Consistency: the snapshot is one point in time (SQLite `VACUUM INTO`, `pg_dump`'s snapshot),
//! and blobs are immutable and named by their SHA-256, so the blobs it references are exactly
//! the bytes it knew, read (and verified against their names) after it. The node may keep
//! running; a blob that its garbage collector removes between the snapshot and the copy (it
//! became unreferenced and older than `--gc-grace-seconds`, 900 s by default) fails the backup,
//! which is then simply run again.

use std::collections::BTreeSet;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use more_store::blobs::BlobStore;

use super::location::Location;
use super::manifest::{
    blob_name, DatabaseEntry, DatabaseKind, Entry, Manifest, FORMAT, MANIFEST, MANIFEST_SHA256,
};
use super::{snapshot_db, BackupError, NodeStorage, COPIES_IN_FLIGHT};

/// Backs up the node's database and blobs to `to`; the manifest written.
///
/// # Errors
/// [`BackupError::NotEmpty`] when `to` already holds objects; any error of the database, the
/// node's store or the location (the partial backup then has no manifest sum).
pub async fn create(node: &NodeStorage, to: &str) -> Result<Manifest, BackupError> {
    let location = Location::open(to)?;
    if !location.is_empty().await? {
        return Err(BackupError::NotEmpty(format!(
            "{to} already holds objects; back up to a new location"
        )));
    }
    let work = node.work_dir()?;
    let (kind, snapshot) = snapshot_db(node, work.path()).await?;
    let refs = super::referenced_blobs(kind, &snapshot, node.pg_bin.as_deref()).await?;
    let store = BlobStore::open(&node.store_url).map_err(|e| BackupError::Store(e.to_string()))?;
    let blobs = copy_blobs(&store, &location, &refs).await?;
    let digest = location.put_file(kind.file_name(), &snapshot).await?;
    let manifest = Manifest {
        format: FORMAT.to_string(),
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        node_version: env!("CARGO_PKG_VERSION").to_string(),
        database: DatabaseEntry {
            kind,
            file: Entry {
                name: kind.file_name().to_string(),
                sha256: digest.sha256,
                bytes: digest.bytes,
            },
        },
        blobs,
    };
    let (bytes, sum) = manifest.encode()?;
    location.put(MANIFEST, Bytes::from(bytes)).await?;
    location.put(MANIFEST_SHA256, Bytes::from(sum)).await?;
    Ok(manifest)
}

/// Copies each referenced blob from the node's store (read verified against its SHA-256) to
/// `blobs/{sha256}`, a few at a time; their entries, sorted by SHA-256.
async fn copy_blobs(
    store: &BlobStore,
    location: &Location,
    refs: &BTreeSet<String>,
) -> Result<Vec<Entry>, BackupError> {
    let copies = refs.iter().map(|sha| async move {
        let bytes = store
            .get(sha)
            .await
            .map_err(|e| BackupError::Store(format!("blob {sha}: {e}")))?;
        let entry = Entry {
            name: blob_name(sha),
            sha256: sha.clone(),
            bytes: bytes.len() as u64,
        };
        location.put(&entry.name, bytes).await?;
        Ok::<_, BackupError>(entry)
    });
    let mut entries: Vec<Entry> = futures_util::stream::iter(copies)
        .buffer_unordered(COPIES_IN_FLIGHT)
        .try_collect()
        .await?;
    entries.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    Ok(entries)
}

/// The kind of database a URL names.
///
/// # Errors
/// [`BackupError::Database`] for a scheme other than `sqlite:` and `postgres(ql)://`.
pub fn kind_of(db_url: &str) -> Result<DatabaseKind, BackupError> {
    if db_url.starts_with("sqlite:") {
        Ok(DatabaseKind::Sqlite)
    } else if db_url.starts_with("postgres://") || db_url.starts_with("postgresql://") {
        Ok(DatabaseKind::Postgres)
    } else {
        Err(BackupError::Database(
            "--db must be sqlite:… or postgres://…".into(),
        ))
    }
}
