//! The core of every experiment: one architecture trained twice with the same seed and the same
//! `TrainConfig` — on plaintext (`Plain`) and on ciphertexts (compact or matrix form) — then
//! evaluated on the test set (encrypted inference, decrypted by the key holder) and compared.

use std::time::Instant;

use anyhow::Context as _;
use indicatif::ProgressBar;
use ndarray::{Array2, ArrayD, Axis, IxDyn};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use more_core::nn::{Model, ModelSpec, TrainConfig, TrainObserver, Trainer};
use more_core::tensor::{Compact, MatrixForm, Plain, PlanarTensor, Representation};
use more_core::Float;
use more_secret_key::{SecretKey, ShadowDistribution};

use super::args::{PrecisionChoice, RepresentationChoice};
use super::progress;
use super::report::{ArchitectureResult, Differing, Losses, Metrics, OutputMetrics};
use crate::data::{Standardizer, Task};

/// Near-tie threshold on the plaintext logit margin (top1 − top2).
pub const NEAR_TIE: f64 = 1e-3;
/// Regression: an encrypted prediction agrees when within `1e-3·max(1, |plaintext|)`
/// (standardized units).
pub const REGRESSION_TOLERANCE: f64 = 1e-3;

/// Everything an experiment hands to [`compare_architecture`].
pub struct Inputs<'a> {
    /// Training features `(n, features)` (already scaled / standardized).
    pub x_train: &'a Array2<f32>,
    /// Training targets `(n, outputs)`: one-hot or standardized.
    pub y_train: &'a Array2<f32>,
    /// Test features.
    pub x_test: &'a Array2<f32>,
    /// Test labels (classification).
    pub test_labels: &'a [usize],
    /// Test targets in original units (regression).
    pub test_targets: &'a Array2<f32>,
    /// Target standardizer (regression).
    pub target_scaler: Option<&'a Standardizer>,
    /// Target names (regression).
    pub target_names: &'a [String],
    /// Per-sample input shape.
    pub feature_shape: &'a [usize],
    /// Task.
    pub task: Task,
    /// Number of classes / outputs.
    pub outputs: usize,
}

/// Settings of the encrypted side.
pub struct Crypto<'a> {
    /// The key holder's key.
    pub key: &'a SecretKey,
    /// Shadow distribution of the features.
    pub shadow_x: ShadowDistribution,
    /// Shadow distribution of the targets.
    pub shadow_y: ShadowDistribution,
    /// Representation.
    pub representation: RepresentationChoice,
    /// Floating-point type of both runs.
    pub precision: PrecisionChoice,
    /// Seed of the shadow RNG.
    pub seed: u64,
    /// Seed of the initial weights of both runs (the batch order follows the training seed).
    pub model_seed: u64,
    /// Hide progress bars.
    pub quiet: bool,
}

/// What the key holder reads from a tensor of either run: the plaintext reference run's values as
/// they are, the encrypted run's decrypted. Local to the lab, which plays both sides; the client
/// crate itself refuses to "decrypt" a plaintext tensor.
trait KeyHolderView<F: Float>: Representation<F> {
    fn reveal(key: &SecretKey, t: &PlanarTensor<F, Self>) -> more_core::Result<ArrayD<F>>;
    fn reveal_model(key: &SecretKey, m: &Model<F, Self>) -> more_core::Result<Model<F, Plain>>;
}

impl<F: Float> KeyHolderView<F> for Plain {
    fn reveal(_: &SecretKey, t: &PlanarTensor<F, Plain>) -> more_core::Result<ArrayD<F>> {
        Ok(t.values().clone())
    }
    fn reveal_model(_: &SecretKey, m: &Model<F, Plain>) -> more_core::Result<Model<F, Plain>> {
        m.map_parameters(Plain, |t| Ok(t.clone()))
    }
}

macro_rules! decrypted_by_the_key_holder {
    ($($rep:ty),*) => {$(
        impl<F: Float> KeyHolderView<F> for $rep {
            fn reveal(key: &SecretKey, t: &PlanarTensor<F, $rep>) -> more_core::Result<ArrayD<F>> {
                key.decrypt(t)
            }
            fn reveal_model(
                key: &SecretKey,
                m: &Model<F, $rep>,
            ) -> more_core::Result<Model<F, Plain>> {
                key.decrypt_model(m)
            }
        }
    )*};
}
decrypted_by_the_key_holder!(Compact, MatrixForm);

