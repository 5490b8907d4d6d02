//! Bench binary: our engine's half of the side-by-side comparison with JAX
//! (`shared/benchmarks/side_by_side.sh` runs this and `shared/benchmarks/jax_side_by_side.py`
//! and writes the table; the JAX script measures the same work with the same shapes).
//!
//! `cargo bench -p more-secret-key --bench side_by_side [-- SAMPLES [ROUNDS] [WORK...]]` (defaults
//! 8192 and 3; WORK names select measurements by substring, e.g. `mnist_cnn`; default all).
//!
//! Measured, each in plaintext (`Plain`) and in compact form (f32, `SecretKey::encrypt_compact`):
//! - `mnist_mlp_train`: one training epoch of `mnist_mlp` (784-128-64-10) over SAMPLES samples;
//! - `mnist_cnn_train`: one training epoch of `mnist_cnn` over SAMPLES images of 1x28x28;
//! - `mnist_cnn_infer`: `mnist_cnn` inference over SAMPLES images in batches of 64;
//! - `image_cnn_train`: one training epoch of `image_cnn` over SAMPLES/4 images of 1x64x64,
//!   2 classes.
//!
//! Every training run: batch 64, SGD (learning rate 0.01, momentum 0), softmax cross-entropy,
//! a fresh model from seed 1. Inputs are random values in [0, 1) with one-hot random labels; the
//! arithmetic cost does not depend on the values. Layout NCHW. Every measurement is one untimed
//! warm-up run, then ROUNDS timed runs; the median is reported with the minimum and maximum.
//!
//! Output: human-readable lines, then one line `RESULT {json}` with every measurement
//! (seconds per run and images per second), read by
//! `shared/benchmarks/side_by_side_report.py`.

mod timing;

/// The allocator of the node binary (`more-node`), which runs this work in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use more_core::nn::ModelSpec;
use more_core::tensor::{Compact, Plain, PlanarTensor};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use timing::{epoch_seconds, inference_seconds, median_of, BATCH};

/// Random inputs of shape `[n, shape...]` in [0, 1) and one-hot random labels `[n, classes]`.
fn data(
    rng: &mut ChaCha8Rng,
    n: usize,
    shape: &[usize],
    classes: usize,
) -> (ArrayD<f32>, ArrayD<f32>) {
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    let x = ArrayD::from_shape_fn(IxDyn(&dims), |_| rng.random_range(0.0..1.0f32));
    let mut y = ArrayD::<f32>::zeros(IxDyn(&[n, classes]));
    for i in 0..n {
        y[[i, rng.random_range(0..classes)]] = 1.0;
    }
    (x, y)
}

/// The data source, the key and the measurements taken so far (each printed as it is taken).
struct Bench {
    rounds: usize,
    /// Substrings of the work names to measure (empty: all).
    only: Vec<String>,
    rng: ChaCha8Rng,
    key: SecretKey,
    results: Vec<Value>,
}

impl Bench {
    fn record(
        &mut self,
        work: &str,
        form: &str,
        samples: usize,
        (median, min, max): (f64, f64, f64),
    ) {
        let ips = samples as f64 / median;
        println!(
            "  {work:<16} {form:<10} {median:9.3} s (min {min:.3}, max {max:.3})  {ips:10.1} images/s"
        );
        self.results.push(json!({
            "work": work,
            "form": form,
            "samples": samples,
            "median_s": median,
            "min_s": min,
            "max_s": max,
            "images_per_s": ips,
            "images_per_s_min": samples as f64 / max,
            "images_per_s_max": samples as f64 / min,
        }));
    }

    /// Encrypts `a` in compact form (f32).
    fn encrypt(
        &mut self,
        a: &ArrayD<f32>,
        shadow: &ShadowDistribution,
    ) -> PlanarTensor<f32, Compact> {
        self.key.encrypt_compact(a, shadow, &mut self.rng).unwrap()
    }

    /// Whether `work` was asked for.
    fn selected(&self, work: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| work.contains(o.as_str()))
    }

    /// Training epochs of `preset` on `n` random samples, plaintext then compact form.
    fn train(&mut self, work: &str, preset: &str, n: usize, shape: &[usize], classes: usize) {
        if !self.selected(work) {
            return;
        }
        let spec = ModelSpec::preset(preset, shape, classes).unwrap();
        let (x, y) = data(&mut self.rng, n, shape, classes);
        let xc = self.encrypt(&x, &ShadowDistribution::default());
        let yc = self.encrypt(&y, &ShadowDistribution::Simplex);
        let compact = xc.representation().clone();
        let (px, py) = (PlanarTensor::plain(x), PlanarTensor::plain(y));
        let rounds = self.rounds;
        let plain = median_of(rounds, || epoch_seconds(&spec, Plain, &px, &py));
        self.record(work, "plaintext", n, plain);
        let comp = median_of(rounds, || epoch_seconds(&spec, compact.clone(), &xc, &yc));
        self.record(work, "compact", n, comp);
    }

    /// Inference of `preset` over `n` random samples in batches of 64, plaintext then compact.
    fn infer(&mut self, work: &str, preset: &str, n: usize, shape: &[usize], classes: usize) {
        if !self.selected(work) {
            return;
        }
        let spec = ModelSpec::preset(preset, shape, classes).unwrap();
        let n = n / BATCH * BATCH;
        let (x, _) = data(&mut self.rng, n, shape, classes);
        let xc = self.encrypt(&x, &ShadowDistribution::default());
        let compact = xc.representation().clone();
        let px = PlanarTensor::plain(x);
        let rounds = self.rounds;
        let plain = median_of(rounds, || inference_seconds(&spec, Plain, &px));
        self.record(work, "plaintext", n, plain);
        let comp = median_of(rounds, || inference_seconds(&spec, compact.clone(), &xc));
        self.record(work, "compact", n, comp);
    }
}

fn main() {
    // `cargo bench` adds `--bench`; other words name the work to measure.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let only = (args.iter())
        .filter(|a| a.parse::<usize>().is_err() && !a.starts_with('-'))
        .cloned()
        .collect();
    let samples = numbers.first().copied().unwrap_or(8192).max(4 * BATCH);
    let rounds = numbers.get(1).copied().unwrap_or(3).max(1);
    let threads = timing::threads();
    let image_samples = samples / 4;
    let mut bench = Bench {
        rounds,
        only,
        rng: ChaCha8Rng::seed_from_u64(7),
        key: SecretKey::from_seed(1),
        results: Vec::new(),
    };
    println!(
        "side_by_side: batch {BATCH}, f32, threads {threads}, median of {rounds} warm runs \
         (one untimed warm-up each)"
    );
    bench.train("mnist_mlp_train", "mnist_mlp", samples, &[784], 10);
    bench.train("mnist_cnn_train", "mnist_cnn", samples, &[1, 28, 28], 10);
    bench.infer("mnist_cnn_infer", "mnist_cnn", samples, &[1, 28, 28], 10);
    bench.train(
        "image_cnn_train",
        "image_cnn",
        image_samples,
        &[1, 64, 64],
        2,
    );

    let out = json!({
        "engine": "more",
        "batch": BATCH,
        "dtype": "f32",
        "layout": "NCHW",
        "threads": threads,
        "samples": samples,
        "image_samples": image_samples,
        "rounds": rounds,
        "results": bench.results,
    });
    println!("RESULT {out}");
}
