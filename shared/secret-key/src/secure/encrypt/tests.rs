//! Tests of fast encryption against fhe.rs itself: decryption with fhe's `SecretKey`, fhe's
//! serialization, fhe's error sampler, and the node's `Evaluator`.
use super::*;
use fhe::bfv::{Ciphertext, Encoding, RelinearizationKey};
use fhe_math::zq::Modulus;
use fhe_traits::{DeserializeParametrized, FheDecoder, FheDecrypter, FheEncoder};
use more_secure::{
    bfv_parameters, plaintext_modulus, wire, Evaluator, InputQuantizer, QuantizedLayer,
    QuantizedModel,
};
use rand::Rng;

/// fhe-math's `Rq` message (its proto module is private), to take frames apart.
#[derive(Clone, PartialEq, Message)]
struct RqProto {
    #[prost(int32, tag = "1")]
    representation: i32,
    #[prost(uint32, tag = "2")]
    degree: u32,
    #[prost(bytes = "vec", tag = "3")]
    coefficients: Vec<u8>,
    #[prost(bool, tag = "4")]
    allow_variable_time: bool,
}

impl Encryptor {
    /// The frames of [`Encryptor::encrypt_batch`], after checking that the batch is exactly
    /// what `wire::write_batch_frames` writes for them and that `wire::read_batch` reads it.
    fn encrypt_frames(
        &self,
        quantized: &[i64],
        samples: usize,
        input_len: usize,
        rng: &mut ChaCha20Rng,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Vec<u8>>, SecureError> {
        let batch = self.encrypt_batch(quantized, samples, input_len, rng, progress)?;
        let mut frames = Vec::new();
        let mut at = wire::HEADER_BYTES;
        while at < batch.len() {
            let len = u32::from_le_bytes(batch[at..at + 4].try_into().unwrap()) as usize;
            frames.push(batch[at + 4..at + 4 + len].to_vec());
            at += 4 + len;
        }
        assert_eq!(wire::write_batch_frames(samples, &frames), batch);
        let (n, cts) = wire::read_batch(&batch).unwrap();
        assert_eq!((n, cts.len()), (samples, input_len));
        Ok(frames)
    }
}

fn key(seed: u64) -> SecretKey {
    SecretKey::random(bfv_parameters(), &mut ChaCha20Rng::seed_from_u64(seed))
}

fn decrypt_slots(sk: &SecretKey, frame: &[u8]) -> Vec<u64> {
    let ct = wire::decode_ciphertext(frame).expect("the node's decoder reads a fast frame");
    let pt = sk.try_decrypt(&ct).unwrap();
    Vec::<u64>::try_decode(&pt, Encoding::simd()).unwrap()
}

#[test]
fn fast_ciphertexts_decrypt_with_fhe_to_the_slot_values() {
    let sk = key(1);
    let enc = Encryptor::new(&sk).unwrap();
    let t = plaintext_modulus();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for used in [slots(), 1, 1000] {
        let mut values: Vec<u64> = (0..used).map(|_| rng.random_range(0..t)).collect();
        values[0] = t - 1;
        let frame = enc
            .encrypt_one(&values, rng.random(), &mut ChaCha20Rng::seed_from_u64(3))
            .unwrap();
        let mut expected = values.clone();
        expected.resize(slots(), 0);
        assert_eq!(decrypt_slots(&sk, &frame), expected, "{used} slots");
    }
}

#[test]
fn another_key_decrypts_a_fast_ciphertext_to_noise() {
    let enc = Encryptor::new(&key(4)).unwrap();
    let values: Vec<u64> = (0..slots() as u64).map(|v| v % 16).collect();
    let frame = enc
        .encrypt_one(&values, [5; 32], &mut ChaCha20Rng::seed_from_u64(6))
        .unwrap();
    let other = decrypt_slots(&key(7), &frame);
    let equal = other.iter().zip(&values).filter(|(a, b)| a == b).count();
    assert!(
        equal < 10,
        "{equal} of {} slots readable under another key",
        slots()
    );
}

#[test]
fn a_frame_is_fhes_own_seeded_serialization() {
    let enc = Encryptor::new(&key(8)).unwrap();
    let frame = enc
        .encrypt_one(&[1, 2, 3], [9; 32], &mut ChaCha20Rng::seed_from_u64(10))
        .unwrap();
    let ct = Ciphertext::from_bytes(&frame, bfv_parameters()).unwrap();
    assert_eq!(
        ct.to_bytes(),
        frame,
        "fhe re-serializes the frame to other bytes"
    );
    let proto = fhe::proto::bfv::Ciphertext::decode(frame.as_slice()).unwrap();
    assert_eq!(
        (proto.c.len(), proto.seed, proto.level),
        (1, vec![9; 32], 0)
    );
    // c1 is what the node expands from the seed.
    let a = Poly::random_from_seed(&tables().unwrap().ctx, Representation::Ntt, [9; 32]);
    assert_eq!(ct[1].coefficients(), a.coefficients());
}

#[test]
fn packing_equals_fhe_math_serialization() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for &p in bfv_parameters().moduli() {
        let m = Modulus::new(p).unwrap();
        let v: Vec<u64> = (0..slots()).map(|_| rng.random_range(0..p)).collect();
        for len in [slots(), 8, 3, 1] {
            let mut ours = Vec::new();
            frame::pack(&v[..len], p, &mut ours);
            assert_eq!(ours, m.serialize_vec(&v[..len]), "{len} values");
        }
    }
}