struct BarObserver<'a>(&'a ProgressBar);
impl<F, R> TrainObserver<F, R> for BarObserver<'_> {
    fn on_batch(&mut self, _epoch: usize, _done: usize, _total: usize) {
        self.0.inc(1);
    }
}

/// One run's outcome, decrypted (outputs in `f32` for reporting).
struct Run<F> {
    model: Model<F, Plain>,
    losses: Vec<f64>,
    train_seconds: f64,
    inference_seconds: f64,
    outputs: Array2<f32>,
}

fn shaped<F: Float>(x: &Array2<f32>, feature_shape: &[usize]) -> ArrayD<F> {
    let mut shape = vec![x.nrows()];
    shape.extend_from_slice(feature_shape);
    x.mapv(|v| F::of_f64(v as f64))
        .into_shape_with_order(IxDyn(&shape))
        .expect("feature shape matches")
        .into_dyn()
}

/// What both runs of one architecture share: the model, the training, the key holder.
struct RunSettings<'a> {
    spec: &'a ModelSpec,
    config: &'a TrainConfig,
    /// Seed of the initial weights.
    model_seed: u64,
    key: &'a SecretKey,
    quiet: bool,
}

/// Trains on `(x, y)` in representation `rep`, infers on `x_test` and reveals the outcome.
fn run<F: Float, R: KeyHolderView<F>>(
    label: &str,
    s: &RunSettings,
    rep: R,
    x: PlanarTensor<F, R>,
    y: PlanarTensor<F, R>,
    x_test: PlanarTensor<F, R>,
) -> anyhow::Result<Run<F>> {
    let model = Model::new(s.spec, rep, s.model_seed)?;
    let mut trainer = Trainer::new(model, s.config.clone())?;
    let n = x.shape()[0];
    let batches = n.div_ceil(s.config.batch_size) * s.config.epochs;
    let bar = progress::bar(batches as u64, &format!("train {label}"), s.quiet);
    let t = Instant::now();
    let losses = trainer
        .fit(&x, &y, &mut BarObserver(&bar))
        .with_context(|| format!("training {label}"))?;
    let train_seconds = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let model = trainer.into_model();
    let losses = losses
        .iter()
        .map(|l| {
            Ok(R::reveal(s.key, l)?
                .iter()
                .next()
                .map_or(f64::NAN, |v| v.as_f64()))
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let t = Instant::now();
    let out = infer(label, &model, &x_test, s.quiet)?;
    let inference_seconds = t.elapsed().as_secs_f64();
    let n_test = x_test.shape()[0];
    let outputs = R::reveal(s.key, &out)?.mapv(|v| v.as_f64() as f32);
    let k = outputs.len() / n_test.max(1);
    let outputs = outputs
        .into_shape_with_order((n_test, k))
        .context("output shape")?;
    Ok(Run {
        model: R::reveal_model(s.key, &model)?,
        losses,
        train_seconds,
        inference_seconds,
        outputs,
    })
}

/// The model's outputs on `x_test`, 500 samples at a time.
fn infer<F: Float, R: Representation<F>>(
    label: &str,
    model: &Model<F, R>,
    x_test: &PlanarTensor<F, R>,
    quiet: bool,
) -> anyhow::Result<PlanarTensor<F, R>> {
    let n_test = x_test.shape()[0];
    let chunk = 500;
    let bar = progress::bar(
        n_test.div_ceil(chunk) as u64,
        &format!("infer {label}"),
        quiet,
    );
    let mut parts = Vec::new();
    for start in (0..n_test).step_by(chunk) {
        let xb = x_test.slice_axis(0, start, (start + chunk).min(n_test))?;
        parts.push(model.forward(&xb)?);
        bar.inc(1);
    }
    let out = PlanarTensor::concatenate(0, &parts)?;
    bar.finish_and_clear();
    Ok(out)
}

fn argmax(row: ndarray::ArrayView1<f32>) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

fn margin(row: ndarray::ArrayView1<f32>) -> f64 {
    let mut v: Vec<f64> = row.iter().map(|&x| x as f64).collect();
    v.sort_by(|a, b| b.total_cmp(a));
    if v.len() < 2 {
        return f64::INFINITY;
    }
    v[0] - v[1]
}

fn confusion(labels: &[usize], preds: &[usize], k: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; k]; k];
    for (&l, &p) in labels.iter().zip(preds) {
        m[l][p] += 1;
    }
    m
}

