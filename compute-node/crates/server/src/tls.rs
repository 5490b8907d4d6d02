//! HTTPS: the rustls server configuration from `--tls-cert` and `--tls-key` (PEM files), with
//! rustls's safe default protocol versions (TLS 1.2 and 1.3) and the `ring` crypto provider.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::startup::TlsFiles;

/// Reads the certificate chain and the private key and builds the server configuration.
///
/// # Errors
/// A file that cannot be read, holds no certificate or key, or a key that does not match the
/// certificate; the message names the file given on the command line.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
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
