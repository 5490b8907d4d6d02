//! Passphrase-wrapped key files: the exported key bytes (`SecretKey::export_bytes`, whose first 8
//! bytes name the key generation, `MOREKEY1` or `MOREKEY2`: see [`crate::KeyGeneration`]) sealed
//! under a passphrase. The page, and any other client, stores keys only in this form.
//!
//! Key file format, version 1 (all integers little-endian), 138 bytes for a 56-byte key:
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `MOREWKEY` |
//! | 8 | 2 | version `1` |
//! | 10 | 2 | reserved, zero |
//! | 12 | 4 | Argon2id memory cost in KiB |
//! | 16 | 4 | Argon2id iterations |
//! | 20 | 4 | Argon2id lanes |
//! | 24 | 16 | salt (random) |
//! | 40 | 24 | XChaCha20-Poly1305 nonce (random) |
//! | 64 | n + 16 | ciphertext and tag of the exported key |
//!
//! The 256-bit AEAD key is Argon2id(passphrase, salt) (RFC 9106) with the stored costs; the first
//! 64 bytes (the header) are the associated data, so no header field can be altered unnoticed.
//! Defaults follow OWASP's Argon2id minimum: 19 MiB, 2 iterations, 1 lane.
//!
//! Inside the sealed bytes, the first 8 bytes say which key generation made the key:
//!
//! | exported magic | key generation | made by | public basis |
//! | --- | --- | --- | --- |
//! | `MOREKEY1` | 1 (`KeyGeneration::V1SignedBasis`) | releases before 2026-12-01 | reveals every value: its positive eigenvalue is the message slot |
//! | `MOREKEY2` | 2 (`KeyGeneration::V2Symmetric`) | every key made since | reveals what one matrix-form ciphertext reveals |
//!
//! Both import, so data encrypted under an old key still decrypts; the page tells the user when a
//! loaded key is of generation 1. The wrapping format itself (version 1 above) did not change.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"MOREWKEY";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 64;
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Largest accepted memory cost when reading a file (256 MiB), so a crafted file cannot exhaust
/// the page.
const MAX_M_COST_KIB: u32 = 256 * 1024;
const MAX_T_COST: u32 = 16;

/// Why a key file could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    /// Not a wrapped key file of a supported version.
    #[error("not a MORE key file (expected magic MOREWKEY, version 1, at least 80 bytes)")]
    Format,
    /// Cost parameters outside the accepted range.
    #[error("key file asks for unsupported Argon2 costs")]
    Costs,
    /// Wrong passphrase or a modified file: the AEAD tag does not verify.
    #[error("wrong passphrase, or the key file was modified")]
    Authentication,
    /// The passphrase is empty.
    #[error("the passphrase must not be empty")]
    EmptyPassphrase,
    /// The random source failed.
    #[error("random source failed: {0}")]
    Randomness(String),
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, WrapError> {
    let params = Params::new(m, t, p, Some(32)).map_err(|_| WrapError::Costs)?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|_| WrapError::Costs)?;
    Ok(key)
}

/// Encrypts `secret` under `passphrase` into the format above.
pub fn wrap(secret: &[u8], passphrase: &str) -> Result<Vec<u8>, WrapError> {
    if passphrase.is_empty() {
        return Err(WrapError::EmptyPassphrase);
    }
    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|e| WrapError::Randomness(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + secret.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    for v in [M_COST_KIB, T_COST, P_COST] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&random);
    let key = derive(passphrase, &random[..16], M_COST_KIB, T_COST, P_COST)?;
    let aead = XChaCha20Poly1305::new(key.as_ref().into());
    let sealed = aead
        .encrypt(
            XNonce::from_slice(&random[16..]),
            Payload {
                msg: secret,
                aad: &out,
            },
        )
        .map_err(|_| WrapError::Authentication)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a key file made by [`wrap`].
pub fn unwrap(file: &[u8], passphrase: &str) -> Result<Zeroizing<Vec<u8>>, WrapError> {
    if file.len() < HEADER_LEN + 16
        || &file[..8] != MAGIC
        || file[8..10] != VERSION.to_le_bytes()
        || file[10..12] != [0, 0]
    {
        return Err(WrapError::Format);
    }
    let u32_at = |i: usize| u32::from_le_bytes([file[i], file[i + 1], file[i + 2], file[i + 3]]);
    let (m, t, p) = (u32_at(12), u32_at(16), u32_at(20));
    if m > MAX_M_COST_KIB || t > MAX_T_COST || p == 0 || p > 16 {
        return Err(WrapError::Costs);
    }
    let key = derive(passphrase, &file[24..40], m, t, p)?;
    let aead = XChaCha20Poly1305::new(key.as_ref().into());
    aead.decrypt(
        XNonce::from_slice(&file[40..64]),
        Payload {
            msg: &file[HEADER_LEN..],
            aad: &file[..HEADER_LEN],
        },
    )
    .map(Zeroizing::new)
    .map_err(|_| WrapError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let secret = b"0123456789abcdef0123456789abcdef0123456789abcdef01234567";
        let file = wrap(secret, "correct horse").unwrap();
        assert_eq!(file.len(), HEADER_LEN + secret.len() + 16);
        assert_eq!(unwrap(&file, "correct horse").unwrap().as_slice(), secret);
        assert!(matches!(
            unwrap(&file, "wrong"),
            Err(WrapError::Authentication)
        ));
        let mut tampered = file.clone();
        tampered[30] ^= 1; // salt
        assert!(matches!(
            unwrap(&tampered, "correct horse"),
            Err(WrapError::Authentication)
        ));
        assert!(matches!(
            unwrap(&file[..70], "correct horse"),
            Err(WrapError::Format)
        ));
        assert!(matches!(wrap(secret, ""), Err(WrapError::EmptyPassphrase)));
    }
}