fn regression_metrics(pred_std: &Array2<f32>, inputs: &Inputs) -> (f64, Vec<OutputMetrics>) {
    let scaler = inputs.target_scaler.expect("regression has a scaler");
    let pred = scaler.invert(pred_std);
    let truth = inputs.test_targets;
    let truth_std = scaler.apply(truth);
    let n = truth.nrows() as f64;
    let mut sq = 0.0;
    for (p, t) in pred_std.iter().zip(truth_std.iter()) {
        sq += ((p - t) as f64).powi(2);
    }
    let rmse = (sq / pred_std.len().max(1) as f64).sqrt();
    let per = (0..truth.ncols())
        .map(|j| {
            let (p, t) = (pred.column(j), truth.column(j));
            let mean = t.iter().map(|&v| v as f64).sum::<f64>() / n;
            let (mut abs, mut sse, mut sst, mut rel) = (0.0, 0.0, 0.0, 0.0);
            for (&pv, &tv) in p.iter().zip(t.iter()) {
                let e = pv as f64 - tv as f64;
                abs += e.abs();
                sse += e * e;
                sst += (tv as f64 - mean).powi(2);
                rel += e.abs() / (tv as f64).abs().max(1e-12);
            }
            OutputMetrics {
                name: inputs
                    .target_names
                    .get(j)
                    .cloned()
                    .unwrap_or_else(|| j.to_string()),
                mae: abs / n,
                rmse: (sse / n).sqrt(),
                relative_error: rel / n,
                r2: if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN },
            }
        })
        .collect();
    (rmse, per)
}

/// Trains `spec` in plaintext and encrypted with `config`, evaluates both on the test set and
/// compares them.
///
/// # Errors
/// Engine errors (divergence, shapes) with the run named.
pub fn compare_architecture(
    name: &str,
    spec: &ModelSpec,
    config: &TrainConfig,
    inputs: &Inputs,
    crypto: &Crypto,
) -> anyhow::Result<ArchitectureResult> {
    match crypto.precision {
        PrecisionChoice::F32 => compare_typed::<f32>(name, spec, config, inputs, crypto),
        PrecisionChoice::F64 => compare_typed::<f64>(name, spec, config, inputs, crypto),
    }
}

fn compare_typed<F: Float>(
    name: &str,
    spec: &ModelSpec,
    config: &TrainConfig,
    inputs: &Inputs,
    crypto: &Crypto,
) -> anyhow::Result<ArchitectureResult> {
    let xs = shaped::<F>(inputs.x_train, inputs.feature_shape);
    let ys = shaped::<F>(inputs.y_train, &[inputs.y_train.ncols()]);
    let xt = shaped::<F>(inputs.x_test, inputs.feature_shape);
    let settings = RunSettings {
        spec,
        config,
        model_seed: crypto.model_seed,
        key: crypto.key,
        quiet: crypto.quiet,
    };
    let plain = run(
        &format!("{name} plaintext"),
        &settings,
        Plain,
        PlanarTensor::plain(xs.clone()),
        PlanarTensor::plain(ys.clone()),
        PlanarTensor::plain(xt.clone()),
    )?;
    let encrypted = encrypted_run(name, &settings, crypto, [&xs, &ys, &xt])?;
    let enc = encrypted.run;
    let (mut pm, mut em) = (Metrics::times(&plain), Metrics::times(&enc));
    em.encrypt_seconds = Some(encrypted.encrypt_seconds);
    let Outcome {
        agreement,
        mut differing,
        confusion_matrix,
    } = match inputs.task {
        Task::Classification => classification(&plain, &enc, inputs, &mut pm, &mut em),
        Task::Regression => regression(&plain, &enc, inputs, &mut pm, &mut em),
    };
    let near_ties = differing.iter().filter(|d| d.margin < NEAR_TIE).count();
    let differing_count = differing.len();
    differing.truncate(200);
    Ok(ArchitectureResult {
        name: name.to_string(),
        spec: spec.clone(),
        parameter_count: plain.model.parameter_count(),
        train_samples: inputs.x_train.nrows(),
        train_config: config.clone(),
        time_ratio: enc.train_seconds / plain.train_seconds.max(1e-9),
        inference_time_ratio: enc.inference_seconds / plain.inference_seconds.max(1e-9),
        plaintext: pm,
        encrypted: em,
        agreement,
        ciphertext_bytes: encrypted.ciphertext_bytes,
        max_weight_difference: max_weight_difference(&plain.model, &enc.model),
        differing_count,
        near_ties,
        differing_predictions: differing,
        losses: Losses {
            plaintext: plain.losses,
            encrypted_decrypted: enc.losses,
        },
        confusion_matrix,
        test_outputs: (plain.outputs, enc.outputs),
    })
}

