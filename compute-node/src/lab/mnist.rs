//! `experiment mnist` and `experiment idx`: digit (or Fashion-MNIST) classification.
//!
//! Defaults (chosen to fit < 15 min on 2 cores, measured; the study's architectures and
//! hyper-parameters are unknown): pixels as given in `[0, 1]`; npm digits split per class, first
//! 80 % train (7,996) / rest test (2,004); SGD, momentum 0.9, learning rate 0.05, batch 64,
//! cross-entropy; `mnist_mlp` 10 epochs on all training digits; `mnist_cnn` 4 epochs on all
//! training digits (measured: the whole command takes about 3 minutes on 2 cores in f64).
//! `--quick`: 500 train / 200 test (balanced), 1 epoch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::args::{IdxArgs, MnistArgs, OptimizerChoice};
use super::experiment::{execute, Defaults, Prepared};
use super::report::ExperimentReport;
use crate::data::idx::{fashion_paths, load_idx_pair, FASHION_MNIST_DIR};
use crate::data::{load_mnist_json, per_class_split, resolve_mnist_dir, Dataset, Split};

/// The MNIST defaults.
pub fn defaults() -> Defaults {
    Defaults {
        archs: vec!["mnist_mlp".into(), "mnist_cnn".into()],
        epochs: |arch| if arch == "mnist_cnn" { 4 } else { 10 },
        train_limit: |_| None,
        batch_size: 64,
        learning_rate: 0.05,
        optimizer: OptimizerChoice::Sgd,
        quick: (500, 200),
    }
}

fn describe(split: &Split, source: &str, extra: &str) -> serde_json::Value {
    serde_json::json!({
        "name": split.train.name,
        "source": source,
        "train_samples": split.train.len(),
        "test_samples": split.test.len(),
        "classes": split.train.class_names,
        "train_class_counts": split.train.class_counts(),
        "test_class_counts": split.test.class_counts(),
        "feature_shape": split.train.feature_shape,
        "split": split.rule,
        "preprocessing": format!("pixels scaled to [0, 1], no standardization{extra}"),
    })
}

/// Loads `--data` (npm dir, `fashion`, or an IDX directory) and splits it.
///
/// # Errors
/// Missing or malformed files.
pub fn load(data: Option<&str>) -> anyhow::Result<(Split, String)> {
    let idx_dir = |dir: &Path, fashion: bool| -> anyhow::Result<(Split, String)> {
        let [ti, tl, vi, vl] = fashion_paths(dir);
        let train = load_idx_pair(&ti, &tl, fashion)?;
        let test = load_idx_pair(&vi, &vl, fashion)?;
        Ok((
            Split {
                train,
                test,
                rule: "the files' own train (train-*) / test (t10k-*) split".into(),
            },
            dir.display().to_string(),
        ))
    };
    match data {
        Some("fashion") => idx_dir(Path::new(FASHION_MNIST_DIR), true),
        other => {
            let dir = resolve_mnist_dir(other.map(Path::new));
            if other.is_some()
                && !dir.join("src/digits").exists()
                && fashion_paths(&dir)[0].exists()
            {
                return idx_dir(&dir, false);
            }
            let ds = load_mnist_json(&dir)?;
            Ok((per_class_split(&ds, 0.8)?, dir.display().to_string()))
        }
    }
}

/// `more-node experiment mnist`.
///
/// # Errors
/// Bad input, engine or file errors.
pub fn run(args: MnistArgs) -> anyhow::Result<ExperimentReport> {
    let started = Instant::now();
    let (split, source) = load(args.data.as_deref())?;
    let dataset = describe(&split, &source, "");
    let prepared = Prepared {
        experiment: "mnist",
        train: split.train,
        test: split.test,
        target_scaler: None,
        dataset,
        files: Vec::new(),
    };
    execute(prepared, &args.common, &defaults(), started)
}

/// `more-node experiment idx`.
///
/// # Errors
/// Bad input, engine or file errors.
pub fn run_idx(args: IdxArgs) -> anyhow::Result<ExperimentReport> {
    let started = Instant::now();
    let all: Dataset = load_idx_pair(&args.images, &args.labels, false)?;
    let split = match (&args.test_images, &args.test_labels) {
        (Some(i), Some(l)) => Split {
            train: all,
            test: load_idx_pair(i, l, false)?,
            rule: "the given train and test files".into(),
        },
        _ => per_class_split(&all, 0.8)?,
    };
    let source: PathBuf = args.images.clone();
    let dataset = describe(&split, &source.display().to_string(), "");
    let prepared = Prepared {
        experiment: "idx",
        train: split.train,
        test: split.test,
        target_scaler: None,
        dataset,
        files: Vec::new(),
    };
    execute(prepared, &args.common, &defaults(), started)
}
