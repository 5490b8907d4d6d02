//! A wire-format bundle (`shared/WIRE_FORMAT.md`, "Bundle message") split as it streams in:
//! the bundle's own framing (magic, version, reserved bytes, total length, metadata, tensor
//! count, each entry's name and length) is checked here, and each entry's tensor bytes come out
//! as pieces of the incoming chunks, for the caller to validate (`StreamValidator`) and store.
//! Nothing but the small framing fields is buffered.

use std::ops::Range;

use more_core::wire::{WireError, BUNDLE_MAGIC, BUNDLE_VERSION};

/// Longest metadata accepted (JSON), in bytes.
pub const MAX_METADATA: u64 = 64 << 10;
/// Longest tensor name accepted, in bytes.
pub const MAX_NAME: u32 = 256;

/// What a chunk carried, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// An entry starts: its name and its tensor's declared length.
    Start(String, u64),
    /// Bytes of the current entry's tensor: a range of the chunk just fed.
    Bytes(Range<usize>),
    /// The current entry's tensor is complete.
    End,
}

/// Which framing field the splitter is reading.
#[derive(Debug)]
enum Field {
    /// Magic, version, reserved, total length, metadata length (32 bytes).
    Prefix,
    /// The metadata JSON.
    Metadata(u64),
    /// The tensor count (u32).
    Count,
    /// An entry's name length (u32).
    NameLen,
    /// An entry's name.
    Name(u32),
    /// An entry's tensor length (u64), after its name.
    TensorLen(String),
    /// Bytes left of the current tensor.
    Tensor(u64),
    /// Every entry read.
    Done,
}

/// Splits one bundle fed in arbitrary chunks.
#[derive(Debug)]
pub struct BundleSplitter {
    field: Field,
    /// The bytes of the current framing field so far.
    buf: Vec<u8>,
    /// Bytes fed in total.
    seen: u64,
    /// Bytes interpreted so far (framing and tensor bytes).
    consumed: u64,
    /// The declared total length (0 until the prefix is read).
    total: u64,
    /// Entries still to come.
    entries_left: u32,
    names: Vec<String>,
    max_bytes: u64,
}

