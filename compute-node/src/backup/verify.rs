//! `more-node backup verify --from URL` (and the first step of every restore): the manifest
//! against its SHA-256, the database snapshot against the manifest, every blob the snapshot
//! references against the manifest's list, and every blob's bytes against its SHA-256 and size.
//! Every problem is reported, not only the first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;

use super::location::Location;
use super::manifest::{blob_name, Entry, Manifest, MANIFEST, MANIFEST_SHA256};
use super::{BackupError, COPIES_IN_FLIGHT};

/// A backup that passed [`verify`]: its manifest and the database snapshot, downloaded.
#[derive(Debug)]
pub struct Verified {
    /// The checked manifest.
    pub manifest: Manifest,
    /// The snapshot file in the working directory (its SHA-256 checked).
    pub snapshot: PathBuf,
}

/// Reads and checks the manifest (present, its SHA-256, its format).
///
/// # Errors
/// [`BackupError::Manifest`] when absent (an incomplete backup), damaged or edited.
pub async fn read_manifest(location: &Location) -> Result<Manifest, BackupError> {
    let incomplete = |name: &str| {
        BackupError::Manifest(format!(
            "{} has no {name}: not a backup, or an incomplete one",
            location.url()
        ))
    };
    let bytes = location
        .get(MANIFEST)
        .await?
        .ok_or_else(|| incomplete(MANIFEST))?;
    let sum = location
        .get(MANIFEST_SHA256)
        .await?
        .ok_or_else(|| incomplete(MANIFEST_SHA256))?;
    Manifest::decode(&bytes, &String::from_utf8_lossy(&sum))
}

/// Checks the whole backup at `location`, downloading the snapshot into `work`.
///
/// # Errors
/// [`BackupError::Refused`] listing every problem found; [`BackupError::Manifest`] when the
/// manifest itself is absent or damaged; location errors as they come.
pub async fn verify(
    location: &Location,
    work: &Path,
    pg_bin: Option<&Path>,
) -> Result<Verified, BackupError> {
    let manifest = read_manifest(location).await?;
    let db = &manifest.database;
    let snapshot = work.join(db.kind.file_name());
    let mut problems = Vec::new();
    if db.file.name != db.kind.file_name() {
        problems.push(format!("the database entry names {:?}", db.file.name));
    }
    match location.digest(&db.file.name, Some(&snapshot)).await? {
        None => problems.push(format!("the database snapshot {} is missing", db.file.name)),
        Some(d) if d.sha256 != db.file.sha256 || d.bytes != db.file.bytes => {
            problems.push(format!(
                "the database snapshot {} is damaged: {}",
                db.file.name,
                mismatch(&db.file, &d)
            ))
        }
        Some(_) => {
            let refs = super::referenced_blobs(db.kind, &snapshot, pg_bin).await?;
            problems.extend(compare_lists(&refs, &manifest.blobs));
        }
    }
    problems.extend(check_blobs(location, &manifest.blobs).await?);
    if problems.is_empty() {
        Ok(Verified { manifest, snapshot })
    } else {
        Err(BackupError::Refused(problems))
    }
}

fn mismatch(entry: &Entry, actual: &super::location::Digest256) -> String {
    format!(
        "SHA-256 {} and {} bytes, the manifest says {} and {} bytes",
        actual.sha256, actual.bytes, entry.sha256, entry.bytes
    )
}

/// The blobs the snapshot references that the manifest does not list, and the reverse.
fn compare_lists(refs: &BTreeSet<String>, blobs: &[Entry]) -> Vec<String> {
    let listed: BTreeSet<String> = blobs.iter().map(|b| b.sha256.clone()).collect();
    let unlisted = refs
        .difference(&listed)
        .map(|sha| format!("blob {sha} is referenced by the database but not in the manifest"));
    let extra = listed
        .difference(refs)
        .map(|sha| format!("blob {sha} is in the manifest but no row references it"));
    unlisted.chain(extra).collect()
}

/// Reads every listed blob through SHA-256; a problem per missing or damaged one.
async fn check_blobs(location: &Location, blobs: &[Entry]) -> Result<Vec<String>, BackupError> {
    let checks = blobs.iter().map(|entry| async move {
        if entry.name != blob_name(&entry.sha256) {
            return Ok(Some(format!(
                "blob {} is stored under the wrong name {:?}",
                entry.sha256, entry.name
            )));
        }
        Ok::<_, BackupError>(match location.digest(&entry.name, None).await? {
            None => Some(format!("blob {} is missing", entry.sha256)),
            Some(d) if d.sha256 != entry.sha256 || d.bytes != entry.bytes => Some(format!(
                "blob {} is damaged: {}",
                entry.sha256,
                mismatch(entry, &d)
            )),
            Some(_) => None,
        })
    });
    let results: Vec<Result<Option<String>, BackupError>> = futures_util::stream::iter(checks)
        .buffered(COPIES_IN_FLIGHT)
        .collect()
        .await;
    let mut problems = Vec::new();
    for r in results {
        problems.extend(r?);
    }
    Ok(problems)
}
