//! `experiment csv`: any table; features z-scored with the training split's mean and standard
//! deviation; regression targets z-scored the same way for training and un-standardized for
//! reporting. Defaults: `regression_mlp` for both tasks, SGD momentum 0.9, learning
//! rate 0.01, batch 32, 20 epochs; seeded 80/20 split. `--quick`: 500 train / 200 test, 1 epoch.

use std::time::Instant;

use super::args::{CsvArgs, OptimizerChoice};
use super::experiment::{execute, Defaults, Prepared};
use super::report::ExperimentReport;
use crate::data::{load_csv, seeded_split, Dataset, Split, Standardizer, Task};
use more_data_owner::data::impute_missing;

/// Defaults for tabular data (CSV and WBC).
pub fn defaults(epochs: fn(&str) -> usize) -> Defaults {
    Defaults {
        archs: vec!["regression_mlp".into()],
        epochs,
        train_limit: |_| None,
        batch_size: 32,
        learning_rate: 0.01,
        optimizer: OptimizerChoice::Sgd,
        quick: (500, 200),
    }
}

/// Standardizes features (and regression targets) with the training split's statistics.
pub fn standardize(split: Split) -> (Dataset, Dataset, Option<Standardizer>, serde_json::Value) {
    let Split {
        mut train,
        mut test,
        rule,
    } = split;
    // Missing feature values (NaN from the data owner's rules) get the training split's means.
    let width = train.features.ncols();
    if let (Some(tr), Some(te)) = (train.features.as_slice_mut(), test.features.as_slice_mut()) {
        impute_missing(tr, te, width);
    }
    let fx = Standardizer::fit(&train.features);
    train.features = fx.apply(&train.features);
    test.features = fx.apply(&test.features);
    let fy = (train.task == Task::Regression).then(|| Standardizer::fit(&train.targets));
    let info = serde_json::json!({
        "name": train.name,
        "task": train.task,
        "train_samples": train.len(),
        "test_samples": test.len(),
        "features": train.feature_names,
        "targets": if train.task == Task::Regression { train.target_names.clone() } else { Vec::new() },
        "classes": train.class_names,
        "split": rule,
        "preprocessing": "features z-scored with the training split's mean and std (population); regression targets z-scored likewise for training and un-standardized for the per-output metrics; `rmse` is over all outputs in standardized units",
        "feature_mean": fx.mean,
        "feature_std": fx.std,
        "target_mean": fy.as_ref().map(|f| f.mean.clone()),
        "target_std": fy.as_ref().map(|f| f.std.clone()),
    });
    (train, test, fy, info)
}

/// `more-node experiment csv`.
///
/// # Errors
/// Bad input (missing file or column, non-numeric cells), engine or file errors.
pub fn run(args: CsvArgs) -> anyhow::Result<ExperimentReport> {
    let started = Instant::now();
    let table = load_csv(&args.file, &args.target, args.task)?;
    for note in &table.notes {
        eprintln!("note: {note}");
    }
    let split = seeded_split(&table.dataset, args.test_fraction, args.common.seed)?;
    let (train, test, target_scaler, mut dataset) = standardize(split);
    dataset["notes"] = serde_json::json!(table.notes);
    let prepared = Prepared {
        experiment: "csv",
        train,
        test,
        target_scaler,
        dataset,
        files: Vec::new(),
    };
    execute(prepared, &args.common, &defaults(|_| 20), started)
}
