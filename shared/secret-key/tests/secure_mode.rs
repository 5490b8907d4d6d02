//! Secure mode end to end: the client's BFV key encrypts, the node's `Evaluator` evaluates, the
//! client decrypts; the decrypted integers must equal `forward_plaintext` exactly.
use fhe::bfv::{Encoding, Multiplicator, Plaintext, RelinearizationKey, SecretKey};
use fhe_traits::{FheDecoder, FheDecrypter, FheEncoder, FheEncrypter};
use more_secret_key::secure::BfvSecretKey;
use more_secure::{
    bfv_parameters, plaintext_modulus, wire, Evaluator, InputQuantizer, QuantizedLayer,
    QuantizedModel, SecureError,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn weights(rng: &mut ChaCha20Rng, n: usize, w: i64) -> Vec<i64> {
    (0..n).map(|_| rng.random_range(-w..=w)).collect()
}

/// conv 3×3 (2 maps, stride 1, padding 1) on [1, 6, 6] -> x² -> dense 72 -> 3.
fn tiny_cnn(rng: &mut ChaCha20Rng, min: i64, max: i64) -> QuantizedModel {
    QuantizedModel {
        input_shape: vec![1, 6, 6],
        input: InputQuantizer {
            offset: vec![0.0],
            scale: vec![1.0],
            min,
            max,
        },
        layers: vec![
            QuantizedLayer::Conv2d {
                in_channels: 1,
                out_channels: 2,
                kernel: [3, 3],
                stride: [1, 1],
                padding: [1, 1],
                weights: weights(rng, 18, 7),
                bias: weights(rng, 2, 20),
            },
            QuantizedLayer::Square,
            QuantizedLayer::Dense {
                inputs: 72,
                outputs: 3,
                weights: weights(rng, 216, 7),
                bias: weights(rng, 3, 100),
            },
        ],
        output_scale: 0.01,
        class_names: vec![],
    }
}

fn random_inputs(rng: &mut ChaCha20Rng, model: &QuantizedModel, samples: usize) -> Vec<i64> {
    (0..samples * model.input_len())
        .map(|_| rng.random_range(model.input.min..=model.input.max))
        .collect()
}

/// Encrypts, evaluates (fast path and the plain fhe.rs path), decrypts; returns the decrypted
/// outputs of the fast path after checking the reference path decrypts to the same.
fn round_trip(
    model: &QuantizedModel,
    inputs: &[i64],
    samples: usize,
    seed: u64,
) -> more_secret_key::secure::DecryptedOutputs {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = BfvSecretKey::generate(&mut rng);
    let ek = wire::parse_evaluation_key(&key.evaluation_key(&mut rng).unwrap()).unwrap();
    let batch = key.encrypt_batch(model, inputs, samples, &mut rng).unwrap();
    let (n, cts) = wire::read_batch(&batch).unwrap();
    assert_eq!(n, samples);
    let eval = Evaluator::new(model).unwrap();
    let fast = eval.evaluate(&ek, cts.clone()).unwrap();
    let slow = eval.evaluate_reference(&ek, cts).unwrap();
    let fast = key
        .decrypt_outputs(model, &wire::write_batch(samples, &fast))
        .unwrap();
    let slow = key
        .decrypt_outputs(model, &wire::write_batch(samples, &slow))
        .unwrap();
    assert_eq!(
        fast.values, slow.values,
        "fast path and fhe.rs reference path decrypt differently"
    );
    fast
}

#[test]
fn tiny_cnn_decrypts_to_the_plaintext_integers() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let model = tiny_cnn(&mut rng, -8, 7);
    let samples = 37;
    let inputs = random_inputs(&mut rng, &model, samples);
    let out = round_trip(&model, &inputs, samples, 2);
    assert_eq!((out.samples, out.outputs), (samples, 3));
    assert_eq!(
        out.values,
        model.forward_plaintext(&inputs, samples).unwrap()
    );
    assert!(out.noise_budget_bits > 0);
    eprintln!("noise budget left: {} bits", out.noise_budget_bits);
}

fn dense(rng: &mut ChaCha20Rng, inputs: usize, outputs: usize, w: i64, b: i64) -> QuantizedLayer {
    QuantizedLayer::Dense {
        inputs,
        outputs,
        weights: weights(rng, inputs * outputs, w),
        bias: weights(rng, outputs, b),
    }
}

