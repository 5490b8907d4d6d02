//! The wire format: round trips, streaming in small chunks, and malformed bytes refused with an
//! error (never a panic).
use fhe::bfv::{Ciphertext, Encoding, Plaintext, RelinearizationKey, SecretKey};
use fhe_traits::{FheEncoder, FheEncrypter, Serialize};
use more_secure::wire::{self, BatchReader, HEADER_BYTES};
use more_secure::{bfv_parameters, SecureError};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn ciphertexts(n: usize) -> (SecretKey, Vec<Ciphertext>) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let sk = SecretKey::random(bfv_parameters(), &mut rng);
    let cts = (0..n as i64)
        .map(|i| {
            let pt =
                Plaintext::try_encode(&[i, -i, 7], Encoding::simd(), bfv_parameters()).unwrap();
            sk.try_encrypt(&pt, &mut rng).unwrap()
        })
        .collect();
    (sk, cts)
}

fn is_wire_error<T: std::fmt::Debug>(r: Result<T, SecureError>) -> bool {
    matches!(r, Err(SecureError::Wire(_)))
}

#[test]
fn a_batch_round_trips_whole_and_in_small_chunks() {
    let (_, cts) = ciphertexts(3);
    let bytes = wire::write_batch(17, &cts);
    assert_eq!(&bytes[..4], b"MSB1");
    let (samples, back) = wire::read_batch(&bytes).unwrap();
    assert_eq!((samples, back.len()), (17, 3));
    for (a, b) in cts.iter().zip(&back) {
        assert_eq!(a.to_bytes(), b.to_bytes());
    }
    // Seeded fresh ciphertexts: one polynomial plus a 32-byte seed, about half of two parts.
    assert!(
        bytes.len() < 3 * (wire::max_ciphertext_bytes() / 2 + 100),
        "{} bytes",
        bytes.len()
    );
    let mut reader = BatchReader::new(3);
    let mut got = 0;
    for chunk in bytes.chunks(1000) {
        reader.push(chunk).unwrap();
        while let Some(ct) = reader.next_ciphertext().unwrap() {
            assert_eq!(ct.to_bytes(), cts[got].to_bytes());
            got += 1;
        }
    }
    assert_eq!(reader.header().unwrap().samples, 17);
    assert_eq!(reader.finish().unwrap().count, 3);
    assert_eq!(got, 3);
}

#[test]
fn a_batch_read_for_evaluation_holds_the_same_ciphertexts() {
    let (sk, cts) = ciphertexts(3);
    let bytes = wire::write_batch(17, &cts);
    let (samples, back) = wire::read_batch_for_evaluation(&bytes).unwrap();
    assert_eq!((samples, back.len()), (17, 3));
    for (a, b) in cts.iter().zip(&back) {
        assert_eq!(a.len(), b.len());
        for (pa, pb) in a.iter().zip(b.iter()) {
            assert_eq!(pa, pb);
        }
        use fhe_traits::FheDecrypter;
        let (da, db) = (sk.try_decrypt(a).unwrap(), sk.try_decrypt(b).unwrap());
        assert_eq!(da, db);
    }
    let cut = &bytes[..bytes.len() - 1];
    assert!(is_wire_error(wire::read_batch_for_evaluation(cut)));
}

#[test]
fn malformed_batches_are_refused() {
    let (_, cts) = ciphertexts(2);
    let good = wire::write_batch(5, &cts);
    // Truncated anywhere: inside the header, inside a length, inside a frame.
    for cut in [
        0,
        3,
        HEADER_BYTES - 1,
        HEADER_BYTES + 2,
        HEADER_BYTES + 100,
        good.len() - 1,
    ] {
        assert!(
            is_wire_error(wire::read_batch(&good[..cut])),
            "truncated at {cut} accepted"
        );
    }
    // Trailing bytes.
    let mut long = good.clone();
    long.push(0);
    assert!(is_wire_error(wire::read_batch(&long)));
    // Bad magic.
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(is_wire_error(wire::read_batch(&bad)));
    // Sample counts 0 and 8193.
    for samples in [0u32, 8193] {
        let mut bad = good.clone();
        bad[4..8].copy_from_slice(&samples.to_le_bytes());
        assert!(
            is_wire_error(wire::read_batch(&bad)),
            "{samples} samples accepted"
        );
    }
    // Wrong ciphertext count: more than present (truncated), fewer (trailing bytes), zero.
    for count in [0u32, 1, 3] {
        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&count.to_le_bytes());
        assert!(
            is_wire_error(wire::read_batch(&bad)),
            "count {count} accepted"
        );
    }
    // A reader with a count limit refuses a larger header before any frame arrives.
    let mut reader = BatchReader::new(1);
    assert!(is_wire_error(reader.push(&good[..HEADER_BYTES])));
    // Oversize frame length: refused as soon as its 4 bytes arrive, before the body.
    let mut bad = good[..HEADER_BYTES].to_vec();
    bad.extend_from_slice(&(wire::max_ciphertext_bytes() as u32 + 1).to_le_bytes());
    let mut reader = BatchReader::new(2);
    assert!(is_wire_error(reader.push(&bad)));
    // A frame of garbage, and a frame whose bytes are flipped, are refused without panic.
    let mut garbage = good[..HEADER_BYTES].to_vec();
    garbage[8..12].copy_from_slice(&1u32.to_le_bytes());
    garbage.extend_from_slice(&64u32.to_le_bytes());
    garbage.extend_from_slice(&[0xA5; 64]);
    assert!(is_wire_error(wire::read_batch(&garbage)));
    let frame = cts[0].to_bytes();
    for at in [0, 1, 5, frame.len() / 2, frame.len() - 3] {
        let mut f = frame.clone();
        f[at] ^= 0xFF;
        // Either refused, or (a flipped coefficient byte) a different but well-formed ciphertext.
        let _ = wire::decode_ciphertext(&f);
    }
}

#[test]
fn evaluation_keys_parse_and_garbage_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let sk = SecretKey::random(bfv_parameters(), &mut rng);
    let bytes = RelinearizationKey::new(&sk, &mut rng).unwrap().to_bytes();
    assert!(
        bytes.len() <= 1_000_000,
        "evaluation key of {} bytes",
        bytes.len()
    );
    wire::parse_evaluation_key(&bytes).unwrap();
    assert!(is_wire_error(wire::parse_evaluation_key(
        &bytes[..bytes.len() / 2]
    )));
    assert!(is_wire_error(wire::parse_evaluation_key(&[])));
    assert!(is_wire_error(wire::parse_evaluation_key(&[0x0A; 300])));
}
