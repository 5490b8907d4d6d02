//! Core operation throughput: encryption, decryption, element-wise product, relu, and the matrix
//! product (256x784)·(784x128) in plaintext, compact and matrix form, all in one run so the
//! ciphertext/plaintext ratios compare like with like. Results: BENCHMARKS.md.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use more_core::tensor::PlainTensor;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn data(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed) % 1000) as f32) / 500.0 - 1.0)
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn configure(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    c.benchmark_group("core")
}

fn encrypt_decrypt(c: &mut Criterion) {
    let key = SecretKey::from_seed(1);
    let shadow = ShadowDistribution::default();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let x = data(&[256, 784], 3);
    let n = x.len() as u64;
    let mut g = configure(c);
    g.throughput(Throughput::Elements(n));
    g.bench_function("encrypt/compact f32 256x784", |b| {
        b.iter(|| key.encrypt_compact(&x, &shadow, &mut rng).unwrap())
    });
    g.bench_function("encrypt/matrix f32 256x784", |b| {
        b.iter(|| key.encrypt_matrix(&x, &shadow, &mut rng).unwrap())
    });
    let cc = key.encrypt_compact(&x, &shadow, &mut rng).unwrap();
    let cm = key.encrypt_matrix(&x, &shadow, &mut rng).unwrap();
    g.bench_function("decrypt/compact f32 256x784", |b| {
        b.iter(|| key.decrypt(&cc).unwrap())
    });
    g.bench_function("decrypt/matrix f32 256x784", |b| {
        b.iter(|| key.decrypt(&cm).unwrap())
    });
    g.finish();
}

fn elementwise(c: &mut Criterion) {
    let key = SecretKey::from_seed(1);
    let shadow = ShadowDistribution::default();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (x, y) = (data(&[256, 784], 3), data(&[256, 784], 4));
    let (px, py) = (PlainTensor::plain(x.clone()), PlainTensor::plain(y.clone()));
    let (cx, cy) = (
        key.encrypt_compact(&x, &shadow, &mut rng).unwrap(),
        key.encrypt_compact(&y, &shadow, &mut rng).unwrap(),
    );
    let (mx, my) = (
        key.encrypt_matrix(&x, &shadow, &mut rng).unwrap(),
        key.encrypt_matrix(&y, &shadow, &mut rng).unwrap(),
    );
    let mut g = configure(c);
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function(BenchmarkId::new("mul", "plain"), |b| {
        b.iter(|| px.mul(&py).unwrap())
    });
    g.bench_function(BenchmarkId::new("mul", "compact"), |b| {
        b.iter(|| cx.mul(&cy).unwrap())
    });
    g.bench_function(BenchmarkId::new("mul", "matrix"), |b| {
        b.iter(|| mx.mul(&my).unwrap())
    });
    g.bench_function(BenchmarkId::new("relu", "plain"), |b| b.iter(|| px.relu()));
    g.bench_function(BenchmarkId::new("relu", "compact"), |b| {
        b.iter(|| cx.relu())
    });
    g.bench_function(BenchmarkId::new("relu", "matrix"), |b| b.iter(|| mx.relu()));
    g.finish();
}

fn matmul(c: &mut Criterion) {
    let key = SecretKey::from_seed(1);
    let shadow = ShadowDistribution::default();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (x, w) = (data(&[256, 784], 3), data(&[784, 128], 4));
    let (px, pw) = (PlainTensor::plain(x.clone()), PlainTensor::plain(w.clone()));
    let (cx, cw) = (
        key.encrypt_compact(&x, &shadow, &mut rng).unwrap(),
        key.encrypt_compact(&w, &shadow, &mut rng).unwrap(),
    );
    let (mx, mw) = (
        key.encrypt_matrix(&x, &shadow, &mut rng).unwrap(),
        key.encrypt_matrix(&w, &shadow, &mut rng).unwrap(),
    );
    let mut g = configure(c);
    g.throughput(Throughput::Elements(256 * 784 * 128));
    g.bench_function(BenchmarkId::new("matmul 256x784x128", "plain"), |b| {
        b.iter(|| px.matmul(&pw).unwrap())
    });
    g.bench_function(BenchmarkId::new("matmul 256x784x128", "compact"), |b| {
        b.iter(|| cx.matmul(&cw).unwrap())
    });
    g.bench_function(BenchmarkId::new("matmul 256x784x128", "matrix"), |b| {
        b.iter(|| mx.matmul(&mw).unwrap())
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = encrypt_decrypt, elementwise, matmul
}
criterion_main!(benches);
