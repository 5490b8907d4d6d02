//! Several named tensors and JSON metadata in one message (a model's weights, a checkpoint).

use super::header::u64_at;
use super::{decode, AnyTensor, DecodeLimits, WireError};

/// First eight bytes of a bundle.
pub const BUNDLE_MAGIC: &[u8; 8] = b"MOREBNDL";
/// The bundle format version this build writes and reads.
pub const BUNDLE_VERSION: u16 = 1;
/// Fixed bundle prefix: magic (8), version (2), reserved (6, zero), total length (8), metadata
/// length (8). The metadata and the tensor count (4) follow.
const BUNDLE_HEADER_LEN: usize = 32;
/// Smallest entry: name length (4) and tensor length (8).
const MIN_ENTRY_LEN: usize = 12;

/// Named tensors with free-form JSON metadata (architecture, epoch, shadow settings, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    /// Free-form metadata.
    pub metadata: serde_json::Value,
    /// The tensors, in order, with unique names.
    pub tensors: Vec<(String, AnyTensor)>,
}

impl Bundle {
    /// The tensor named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&AnyTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Encodes a bundle (layout in `shared/WIRE_FORMAT.md`).
///
/// # Panics
/// For more than `u32::MAX` tensors or a name longer than `u32::MAX` bytes.
pub fn encode_bundle(bundle: &Bundle) -> Vec<u8> {
    let metadata = serde_json::to_vec(&bundle.metadata).expect("a JSON value always serialises");
    let encoded: Vec<Vec<u8>> = bundle.tensors.iter().map(|(_, t)| t.encode()).collect();
    let total = BUNDLE_HEADER_LEN
        + metadata.len()
        + 4
        + bundle
            .tensors
            .iter()
            .zip(&encoded)
            .map(|((n, _), e)| MIN_ENTRY_LEN + n.len() + e.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(BUNDLE_MAGIC);
    out.extend_from_slice(&BUNDLE_VERSION.to_le_bytes());
    out.extend_from_slice(&[0u8; 6]);
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    out.extend_from_slice(&metadata);
    let count = u32::try_from(bundle.tensors.len()).expect("at most u32::MAX tensors");
    out.extend_from_slice(&count.to_le_bytes());
    for ((name, _), bytes) in bundle.tensors.iter().zip(&encoded) {
        let len = u32::try_from(name.len()).expect("name shorter than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// A bounds-checked reader over a byte slice.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        let n = usize::try_from(n).map_err(|_| WireError::ShapeOverflow)?;
        let end = self.at.checked_add(n).ok_or(WireError::ShapeOverflow)?;
        let s = self.bytes.get(self.at..end).ok_or(WireError::Truncated {
            expected: end,
            got: self.bytes.len(),
        })?;
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64_at(self.take(8)?, 0))
    }
}

/// Decodes a bundle. The whole bundle must fit `limits.max_bytes`; every tensor is decoded with
/// `limits` and must be well-formed.
///
/// # Errors
/// [`WireError::BadMagic`], [`WireError::UnsupportedVersion`], [`WireError::InvalidHeader`]
/// (reserved bytes, a total length that differs from the byte count), [`WireError::Truncated`],
/// [`WireError::TrailingBytes`], [`WireError::TooLarge`], [`WireError::BadMetadata`],
/// [`WireError::BadName`] (invalid UTF-8 or duplicate), [`WireError::InTensor`] for an entry's
/// malformed tensor.
pub fn decode_bundle(bytes: &[u8], limits: &DecodeLimits) -> Result<Bundle, WireError> {
    if bytes.len() < BUNDLE_MAGIC.len() {
        return Err(WireError::Truncated {
            expected: BUNDLE_MAGIC.len(),
            got: bytes.len(),
        });
    }
    if &bytes[..8] != BUNDLE_MAGIC {
        return Err(WireError::BadMagic);
    }
    if bytes.len() < BUNDLE_HEADER_LEN {
        return Err(WireError::Truncated {
            expected: BUNDLE_HEADER_LEN,
            got: bytes.len(),
        });
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != BUNDLE_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    if bytes[10..16].iter().any(|&b| b != 0) {
        return Err(WireError::InvalidHeader(
            "bundle reserved bytes 10..16 are not zero".into(),
        ));
    }
    let total = u64_at(bytes, 16);
    if total > limits.max_bytes as u64 {
        return Err(WireError::TooLarge {
            size: usize::try_from(total).unwrap_or(usize::MAX),
            limit: limits.max_bytes,
        });
    }
    if (bytes.len() as u64) < total {
        return Err(WireError::Truncated {
            expected: usize::try_from(total).unwrap_or(usize::MAX),
            got: bytes.len(),
        });
    }
    if (bytes.len() as u64) > total {
        return Err(WireError::TrailingBytes);
    }
    let mut cur = Cursor { bytes, at: 24 };
    let meta_len = cur.u64()?;
    let metadata = serde_json::from_slice(cur.take(meta_len)?)
        .map_err(|e| WireError::BadMetadata(e.to_string()))?;
    let count = cur.u32()?;
    let remaining = bytes.len() - cur.at;
    let mut tensors: Vec<(String, AnyTensor)> =
        Vec::with_capacity((count as usize).min(remaining / MIN_ENTRY_LEN));
    for _ in 0..count {
        let name_len = cur.u32()?;
        let name = std::str::from_utf8(cur.take(u64::from(name_len))?)
            .map_err(|e| WireError::BadName(format!("not UTF-8: {e}")))?
            .to_owned();
        if tensors.iter().any(|(n, _)| *n == name) {
            return Err(WireError::BadName(format!("duplicate name {name:?}")));
        }
        let len = cur.u64()?;
        let tensor = decode(cur.take(len)?, limits).map_err(|e| WireError::InTensor {
            name: name.clone(),
            source: Box::new(e),
        })?;
        tensors.push((name, tensor));
    }
    if cur.at != bytes.len() {
        return Err(WireError::TrailingBytes);
    }
    Ok(Bundle { metadata, tensors })
}
