//! Secure mode's client-side encryption (issue #30): one full batch column (8,192 samples in the
//! slots of one BFV ciphertext) through fhe.rs's `SecretKey::try_encrypt` + `to_bytes` (what
//! `BfvSecretKey` did before) and through `BfvSecretKey::encrypt_batch` (the fast encryptor of
//! `more_secret_key::secure`, rayon across ciphertexts with the default `parallel` feature). Both
//! produce the same seeded ciphertext frames. Throughput is in ciphertexts; a full MNIST batch
//! is 784 of them.
//!
//!     cargo bench -p more-secret-key --bench secure_encrypt
//!
//! The page's number (wasm32 in a Worker) is measured by `web/tests/secure-bench.mjs`.
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fhe::bfv::{Ciphertext, Encoding, Plaintext, SecretKey};
use fhe_traits::{FheEncoder, FheEncrypter, Serialize};
use more_secret_key::secure::BfvSecretKey;
use more_secure::{bfv_parameters, slots, InputQuantizer, QuantizedLayer, QuantizedModel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Ciphertexts per measured batch.
const COLUMNS: usize = 16;

/// A dense COLUMNS -> 1 model: only its input length and range matter here.
fn model() -> QuantizedModel {
    QuantizedModel {
        input_shape: vec![COLUMNS],
        input: InputQuantizer {
            offset: vec![0.0],
            scale: vec![1.0],
            min: 0,
            max: 15,
        },
        layers: vec![QuantizedLayer::Dense {
            inputs: COLUMNS,
            outputs: 1,
            weights: vec![1; COLUMNS],
            bias: vec![0],
        }],
        output_scale: 1.0,
        class_names: vec![],
    }
}

fn encrypt(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let samples = slots();
    let data: Vec<i64> = (0..samples * COLUMNS)
        .map(|_| rng.random_range(0..16))
        .collect();
    let mut g = c.benchmark_group("secure");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(COLUMNS as u64));

    let sk = SecretKey::random(bfv_parameters(), &mut rng);
    g.bench_function("encrypt/fhe try_encrypt + to_bytes, 8192 slots", |b| {
        b.iter(|| {
            (0..COLUMNS)
                .map(|i| {
                    let column: Vec<i64> = (0..samples).map(|j| data[j * COLUMNS + i]).collect();
                    let pt =
                        Plaintext::try_encode(&column, Encoding::simd(), bfv_parameters()).unwrap();
                    let ct: Ciphertext = sk.try_encrypt(&pt, &mut rng).unwrap();
                    ct.to_bytes().len()
                })
                .sum::<usize>()
        })
    });

    let key = BfvSecretKey::generate(&mut rng);
    let model = model();
    g.bench_function("encrypt/BfvSecretKey::encrypt_batch, 8192 slots", |b| {
        b.iter(|| {
            key.encrypt_batch(&model, &data, samples, &mut rng)
                .unwrap()
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, encrypt);
criterion_main!(benches);
