//! HTTPS: the rustls server configuration from `--tls-cert` and `--tls-key` (PEM files), with
//! rustls's safe default protocol versions (TLS 1.2 and 1.3) and the `ring` crypto provider.
//!
//! The private key must not be open to every local user: a key file that others may read or
//! write (`o+r`, `o+w`) is refused at start-up unless `--allow-readable-tls-key` is given (then
//! a warning); a group-readable one (`0640 root:ssl-cert`, Debian's convention) is a warning.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::settings::TlsFiles;

/// Reads the certificate chain and the private key and builds the server configuration.
///
/// # Errors
/// A file that cannot be read, holds no certificate or key, or a key that does not match the
/// certificate, or a key file that others may read or write ([`check_key_mode`]); the message
/// names the file given on the command line.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
    check_key_mode(&files.key, files.allow_readable_key)?;
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--tls-cert {}: {e}", files.cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("--tls-cert {}: no certificate found", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| anyhow::anyhow!("--tls-key {}: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("--tls-cert and --tls-key do not fit together: {e}"))?;
    Ok(config)
}

/// The permission bits of others (neither the owner nor the group).
const WORLD: u32 = 0o007;
/// The permission bits of the group.
const GROUP: u32 = 0o070;

/// Refuses a private key file (after symbolic links) that others may read or write, unless
/// `allow_readable`; warns about one the group may access, or others when allowed.
///
/// # Errors
/// The file's metadata cannot be read, or others may access it and `allow_readable` is false.
pub fn check_key_mode(key: &Path, allow_readable: bool) -> anyhow::Result<()> {
    let mode = std::fs::metadata(key)
        .map_err(|e| anyhow::anyhow!("--tls-key {}: {e}", key.display()))?
        .permissions()
        .mode();
    if mode & WORLD != 0 && !allow_readable {
        anyhow::bail!(
            "--tls-key {}: every local user may access this private key (mode {:o}); make it \
             readable by the node's user only (chmod 600; a Kubernetes secret volume: \
             defaultMode: 0400), or start with --allow-readable-tls-key to accept it",
            key.display(),
            mode & 0o777
        );
    }
    if mode & (WORLD | GROUP) != 0 {
        tracing::warn!(
            key = %key.display(),
            mode = format!("{:o}", mode & 0o777),
            "the TLS private key is readable beyond the node's user"
        );
    }
    Ok(())
}
