//! Wire format v1: round trips, the documented hex dump, every malformed-input class, bundles, and
//! a stable "fuzz smoke" test (random mutations of valid encodings never panic).

use more_core::tensor::{
    Compact, CompactBasis, CompactCiphertext, MatrixCiphertext, MatrixForm, Plain, PlainTensor,
    PlanarTensor, Representation, RepresentationKind,
};
use more_core::wire::{
    decode, decode_as, decode_bundle, decode_from, decode_header, encode, encode_bundle,
    encode_into, AnyTensor, Bundle, DecodeLimits, StreamValidator, WireError, FIXED_HEADER_LEN,
};
use more_core::{Dtype, Float};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

fn values<F: Float>(shape: &[usize], seed: u64) -> ArrayD<F> {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| F::of_f64(((i as f64 + 1.0) * 0.37 + seed as f64).sin() * 10.0))
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn compact<F: Float>(shape: &[usize], seed: u64) -> CompactCiphertext<F> {
    let key = SecretKey::from_seed(seed);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    key.encrypt_compact(
        &values::<F>(shape, seed),
        &ShadowDistribution::default(),
        &mut rng,
    )
    .unwrap()
}

fn matrix<F: Float>(shape: &[usize], seed: u64) -> MatrixCiphertext<F> {
    let key = SecretKey::from_seed(seed);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    key.encrypt_matrix(
        &values::<F>(shape, seed),
        &ShadowDistribution::default(),
        &mut rng,
    )
    .unwrap()
}

/// Encodes, checks the exact size, decodes through every entry point, and compares bit-exactly.
fn round_trip<F: Float, R: Representation<F>>(t: PlanarTensor<F, R>, planes: usize) {
    let bytes = encode(&t);
    let n: usize = t.shape().iter().product();
    let header = decode_header(&bytes).unwrap();
    assert_eq!(header.kind, R::KIND);
    assert_eq!(header.dtype, F::DTYPE);
    assert_eq!(header.shape, t.shape());
    assert_eq!(header.header_len % 8, 0);
    assert_eq!(header.payload_len(), n * planes * std::mem::size_of::<F>());
    assert_eq!(
        bytes.len(),
        header.header_len + n * planes * std::mem::size_of::<F>()
    );
    let mut streamed = Vec::new();
    encode_into(&t, &mut streamed).unwrap();
    assert_eq!(streamed, bytes, "encode_into == encode");
    let any = decode(&bytes, &limits()).unwrap();
    assert_eq!(any.shape(), t.shape());
    assert_eq!(any.kind(), R::KIND);
    assert_eq!(any.dtype(), F::DTYPE);
    assert_eq!(any.encode(), bytes);
    let back: PlanarTensor<F, R> = any.clone().into_typed().unwrap();
    assert_eq!(back, t);
    assert_eq!(decode_as::<F, R>(&bytes, &limits()).unwrap(), t);
    assert_eq!(AnyTensor::from_typed(t.clone()), Some(any));
    // Two messages on one stream.
    let mut stream = bytes.clone();
    stream.extend_from_slice(&bytes);
    let mut reader = stream.as_slice();
    for _ in 0..2 {
        let got: PlanarTensor<F, R> = decode_from(&mut reader, &limits())
            .unwrap()
            .into_typed()
            .unwrap();
        assert_eq!(got, t);
    }
    assert!(reader.is_empty());
}

const SHAPES: &[&[usize]] = &[&[], &[1], &[7], &[3, 5], &[2, 3, 4], &[0, 4], &[2, 1, 1, 3]];

#[test]
fn round_trip_every_representation_and_dtype() {
    for (i, &shape) in SHAPES.iter().enumerate() {
        let seed = i as u64 + 1;
        round_trip(PlainTensor::plain(values::<f32>(shape, seed)), 1);
        round_trip(PlainTensor::plain(values::<f64>(shape, seed)), 1);
        round_trip(compact::<f32>(shape, seed), 2);
        round_trip(compact::<f64>(shape, seed), 2);
        round_trip(matrix::<f32>(shape, seed), 4);
        round_trip(matrix::<f64>(shape, seed), 4);
    }
}

#[test]
fn encode_reads_non_standard_layouts_in_logical_order() {
    // A transposed tensor is re-laid out by the tensor code; the bytes follow the logical order.
    let t = PlainTensor::plain(values::<f32>(&[3, 4], 9))
        .transpose()
        .unwrap();
    let back: PlainTensor<f32> = decode_as(&encode(&t), &limits()).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.values()[[1, 2]], t.values()[[1, 2]]);
}