fn flat_model(inputs: usize, min: i64, max: i64, layers: Vec<QuantizedLayer>) -> QuantizedModel {
    QuantizedModel {
        input_shape: vec![inputs],
        input: InputQuantizer {
            offset: vec![0.0],
            scale: vec![1.0],
            min,
            max,
        },
        layers,
        output_scale: 1.0,
        class_names: vec![],
    }
}

#[test]
fn random_models_decrypt_to_the_plaintext_integers() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let table_mlp = |rng: &mut ChaCha20Rng| {
        // A clinical-table shape: 30 standardized features quantized to [-8, 7].
        let layers = vec![
            dense(rng, 30, 16, 15, 50),
            QuantizedLayer::Square,
            dense(rng, 16, 2, 15, 5000),
        ];
        flat_model(30, -8, 7, layers)
    };
    let strided_cnn = |rng: &mut ChaCha20Rng| QuantizedModel {
        input_shape: vec![2, 9, 9],
        input: InputQuantizer {
            offset: vec![0.0],
            scale: vec![1.0],
            min: 0,
            max: 15,
        },
        layers: vec![
            QuantizedLayer::Conv2d {
                in_channels: 2,
                out_channels: 3,
                kernel: [5, 5],
                stride: [2, 2],
                padding: [0, 0],
                weights: weights(rng, 150, 31),
                bias: weights(rng, 3, 100),
            },
            QuantizedLayer::Square,
            dense(rng, 27, 4, 31, 10_000),
        ],
        output_scale: 1.0,
        class_names: vec![],
    };
    let linear_only = |rng: &mut ChaCha20Rng| {
        flat_model(
            20,
            -100,
            100,
            vec![dense(rng, 20, 5, 1000, 10), dense(rng, 5, 3, 1000, 10)],
        )
    };
    let square_last = |rng: &mut ChaCha20Rng| {
        flat_model(
            12,
            -15,
            15,
            vec![dense(rng, 12, 6, 63, 7), QuantizedLayer::Square],
        )
    };
    let models = [
        table_mlp(&mut rng),
        strided_cnn(&mut rng),
        linear_only(&mut rng),
        square_last(&mut rng),
    ];
    for (k, model) in models.iter().enumerate() {
        let samples = [100, 8192, 1, 33][k];
        let inputs = random_inputs(&mut rng, model, samples);
        let out = round_trip(model, &inputs, samples, 100 + k as u64);
        assert_eq!(
            out.values,
            model.forward_plaintext(&inputs, samples).unwrap(),
            "model {k}"
        );
        assert!(
            out.noise_budget_bits >= 20,
            "model {k}: {} bits left",
            out.noise_budget_bits
        );
    }
}

#[test]
fn another_key_decrypts_to_noise() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let model = tiny_cnn(&mut rng, -8, 7);
    let samples = 64;
    let inputs = random_inputs(&mut rng, &model, samples);
    let owner = BfvSecretKey::generate(&mut rng);
    let other = BfvSecretKey::generate(&mut rng);
    let ek = wire::parse_evaluation_key(&owner.evaluation_key(&mut rng).unwrap()).unwrap();
    let batch = owner
        .encrypt_batch(&model, &inputs, samples, &mut rng)
        .unwrap();
    let (_, cts) = wire::read_batch(&batch).unwrap();
    let answer = wire::write_batch(
        samples,
        &Evaluator::new(&model).unwrap().evaluate(&ek, cts).unwrap(),
    );
    let expected = model.forward_plaintext(&inputs, samples).unwrap();
    assert_eq!(
        owner.decrypt_outputs(&model, &answer).unwrap().values,
        expected
    );
    let stolen = other.decrypt_outputs(&model, &answer).unwrap();
    let equal = stolen
        .values
        .iter()
        .zip(&expected)
        .filter(|(a, b)| a == b)
        .count();
    assert_eq!(
        equal,
        0,
        "another key recovered {equal} of {} outputs",
        expected.len()
    );
    // Uniform-looking residues: the values spread over the whole range (−t/2, t/2).
    let big = stolen
        .values
        .iter()
        .filter(|v| v.unsigned_abs() > plaintext_modulus() / 8)
        .count();
    assert!(
        big > stolen.values.len() / 2,
        "{big} of {} large",
        stolen.values.len()
    );
    assert_eq!(stolen.noise_budget_bits, 0);
}