/// With m = 0 the phase c0 + c1·s is the error itself: it must be exactly fhe-util's centred
/// binomial sample drawn from the ciphertext's noise stream (fhe's sampler, fhe's variance).
#[test]
fn the_error_is_fhes_centred_binomial_sample() {
    let sk = key(12);
    let enc = Encryptor::new(&sk).unwrap();
    let noise_key = [13u8; 32];
    let frame = enc
        .encrypt_one(&[], [14; 32], &mut ChaCha20Rng::from_seed(noise_key))
        .unwrap();
    let ct = Ciphertext::from_bytes(&frame, bfv_parameters()).unwrap();
    let coeffs = fhe::proto::bfv::SecretKey::decode(sk.to_bytes().as_slice())
        .unwrap()
        .coeffs;
    let ctx = &tables().unwrap().ctx;
    let mut s =
        Poly::try_convert_from(coeffs.as_slice(), ctx, false, Representation::PowerBasis).unwrap();
    s.change_representation(Representation::Ntt);
    let mut phase = &ct[1] * &s;
    phase += &ct[0];
    phase.change_representation(Representation::PowerBasis);
    let expected =
        fhe_util::sample_vec_cbd(slots(), 10, &mut ChaCha20Rng::from_seed(noise_key)).unwrap();
    for (row, &q) in phase
        .coefficients()
        .outer_iter()
        .zip(bfv_parameters().moduli())
    {
        let centred: Vec<i64> = row
            .iter()
            .map(|&c| {
                if c > q / 2 {
                    c as i64 - q as i64
                } else {
                    c as i64
                }
            })
            .collect();
        assert_eq!(centred, expected);
    }
    assert!(expected.iter().any(|&e| e != 0));
}

#[test]
fn batches_use_fresh_randomness_and_depend_only_on_the_rng() {
    let enc = Encryptor::new(&key(15)).unwrap();
    let data: Vec<i64> = (0..3 * 4).map(|v| v - 6).collect();
    let run = |seed| {
        let mut calls = Vec::new();
        let frames = enc
            .encrypt_frames(
                &data,
                3,
                4,
                &mut ChaCha20Rng::seed_from_u64(seed),
                &mut |d, n| calls.push((d, n)),
            )
            .unwrap();
        assert_eq!(calls.last(), Some(&(4, 4)));
        frames
    };
    let (a, b, c) = (run(16), run(16), run(17));
    assert_eq!(a, b);
    for (x, y) in a.iter().zip(&c) {
        assert_ne!(x, y);
    }
    let seeds: Vec<Vec<u8>> = a
        .iter()
        .map(|f| {
            fhe::proto::bfv::Ciphertext::decode(f.as_slice())
                .unwrap()
                .seed
        })
        .collect();
    for (i, s) in seeds.iter().enumerate() {
        assert!(!seeds[..i].contains(s), "seed of ciphertext {i} repeated");
    }
}