/// The example of WIRE_FORMAT.md: a compact f32 tensor of shape [2] with
/// C0 = [[1, 0.5], [0.25, −1]], a = [1, 0], b = [0.5, −2].
const HEX_EXAMPLE: &str = "
4d 4f 52 45 01 00 01 00 01 00 00 00 40 00 00 00
50 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00
00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 e0 3f
00 00 00 00 00 00 d0 3f 00 00 00 00 00 00 f0 bf
00 00 80 3f 00 00 00 00 00 00 00 3f 00 00 00 c0";

fn example() -> CompactCiphertext<f32> {
    let basis = CompactBasis::new([1.0, 0.5, 0.25, -1.0]).unwrap();
    let a = ArrayD::from_shape_vec(IxDyn(&[2]), vec![1.0f32, 0.0]).unwrap();
    let b = ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.5f32, -2.0]).unwrap();
    PlanarTensor::from_planes(Compact { basis }, vec![a, b]).unwrap()
}

fn parse_hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

#[test]
fn hex_dump_example_matches_byte_for_byte() {
    let expected = parse_hex(HEX_EXAMPLE);
    assert_eq!(expected.len(), 80);
    assert_eq!(encode(&example()), expected);
    let back: CompactCiphertext<f32> = decode_as(&expected, &limits()).unwrap();
    assert_eq!(back, example());
}

fn err(bytes: &[u8]) -> WireError {
    decode(bytes, &limits()).unwrap_err()
}

fn valid() -> Vec<u8> {
    encode(&example())
}

#[test]
fn rejects_bad_magic_version_tags_and_reserved_bytes() {
    let mut b = valid();
    b[0] = b'X';
    assert_eq!(err(&b), WireError::BadMagic);
    assert_eq!(
        err(b"MOR"),
        WireError::Truncated {
            expected: 4,
            got: 3
        }
    );
    assert_eq!(
        err(b""),
        WireError::Truncated {
            expected: 4,
            got: 0
        }
    );
    assert_eq!(
        err(b"MOREBNDL"),
        WireError::Truncated {
            expected: FIXED_HEADER_LEN,
            got: 8
        }
    );

    let mut b = valid();
    b[4] = 2;
    assert_eq!(err(&b), WireError::UnsupportedVersion(2));
    let mut b = valid();
    b[6] = 3;
    assert_eq!(err(&b), WireError::UnknownRepresentation(3));
    let mut b = valid();
    b[7] = 2;
    assert_eq!(err(&b), WireError::UnknownDtype(2));
    let mut b = valid();
    b[10] = 1;
    assert!(matches!(err(&b), WireError::InvalidHeader(_)));
    // Header length field inconsistent with the rank.
    let mut b = valid();
    b[12] = 0x48;
    assert!(matches!(err(&b), WireError::InvalidHeader(_)));
    // Total length field inconsistent with the shape.
    let mut b = valid();
    b[16] = 0x51;
    assert!(matches!(err(&b), WireError::InvalidHeader(_)));
    // Rank changed: the header length no longer matches.
    let mut b = valid();
    b[8] = 2;
    assert!(matches!(err(&b), WireError::InvalidHeader(_)));
}

#[test]
fn rejects_truncated_and_trailing_bytes() {
    let b = valid();
    for cut in [5, 23, 24, 40, 63, 64, 79] {
        assert!(
            matches!(err(&b[..cut]), WireError::Truncated { got, .. } if got == cut),
            "cut at {cut}: {:?}",
            err(&b[..cut])
        );
    }
    assert_eq!(
        err(&b[..64]),
        WireError::Truncated {
            expected: 80,
            got: 64
        }
    );
    // The fixed prefix alone tells how long the header is.
    assert_eq!(
        decode_header(&b[..24]),
        Err(WireError::Truncated {
            expected: 64,
            got: 24
        })
    );
    assert!(decode_header(&b[..64]).is_ok());
    let mut long = b.clone();
    long.push(0);
    assert_eq!(err(&long), WireError::TrailingBytes);
    // A stream that ends early.
    let mut r = &b[..70];
    assert!(matches!(
        decode_from(&mut r, &limits()),
        Err(WireError::Truncated { expected: 80, .. })
    ));
}