/// The encrypted run and what it cost the data owner.
struct EncryptedRun<F> {
    run: Run<F>,
    /// Bytes of the training features and targets on the wire.
    ciphertext_bytes: usize,
    /// Encryption (and conversion to matrix form), seconds.
    encrypt_seconds: f64,
}

/// The data owner encrypts `[train features, train targets, test features]` (compact form,
/// converted to matrix form if asked), and the encrypted run trains and infers on them.
fn encrypted_run<F: Float>(
    name: &str,
    settings: &RunSettings,
    crypto: &Crypto,
    [xs, ys, xt]: [&ArrayD<F>; 3],
) -> anyhow::Result<EncryptedRun<F>> {
    let key = crypto.key;
    let mut rng = ChaCha20Rng::seed_from_u64(crypto.seed);
    let t = Instant::now();
    let ex = key.encrypt_compact(xs, &crypto.shadow_x, &mut rng)?;
    let ey = key.encrypt_compact(ys, &crypto.shadow_y, &mut rng)?;
    let et = key.encrypt_compact(xt, &crypto.shadow_x, &mut rng)?;
    let mut encrypt_seconds = t.elapsed().as_secs_f64();
    let label = format!("{name} encrypted");
    let (run, ciphertext_bytes) = match crypto.representation {
        RepresentationChoice::Compact => {
            let bytes = more_core::wire::encode(&ex).len() + more_core::wire::encode(&ey).len();
            let rep = Compact {
                basis: key.compact_basis(),
            };
            (run(&label, settings, rep, ex, ey, et)?, bytes)
        }
        RepresentationChoice::Matrix => {
            let t = Instant::now();
            let (mx, my, mt) = (
                ex.to_matrix_form(),
                ey.to_matrix_form(),
                et.to_matrix_form(),
            );
            encrypt_seconds += t.elapsed().as_secs_f64();
            let bytes = more_core::wire::encode(&mx).len() + more_core::wire::encode(&my).len();
            (run(&label, settings, MatrixForm, mx, my, mt)?, bytes)
        }
    };
    Ok(EncryptedRun {
        run,
        ciphertext_bytes,
        encrypt_seconds,
    })
}

/// Largest absolute difference between the two runs' (decrypted) parameters.
fn max_weight_difference<F: Float>(plain: &Model<F, Plain>, enc: &Model<F, Plain>) -> f64 {
    let mut max = 0f64;
    for ((_, p), (_, e)) in plain.parameters().iter().zip(enc.parameters()) {
        for (a, b) in p.values().iter().zip(e.values().iter()) {
            max = max.max((*a - *b).abs().as_f64());
        }
    }
    max
}

/// How the two runs' test outputs compare.
struct Outcome {
    /// Fraction of test samples on which they agree.
    agreement: f64,
    /// The samples on which they do not.
    differing: Vec<Differing>,
    /// Classification: both runs' confusion matrices.
    confusion_matrix: Option<serde_json::Value>,
}

