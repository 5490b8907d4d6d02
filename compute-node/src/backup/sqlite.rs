//! The SQLite side: a consistent snapshot with `VACUUM INTO` (taken while the node runs: the
//! database is in WAL mode, so the node's writers go on), the blobs a snapshot references, and
//! the restore (the snapshot copied into place, fsynced, then renamed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::BackupError;

fn db_error(what: &str, e: impl std::fmt::Display) -> BackupError {
    BackupError::Database(format!("SQLite: {what}: {e}"))
}

/// The file of a `sqlite://PATH?…` or `sqlite:PATH` URL.
///
/// # Errors
/// [`BackupError::Database`] for an in-memory database or another scheme.
pub fn path_of(url: &str) -> Result<PathBuf, BackupError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| db_error("URL", "not a sqlite: URL"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Err(db_error(
            "URL",
            "an in-memory database has nothing to back up",
        ));
    }
    Ok(PathBuf::from(path))
}

/// Writes a consistent copy of the database at `url` to `to` (`VACUUM INTO`), while other
/// connections keep reading and writing.
///
/// # Errors
/// [`BackupError::Database`] when the database does not exist or SQLite fails.
pub async fn snapshot(url: &str, to: &Path) -> Result<(), BackupError> {
    let options = SqliteConnectOptions::new()
        .filename(path_of(url)?)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = options.connect().await.map_err(|e| db_error("open", e))?;
    let target = to
        .to_str()
        .ok_or_else(|| db_error("snapshot", "the working path is not UTF-8"))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await
        .map_err(|e| db_error("VACUUM INTO", e))?;
    conn.close().await.map_err(|e| db_error("close", e))
}

/// The SHA-256 of every blob the snapshot file's rows reference (`blob_refs`); the file is
/// opened read-only and immutable (nothing is written next to it).
///
/// # Errors
/// [`BackupError::Database`] when the file is not a node database.
pub async fn referenced_blobs(file: &Path) -> Result<BTreeSet<String>, BackupError> {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .immutable(true);
    let mut conn = options
        .connect()
        .await
        .map_err(|e| db_error("open snapshot", e))?;
    let refs: Vec<String> = sqlx::query_scalar("SELECT DISTINCT sha256 FROM blob_refs")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| db_error("read blob_refs of the snapshot", e))?;
    conn.close().await.map_err(|e| db_error("close", e))?;
    Ok(refs.into_iter().collect())
}

/// Refuses a target that already holds a database (the file or its `-wal`).
///
/// # Errors
/// [`BackupError::NotEmpty`] when it does.
pub fn ensure_empty(url: &str) -> Result<(), BackupError> {
    let path = path_of(url)?;
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let used = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
    if used(&path) || used(&wal) {
        return Err(BackupError::NotEmpty(format!(
            "the SQLite database {} exists; restore into a new --data-dir or --db",
            path.display()
        )));
    }
    Ok(())
}

/// Puts the verified snapshot `file` in place as the database of `url`: copied next to it,
/// fsynced, renamed (a crash leaves no half-written database).
///
/// # Errors
/// [`BackupError::NotEmpty`] when a database appeared meanwhile; [`BackupError::Database`]
/// on an I/O error.
pub fn restore(file: &Path, url: &str) -> Result<(), BackupError> {
    ensure_empty(url)?;
    let path = path_of(url)?;
    let io = |e: std::io::Error| db_error("restore", e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let partial = PathBuf::from(format!("{}.restoring", path.display()));
    std::fs::copy(file, &partial).map_err(io)?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&partial, &path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}
