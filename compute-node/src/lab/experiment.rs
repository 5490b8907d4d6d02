//! The shared driver: limits, key generation, encryption settings, the loop over architectures,
//! and the outputs (stdout table, JSON, Markdown, loss-curve PNG).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

use more_secret_key::{SecretKey, ShadowDistribution};
use more_core::nn::{LossKind, ModelSpec, OptimizerSpec, TrainConfig};

use super::args::{CommonArgs, OptimizerChoice, ShadowChoice};
use super::compare::{compare_architecture, Crypto, Inputs};
use super::plot;
use super::report::{self, ExperimentReport};
use crate::data::split::stratified_head;
use crate::data::{Dataset, Standardizer, Task};

/// Training defaults of one experiment (each overridable on the command line).
pub struct Defaults {
    /// Architectures.
    pub archs: Vec<String>,
    /// Epochs per architecture (full run).
    pub epochs: fn(&str) -> usize,
    /// Training-sample cap per architecture (full run), to fit the time budget.
    pub train_limit: fn(&str) -> Option<usize>,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// Optimizer.
    pub optimizer: OptimizerChoice,
    /// `--quick`: (train samples, test samples).
    pub quick: (usize, usize),
}

/// A prepared data set: features already scaled, targets raw (regression: standardized here with
/// `target_scaler`, fitted on the full training split).
pub struct Prepared {
    /// Experiment name.
    pub experiment: &'static str,
    /// Training split.
    pub train: Dataset,
    /// Test split.
    pub test: Dataset,
    /// Regression target standardizer.
    pub target_scaler: Option<Standardizer>,
    /// Data description for the report (name, source, split rule, preprocessing).
    pub dataset: serde_json::Value,
    /// Extra files written while preparing (CSV, data card).
    pub files: Vec<String>,
}