/// A plain f32 header with the given dims (and the total length the decoder would compute, or 0).
fn plain_header(dims: &[u64], total: u64) -> Vec<u8> {
    let mut b = b"MORE".to_vec();
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&(dims.len() as u16).to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&(24 + 8 * dims.len() as u32).to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    for d in dims {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b
}

#[test]
fn rejects_shape_overflow() {
    assert_eq!(
        err(&plain_header(&[u64::MAX, u64::MAX], 0)),
        WireError::ShapeOverflow
    );
    assert_eq!(err(&plain_header(&[u64::MAX], 0)), WireError::ShapeOverflow);
    assert_eq!(
        err(&plain_header(&[1 << 32, 1 << 32], 0)),
        WireError::ShapeOverflow
    );
    assert_eq!(
        err(&plain_header(&[1 << 62, 2, 1], 0)),
        WireError::ShapeOverflow
    );
    // A zero dimension makes even huge others legal (and empty).
    let t = decode(&plain_header(&[0, u64::MAX >> 8], 40), &limits()).unwrap();
    assert_eq!(t.shape(), &[0, (u64::MAX >> 8) as usize]);
}

#[test]
fn rejects_too_large_and_too_many_axes_before_reading() {
    // 1e6 x 1e3 f32 values declared, 8 bytes present: rejected on the limit, nothing allocated.
    let b = plain_header(&[1_000_000, 1_000], 24 + 16 + 4_000_000_000);
    let small = DecodeLimits {
        max_bytes: 1 << 20,
        max_rank: 8,
    };
    assert_eq!(
        decode(&b, &small).unwrap_err(),
        WireError::TooLarge {
            size: 4_000_000_040,
            limit: 1 << 20
        }
    );
    let t = encode(&matrix::<f32>(&[16, 16], 3));
    assert_eq!(t.len(), 40 + 16 * 16 * 16);
    let tight = DecodeLimits {
        max_bytes: t.len() - 1,
        max_rank: 8,
    };
    assert!(matches!(
        decode(&t, &tight),
        Err(WireError::TooLarge { .. })
    ));
    assert!(decode(
        &t,
        &DecodeLimits {
            max_bytes: t.len(),
            max_rank: 2
        }
    )
    .is_ok());
    let rank1 = DecodeLimits {
        max_bytes: 1 << 20,
        max_rank: 1,
    };
    assert_eq!(
        decode(&t, &rank1).unwrap_err(),
        WireError::BadRank { rank: 2, limit: 1 }
    );
    assert!(matches!(
        decode_from(&mut t.as_slice(), &rank1),
        Err(WireError::BadRank { .. })
    ));
    let nine = plain_header(&[1; 9], 24 + 72 + 4);
    let mut nine_full = nine.clone();
    nine_full.extend_from_slice(&1f32.to_le_bytes());
    assert_eq!(err(&nine_full), WireError::BadRank { rank: 9, limit: 8 });
}

#[test]
fn rejects_non_finite_values() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut b = valid();
        b[76..80].copy_from_slice(&bad.to_le_bytes());
        assert_eq!(err(&b), WireError::NonFinite { plane: 1, index: 1 });
    }
    let t = PlainTensor::plain(
        ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0f64, f64::NAN, 2.0]).unwrap(),
    );
    assert_eq!(
        err(&encode(&t)),
        WireError::NonFinite { plane: 0, index: 1 }
    );
}

