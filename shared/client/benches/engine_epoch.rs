//! Bench binary: one training epoch of an MNIST-sized MLP, and CNN inference throughput, in
//! plaintext, compact form and matrix form, measured in the same run on the same engine code.
//!
//! `cargo bench -p more-core --bench engine_epoch [-- SAMPLES]`. Inputs are random values with
//! MNIST's shape (784 features, 10 classes); the arithmetic cost does not depend on the values.

use std::time::Instant;

use more_client::{SecretKey, ShadowDistribution};
use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{MatrixForm, Plain, PlanarTensor, Representation};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn epoch_seconds<R: Representation<f32>>(
    spec: &ModelSpec,
    rep: R,
    x: &PlanarTensor<f32, R>,
    y: &PlanarTensor<f32, R>,
) -> f64 {
    let cfg = TrainConfig::new(
        1,
        64,
        OptimizerSpec::Sgd {
            learning_rate: 0.01,
            momentum: 0.0,
        },
        LossKind::CrossEntropy,
        1,
    );
    let mut trainer = Trainer::new(Model::new(spec, rep, 1).unwrap(), cfg).unwrap();
    let start = Instant::now();
    trainer.train_epoch(x, y, &mut NoObserver).unwrap();
    start.elapsed().as_secs_f64()
}

fn inference_images_per_second<R: Representation<f32>>(
    spec: &ModelSpec,
    rep: R,
    x: &PlanarTensor<f32, R>,
) -> f64 {
    let model = Model::new(spec, rep, 1).unwrap();
    let start = Instant::now();
    for chunk in 0..x.shape()[0] / 64 {
        let batch = x.slice_axis(0, chunk * 64, chunk * 64 + 64).unwrap();
        model.forward(&batch).unwrap();
    }
    (x.shape()[0] / 64 * 64) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let samples: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2048);
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
    let plain_s = epoch_seconds(
        &mlp,
        Plain,
        &PlanarTensor::plain(x.clone()),
        &PlanarTensor::plain(y.clone()),
    );
    let compact_s = epoch_seconds(&mlp, compact.clone(), &xc, &yc);
    let matrix_s = epoch_seconds(&mlp, MatrixForm, &xm, &ym);
    println!(
        "mnist_mlp epoch, {samples} samples, batch 64, threads {}:",
        rayon_threads()
    );
    println!("  plaintext   {plain_s:8.3} s");
    println!(
        "  compact     {compact_s:8.3} s   ratio {:.2}x",
        compact_s / plain_s
    );
    println!(
        "  matrix form {matrix_s:8.3} s   ratio {:.2}x",
        matrix_s / plain_s
    );

    let cnn = ModelSpec::preset("mnist_cnn", &[1, 28, 28], 10).unwrap();
    let n = samples.min(512);
    let img = |t: &ArrayD<f32>| {
        t.slice(ndarray::s![..n, ..])
            .to_owned()
            .into_shape_with_order(IxDyn(&[n, 1, 28, 28]))
            .unwrap()
    };
    let xi = img(&x);
    let plain_ips = inference_images_per_second(&cnn, Plain, &PlanarTensor::plain(xi.clone()));
    let xci = key.encrypt_compact(&xi, &shadow, &mut rng).unwrap();
    let compact_ips = inference_images_per_second(&cnn, compact, &xci);
    let xmi = key.encrypt_matrix(&xi, &shadow, &mut rng).unwrap();
    let matrix_ips = inference_images_per_second(&cnn, MatrixForm, &xmi);
    println!("mnist_cnn inference, batches of 64:");
    println!("  plaintext   {plain_ips:10.1} images/s");
    println!(
        "  compact     {compact_ips:10.1} images/s   ratio {:.2}x",
        plain_ips / compact_ips
    );
    println!(
        "  matrix form {matrix_ips:10.1} images/s   ratio {:.2}x",
        plain_ips / matrix_ips
    );
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