#[test]
fn bad_shapes_and_values_are_refused() {
    let enc = Encryptor::new(&key(18)).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(19);
    let t = plaintext_modulus() as i64;
    let mut none = |_: usize, _: usize| {};
    assert!(enc
        .encrypt_frames(&[1, 2, 3], 2, 2, &mut rng, &mut none)
        .is_err());
    assert!(enc.encrypt_frames(&[], 0, 2, &mut rng, &mut none).is_err());
    assert!(enc
        .encrypt_frames(
            &vec![0; 2 * (slots() + 1)],
            slots() + 1,
            2,
            &mut rng,
            &mut none
        )
        .is_err());
    assert!(enc
        .encrypt_frames(&[0, t], 1, 2, &mut rng, &mut none)
        .is_err());
    assert!(enc
        .encrypt_frames(&[-t, 0], 1, 2, &mut rng, &mut none)
        .is_err());
    assert!(enc
        .encrypt_frames(&[1 - t, t - 1], 1, 2, &mut rng, &mut none)
        .is_ok());
}

#[test]
fn malformed_seeded_frames_are_refused_by_the_node_decoder() {
    let enc = Encryptor::new(&key(20)).unwrap();
    let frame = enc
        .encrypt_one(&[7], [21; 32], &mut ChaCha20Rng::seed_from_u64(22))
        .unwrap();
    assert!(wire::decode_ciphertext(&frame).is_ok());
    let mut proto = fhe::proto::bfv::Ciphertext::decode(frame.as_slice()).unwrap();
    let reencode = |p: &fhe::proto::bfv::Ciphertext| p.encode_to_vec();
    let mut short_seed = proto.clone();
    short_seed.seed.pop();
    let mut no_poly = proto.clone();
    no_poly.c.clear();
    let mut bad_level = proto.clone();
    bad_level.level = 9;
    let mut rq = RqProto::decode(proto.c[0].as_slice()).unwrap();
    rq.coefficients.pop();
    let mut short_coefficients = proto.clone();
    short_coefficients.c[0] = rq.encode_to_vec();
    proto.c[0].truncate(100);
    for (what, bytes) in [
        ("seed of 31 bytes", reencode(&short_seed)),
        ("no polynomial", reencode(&no_poly)),
        ("level 9", reencode(&bad_level)),
        ("a coefficient byte short", reencode(&short_coefficients)),
        ("a truncated polynomial", reencode(&proto)),
        ("a truncated frame", frame[..frame.len() - 1].to_vec()),
    ] {
        assert!(wire::decode_ciphertext(&bytes).is_err(), "{what} accepted");
    }
}

/// A dense 6 -> 4, x², dense 4 -> 3 model over inputs in [-8, 8].
fn tiny_mlp(rng: &mut ChaCha20Rng) -> QuantizedModel {
    let mut w = |n: usize| {
        (0..n)
            .map(|_| rng.random_range(-9..=9))
            .collect::<Vec<i64>>()
    };
    QuantizedModel {
        input_shape: vec![6],
        input: InputQuantizer {
            offset: vec![0.0],
            scale: vec![1.0],
            min: -8,
            max: 8,
        },
        layers: vec![
            QuantizedLayer::Dense {
                inputs: 6,
                outputs: 4,
                weights: w(24),
                bias: w(4),
            },
            QuantizedLayer::Square,
            QuantizedLayer::Dense {
                inputs: 4,
                outputs: 3,
                weights: w(12),
                bias: w(3),
            },
        ],
        output_scale: 1.0,
        class_names: vec![],
    }
}

#[test]
fn evaluator_on_fast_ciphertexts_equals_forward_plaintext() {
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let model = tiny_mlp(&mut rng);
    let sk = key(24);
    let samples = 50;
    let inputs: Vec<i64> = (0..samples * 6).map(|_| rng.random_range(-8..=8)).collect();
    let frames = Encryptor::new(&sk)
        .unwrap()
        .encrypt_frames(&inputs, samples, 6, &mut rng, &mut |_, _| {})
        .unwrap();
    let cts: Vec<Ciphertext> = frames
        .iter()
        .map(|f| wire::decode_ciphertext(f).unwrap())
        .collect();
    let rk = RelinearizationKey::new(&sk, &mut rng).unwrap();
    let outputs = Evaluator::new(&model).unwrap().evaluate(&rk, cts).unwrap();
    let expected = model.forward_plaintext(&inputs, samples).unwrap();
    let t = plaintext_modulus();
    for (o, ct) in outputs.iter().enumerate() {
        let pt = sk.try_decrypt(ct).unwrap();
        let slots = Vec::<u64>::try_decode(&pt, Encoding::simd()).unwrap();
        for j in 0..samples {
            let v = if slots[j] > t / 2 {
                slots[j] as i64 - t as i64
            } else {
                slots[j] as i64
            };
            assert_eq!(v, expected[j * 3 + o], "output {o} of sample {j}");
        }
    }
}