#[test]
fn rejects_invalid_basis() {
    let set_basis = |c0: [f64; 4]| {
        let mut b = valid();
        for (i, v) in c0.iter().enumerate() {
            b[32 + 8 * i..40 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        b
    };
    for c0 in [
        [1.0, 0.0, 0.0, 1.0],      // a multiple of I
        [0.0; 4],                  // zero
        [1.0, f64::NAN, 0.0, 2.0], // NaN
        [1.0, 1e-9, 1.0, -1.0],    // off-diagonal too small
        [1.0, 1.0, -1.0, 1.0],     // complex eigenvalues
    ] {
        assert!(
            matches!(err(&set_basis(c0)), WireError::InvalidBasis(_)),
            "{c0:?}"
        );
    }
}

#[test]
fn decode_as_checks_the_type_from_the_header() {
    let b = valid();
    assert!(matches!(
        decode_as::<f64, Compact>(&b, &limits()),
        Err(WireError::UnexpectedType {
            kind: RepresentationKind::Compact,
            dtype: Dtype::F32,
            ..
        })
    ));
    assert!(matches!(
        decode_as::<f32, MatrixForm>(&b, &limits()),
        Err(WireError::UnexpectedType { .. })
    ));
    assert!(matches!(
        decode_as::<f32, Plain>(&b, &limits()),
        Err(WireError::UnexpectedType { .. })
    ));
}

fn sample_bundle() -> Bundle {
    Bundle {
        metadata: serde_json::json!({"architecture": [784, 64, 10], "epoch": 3, "shadow": {"kind": "gaussian", "std": 0.1}}),
        tensors: vec![
            ("layer0.weight".into(), compact::<f32>(&[4, 3], 1).into()),
            ("layer0.bias".into(), matrix::<f64>(&[3], 2).into()),
            (
                "scale".into(),
                PlainTensor::plain(values::<f32>(&[], 3)).into(),
            ),
            (
                "ünïcode name".into(),
                PlainTensor::plain(values::<f64>(&[0], 4)).into(),
            ),
        ],
    }
}

#[test]
fn bundle_round_trip() {
    let bundle = sample_bundle();
    let bytes = encode_bundle(&bundle);
    assert_eq!(&bytes[..8], b"MOREBNDL");
    assert_eq!(
        u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize,
        bytes.len()
    );
    let back = decode_bundle(&bytes, &limits()).unwrap();
    assert_eq!(back, bundle);
    assert_eq!(
        back.get("layer0.bias").unwrap().kind(),
        RepresentationKind::Matrix
    );
    assert!(back.get("missing").is_none());
    let empty = Bundle {
        metadata: serde_json::Value::Null,
        tensors: vec![],
    };
    assert_eq!(
        decode_bundle(&encode_bundle(&empty), &limits()).unwrap(),
        empty
    );
}

#[test]
fn bundle_errors() {
    let bytes = encode_bundle(&sample_bundle());
    let e = |b: &[u8]| decode_bundle(b, &limits()).unwrap_err();
    let mut b = bytes.clone();
    b[0] = b'm';
    assert_eq!(e(&b), WireError::BadMagic);
    assert_eq!(e(&valid()), WireError::BadMagic, "a tensor is not a bundle");
    let mut b = bytes.clone();
    b[8] = 9;
    assert_eq!(e(&b), WireError::UnsupportedVersion(9));
    let mut b = bytes.clone();
    b[13] = 1;
    assert!(matches!(e(&b), WireError::InvalidHeader(_)));
    assert!(matches!(
        e(&bytes[..bytes.len() - 1]),
        WireError::Truncated { .. }
    ));
    assert!(matches!(
        e(&bytes[..20]),
        WireError::Truncated {
            expected: 32,
            got: 20
        }
    ));
    let mut b = bytes.clone();
    b.push(0);
    assert_eq!(e(&b), WireError::TrailingBytes);
    let small = DecodeLimits {
        max_bytes: 100,
        max_rank: 8,
    };
    assert!(matches!(
        decode_bundle(&bytes, &small),
        Err(WireError::TooLarge { .. })
    ));
    // Metadata that is not JSON.
    let mut b = bytes.clone();
    b[32] = b'#';
    assert!(matches!(e(&b), WireError::BadMetadata(_)));
    // Duplicate names.
    let mut dup = sample_bundle();
    dup.tensors[1].0 = dup.tensors[0].0.clone();
    assert!(matches!(e(&encode_bundle(&dup)), WireError::BadName(_)));
    // A name that is not UTF-8.
    let one = Bundle {
        metadata: serde_json::json!({}),
        tensors: vec![(
            "ab".into(),
            PlainTensor::plain(values::<f32>(&[2], 1)).into(),
        )],
    };
    let good = encode_bundle(&one);
    let name_at = 32 + 2 + 4 + 4;
    assert_eq!(&good[name_at..name_at + 2], b"ab");
    let mut b = good.clone();
    b[name_at] = 0xff;
    assert!(matches!(e(&b), WireError::BadName(_)));
    // A malformed tensor inside is reported with its name.
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] = 0xff;
    b[last - 1] = 0xff;
    b[last - 2] = 0xff;
    b[last - 3] = 0xff; // NaN
    match e(&b) {
        WireError::InTensor { name, source } => {
            assert_eq!(name, "ab");
            assert_eq!(*source, WireError::NonFinite { plane: 0, index: 1 });
        }
        other => panic!("{other:?}"),
    }
    // A huge entry length or tensor count fails cleanly.
    let mut b = good.clone();
    let count_at = 32 + 2;
    b[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(e(&b), WireError::Truncated { .. }));
    let mut b = good.clone();
    let len_at = name_at + 2;
    b[len_at..len_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        e(&b),
        WireError::Truncated { .. } | WireError::ShapeOverflow
    ));
}

