//! Wire format v1 for ciphertext and plaintext tensors (see `shared/WIRE_FORMAT.md`).
//!
//! One tensor is a self-describing little-endian message: a fixed 24-byte prefix (magic `MORE`,
//! version, representation, element type, rank, header length, total length), the logical shape,
//! the public compact basis `C0` (compact tensors only) and then the planes, plane-major and
//! row-major. The header length is always a multiple of 8, so plane data is 8-byte aligned
//! relative to the start of the message. A tensor costs exactly 1x (plain), 2x (compact) or 4x
//! (matrix form) its plaintext payload plus the header.
//!
//! Several named tensors (a model's weights, a checkpoint) travel together as a [`Bundle`]
//! (magic `MOREBNDL`) with JSON metadata.
//!
//! Decoding validates everything (magic, version, tags, reserved bytes, shape overflow, declared
//! against actual length, size limits, NaN/∞, the basis) and never panics: every error is a
//! [`WireError`].

mod bundle;
mod error;
mod header;
mod stream;
mod tensor;

pub use bundle::{decode_bundle, encode_bundle, Bundle, BUNDLE_MAGIC, BUNDLE_VERSION};
pub use error::WireError;
pub use header::{decode_header, DecodeLimits, Header, FIXED_HEADER_LEN, MAGIC, VERSION};
pub use stream::StreamValidator;
pub use tensor::{decode, decode_as, decode_from, encode, encode_into, AnyTensor};
