//! Backup and restore of a node's state (issue #31): `more-node backup --to URL`,
//! `more-node backup verify --from URL`, `more-node restore --from URL`.
//!
//! A backup is a directory or an S3 prefix holding
//! - `database.sqlite3` (SQLite `VACUUM INTO`) or `database.pgdump` (`pg_dump --format=custom`):
//!   one consistent snapshot of every row (datasets, models, jobs, tenants, key hashes, the audit
//!   chain, the queue), taken while the node runs;
//! - `blobs/{sha256}`: every blob the snapshot's rows reference (`blob_refs`), byte for byte;
//! - `manifest.json`: the SHA-256 and size of each of those files, and
//!   `manifest.json.sha256`, the manifest's own SHA-256, written last.
//!
//! Modules: [`manifest`] (the format), [`location`] (file:// or s3:// objects), [`sqlite`] and
//! [`postgres`] (snapshot, referenced blobs, restore), [`create`], [`verify`],
//! [`restore`](mod@restore).
//! The manifest's sums catch damage and edits made without recomputing them; a manifest edited
//! *with* a new sum is still caught when it drops or adds a blob the database references. A
//! backup is as confidential as the node's data dir (ciphertexts, key hashes, the audit log):
//! keep it where only the operator can read it.

pub mod create;
pub mod location;
pub mod manifest;
pub mod postgres;
pub mod restore;
pub mod sqlite;
pub mod verify;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use manifest::{DatabaseKind, Manifest};

/// Blobs copied or checked at once (each is held in memory while it is copied).
pub const COPIES_IN_FLIGHT: usize = 4;

/// Why a backup, a verification or a restore stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backup location cannot be opened, read or written.
    #[error("backup location: {0}")]
    Location(String),
    /// The manifest is absent, damaged or edited.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The database cannot be snapshotted or restored.
    #[error("database: {0}")]
    Database(String),
    /// The node's object store failed.
    #[error("object store: {0}")]
    Store(String),
    /// The target (backup location or database) already holds data.
    #[error("refused: {0}")]
    NotEmpty(String),
    /// The backup does not verify: every problem found.
    #[error("the backup does not verify:\n  {}", .0.join("\n  "))]
    Refused(Vec<String>),
}

/// Where the node keeps its state: the options of `serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The node's data directory (its default database and store; working files go here).
    #[arg(long, env = "MORE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Metadata database URL, as given to `serve` (default: SQLite in the data directory).
    #[arg(long, env = "MORE_DB")]
    pub db: Option<String>,
    /// Object store URL, as given to `serve` (default: `file://DATA_DIR`).
    #[arg(long, env = "MORE_STORE")]
    pub store: Option<String>,
    /// The directory of `pg_dump` and `pg_restore`, of the server's major version or newer
    /// (e.g. `/usr/lib/postgresql/15/bin`; default: `PATH`).
    #[arg(long, env = "MORE_PG_BIN")]
    pub pg_bin: Option<PathBuf>,
}

/// The node's storage, resolved as `serve` resolves it.
#[derive(Debug, Clone)]
pub struct NodeStorage {
    /// The data directory (working files).
    pub data_dir: PathBuf,
    /// The database URL in effect.
    pub db_url: String,
    /// The object store URL in effect.
    pub store_url: String,
    /// See [`NodeArgs::pg_bin`].
    pub pg_bin: Option<PathBuf>,
}

impl NodeStorage {
    /// Resolves `args` with `serve`'s defaults.
    ///
    /// # Errors
    /// [`BackupError::Location`] without `--data-dir` or when it cannot be made absolute.
    pub fn resolve(args: &NodeArgs) -> Result<Self, BackupError> {
        let data_dir = args.data_dir.clone().ok_or_else(|| {
            BackupError::Location("--data-dir (MORE_DATA_DIR) is required".into())
        })?;
        let settings = more_server::Settings {
            data_dir: data_dir.clone(),
            db_url: args.db.clone(),
            store_url: args.store.clone(),
            ..more_server::Settings::default()
        };
        let resolved =
            |r: anyhow::Result<String>| r.map_err(|e| BackupError::Location(e.to_string()));
        Ok(NodeStorage {
            db_url: resolved(settings.db_url())?,
            store_url: resolved(settings.store_url())?,
            data_dir,
            pg_bin: args.pg_bin.clone(),
        })
    }

    /// A private working directory inside the data directory (removed when dropped).
    ///
    /// # Errors
    /// [`BackupError::Location`] when it cannot be made.
    pub fn work_dir(&self) -> Result<tempfile::TempDir, BackupError> {
        std::fs::create_dir_all(&self.data_dir)
            .and_then(|_| {
                tempfile::Builder::new()
                    .prefix(".backup-work-")
                    .tempdir_in(&self.data_dir)
            })
            .map_err(|e| BackupError::Location(format!("working directory: {e}")))
    }
}

