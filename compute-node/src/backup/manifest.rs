//! The backup's table of contents, `manifest.json`: the database snapshot and every blob with
//! its SHA-256 and size, next to `manifest.json.sha256` (the manifest's own SHA-256, in the
//! format of `sha256sum`, so `sha256sum -c manifest.json.sha256` checks it by hand too).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BackupError;

/// The format name written in every manifest; another value is refused.
pub const FORMAT: &str = "more-node-backup/1";
/// The manifest's object name in a backup.
pub const MANIFEST: &str = "manifest.json";
/// The object holding the manifest's SHA-256.
pub const MANIFEST_SHA256: &str = "manifest.json.sha256";

/// Which database the snapshot comes from, and so how it is restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// A SQLite file made by `VACUUM INTO` (restored by copying it into place).
    Sqlite,
    /// A `pg_dump --format=custom` archive (restored with `pg_restore`).
    Postgres,
}

impl DatabaseKind {
    /// The snapshot's object name in a backup.
    pub fn file_name(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "database.sqlite3",
            DatabaseKind::Postgres => "database.pgdump",
        }
    }
}

/// One file of the backup: its name, lowercase hex SHA-256 and size in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The object's name in the backup (`database.sqlite3`, `blobs/{sha256}`).
    pub name: String,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The database snapshot's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseEntry {
    /// SQLite or PostgreSQL.
    pub kind: DatabaseKind,
    /// The snapshot file.
    #[serde(flatten)]
    pub file: Entry,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// When the snapshot was taken (RFC 3339, UTC, seconds).
    pub created_at: String,
    /// The `more-node` version that wrote it.
    pub node_version: String,
    /// The database snapshot.
    pub database: DatabaseEntry,
    /// Every blob the snapshot's rows reference (`blob_refs`), sorted by SHA-256; each is
    /// stored as `blobs/{sha256}`.
    pub blobs: Vec<Entry>,
}

impl Manifest {
    /// The manifest's bytes (pretty JSON) and the text of its `.sha256` file.
    ///
    /// # Errors
    /// Never in practice (serialising plain strings and numbers).
    pub fn encode(&self) -> Result<(Vec<u8>, String), BackupError> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| BackupError::Manifest(format!("cannot serialise: {e}")))?;
        bytes.push(b'\n');
        let sum = format!("{}  {MANIFEST}\n", sha256_hex(&bytes));
        Ok((bytes, sum))
    }

    /// Reads a manifest after checking it against the SHA-256 in `sum` (the `.sha256` file).
    ///
    /// # Errors
    /// [`BackupError::Manifest`] when the sum does not match, the JSON does not parse, or the
    /// format is not [`FORMAT`].
    pub fn decode(bytes: &[u8], sum: &str) -> Result<Self, BackupError> {
        let expected = sum.split_whitespace().next().unwrap_or_default();
        let actual = sha256_hex(bytes);
        if expected != actual {
            return Err(BackupError::Manifest(format!(
                "{MANIFEST} has SHA-256 {actual}, {MANIFEST_SHA256} says {expected:?}: it was \
                 edited or damaged"
            )));
        }
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| BackupError::Manifest(format!("{MANIFEST} does not parse: {e}")))?;
        if manifest.format != FORMAT {
            return Err(BackupError::Manifest(format!(
                "format {:?} is not {FORMAT:?}",
                manifest.format
            )));
        }
        Ok(manifest)
    }
}

/// The object name of a blob in a backup.
pub fn blob_name(sha256: &str) -> String {
    format!("blobs/{sha256}")
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            created_at: "2026-12-07T12:00:00Z".into(),
            node_version: "0.1.0".into(),
            database: DatabaseEntry {
                kind: DatabaseKind::Sqlite,
                file: Entry {
                    name: "database.sqlite3".into(),
                    sha256: sha256_hex(b"db"),
                    bytes: 2,
                },
            },
            blobs: vec![],
        }
    }

    #[test]
    fn round_trip_and_a_changed_byte_is_refused() {
        let (bytes, sum) = sample().encode().expect("encode");
        assert_eq!(Manifest::decode(&bytes, &sum).expect("decode"), sample());
        let mut edited = bytes.clone();
        let at = edited.iter().position(|&b| b == b'1').expect("a digit");
        edited[at] = b'2';
        assert!(matches!(
            Manifest::decode(&edited, &sum),
            Err(BackupError::Manifest(_))
        ));
    }
}