/// Runs every architecture and writes the outputs; returns the report.
///
/// # Errors
/// Bad arguments, engine errors, file errors.
pub fn execute(
    prepared: Prepared,
    common: &CommonArgs,
    defaults: &Defaults,
    started: Instant,
) -> anyhow::Result<ExperimentReport> {
    let Prepared {
        experiment,
        train,
        test,
        target_scaler,
        mut dataset,
        mut files,
    } = prepared;
    let archs = common
        .arch
        .clone()
        .unwrap_or_else(|| defaults.archs.clone());
    let test_limit = common
        .test_limit
        .or(common.quick.then_some(defaults.quick.1));
    let test = match test_limit {
        Some(n) => stratified_head(&test, n),
        None => test,
    };
    let key = SecretKey::generate().context("key generation")?;
    let mut results = Vec::new();
    for arch in &archs {
        let limit = common
            .train_limit
            .or(common.quick.then_some(defaults.quick.0))
            .or((defaults.train_limit)(arch));
        let train = match limit {
            Some(n) => stratified_head(&train, n),
            None => train.clone(),
        };
        let epochs = common.epochs.unwrap_or(if common.quick {
            1
        } else {
            (defaults.epochs)(arch)
        });
        let lr = common.learning_rate.unwrap_or(defaults.learning_rate);
        let optimizer = match common.optimizer.unwrap_or(defaults.optimizer) {
            OptimizerChoice::Sgd => OptimizerSpec::Sgd {
                learning_rate: lr,
                momentum: common.momentum,
            },
            OptimizerChoice::Adam => OptimizerSpec::Adam {
                learning_rate: lr,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            },
        };
        let loss = match train.task {
            Task::Classification => LossKind::CrossEntropy,
            Task::Regression => LossKind::Mse,
        };
        let config = TrainConfig::new(
            epochs,
            common.batch_size.unwrap_or(defaults.batch_size),
            optimizer,
            loss,
            common.seed,
        );
        let spec = ModelSpec::preset(arch, &train.feature_shape, train.outputs())
            .with_context(|| format!("architecture {arch}"))?;
        let y_train = match &target_scaler {
            Some(s) => s.apply(&train.targets),
            None => train.target_matrix(),
        };
        let (shadow_x, mut shadow_y) = match common.shadow {
            ShadowChoice::Gaussian => {
                let g = ShadowDistribution::Gaussian {
                    std: common.shadow_std,
                };
                (g.clone(), g)
            }
            ShadowChoice::Matched => (matched(&train.features)?, matched(&y_train)?),
        };
        if train.task == Task::Classification {
            // A shadow cross-entropy against non-probability shadows is unbounded below and
            // diverges; probability-vector shadows keep the shadow run well-posed.
            shadow_y = ShadowDistribution::Simplex;
        }
        let inputs = Inputs {
            x_train: &train.features,
            y_train: &y_train,
            x_test: &test.features,
            test_labels: &test.labels,
            test_targets: &test.targets,
            target_scaler: target_scaler.as_ref(),
            target_names: &test.target_names,
            feature_shape: &train.feature_shape,
            task: train.task,
            outputs: train.outputs(),
        };
        let crypto = Crypto {
            key: &key,
            shadow_x,
            shadow_y,
            representation: common.representation,
            precision: common.precision,
            seed: common.seed,
            model_seed: common.model_seed.unwrap_or(common.seed),
            quiet: common.quiet,
        };
        if !common.quiet {
            eprintln!(
                "{experiment}/{arch}: {} train, {} test, {epochs} epoch(s), batch {}",
                train.len(),
                test.len(),
                config.batch_size
            );
        }
        results.push(compare_architecture(
            arch, &spec, &config, &inputs, &crypto,
        )?);
    }
    dataset["test_samples_used"] = test.len().into();
    let first = results.first().context("no architecture given (--arch)")?;
    let json_path = common.json.clone();
    let md_path = common
        .markdown
        .clone()
        .or_else(|| json_path.as_ref().map(|p| p.with_extension("md")));
    let png_path: Option<PathBuf> = common
        .png
        .clone()
        .or_else(|| json_path.as_ref().map(|p| report::sibling(p, "-loss.png")));
    if let Some(p) = &png_path {
        plot::loss_curves(
            p,
            &format!("{experiment}: training loss, plaintext vs encrypted"),
            &results,
        )?;
        files.push(p.display().to_string());
    }
    if let Some(p) = &md_path {
        files.push(p.display().to_string());
    }
    let mut report = ExperimentReport {
        experiment: experiment.to_string(),
        dataset,
        settings: serde_json::json!({
            "key": "SecretKey::generate() (OS randomness); the seed never touches the key",
            "key_fingerprint": key.fingerprint(),
            "representation": common.representation,
            "precision": common.precision,
            "shadow": common.shadow,
            "shadow_std": common.shadow_std,
            "target_shadow": if test.task == Task::Classification {
                "simplex (random probability vectors)"
            } else {
                "as the features"
            },
            "seed": common.seed,
            "model_seed": common.model_seed.unwrap_or(common.seed),
            "quick": common.quick,
        }),
        plaintext: first.plaintext.clone(),
        encrypted: first.encrypted.clone(),
        agreement: first.agreement,
        architectures: results,
        study: report::study(experiment),
        machine: report::machine(),
        date: report::now_utc(),
        wall_seconds: 0.0,
        files,
    };
    report.wall_seconds = started.elapsed().as_secs_f64();
    println!("{}", report::table(&report));
    for a in &report.architectures {
        if let Some(t) = report::output_table(a) {
            println!("{}:\n{t}", a.name);
        }
    }
    if let Some(p) = &md_path {
        report::write(p, &report::markdown(&report))?;
    }
    if let Some(p) = &json_path {
        report::write(p, &serde_json::to_string_pretty(&report)?)?;
    }
    Ok(report)
}

fn matched(x: &ndarray::Array2<f32>) -> anyhow::Result<ShadowDistribution> {
    let flat: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    Ok(ShadowDistribution::matched_to(&flat, x.ncols())?)
}