#[test]
fn an_overflowing_model_is_refused_and_would_decrypt_wrong() {
    // x in [0, 2^20], y = 2^14 · x, y² up to 2^68 > t/2 ≈ 2^47.
    let w = 1i64 << 14;
    let layers = vec![
        QuantizedLayer::Dense {
            inputs: 1,
            outputs: 1,
            weights: vec![w],
            bias: vec![0],
        },
        QuantizedLayer::Square,
    ];
    let model = flat_model(1, 0, 1 << 20, layers);
    let limit = (plaintext_modulus() - 1) / 2;
    match Evaluator::new(&model) {
        Err(SecureError::MayOverflow {
            layer: 1,
            bound,
            limit: l,
        }) => {
            assert_eq!((bound, l), (1u128 << 68, limit));
        }
        other => panic!("an overflowing model was accepted: {other:?}"),
    }
    // Forced through fhe.rs anyway, the decryption is the value mod t, not the value.
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let par = bfv_parameters();
    let sk = SecretKey::random(par, &mut rng);
    let rk = RelinearizationKey::new(&sk, &mut rng).unwrap();
    let x = [(1i64 << 20) - 3, 100];
    let ct = sk
        .try_encrypt(
            &Plaintext::try_encode(&x, Encoding::simd(), par).unwrap(),
            &mut rng,
        )
        .unwrap();
    let wpt = Plaintext::try_encode(&vec![w; par.degree()], Encoding::simd(), par).unwrap();
    let y = &ct * &wpt;
    let sq = Multiplicator::default(&rk)
        .unwrap()
        .multiply(&y, &y)
        .unwrap();
    let got = Vec::<i64>::try_decode(&sk.try_decrypt(&sq).unwrap(), Encoding::simd()).unwrap();
    let exact: Vec<i128> = x.iter().map(|&v| ((w * v) as i128).pow(2)).collect();
    assert!(exact[0] > limit as i128);
    assert_ne!(
        got[0] as i128, exact[0],
        "the overflowing value decrypted right"
    );
    let t = plaintext_modulus() as i128;
    let centred = |v: i128| {
        let r = v.rem_euclid(t);
        if r > t / 2 {
            r - t
        } else {
            r
        }
    };
    assert_eq!(got[0] as i128, centred(exact[0]), "wrapped modulo t");
    assert_eq!(
        got[1] as i128, exact[1],
        "a small value still decrypts right"
    );
}

#[test]
fn keys_and_batches_have_the_documented_sizes_and_checks() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let key = BfvSecretKey::generate(&mut rng);
    let ek = key.evaluation_key(&mut rng).unwrap();
    assert!(ek.len() <= 1_000_000, "evaluation key {} bytes", ek.len());
    eprintln!("evaluation key: {} bytes", ek.len());
    let model = tiny_cnn(&mut rng, 0, 15);
    let n = model.input_len();
    let batch = key
        .encrypt_batch(&model, &vec![3; n * 2], 2, &mut rng)
        .unwrap();
    eprintln!("batch of {n} seeded ciphertexts: {} bytes", batch.len());
    assert!(
        key.encrypt_batch(&model, &vec![16; n], 1, &mut rng)
            .is_err(),
        "value above max"
    );
    assert!(
        key.encrypt_batch(&model, &vec![-1; n], 1, &mut rng)
            .is_err(),
        "value below min"
    );
    assert!(
        key.encrypt_batch(&model, &vec![0; n + 1], 1, &mut rng)
            .is_err(),
        "length"
    );
    assert!(
        key.encrypt_batch(&model, &[], 0, &mut rng).is_err(),
        "no samples"
    );
    assert!(
        key.encrypt_batch(&model, &vec![0; n * 8193], 8193, &mut rng)
            .is_err(),
        "too many samples"
    );
    let mut calls = vec![];
    key.encrypt_batch_with_progress(&model, &vec![1; n], 1, &mut rng, &mut |d, t| {
        calls.push((d, t))
    })
    .unwrap();
    // After each ciphertext (wasm32) or each group of them (native, rayon): rising to (n, n).
    assert!(!calls.is_empty() && calls.windows(2).all(|w| w[0].0 < w[1].0 && w[1].1 == n));
    assert_eq!(calls.last(), Some(&(n, n)));
    // An answer with the wrong number of outputs is refused.
    assert!(key.decrypt_outputs(&model, &batch).is_err());
}