impl BundleSplitter {
    /// A splitter refusing bundles longer than `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        BundleSplitter {
            field: Field::Prefix,
            buf: Vec::new(),
            seen: 0,
            consumed: 0,
            total: u64::MAX,
            entries_left: 0,
            names: Vec::new(),
            max_bytes,
        }
    }

    /// The pieces of the next chunk.
    ///
    /// # Errors
    /// The bundle rules of `decode_bundle`: [`WireError::BadMagic`],
    /// [`WireError::UnsupportedVersion`], [`WireError::InvalidHeader`] (reserved bytes),
    /// [`WireError::TooLarge`], [`WireError::BadMetadata`] (not JSON, or over [`MAX_METADATA`]),
    /// [`WireError::BadName`] (not UTF-8, over [`MAX_NAME`], a duplicate),
    /// [`WireError::Truncated`] (an entry longer than the bundle), [`WireError::TrailingBytes`].
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Piece>, WireError> {
        self.seen = self.seen.saturating_add(chunk.len() as u64);
        if self.seen > self.total {
            return Err(WireError::TrailingBytes);
        }
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < chunk.len() {
            at = self.step(chunk, at, &mut pieces)?;
        }
        Ok(pieces)
    }

    /// Ends the bundle: every entry complete and exactly the declared length fed.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when bytes are missing.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.field {
            Field::Done if self.seen == self.total => Ok(()),
            _ => Err(WireError::Truncated {
                expected: usize::try_from(self.total.max(self.seen + 1)).unwrap_or(usize::MAX),
                got: usize::try_from(self.seen).unwrap_or(usize::MAX),
            }),
        }
    }

    /// Consumes what the current field needs from `chunk[at..]`; returns the new position.
    fn step(&mut self, chunk: &[u8], at: usize, out: &mut Vec<Piece>) -> Result<usize, WireError> {
        if let Field::Tensor(left) = self.field {
            let take = left.min((chunk.len() - at) as u64) as usize;
            self.consumed += take as u64;
            out.push(Piece::Bytes(at..at + take));
            self.field = Field::Tensor(left - take as u64);
            if left == take as u64 {
                out.push(Piece::End);
                self.next_entry();
            }
            return Ok(at + take);
        }
        let want = match &self.field {
            Field::Prefix => 32,
            Field::Metadata(n) => *n as usize,
            Field::Count | Field::NameLen => 4,
            Field::Name(n) => *n as usize,
            Field::TensorLen(_) => 8,
            Field::Tensor(_) => unreachable!("handled above"),
            Field::Done => return Err(WireError::TrailingBytes),
        };
        let take = (want - self.buf.len()).min(chunk.len() - at);
        self.consumed += take as u64;
        self.buf.extend_from_slice(&chunk[at..at + take]);
        if self.buf.len() == want {
            let field = std::mem::take(&mut self.buf);
            self.parse(&field, out)?;
        }
        Ok(at + take)
    }

    /// Interprets a complete framing field and moves to the next.
    fn parse(&mut self, bytes: &[u8], out: &mut Vec<Piece>) -> Result<(), WireError> {
        self.field = match std::mem::replace(&mut self.field, Field::Done) {
            Field::Prefix => Field::Metadata(self.prefix(bytes)?),
            Field::Metadata(_) => {
                serde_json::from_slice::<serde_json::Value>(bytes)
                    .map_err(|e| WireError::BadMetadata(e.to_string()))?;
                Field::Count
            }
            Field::Count => {
                self.entries_left = u32_le(bytes);
                self.first_or_done()
            }
            Field::NameLen => match u32_le(bytes) {
                n if n > MAX_NAME => {
                    return Err(WireError::BadName(format!(
                        "a name of {n} bytes (at most {MAX_NAME})"
                    )))
                }
                0 => Field::TensorLen(self.name(&[])?),
                n => Field::Name(n),
            },
            Field::Name(_) => Field::TensorLen(self.name(bytes)?),
            Field::TensorLen(name) => {
                let len = u64_le(bytes);
                let room = self.total.saturating_sub(self.consumed);
                if len > room {
                    return Err(WireError::Truncated {
                        expected: usize::try_from(len).unwrap_or(usize::MAX),
                        got: usize::try_from(room).unwrap_or(usize::MAX),
                    });
                }
                out.push(Piece::Start(name, len));
                if len == 0 {
                    out.push(Piece::End);
                    self.entries_left -= 1;
                    self.first_or_done()
                } else {
                    Field::Tensor(len)
                }
            }
            Field::Tensor(_) | Field::Done => unreachable!("not a buffered field"),
        };
        Ok(())
    }

    /// Checks the 32-byte prefix; returns the metadata length.
    fn prefix(&mut self, p: &[u8]) -> Result<u64, WireError> {
        if &p[..8] != BUNDLE_MAGIC {
            return Err(WireError::BadMagic);
        }
        let version = u16::from_le_bytes([p[8], p[9]]);
        if version != BUNDLE_VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        if p[10..16].iter().any(|&b| b != 0) {
            return Err(WireError::InvalidHeader(
                "bundle reserved bytes 10..16 are not zero".into(),
            ));
        }
        let total = u64_le(&p[16..24]);
        if total > self.max_bytes {
            return Err(WireError::TooLarge {
                size: usize::try_from(total).unwrap_or(usize::MAX),
                limit: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
            });
        }
        if self.seen > total {
            return Err(WireError::TrailingBytes);
        }
        self.total = total;
        let metadata = u64_le(&p[24..32]);
        if metadata > MAX_METADATA {
            return Err(WireError::BadMetadata(format!(
                "{metadata} bytes of metadata (at most {MAX_METADATA})"
            )));
        }
        Ok(metadata)
    }

    /// A UTF-8 name not seen before in this bundle.
    fn name(&mut self, bytes: &[u8]) -> Result<String, WireError> {
        let name = std::str::from_utf8(bytes)
            .map_err(|e| WireError::BadName(format!("not UTF-8: {e}")))?
            .to_owned();
        if self.names.contains(&name) {
            return Err(WireError::BadName(format!("duplicate name {name:?}")));
        }
        self.names.push(name.clone());
        Ok(name)
    }

    fn next_entry(&mut self) {
        self.entries_left -= 1;
        self.field = self.first_or_done();
    }

    fn first_or_done(&self) -> Field {
        if self.entries_left == 0 {
            Field::Done
        } else {
            Field::NameLen
        }
    }
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn u64_le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use more_core::tensor::PlanarTensor;
    use more_core::wire::{encode_bundle, AnyTensor, Bundle};

    fn bundle() -> (Vec<u8>, Vec<Vec<u8>>) {
        let t = |n: usize, v: f32| {
            let values = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[n, 3]), v);
            AnyTensor::from(PlanarTensor::<f32, _>::plain(values))
        };
        let tensors = vec![
            ("features".to_string(), t(5, 1.5)),
            ("targets".to_string(), t(5, 2.0)),
        ];
        let each = tensors.iter().map(|(_, x)| x.encode()).collect();
        let b = Bundle {
            metadata: serde_json::json!({"shard": 0}),
            tensors,
        };
        (encode_bundle(&b), each)
    }

    /// Feeds `bytes` in chunks of `size`; returns each entry's name and reassembled bytes.
    fn split(bytes: &[u8], size: usize) -> Result<Vec<(String, Vec<u8>)>, WireError> {
        let mut s = BundleSplitter::new(1 << 20);
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut open = false;
        for chunk in bytes.chunks(size) {
            for p in s.feed(chunk)? {
                match p {
                    Piece::Start(name, _) => {
                        assert!(!open);
                        open = true;
                        out.push((name, Vec::new()));
                    }
                    Piece::Bytes(r) => out.last_mut().unwrap().1.extend_from_slice(&chunk[r]),
                    Piece::End => open = false,
                }
            }
        }
        s.finish()?;
        assert!(!open);
        Ok(out)
    }

    #[test]
    fn every_chunking_gives_back_each_tensor_message_byte_for_byte() {
        let (bytes, each) = bundle();
        for size in [1, 3, 7, 32, 33, 100, bytes.len()] {
            let got = split(&bytes, size).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].0, "features");
            assert_eq!(got[1].0, "targets");
            assert_eq!(got[0].1, each[0], "chunks of {size}");
            assert_eq!(got[1].1, each[1], "chunks of {size}");
        }
    }

    #[test]
    fn framing_faults_are_refused() {
        let (bytes, _) = bundle();
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(matches!(split(&bad, 7), Err(WireError::BadMagic)));
        let mut bad = bytes.clone();
        bad[12] = 1;
        assert!(matches!(split(&bad, 7), Err(WireError::InvalidHeader(_))));
        assert!(matches!(
            split(&bytes[..bytes.len() - 1], 7),
            Err(WireError::Truncated { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(split(&longer, 7), Err(WireError::TrailingBytes)));
        let mut s = BundleSplitter::new(bytes.len() as u64 - 1);
        assert!(matches!(s.feed(&bytes), Err(WireError::TooLarge { .. })));
        // The second name rewritten to the first: a duplicate.
        let at = bytes.windows(7).position(|w| w == b"targets").unwrap();
        let mut dup = bytes.clone();
        dup[at - 4..at].copy_from_slice(&8u32.to_le_bytes());
        dup.splice(at..at + 7, *b"features");
        let total = dup.len() as u64;
        dup[16..24].copy_from_slice(&total.to_le_bytes());
        assert!(matches!(split(&dup, 5), Err(WireError::BadName(_))));
        // Metadata that is not JSON.
        let mut meta = bytes.clone();
        meta[32] = b'{';
        meta[33] = b'{';
        assert!(matches!(split(&meta, 5), Err(WireError::BadMetadata(_))));
    }
}
