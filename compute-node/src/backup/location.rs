//! Where a backup lives: a directory (`file:///absolute/dir`) or an S3 prefix
//! (`s3://bucket/prefix`, credentials, region and endpoint from the standard `AWS_*` variables,
//! as for the node's `--store`). Objects are named relative to it (`manifest.json`,
//! `blobs/{sha256}`); files are streamed in and out, never held whole in memory.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::manifest::hex;
use super::BackupError;

/// An opened backup location.
#[derive(Clone, Debug)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    url: String,
}

/// The SHA-256 (lowercase hex) and size in bytes of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest256 {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

fn store_error(url: &str, what: &str, e: object_store::Error) -> BackupError {
    BackupError::Location(format!("{url}: {what}: {e}"))
}

impl Location {
    /// Opens `url`: `file:///absolute/dir` (created when missing) or `s3://bucket[/prefix]`.
    ///
    /// # Errors
    /// [`BackupError::Location`] for another scheme, a relative path, a directory that cannot
    /// be created or an invalid S3 configuration.
    pub fn open(url: &str) -> Result<Self, BackupError> {
        let fail = |e: &dyn std::fmt::Display| BackupError::Location(format!("{url}: {e}"));
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(fail(&"a file:// location needs an absolute path"));
            }
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
            let local = LocalFileSystem::new_with_prefix(dir).map_err(|e| fail(&e))?;
            Arc::new(local.with_fsync(true))
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = AmazonS3Builder::from_env()
                .with_url(format!("s3://{bucket}"))
                .build()
                .map_err(|e| fail(&e))?;
            let prefix = prefix.trim_matches('/');
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            }
        } else {
            return Err(fail(
                &"a backup location is file:///dir or s3://bucket/prefix",
            ));
        };
        Ok(Location {
            store,
            url: url.to_string(),
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes small bytes (the manifest) as `name`.
    ///
    /// # Errors
    /// [`BackupError::Location`] when the store refuses.
    pub async fn put(&self, name: &str, bytes: Bytes) -> Result<(), BackupError> {
        self.store
            .put(&Path::from(name), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| store_error(&self.url, &format!("write {name}"), e))
    }

    /// Streams the local file `path` to `name` (multipart on S3); its digest.
    ///
    /// # Errors
    /// [`BackupError::Location`] when the file cannot be read or the store refuses.
    pub async fn put_file(&self, name: &str, path: &FsPath) -> Result<Digest256, BackupError> {
        let fail =
            |e: std::io::Error| BackupError::Location(format!("{}: write {name}: {e}", self.url));
        let mut file = tokio::fs::File::open(path).await.map_err(fail)?;
        let mut writer = BufWriter::new(self.store.clone(), Path::from(name));
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
                .await
                .map_err(fail)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
            writer.write_all(&buf[..n]).await.map_err(fail)?;
        }
        writer.shutdown().await.map_err(fail)?;
        Ok(Digest256 {
            sha256: hex(&hasher.finalize()),
            bytes,
        })
    }

    /// The bytes of `name`, `None` when it is absent.
    ///
    /// # Errors
    /// [`BackupError::Location`] when the store fails.
    pub async fn get(&self, name: &str) -> Result<Option<Bytes>, BackupError> {
        let read = async { self.store.get(&Path::from(name)).await?.bytes().await };
        match read.await {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(&self.url, &format!("read {name}"), e)),
        }
    }

    /// Streams `name` through SHA-256, writing it to the local file `to` when given; `None`
    /// when it is absent.
    ///
    /// # Errors
    /// [`BackupError::Location`] when the store or the file fails.
    pub async fn digest(
        &self,
        name: &str,
        to: Option<&FsPath>,
    ) -> Result<Option<Digest256>, BackupError> {
        let fail = |e: &dyn std::fmt::Display| {
            BackupError::Location(format!("{}: read {name}: {e}", self.url))
        };
        let mut stream = match self.store.get(&Path::from(name)).await {
            Ok(r) => r.into_stream(),
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(fail(&e)),
        };
        let mut file = match to {
            Some(p) => Some(tokio::fs::File::create(p).await.map_err(|e| fail(&e))?),
            None => None,
        };
        let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(&e))?;
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            if let Some(f) = file.as_mut() {
                f.write_all(&chunk).await.map_err(|e| fail(&e))?;
            }
        }
        if let Some(f) = file {
            f.sync_all().await.map_err(|e| fail(&e))?;
        }
        Ok(Some(Digest256 {
            sha256: hex(&hasher.finalize()),
            bytes,
        }))
    }

    /// Whether any object exists under the location.
    ///
    /// # Errors
    /// [`BackupError::Location`] when listing fails.
    pub async fn is_empty(&self) -> Result<bool, BackupError> {
        match self.store.list(None).next().await {
            None => Ok(true),
            Some(Ok(_)) => Ok(false),
            Some(Err(e)) => Err(store_error(&self.url, "list", e)),
        }
    }
}
