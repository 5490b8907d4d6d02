//! Files private to the node's user: the data directory holds every tenant's ciphertexts and
//! the metadata database, and anyone who reads the ciphertexts and a public basis decrypts them
//! (SECURITY.md), so no other local user may read them.
//!
//! - [`restrict_umask`]: the process's umask becomes `077`, so every directory the node creates
//!   is `0700` and every file `0600` (the data dir, `more.db` and its `-wal`/`-shm`, blobs,
//!   staging and temporary files). Process-wide: called before any thread starts.
//! - [`secure_data_dir`]: at start-up, whatever the umask, the data dir is made `0700`, the
//!   default SQLite database is created `0600` before SQLite opens it (its WAL and shared-memory
//!   files take the database file's mode), and an existing data dir, `blobs/`, `staging/`, blob
//!   or database file that other users may access is tightened (`chmod`, one warning line).
//!   Nothing outside the data dir is changed: a symbolic link inside it is not followed, and a
//!   `file://` store or SQLite database elsewhere is only warned about.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// The permission bits of group and others.
const OTHERS: u32 = 0o077;

/// The directories under the data dir that hold blobs (the default `file://DATA_DIR` store).
const STORE_DIRS: [&str; 2] = ["blobs", "staging"];

/// SQLite's companion files of a database, by suffix.
const DB_COMPANIONS: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Sets the process's umask to `077`: files the node creates from now on are readable by its
/// user only. Call it first thing, before a runtime or any other thread starts (the umask is
/// process-wide).
pub fn restrict_umask() {
    let _ = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// Makes the data dir and what the node keeps in it private to the node's user (see the module
/// documentation); creates the data dir (`0700`) when missing.
///
/// # Errors
/// When the data dir cannot be created or the default database file cannot be created.
/// A file that cannot be tightened (another owner) is a warning, not an error.
pub fn secure_data_dir(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| anyhow::anyhow!("--data-dir {}: {e}", dir.display()))?;
    let dir = fs::canonicalize(dir)?;
    let mut tightened = Vec::new();
    tighten(&dir, &mut tightened);
    for name in STORE_DIRS {
        tighten_dir_and_entries(&dir.join(name), &mut tightened);
    }
    match sqlite_file(settings) {
        Some(db) if db.starts_with(&dir) => {
            if settings.db_url.is_none() {
                create_private(&db)?;
            }
            for suffix in DB_COMPANIONS {
                tighten(&with_suffix(&db, suffix), &mut tightened);
            }
        }
        Some(db) => warn_if_open(&db, "the SQLite database (--db)"),
        None => {}
    }
    if let Some(root) = file_store_root(settings) {
        if !root.starts_with(&dir) {
            warn_if_open(&root, "the file store (--store)");
        }
    }
    if !tightened.is_empty() {
        tracing::warn!(
            count = tightened.len(),
            first = %tightened[0].display(),
            "other users could access files of the data dir; made them private to this user (0700 directories, 0600 files)"
        );
    }
    Ok(())
}

/// Whether `mode` lets group or others read, write or enter.
pub fn open_to_others(mode: u32) -> bool {
    mode & OTHERS != 0
}

/// Removes the group and other bits of `path` (not a symbolic link, not missing); records it.
fn tighten(path: &Path, tightened: &mut Vec<PathBuf>) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    let mode = meta.permissions().mode();
    if !open_to_others(mode) {
        return;
    }
    match fs::set_permissions(path, fs::Permissions::from_mode(mode & !OTHERS & 0o7777)) {
        Ok(()) => tightened.push(path.to_path_buf()),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot make this file private to the node's user")
        }
    }
}

/// [`tighten`] on a directory and its direct entries (blobs are one level deep).
fn tighten_dir_and_entries(dir: &Path, tightened: &mut Vec<PathBuf>) {
    if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return;
    }
    tighten(dir, tightened);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        tighten(&entry.path(), tightened);
    }
}

/// Creates `path` empty with mode `0600` unless it exists (SQLite takes an empty file as a new
/// database, and gives its `-wal` and `-shm` files the same mode).
fn create_private(path: &Path) -> anyhow::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "creating the database file in --data-dir: {e}"
        )),
    }
}

/// Logs a warning when `path`, outside the data dir, is open to other users.
fn warn_if_open(path: &Path, what: &str) {
    if let Ok(meta) = fs::metadata(path) {
        if open_to_others(meta.permissions().mode()) {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "{what} lies outside --data-dir and other users may access it; the node changes nothing outside its data dir: chmod go= it yourself"
            );
        }
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The file of a `sqlite:` database URL in effect (absolute), or `None` for PostgreSQL or an
/// in-memory database.
fn sqlite_file(settings: &Settings) -> Option<PathBuf> {
    let url = settings.db_url().ok()?;
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file == ":memory:" {
        return None;
    }
    std::path::absolute(file).ok()
}

/// The directory of a `file://` store in effect, or `None` for S3.
fn file_store_root(settings: &Settings) -> Option<PathBuf> {
    let url = settings.store_url().ok()?;
    url.strip_prefix("file://").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_open_to_others() {
        assert!(open_to_others(0o755));
        assert!(open_to_others(0o640));
        assert!(open_to_others(0o602));
        assert!(!open_to_others(0o700));
        assert!(!open_to_others(0o600));
        assert!(!open_to_others(0o400));
    }

    #[test]
    fn the_database_file_of_a_url() {
        let settings = |db: &str| Settings {
            db_url: Some(db.into()),
            ..Settings::default()
        };
        assert_eq!(
            sqlite_file(&settings("sqlite:///var/lib/more/more.db?mode=rwc")),
            Some(PathBuf::from("/var/lib/more/more.db"))
        );
        assert_eq!(sqlite_file(&settings("sqlite::memory:")), None);
        assert_eq!(sqlite_file(&settings("postgres://u@h/db")), None);
        assert_eq!(
            with_suffix(Path::new("/d/more.db"), "-wal"),
            PathBuf::from("/d/more.db-wal")
        );
    }
}