/// More ciphertexts than one parallel group: every ciphertext in its place, progress rising to
/// the total.
#[test]
fn a_long_batch_decrypts_in_input_order() {
    let sk = key(25);
    let (samples, input_len) = (3, 70);
    let data: Vec<i64> = (0..(samples * input_len) as i64)
        .map(|v| v % 41 - 20)
        .collect();
    let mut calls = Vec::new();
    let frames = Encryptor::new(&sk)
        .unwrap()
        .encrypt_frames(
            &data,
            samples,
            input_len,
            &mut ChaCha20Rng::seed_from_u64(26),
            &mut |d, n| calls.push((d, n)),
        )
        .unwrap();
    assert_eq!(calls.last(), Some(&(input_len, input_len)));
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0));
    let t = plaintext_modulus() as i64;
    for (i, f) in frames.iter().enumerate() {
        let slots = decrypt_slots(&sk, f);
        for j in 0..samples {
            assert_eq!(
                (slots[j] as i64 + t) % t,
                (data[j * input_len + i] + t) % t,
                "{i} {j}"
            );
        }
    }
}

/// On a non-zero plaintext, c0 + c1·s − e is exactly fhe.rs's Δ·m = ⌊q·m/t⌋ (its
/// `Plaintext::to_poly`), coefficient by coefficient: t·D ≡ −[q·m]_t (mod q_i) for every prime
/// pins D = ⌊q·m/t⌋ modulo q, m being fhe's own SIMD encoding of the values.
#[test]
fn the_phase_minus_the_error_is_fhes_scaled_plaintext() {
    let sk = key(27);
    let enc = Encryptor::new(&sk).unwrap();
    let t = plaintext_modulus();
    let mut rng = ChaCha20Rng::seed_from_u64(28);
    let values: Vec<u64> = (0..slots()).map(|_| rng.random_range(0..t)).collect();
    let noise_key = [29u8; 32];
    let frame = enc
        .encrypt_one(&values, [30; 32], &mut ChaCha20Rng::from_seed(noise_key))
        .unwrap();
    let ct = Ciphertext::from_bytes(&frame, bfv_parameters()).unwrap();
    let e = fhe_util::sample_vec_cbd(slots(), 10, &mut ChaCha20Rng::from_seed(noise_key)).unwrap();
    let ctx = &tables().unwrap().ctx;
    let coeffs = fhe::proto::bfv::SecretKey::decode(sk.to_bytes().as_slice())
        .unwrap()
        .coeffs;
    let mut s =
        Poly::try_convert_from(coeffs.as_slice(), ctx, false, Representation::PowerBasis).unwrap();
    s.change_representation(Representation::Ntt);
    let mut phase = &ct[1] * &s;
    phase += &ct[0];
    phase.change_representation(Representation::PowerBasis);
    let pt = fhe::bfv::Plaintext::try_encode(&values, Encoding::simd(), bfv_parameters()).unwrap();
    let m = Poly::try_convert_from(&pt, ctx, false, Representation::PowerBasis).unwrap();
    let m = m.coefficients().row(0).to_vec();
    let q_mod_t = bfv_parameters()
        .moduli()
        .iter()
        .fold(1u128, |acc, &q| acc * u128::from(q % t) % u128::from(t));
    for (row, &q) in phase
        .coefficients()
        .outer_iter()
        .zip(bfv_parameters().moduli())
    {
        let q = u128::from(q);
        for j in 0..slots() {
            let d = (u128::from(row[j]) + q - (e[j] as i128).rem_euclid(q as i128) as u128) % q;
            let r = u128::from(m[j]) * q_mod_t % u128::from(t);
            assert_eq!((u128::from(t) * d + r) % q, 0, "coefficient {j}");
        }
    }
}

#[test]
fn the_expansion_of_a_seed_is_fhe_maths() {
    let tb = tables().unwrap();
    for seed in [[0u8; 32], [1; 32], [0xff; 32]] {
        let theirs = Poly::random_from_seed(&tb.ctx, Representation::Ntt, seed);
        let mut stream = uniform::stream(seed);
        for (row, m) in theirs.coefficients().outer_iter().zip(&tb.moduli) {
            let mut ours = vec![0u64; slots()];
            uniform::fill(&mut stream, m.uniform, &mut ours);
            assert_eq!(row.to_vec(), ours);
        }
    }
}