/// Takes the database snapshot into `work`: its kind and file.
async fn snapshot_db(
    node: &NodeStorage,
    work: &Path,
) -> Result<(DatabaseKind, PathBuf), BackupError> {
    let kind = create::kind_of(&node.db_url)?;
    let file = work.join(kind.file_name());
    match kind {
        DatabaseKind::Sqlite => sqlite::snapshot(&node.db_url, &file).await?,
        DatabaseKind::Postgres => {
            postgres::snapshot(&node.db_url, node.pg_bin.as_deref(), &file).await?
        }
    }
    Ok((kind, file))
}

/// The blobs a snapshot file's rows reference.
async fn referenced_blobs(
    kind: DatabaseKind,
    file: &Path,
    pg_bin: Option<&Path>,
) -> Result<BTreeSet<String>, BackupError> {
    match kind {
        DatabaseKind::Sqlite => sqlite::referenced_blobs(file).await,
        DatabaseKind::Postgres => postgres::referenced_blobs(pg_bin, file).await,
    }
}

/// `more-node backup`: `--to URL`, or the `verify` subcommand.
#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackupCommand {
    /// `verify --from URL`.
    #[command(subcommand)]
    pub command: Option<BackupSubcommand>,
    /// Where to write the backup: `file:///absolute/dir` or `s3://bucket/prefix` (`AWS_*`
    /// variables as for `--store`); it must be empty.
    #[arg(long, required = true)]
    pub to: Option<String>,
    /// The node's storage (as `serve`'s options).
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `more-node backup verify`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum BackupSubcommand {
    /// Check a backup: the manifest's SHA-256, the database snapshot, every blob's SHA-256 and
    /// size, and that the blobs listed are exactly those the snapshot references. Exits
    /// non-zero listing every problem.
    Verify(VerifyArgs),
}

/// `more-node backup verify --from URL`.
#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The backup: `file:///absolute/dir` or `s3://bucket/prefix`.
    #[arg(long)]
    pub from: String,
    /// The directory of `pg_restore` (PostgreSQL backups; default: `PATH`).
    #[arg(long, env = "MORE_PG_BIN")]
    pub pg_bin: Option<PathBuf>,
}

/// `more-node restore --from URL`.
#[derive(clap::Args, Debug, Clone)]
pub struct RestoreArgs {
    /// The backup: `file:///absolute/dir` or `s3://bucket/prefix`.
    #[arg(long)]
    pub from: String,
    /// The node's storage (as `serve`'s options).
    #[command(flatten)]
    pub node: NodeArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn report(what: &str, url: &str, manifest: &Manifest) {
    let bytes: u64 = manifest.blobs.iter().map(|b| b.bytes).sum();
    println!(
        "{what} {url}: {:?} database snapshot of {} bytes (SHA-256 {}), {} blobs of {} bytes, taken {}",
        manifest.database.kind,
        manifest.database.file.bytes,
        manifest.database.file.sha256,
        manifest.blobs.len(),
        bytes,
        manifest.created_at
    );
}

/// Runs `more-node backup …`.
///
/// # Errors
/// Any [`BackupError`]; the process then exits non-zero.
pub fn backup(cmd: BackupCommand) -> anyhow::Result<()> {
    if let Some(BackupSubcommand::Verify(args)) = cmd.command {
        return verify_command(args);
    }
    let to = cmd.to.ok_or_else(|| anyhow::anyhow!("--to is required"))?;
    let to = expand_time(&to, std::time::SystemTime::now());
    let node = NodeStorage::resolve(&cmd.node)?;
    let manifest = runtime()?.block_on(create::create(&node, &to))?;
    report("backed up to", &to, &manifest);
    Ok(())
}

/// `{time}` in a backup URL replaced by the UTC time (`20261207T021500Z`): one new location per
/// run of a scheduled backup.
pub fn expand_time(url: &str, at: std::time::SystemTime) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    url.replace("{time}", &stamp)
}

fn verify_command(args: VerifyArgs) -> anyhow::Result<()> {
    let work = tempfile::Builder::new()
        .prefix("more-backup-verify-")
        .tempdir()?;
    let location = location::Location::open(&args.from)?;
    let verified = runtime()?.block_on(verify::verify(
        &location,
        work.path(),
        args.pg_bin.as_deref(),
    ))?;
    report("verified", &args.from, &verified.manifest);
    Ok(())
}

/// Runs `more-node restore --from URL`.
///
/// # Errors
/// Any [`BackupError`]; the process then exits non-zero.
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let node = NodeStorage::resolve(&args.node)?;
    let manifest = runtime()?.block_on(restore::restore(&node, &args.from))?;
    report("restored from", &args.from, &manifest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_expanded_in_a_backup_url() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_609_700);
        assert_eq!(
            expand_time("s3://b/node/{time}", at),
            "s3://b/node/20261207T021500Z"
        );
        assert_eq!(expand_time("file:///x", at), "file:///x");
    }
}
