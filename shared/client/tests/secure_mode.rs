//! Secure mode end to end: the client's BFV key encrypts, the node's `Evaluator` evaluates, the
//! client decrypts; the decrypted integers must equal `forward_plaintext` exactly.
use more_client::secure::BfvSecretKey;
use more_secure::{
    plaintext_modulus, wire, Evaluator, InputQuantizer, QuantizedLayer, QuantizedModel, SecureError,
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
) -> more_client::secure::DecryptedOutputs {
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
