//! Node time of secure prediction at a full batch (8,192 samples, one per slot): the MNIST-sized
//! MLP 784-64-x²-10 and the CryptoNets-style CNN (conv 8 maps 5×5 stride 2 on 1×28×28 ->
//! 8×12×12 -> x² -> dense 1152 -> 10), random quantized weights of realistic size (|w| <= 31,
//! 6-bit; inputs 0..15, 4-bit). Criterion's throughput is images per second.
//!
//! `cargo bench -p more-secure --bench secure_eval` (each iteration evaluates one full batch;
//! setup encrypts 784 ciphertexts first, a few seconds).
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fhe::bfv::{Ciphertext, Encoding, Plaintext, RelinearizationKey, SecretKey};
use fhe_traits::{FheEncoder, FheEncrypter};
use more_secure::{
    bfv_parameters, slots, Evaluator, InputQuantizer, QuantizedLayer, QuantizedModel,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn weights(rng: &mut ChaCha20Rng, n: usize, w: i64) -> Vec<i64> {
    (0..n).map(|_| rng.random_range(-w..=w)).collect()
}

fn model(input_shape: Vec<usize>, layers: Vec<QuantizedLayer>) -> QuantizedModel {
    QuantizedModel {
        input_shape,
        input: InputQuantizer {
            offset: vec![0.0],
            scale: vec![1.0 / 15.0],
            min: 0,
            max: 15,
        },
        layers,
        output_scale: 1.0,
        class_names: vec![],
    }
}

fn mlp(rng: &mut ChaCha20Rng) -> QuantizedModel {
    model(
        vec![784],
        vec![
            QuantizedLayer::Dense {
                inputs: 784,
                outputs: 64,
                weights: weights(rng, 784 * 64, 7),
                bias: weights(rng, 64, 100),
            },
            QuantizedLayer::Square,
            QuantizedLayer::Dense {
                inputs: 64,
                outputs: 10,
                weights: weights(rng, 640, 7),
                bias: weights(rng, 10, 1000),
            },
        ],
    )
}

fn cnn(rng: &mut ChaCha20Rng) -> QuantizedModel {
    model(
        vec![1, 28, 28],
        vec![
            QuantizedLayer::Conv2d {
                in_channels: 1,
                out_channels: 8,
                kernel: [5, 5],
                stride: [2, 2],
                padding: [0, 0],
                weights: weights(rng, 200, 31),
                bias: weights(rng, 8, 100),
            },
            QuantizedLayer::Square,
            QuantizedLayer::Dense {
                inputs: 1152,
                outputs: 10,
                weights: weights(rng, 11520, 31),
                bias: weights(rng, 10, 1000),
            },
        ],
    )
}

/// A relinearization key and a full batch of 784 fresh ciphertexts of random 4-bit pixels.
fn encrypted_batch(rng: &mut ChaCha20Rng) -> (RelinearizationKey, Vec<Ciphertext>) {
    let par = bfv_parameters();
    let sk = SecretKey::random(par, rng);
    let rk = RelinearizationKey::new(&sk, rng).unwrap();
    let cts = (0..784)
        .map(|_| {
            let v: Vec<i64> = (0..slots()).map(|_| rng.random_range(0..16)).collect();
            let pt = Plaintext::try_encode(&v, Encoding::simd(), par).unwrap();
            sk.try_encrypt(&pt, rng).unwrap()
        })
        .collect();
    (rk, cts)
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(30);
    let (rk, cts) = encrypted_batch(&mut rng);
    let mut group = c.benchmark_group("secure_eval_full_batch");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(slots() as u64));
    for (name, m) in [
        ("mlp_784_64_sq_10", mlp(&mut rng)),
        ("cnn_conv8x5x5s2_sq_10", cnn(&mut rng)),
    ] {
        let eval = Evaluator::new(&m).expect("the bench models fit t");
        group.bench_function(name, |b| {
            b.iter_batched(
                || cts.clone(),
                |x| eval.evaluate(&rk, x).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
