//! The shared driver: limits, key generation, encryption settings, the loop over architectures,
//! and the outputs (stdout table, JSON, Markdown, loss-curve PNG).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

use more_core::nn::{LossKind, ModelSpec, OptimizerSpec, TrainConfig};
use more_secret_key::{SecretKey, ShadowDistribution};

use super::args::{CommonArgs, OptimizerChoice, ShadowChoice};
use super::compare::{compare_architecture, Crypto, Inputs};
use super::plot;
use super::report::{self, ArchitectureResult, ExperimentReport};
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
    let data = Splits {
        experiment,
        train: &train,
        test: &test,
        target_scaler: target_scaler.as_ref(),
    };
    let results = archs
        .iter()
        .map(|arch| run_architecture(arch, &data, common, defaults, &key))
        .collect::<anyhow::Result<Vec<_>>>()?;
    dataset["test_samples_used"] = test.len().into();
    let first = results.first().context("no architecture given (--arch)")?;
    let paths = OutputPaths::new(common);
    if let Some(p) = &paths.png {
        plot::loss_curves(
            p,
            &format!("{experiment}: training loss, plaintext vs encrypted"),
            &results,
        )?;
        files.push(p.display().to_string());
    }
    if let Some(p) = &paths.markdown {
        files.push(p.display().to_string());
    }
    let mut report = ExperimentReport {
        experiment: experiment.to_string(),
        dataset,
        settings: settings(common, &key, test.task),
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
    print_and_write(&report, &paths)?;
    Ok(report)
}

/// The data every architecture of one experiment runs on.
struct Splits<'a> {
    experiment: &'static str,
    /// The whole training split (each architecture may take a head of it).
    train: &'a Dataset,
    /// The test split, already limited.
    test: &'a Dataset,
    target_scaler: Option<&'a Standardizer>,
}

/// One architecture: its training samples, settings and shadows, then both runs compared.
fn run_architecture(
    arch: &str,
    data: &Splits,
    common: &CommonArgs,
    defaults: &Defaults,
    key: &SecretKey,
) -> anyhow::Result<ArchitectureResult> {
    let limit = common
        .train_limit
        .or(common.quick.then_some(defaults.quick.0))
        .or((defaults.train_limit)(arch));
    let train = match limit {
        Some(n) => stratified_head(data.train, n),
        None => data.train.clone(),
    };
    let test = data.test;
    let config = train_config(arch, train.task, common, defaults);
    let spec = ModelSpec::preset(arch, &train.feature_shape, train.outputs())
        .with_context(|| format!("architecture {arch}"))?;
    let y_train = match data.target_scaler {
        Some(s) => s.apply(&train.targets),
        None => train.target_matrix(),
    };
    let (shadow_x, shadow_y) = shadows(common, &train, &y_train)?;
    let inputs = Inputs {
        x_train: &train.features,
        y_train: &y_train,
        x_test: &test.features,
        test_labels: &test.labels,
        test_targets: &test.targets,
        target_scaler: data.target_scaler,
        target_names: &test.target_names,
        feature_shape: &train.feature_shape,
        task: train.task,
        outputs: train.outputs(),
    };
    let crypto = Crypto {
        key,
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
            "{}/{arch}: {} train, {} test, {} epoch(s), batch {}",
            data.experiment,
            train.len(),
            test.len(),
            config.epochs,
            config.batch_size
        );
    }
    compare_architecture(arch, &spec, &config, &inputs, &crypto)
}

/// The training settings of `arch`: the command line's, else the experiment's defaults (`--quick`:
/// one epoch).
fn train_config(arch: &str, task: Task, common: &CommonArgs, defaults: &Defaults) -> TrainConfig {
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
    let loss = match task {
        Task::Classification => LossKind::CrossEntropy,
        Task::Regression => LossKind::Mse,
    };
    TrainConfig::new(
        epochs,
        common.batch_size.unwrap_or(defaults.batch_size),
        optimizer,
        loss,
        common.seed,
    )
}

/// The shadow distributions of the features and the targets.
fn shadows(
    common: &CommonArgs,
    train: &Dataset,
    y_train: &ndarray::Array2<f32>,
) -> anyhow::Result<(ShadowDistribution, ShadowDistribution)> {
    let (shadow_x, shadow_y) = match common.shadow {
        ShadowChoice::Gaussian => {
            let g = ShadowDistribution::Gaussian {
                std: common.shadow_std,
            };
            (g.clone(), g)
        }
        ShadowChoice::Matched => (matched(&train.features)?, matched(y_train)?),
    };
    if train.task == Task::Classification {
        // A shadow cross-entropy against non-probability shadows is unbounded below and
        // diverges; probability-vector shadows keep the shadow run well-posed.
        return Ok((shadow_x, ShadowDistribution::Simplex));
    }
    Ok((shadow_x, shadow_y))
}

/// The report's `settings`: key, representation, precision, shadows and seeds.
fn settings(common: &CommonArgs, key: &SecretKey, task: Task) -> serde_json::Value {
    serde_json::json!({
        "key": "SecretKey::generate() (OS randomness); the seed never touches the key",
        "key_fingerprint": key.fingerprint(),
        "representation": common.representation,
        "precision": common.precision,
        "shadow": common.shadow,
        "shadow_std": common.shadow_std,
        "target_shadow": if task == Task::Classification {
            "simplex (random probability vectors)"
        } else {
            "as the features"
        },
        "seed": common.seed,
        "model_seed": common.model_seed.unwrap_or(common.seed),
        "quick": common.quick,
    })
}

/// Where the outputs go: `--json`, `--markdown` (default next to the JSON, `.md`) and `--png`
/// (default next to the JSON, `-loss.png`).
struct OutputPaths {
    json: Option<PathBuf>,
    markdown: Option<PathBuf>,
    png: Option<PathBuf>,
}

impl OutputPaths {
    fn new(common: &CommonArgs) -> Self {
        let json = common.json.clone();
        let markdown = common
            .markdown
            .clone()
            .or_else(|| json.as_ref().map(|p| p.with_extension("md")));
        let png = common
            .png
            .clone()
            .or_else(|| json.as_ref().map(|p| report::sibling(p, "-loss.png")));
        OutputPaths {
            json,
            markdown,
            png,
        }
    }
}

/// Prints the tables and writes the Markdown and JSON reports.
fn print_and_write(report: &ExperimentReport, paths: &OutputPaths) -> anyhow::Result<()> {
    println!("{}", report::table(report));
    for a in &report.architectures {
        if let Some(t) = report::output_table(a) {
            println!("{}:\n{t}", a.name);
        }
    }
    if let Some(p) = &paths.markdown {
        report::write(p, &report::markdown(report))?;
    }
    if let Some(p) = &paths.json {
        report::write(p, &serde_json::to_string_pretty(report)?)?;
    }
    Ok(())
}

fn matched(x: &ndarray::Array2<f32>) -> anyhow::Result<ShadowDistribution> {
    let flat: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    Ok(ShadowDistribution::matched_to(&flat, x.ncols())?)
}