/// Classification: accuracies into `pm`/`em`; the runs agree on a sample when they predict the same
/// class.
fn classification<F>(
    plain: &Run<F>,
    enc: &Run<F>,
    inputs: &Inputs,
    pm: &mut Metrics,
    em: &mut Metrics,
) -> Outcome {
    let n_test = inputs.x_test.nrows();
    let pp: Vec<usize> = plain.outputs.axis_iter(Axis(0)).map(argmax).collect();
    let ep: Vec<usize> = enc.outputs.axis_iter(Axis(0)).map(argmax).collect();
    let acc = |p: &[usize]| {
        p.iter()
            .zip(inputs.test_labels)
            .filter(|(a, b)| a == b)
            .count() as f64
            / n_test.max(1) as f64
    };
    pm.accuracy = Some(acc(&pp));
    em.accuracy = Some(acc(&ep));
    let same = pp.iter().zip(&ep).filter(|(a, b)| a == b).count();
    let differing = (0..n_test)
        .filter(|&i| pp[i] != ep[i])
        .map(|i| Differing {
            index: i,
            plaintext: pp[i] as f64,
            encrypted: ep[i] as f64,
            margin: margin(plain.outputs.row(i)),
            output: None,
        })
        .collect();
    Outcome {
        agreement: same as f64 / n_test.max(1) as f64,
        differing,
        confusion_matrix: Some(serde_json::json!({
            "plaintext": confusion(inputs.test_labels, &pp, inputs.outputs),
            "encrypted": confusion(inputs.test_labels, &ep, inputs.outputs),
        })),
    }
}

/// Regression: RMSE, R² and per-output metrics into `pm`/`em`; the runs agree on a sample when
/// every output is within [`REGRESSION_TOLERANCE`].
fn regression<F>(
    plain: &Run<F>,
    enc: &Run<F>,
    inputs: &Inputs,
    pm: &mut Metrics,
    em: &mut Metrics,
) -> Outcome {
    let n_test = inputs.x_test.nrows();
    let (prmse, pper) = regression_metrics(&plain.outputs, inputs);
    let (ermse, eper) = regression_metrics(&enc.outputs, inputs);
    pm.rmse = Some(prmse);
    em.rmse = Some(ermse);
    pm.r2 = Some(pper.iter().map(|o| o.r2).sum::<f64>() / pper.len().max(1) as f64);
    em.r2 = Some(eper.iter().map(|o| o.r2).sum::<f64>() / eper.len().max(1) as f64);
    pm.per_output = Some(pper);
    em.per_output = Some(eper);
    let mut same = 0;
    let mut differing = Vec::new();
    for i in 0..n_test {
        match worst_output(&plain.outputs, &enc.outputs, i) {
            None => same += 1,
            Some((j, d)) => differing.push(Differing {
                index: i,
                plaintext: plain.outputs[[i, j]] as f64,
                encrypted: enc.outputs[[i, j]] as f64,
                margin: d,
                output: Some(j),
            }),
        }
    }
    Outcome {
        agreement: same as f64 / n_test.max(1) as f64,
        differing,
        confusion_matrix: None,
    }
}

/// The output of sample `i` on which the runs differ most beyond [`REGRESSION_TOLERANCE`] (the
/// first of equal ones), with the difference; `None` when all agree.
fn worst_output(plain: &Array2<f32>, enc: &Array2<f32>, i: usize) -> Option<(usize, f64)> {
    let mut worst: Option<(usize, f64)> = None;
    for j in 0..plain.ncols() {
        let (p, e) = (plain[[i, j]] as f64, enc[[i, j]] as f64);
        let d = (p - e).abs();
        if d > REGRESSION_TOLERANCE * p.abs().max(1.0) && worst.is_none_or(|w| d > w.1) {
            worst = Some((j, d));
        }
    }
    worst
}

impl Metrics {
    fn times<F>(r: &Run<F>) -> Self {
        Metrics {
            accuracy: None,
            rmse: None,
            r2: None,
            per_output: None,
            train_seconds: r.train_seconds,
            inference_seconds: r.inference_seconds,
            encrypt_seconds: None,
            final_loss: r.losses.last().copied(),
        }
    }
}