/// Valid encodings of every kind, for mutation.
fn corpus() -> Vec<Vec<u8>> {
    vec![
        valid(),
        encode(&PlainTensor::plain(values::<f64>(&[2, 3], 1))),
        encode(&matrix::<f32>(&[3, 1], 2)),
        encode(&compact::<f64>(&[], 3)),
        encode_bundle(&sample_bundle()),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    SetU64(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (
            any::<usize>(),
            prop_oneof![Just(u64::MAX), Just(0u64), Just(1u64 << 32), any::<u64>()]
        )
            .prop_map(|(i, v)| Mutation::SetU64(i, v)),
    ]
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let n = b.len().max(1);
        match m {
            Mutation::Flip(i, x) => {
                if !b.is_empty() {
                    b[i % n] ^= x;
                }
            }
            Mutation::Set(i, v) => {
                if !b.is_empty() {
                    b[i % n] = *v;
                }
            }
            Mutation::Truncate(i) => b.truncate(i % n),
            Mutation::Insert(i, v) => {
                let at = i % (b.len() + 1);
                b.splice(at..at, v.iter().copied());
            }
            Mutation::SetU64(i, v) => {
                if b.len() >= 8 {
                    let at = (i % (b.len() - 7)) & !7;
                    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// Stable stand-in for the cargo-fuzz target: mutated encodings never panic, and whatever
    /// decodes re-encodes to the same bytes.
    #[test]
    fn fuzz_smoke_mutated_encodings_never_panic(
        which in 0usize..5,
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = apply(corpus()[which].clone(), &muts);
        let small = DecodeLimits { max_bytes: 1 << 16, max_rank: 8 };
        if let Ok(t) = decode(&bytes, &small) {
            prop_assert_eq!(t.encode(), bytes.clone());
        }
        let _ = decode_header(&bytes);
        let _ = decode_from(&mut bytes.as_slice(), &small);
        if let Ok(b) = decode_bundle(&bytes, &small) {
            prop_assert_eq!(decode_bundle(&encode_bundle(&b), &small).unwrap(), b);
        }
    }

    #[test]
    fn fuzz_smoke_random_bytes_never_panic(
        prefix in prop_oneof![Just(b"MORE".to_vec()), Just(b"MOREBNDL".to_vec()), Just(vec![])],
        tail in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = prefix;
        bytes.extend_from_slice(&tail);
        let _ = decode(&bytes, &limits());
        let _ = decode_bundle(&bytes, &limits());
        let _ = decode_from(&mut bytes.as_slice(), &limits());
    }
}

/// Feeds `bytes` to a [`StreamValidator`] in chunks of the given sizes (cycled).
fn stream_check(bytes: &[u8], chunks: &[usize], limits: DecodeLimits) -> Result<(), WireError> {
    let mut v = StreamValidator::new(limits);
    let mut rest = bytes;
    for &n in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(n.clamp(1, rest.len()));
        v.feed(head)?;
        rest = tail;
    }
    v.finish().map(|_| ())
}

#[test]
fn stream_validator_finds_what_decode_finds() {
    let good = encode(&matrix::<f32>(&[3, 5], 7));
    for chunks in [vec![1], vec![3], vec![7, 2], vec![good.len()]] {
        assert_eq!(stream_check(&good, &chunks, limits()), Ok(()));
    }
    let mut nan = good.clone();
    let at = nan.len() - 4 * 6;
    nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(
        stream_check(&nan, &[5], limits()).unwrap_err(),
        decode(&nan, &limits()).unwrap_err()
    );
    let short = &good[..good.len() - 1];
    assert!(matches!(
        stream_check(short, &[3], limits()),
        Err(WireError::Truncated { .. })
    ));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        stream_check(&long, &[3], limits()),
        Err(WireError::TrailingBytes)
    );
    // The limit is applied from the header, before the planes arrive.
    let tight = DecodeLimits {
        max_bytes: 64,
        max_rank: 8,
    };
    let mut v = StreamValidator::new(tight);
    assert!(matches!(
        v.feed(&good[..40]),
        Err(WireError::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    /// Chunked validation accepts exactly what whole-message decoding accepts.
    #[test]
    fn stream_validator_agrees_with_decode(
        which in 0usize..4,
        muts in prop::collection::vec(mutation(), 0..3),
        chunks in prop::collection::vec(1usize..40, 1..6),
    ) {
        let bytes = apply(corpus()[which].clone(), &muts);
        let small = DecodeLimits { max_bytes: 1 << 16, max_rank: 8 };
        prop_assert_eq!(
            stream_check(&bytes, &chunks, small).is_ok(),
            decode(&bytes, &small).is_ok()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_random_shapes(
        shape in prop::collection::vec(0usize..5, 0..4),
        seed in 0u64..1000,
    ) {
        round_trip(compact::<f32>(&shape, seed), 2);
        round_trip(matrix::<f64>(&shape, seed), 4);
        round_trip(PlainTensor::plain(values::<f32>(&shape, seed)), 1);
    }
}
