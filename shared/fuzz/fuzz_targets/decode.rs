//! Arbitrary bytes through every decoder: none may panic, and whatever decodes must re-encode to
//! the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use more_core::wire::{
    decode, decode_bundle, decode_from, decode_header, encode_bundle, DecodeLimits,
};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_bytes: 1 << 20,
        max_rank: 8,
    };
    let _ = decode_header(data);
    if let Ok(t) = decode(data, &limits) {
        assert_eq!(t.encode(), data);
    }
    let _ = decode_from(&mut &data[..], &limits);
    if let Ok(b) = decode_bundle(data, &limits) {
        assert_eq!(decode_bundle(&encode_bundle(&b), &limits).unwrap(), b);
    }
});
