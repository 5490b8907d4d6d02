//! Validation of a tensor message as it streams in, chunk by chunk, without holding it.
//!
//! [`StreamValidator`] applies the same checks as [`super::decode`] (header, limits, exact length,
//! every value finite) while keeping at most the header and 7 bytes of a value split between two
//! chunks. A server can thus refuse a bad or oversized upload from its first chunk and store the
//! rest as it arrives.

use super::error::WireError;
use super::header::{decode_header, DecodeLimits, Header};
use crate::Dtype;

/// Checks a tensor message fed in arbitrary chunks.
#[derive(Debug)]
pub struct StreamValidator {
    limits: DecodeLimits,
    /// Bytes before the header could be parsed (at most the header).
    prefix: Vec<u8>,
    header: Option<Header>,
    /// Bytes seen in total.
    seen: usize,
    /// Start of a value split across chunks.
    carry: Vec<u8>,
    /// Values checked so far (over all planes).
    values_checked: usize,
}

impl StreamValidator {
    /// A validator applying `limits` (checked as soon as the header is known).
    pub fn new(limits: DecodeLimits) -> Self {
        StreamValidator {
            limits,
            prefix: Vec::new(),
            header: None,
            seen: 0,
            carry: Vec::new(),
            values_checked: 0,
        }
    }

    /// The header, once the chunks fed so far contain it.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Checks the next chunk.
    ///
    /// # Errors
    /// As [`super::decode`]: a bad header, [`WireError::TooLarge`] or [`WireError::BadRank`]
    /// from the limits, [`WireError::TrailingBytes`] once past the declared length,
    /// [`WireError::NonFinite`] for a NaN or infinite value.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), WireError> {
        self.seen = self.seen.saturating_add(chunk.len());
        if self.header.is_none() {
            chunk = self.feed_header(chunk)?;
        }
        let Some(header) = &self.header else {
            return Ok(());
        };
        if self.seen > header.total_len {
            return Err(WireError::TrailingBytes);
        }
        let width = header.dtype.size();
        let per_plane = header.values();
        let dtype = header.dtype;
        if !self.carry.is_empty() {
            let take = (width - self.carry.len()).min(chunk.len());
            self.carry.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.carry.len() == width {
                let value = std::mem::take(&mut self.carry);
                self.check_value(&value, dtype, per_plane)?;
            }
        }
        let whole = chunk.len() - chunk.len() % width;
        for value in chunk[..whole].chunks_exact(width) {
            self.check_value(value, dtype, per_plane)?;
        }
        self.carry.extend_from_slice(&chunk[whole..]);
        Ok(())
    }

    /// Ends the message: it must be exactly as long as its header says.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when bytes are missing (or the header never completed).
    pub fn finish(self) -> Result<Header, WireError> {
        match self.header {
            Some(h) if self.seen == h.total_len => Ok(h),
            Some(h) => Err(WireError::Truncated {
                expected: h.total_len,
                got: self.seen,
            }),
            None => Err(decode_header(&self.prefix)
                .err()
                .unwrap_or(WireError::Truncated {
                    expected: self.prefix.len() + 1,
                    got: self.prefix.len(),
                })),
        }
    }

    /// Buffers header bytes until the header parses; returns the rest of the chunk.
    fn feed_header<'a>(&mut self, chunk: &'a [u8]) -> Result<&'a [u8], WireError> {
        let before = self.prefix.len();
        self.prefix.extend_from_slice(chunk);
        match decode_header(&self.prefix) {
            Ok(header) => {
                header.check(&self.limits)?;
                let used = header.header_len - before;
                self.prefix = Vec::new();
                self.header = Some(header);
                Ok(&chunk[used..])
            }
            Err(WireError::Truncated { .. }) => Ok(&[]),
            Err(e) => Err(e),
        }
    }

    fn check_value(
        &mut self,
        bytes: &[u8],
        dtype: Dtype,
        per_plane: usize,
    ) -> Result<(), WireError> {
        let finite = match dtype {
            Dtype::F32 => f32::from_le_bytes(bytes.try_into().expect("4 bytes")).is_finite(),
            Dtype::F64 => f64::from_le_bytes(bytes.try_into().expect("8 bytes")).is_finite(),
        };
        let at = self.values_checked;
        self.values_checked += 1;
        if finite {
            Ok(())
        } else {
            Err(WireError::NonFinite {
                plane: at / per_plane.max(1),
                index: at % per_plane.max(1),
            })
        }
    }
}