#[test]
fn the_mnist_sized_worst_case_mlp_keeps_a_noise_budget() {
    // Every weight ±7 (the largest ℓ1 norm at 4-bit weights) and every pixel at 15.
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let sign = |rng: &mut ChaCha20Rng, n: usize| -> Vec<i64> {
        (0..n)
            .map(|_| if rng.random::<bool>() { 7 } else { -7 })
            .collect()
    };
    let layers = vec![
        QuantizedLayer::Dense {
            inputs: 784,
            outputs: 64,
            weights: sign(&mut rng, 784 * 64),
            bias: vec![0; 64],
        },
        QuantizedLayer::Square,
        QuantizedLayer::Dense {
            inputs: 64,
            outputs: 10,
            weights: sign(&mut rng, 640),
            bias: vec![0; 10],
        },
    ];
    let model = flat_model(784, 0, 15, layers);
    let bounds = model.check_fits(plaintext_modulus()).unwrap();
    eprintln!(
        "bound bits per layer: {:?}",
        bounds.iter().map(|b| b.bits()).collect::<Vec<_>>()
    );
    let samples = 4;
    let inputs: Vec<i64> = (0..samples * 784)
        .map(|i| if i < 784 { 15 } else { rng.random_range(0..16) })
        .collect();
    let key = BfvSecretKey::generate(&mut rng);
    let ek = wire::parse_evaluation_key(&key.evaluation_key(&mut rng).unwrap()).unwrap();
    let (_, cts) = wire::read_batch(
        &key.encrypt_batch(&model, &inputs, samples, &mut rng)
            .unwrap(),
    )
    .unwrap();
    let answer = Evaluator::new(&model).unwrap().evaluate(&ek, cts).unwrap();
    let answer = wire::write_batch(samples, &answer);
    let started = std::time::Instant::now();
    let out = key.decrypt_outputs(&model, &answer).unwrap();
    eprintln!(
        "decrypt 10 outputs ({} bytes): {:?} (noisy)",
        answer.len(),
        started.elapsed()
    );
    assert_eq!(
        out.values,
        model.forward_plaintext(&inputs, samples).unwrap()
    );
    eprintln!("noise budget left: {} bits", out.noise_budget_bits);
    assert!(
        out.noise_budget_bits >= 20,
        "{} bits left",
        out.noise_budget_bits
    );
}

#[test]
fn the_noise_limit_on_weight_norms_holds_at_its_edge() {
    // Input range [0, 0]: every value is a bias, so the value bounds do not limit the weights;
    // the ℓ1-norm limit of check_fits must. Largest weights, 784-64-x²-10.
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let big = |rng: &mut ChaCha20Rng, n: usize| -> Vec<i64> {
        (0..n)
            .map(|_| {
                if rng.random::<bool>() {
                    1 << 20
                } else {
                    -(1 << 20)
                }
            })
            .collect()
    };
    let layers = vec![
        QuantizedLayer::Dense {
            inputs: 784,
            outputs: 64,
            weights: big(&mut rng, 784 * 64),
            bias: weights(&mut rng, 64, 1000),
        },
        QuantizedLayer::Square,
        QuantizedLayer::Dense {
            inputs: 64,
            outputs: 10,
            weights: big(&mut rng, 640),
            bias: weights(&mut rng, 10, 1000),
        },
    ];
    let model = flat_model(784, 0, 0, layers);
    assert_eq!(model.weight_norm_bits(), 30 + 27);
    model.check_fits(plaintext_modulus()).unwrap();
    let samples = 2;
    let inputs = vec![0i64; samples * 784];
    let key = BfvSecretKey::generate(&mut rng);
    let ek = wire::parse_evaluation_key(&key.evaluation_key(&mut rng).unwrap()).unwrap();
    let batch = key
        .encrypt_batch(&model, &inputs, samples, &mut rng)
        .unwrap();
    let (_, cts) = wire::read_batch(&batch).unwrap();
    let answer = Evaluator::new(&model).unwrap().evaluate(&ek, cts).unwrap();
    let out = key
        .decrypt_outputs(&model, &wire::write_batch(samples, &answer))
        .unwrap();
    assert_eq!(
        out.values,
        model.forward_plaintext(&inputs, samples).unwrap()
    );
    eprintln!(
        "noise budget left at {} norm bits: {} bits",
        model.weight_norm_bits(),
        out.noise_budget_bits
    );
    // About one bit of budget per bit of norm: 64 (the limit) would leave about 15.
    assert!(
        out.noise_budget_bits >= 15 + (64 - 57),
        "{} bits left",
        out.noise_budget_bits
    );
}
