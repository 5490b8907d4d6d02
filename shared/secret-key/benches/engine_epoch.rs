//! Bench binary: one training epoch of an MNIST-sized MLP, and CNN inference throughput, in
//! plaintext, compact form and matrix form, measured in the same run on the same engine code.
//!
//! `cargo bench -p more-secret-key --bench engine_epoch [-- SAMPLES [ROUNDS]]` (defaults 2048 and 5).
//! Every measurement is warm and repeated: one untimed warm-up run, then ROUNDS timed runs, and
//! the median is printed with the minimum and maximum. All three representations do the same
//! work (same model seed, same data order, same batch size). Inputs are random values with
//! MNIST's shape (784 features, 10 classes); the arithmetic cost does not depend on the values.

mod timing;

/// The allocator of the node binary (`more-node`), which runs this work in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use more_core::nn::ModelSpec;
use more_core::tensor::{MatrixForm, Plain, PlanarTensor, Representation};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use timing::{epoch_seconds, inference_seconds, median_of, BATCH};

/// Images per second of a fresh model's inference over the whole batches of `x`.
fn inference_images_per_second<R: Representation<f32>>(
    spec: &ModelSpec,
    rep: R,
    x: &PlanarTensor<f32, R>,
) -> f64 {
    (x.shape()[0] / BATCH * BATCH) as f64 / inference_seconds(spec, rep, x)
}

fn show(label: &str, (median, min, max): (f64, f64, f64), unit: &str, ratio: Option<f64>) {
    let ratio = ratio.map_or(String::new(), |r| format!("   ratio {r:.2}x"));
    println!("  {label:<11} {median:10.3} {unit} (min {min:.3}, max {max:.3}){ratio}");
}

fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let samples = numbers.first().copied().unwrap_or(2048);
    let rounds = numbers.get(1).copied().unwrap_or(5);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x = ArrayD::from_shape_fn(IxDyn(&[samples, 784]), |_| rng.random_range(0.0..1.0f32));
    let mut y = ArrayD::<f32>::zeros(IxDyn(&[samples, 10]));
    for i in 0..samples {
        y[[i, rng.random_range(0..10)]] = 1.0;
    }
    let key = SecretKey::from_seed(1);
    let shadow = ShadowDistribution::default();
    let xc = key.encrypt_compact(&x, &shadow, &mut rng).unwrap();
    let yc = key
        .encrypt_compact(&y, &ShadowDistribution::Simplex, &mut rng)
        .unwrap();
    let xm = key.encrypt_matrix(&x, &shadow, &mut rng).unwrap();
    let ym = key
        .encrypt_matrix(&y, &ShadowDistribution::Simplex, &mut rng)
        .unwrap();
    let compact = xc.representation().clone();

    let mlp = ModelSpec::preset("mnist_mlp", &[784], 10).unwrap();
    let (px, py) = (
        PlanarTensor::plain(x.clone()),
        PlanarTensor::plain(y.clone()),
    );
    let plain_s = median_of(rounds, || epoch_seconds(&mlp, Plain, &px, &py));
    let compact_s = median_of(rounds, || epoch_seconds(&mlp, compact.clone(), &xc, &yc));
    let matrix_s = median_of(rounds, || epoch_seconds(&mlp, MatrixForm, &xm, &ym));
    println!(
        "mnist_mlp epoch, {samples} samples, batch 64, threads {}, median of {rounds} warm runs:",
        timing::threads()
    );
    show("plaintext", plain_s, "s", None);
    show("compact", compact_s, "s", Some(compact_s.0 / plain_s.0));
    show("matrix form", matrix_s, "s", Some(matrix_s.0 / plain_s.0));

    let cnn = ModelSpec::preset("mnist_cnn", &[1, 28, 28], 10).unwrap();
    let n = samples.min(512);
    let img = |t: &ArrayD<f32>| {
        t.slice(ndarray::s![..n, ..])
            .to_owned()
            .into_shape_with_order(IxDyn(&[n, 1, 28, 28]))
            .unwrap()
    };
    let xi = img(&x);
    let pxi = PlanarTensor::plain(xi.clone());
    let xci = key.encrypt_compact(&xi, &shadow, &mut rng).unwrap();
    let xmi = key.encrypt_matrix(&xi, &shadow, &mut rng).unwrap();
    let plain_ips = median_of(rounds, || inference_images_per_second(&cnn, Plain, &pxi));
    let compact_ips = median_of(rounds, || {
        inference_images_per_second(&cnn, compact.clone(), &xci)
    });
    let matrix_ips = median_of(rounds, || {
        inference_images_per_second(&cnn, MatrixForm, &xmi)
    });
    println!("mnist_cnn inference on {n} images, batches of 64, median of {rounds} warm runs:");
    show("plaintext", plain_ips, "images/s", None);
    show(
        "compact",
        compact_ips,
        "images/s",
        Some(plain_ips.0 / compact_ips.0),
    );
    show(
        "matrix form",
        matrix_ips,
        "images/s",
        Some(plain_ips.0 / matrix_ips.0),
    );
}
