//! Passphrase-wrapped key files (`.morekey`), the page's format (`more_secret_key::wrap`:
//! Argon2id + XChaCha20-Poly1305 around `SecretKey::export_bytes`), and where the passphrase
//! comes from.

use std::io::IsTerminal;
use std::path::Path;

use more_secret_key::{wrap, SecretKey};
use zeroize::Zeroizing;

use crate::{CliError, Result};

/// The environment variable read for the passphrase before prompting.
pub const PASSPHRASE_ENV: &str = "MORE_PASSPHRASE";

/// The passphrase from `MORE_PASSPHRASE`, else from a prompt on the terminal (asked twice when
/// `confirm`). Never from an argument.
///
/// # Errors
/// [`CliError::Key`] when neither is available (no terminal), the entries differ, or it is empty.
pub fn passphrase(prompt: &str, confirm: bool) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        if p.is_empty() {
            return Err(CliError::Key(format!("{PASSPHRASE_ENV} is empty")));
        }
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Key(format!(
            "no passphrase: set {PASSPHRASE_ENV} or run in a terminal to be asked"
        )));
    }
    let read = |p: &str| {
        rpassword::prompt_password(p)
            .map(Zeroizing::new)
            .map_err(|e| CliError::Key(format!("cannot read the passphrase: {e}")))
    };
    let p = read(prompt)?;
    if p.is_empty() {
        return Err(CliError::Key("the passphrase is empty".into()));
    }
    if confirm && *read("Repeat the passphrase: ")? != *p {
        return Err(CliError::Key("the two passphrases differ".into()));
    }
    Ok(p)
}

/// Reads a key file made by the page, the CLI or Python.
///
/// # Errors
/// [`CliError::Io`] when unreadable; [`CliError::Key`] for a wrong passphrase, a damaged or
/// foreign file.
pub fn load(path: &Path, passphrase: &str) -> Result<SecretKey> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Io(format!("cannot read the key file {}: {e}", path.display())))?;
    let raw = wrap::unwrap(&bytes, passphrase)
        .map_err(|e| CliError::Key(format!("{}: {e}", path.display())))?;
    SecretKey::import_bytes(&raw).map_err(|e| CliError::Key(format!("{}: {e}", path.display())))
}

/// The key wrapped under `passphrase`, in the page's key-file format.
///
/// # Errors
/// [`CliError::Key`] for an empty passphrase or a failing random source.
pub fn wrap_key(key: &SecretKey, passphrase: &str) -> Result<Vec<u8>> {
    wrap::wrap(&key.export_bytes(), passphrase).map_err(|e| CliError::Key(e.to_string()))
}

/// Writes the wrapped key to `path` (mode 0600 on Unix); refuses to overwrite unless `force`.
///
/// # Errors
/// [`CliError::Key`] when the file exists (and not `force`) or wrapping fails; [`CliError::Io`]
/// when it cannot be written.
pub fn save(key: &SecretKey, path: &Path, passphrase: &str, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(CliError::Key(format!(
            "{} exists; not overwriting a key file (use --force)",
            path.display()
        )));
    }
    let bytes = wrap_key(key, passphrase)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let io = |e: std::io::Error| CliError::Io(format!("cannot write {}: {e}", path.display()));
    let mut f = opts.open(path).map_err(io)?;
    std::io::Write::write_all(&mut f, &bytes).map_err(io)
}
