//! Native reference for the browser end-to-end test (`web/tests/e2e.test.mjs`).
//!
//! Reads a JSON job description (the same data, preset, seeds and hyper-parameters the page sends
//! to the compute node), then with `more-core` natively:
//! 1. trains the same model on the **plaintext** data (`Model<f32, Plain>`, same model seed, same
//!    shuffling seed, so the same batch order) and reports its per-epoch mean losses and its test
//!    accuracy: the browser's decrypted losses and accuracy must match them up to rounding and
//!    near-zero ReLU ties (the test states its tolerance; ARCHITECTURE.md, "One code path for
//!    plaintext and ciphertext");
//! 2. times the body of the page's `SecretKey.encrypt` (`encrypt_compact` then wire encoding) on
//!    the training features, one warm-up then the median of 5 runs, as the Worker's `benchEncrypt`
//!    times the same call compiled to wasm.
//!
//! Usage: `cargo run -p more-wasm --release --example native_reference -- IN.json` → JSON on stdout.

use std::time::Instant;

use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Plain, PlanarTensor};
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use serde::Deserialize;

#[derive(Deserialize)]
struct Job {
    train_x: Vec<f32>,
    train_y: Vec<f32>,
    test_x: Vec<f32>,
    test_labels: Vec<usize>,
    feature_shape: Vec<usize>,
    outputs: usize,
    preset: String,
    model_seed: u64,
    epochs: usize,
    batch_size: usize,
    optimizer: OptimizerSpec,
    loss: LossKind,
    seed: u64,
}

fn tensor(
    values: Vec<f32>,
    rows: usize,
    rest: &[usize],
) -> anyhow::Result<PlanarTensor<f32, Plain>> {
    let shape: Vec<usize> = std::iter::once(rows).chain(rest.iter().copied()).collect();
    Ok(PlanarTensor::plain(ArrayD::from_shape_vec(
        IxDyn(&shape),
        values,
    )?))
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: native_reference IN.json"))?;
    let job: Job = serde_json::from_slice(&std::fs::read(path)?)?;
    let per_sample: usize = job.feature_shape.iter().product();
    let (n_train, n_test) = (job.train_x.len() / per_sample, job.test_labels.len());

    // Native encryption speed on the same values the browser encrypts.
    let key = SecretKey::from_seed(1);
    let x = ArrayD::from_shape_vec(IxDyn(&[n_train, per_sample]), job.train_x.clone())?;
    let mut rng = SecretKey::shadow_rng()?;
    let shadow = ShadowDistribution::default();
    // The body of the page's `SecretKey.encrypt`: compact encryption, then wire encoding. One
    // warm-up, then the median of 5 timed runs, as the Worker's `benchEncrypt` does.
    let encrypt = |rng: &mut rand_chacha::ChaCha20Rng| -> anyhow::Result<Vec<u8>> {
        Ok(wire::encode(&key.encrypt_compact(&x, &shadow, rng)?))
    };
    encrypt(&mut rng)?;
    let mut runs = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(encrypt(&mut rng)?);
            Ok(t0.elapsed().as_secs_f64())
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    runs.sort_by(f64::total_cmp);
    let encrypt_seconds = runs[runs.len() / 2];

    // Plaintext training with the node's seeds and configuration.
    let spec = ModelSpec::preset(&job.preset, &job.feature_shape, job.outputs)?;
    let model = Model::<f32, Plain>::new(&spec, Plain, job.model_seed)?;
    let config = TrainConfig::new(
        job.epochs,
        job.batch_size,
        job.optimizer,
        job.loss,
        job.seed,
    );
    let mut trainer = Trainer::new(model, config)?;
    let t0 = Instant::now();
    let losses: Vec<f32> = trainer
        .fit(
            &tensor(job.train_x, n_train, &job.feature_shape)?,
            &tensor(job.train_y, n_train, &[job.outputs])?,
            &mut NoObserver,
        )?
        .iter()
        .map(|l| l.values()[0])
        .collect();
    let train_seconds = t0.elapsed().as_secs_f64();
    let logits = trainer
        .model()
        .forward(&tensor(job.test_x, n_test, &job.feature_shape)?)?;
    let correct = logits
        .values()
        .rows()
        .into_iter()
        .zip(&job.test_labels)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, v)| if *v > row[b] { i } else { b });
            best == label
        })
        .count();
    println!(
        "{}",
        serde_json::json!({
            "accuracy": correct as f64 / n_test as f64,
            "plain_losses": losses,
            "plain_train_seconds": train_seconds,
            "encrypt_values": x.len(),
            "encrypt_seconds": encrypt_seconds,
            "encrypt_values_per_second": x.len() as f64 / encrypt_seconds,
        })
    );
    Ok(())
}
