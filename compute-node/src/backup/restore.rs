//! `more-node restore --from URL`: verifies the whole backup first (nothing is written when it
//! fails), refuses a target database that is not empty, puts every blob into the node's store
//! (each read checked against its SHA-256 again), and only then the database, so that no
//! restored row ever names a blob the store lacks. Run it with the node stopped; start the node
//! on the same `--db`/`--store` afterwards (its migrations are already applied).

use futures_util::{StreamExt, TryStreamExt};
use more_store::blobs::BlobStore;

use super::location::Location;
use super::manifest::{DatabaseKind, Entry, Manifest};
use super::verify::verify;
use super::{postgres, sqlite, BackupError, NodeStorage, COPIES_IN_FLIGHT};

/// Restores the backup at `from` into the node's (empty) database and its store; the manifest.
///
/// # Errors
/// [`BackupError::NotEmpty`] for a database that holds data, [`BackupError::Refused`] for a
/// backup that does not verify, [`BackupError::Database`] when the snapshot is of the other
/// kind of database, and any error of the location, the store or the database.
pub async fn restore(node: &NodeStorage, from: &str) -> Result<Manifest, BackupError> {
    let kind = super::create::kind_of(&node.db_url)?;
    ensure_empty(kind, &node.db_url).await?;
    let location = Location::open(from)?;
    let work = node.work_dir()?;
    let pg_bin = node.pg_bin.as_deref();
    let verified = verify(&location, work.path(), pg_bin).await?;
    let manifest = verified.manifest;
    if manifest.database.kind != kind {
        return Err(BackupError::Database(format!(
            "the backup holds a {:?} snapshot, --db is {:?}: restore into the same kind",
            manifest.database.kind, kind
        )));
    }
    let store = BlobStore::open(&node.store_url).map_err(|e| BackupError::Store(e.to_string()))?;
    put_blobs(&location, &store, &manifest.blobs).await?;
    match kind {
        DatabaseKind::Sqlite => sqlite::restore(&verified.snapshot, &node.db_url)?,
        DatabaseKind::Postgres => {
            postgres::restore(&node.db_url, pg_bin, &verified.snapshot, work.path()).await?
        }
    }
    Ok(manifest)
}

async fn ensure_empty(kind: DatabaseKind, url: &str) -> Result<(), BackupError> {
    match kind {
        DatabaseKind::Sqlite => sqlite::ensure_empty(url),
        DatabaseKind::Postgres => postgres::ensure_empty(url).await,
    }
}

/// Stores each blob in the node's store under its content address, a few at a time.
async fn put_blobs(
    location: &Location,
    store: &BlobStore,
    blobs: &[Entry],
) -> Result<(), BackupError> {
    let puts = blobs.iter().map(|entry| put_blob(location, store, entry));
    futures_util::stream::iter(puts)
        .buffer_unordered(COPIES_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

async fn put_blob(
    location: &Location,
    store: &BlobStore,
    entry: &Entry,
) -> Result<(), BackupError> {
    let changed = |what: &str| {
        BackupError::Refused(vec![format!(
            "blob {} {what} since it was verified",
            entry.sha256
        )])
    };
    let bytes = location
        .get(&entry.name)
        .await?
        .ok_or_else(|| changed("disappeared"))?;
    let stored = store
        .put(bytes)
        .await
        .map_err(|e| BackupError::Store(format!("blob {}: {e}", entry.sha256)))?;
    if stored.sha256 != entry.sha256 {
        // Stored under its own (other) address: harmless to the store, but this backup is bad.
        return Err(changed("changed"));
    }
    Ok(())
}
