//! `experiment wbc`: the whole-body-circulation regression. Patients are generated with
//! more-hemodynamics (Smith et al. 2004 lumped model; the study's WBC model is unknown), written
//! as CSV with a data card; inputs = patient parameters, targets = the simulated outputs, both
//! z-scored with the training split's statistics and both encrypted. Defaults: `regression_mlp`,
//! SGD momentum 0.9, learning rate 0.01, batch 32, 100 epochs, seeded 80/20 split.

use std::time::Instant;

use anyhow::Context as _;
use ndarray::Array2;

use more_hemodynamics::{
    data_card, generate_dataset, input_column_names, output_column_names, write_csv_file,
};

use super::args::WbcArgs;
use super::csv::{defaults, standardize};
use super::experiment::{execute, Prepared};
use super::report::{self, ExperimentReport};
use super::{plot, progress};
use crate::data::{seeded_split, Dataset, Task};

/// `more-node experiment wbc`.
///
/// # Errors
/// Generation, engine or file errors.
pub fn run(args: WbcArgs) -> anyhow::Result<ExperimentReport> {
    let started = Instant::now();
    let common = &args.common;
    let patients = if common.quick {
        args.patients.min(300)
    } else {
        args.patients
    };
    if patients < 10 {
        anyhow::bail!("--patients must be at least 10, got {patients}");
    }
    let bar = progress::bar(patients as u64, "simulate patients", common.quiet);
    let t = Instant::now();
    let inc = |_: usize| bar.inc(1);
    let generated = generate_dataset(patients, common.seed, Some(&inc))
        .context("generating the WBC data set")?;
    let generation_seconds = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut files = Vec::new();
    let data_dir = report::data_dir(args.data_dir.as_deref(), common.json.as_deref())?;
    if let Some(dir) = &data_dir {
        let csv = dir.join(format!("wbc-{patients}.csv"));
        write_csv_file(&generated.records, &csv)
            .with_context(|| format!("writing {}", csv.display()))?;
        let card = dir.join(format!("wbc-{patients}-data-card.md"));
        report::write(&card, &data_card(&generated))?;
        files.push(csv.display().to_string());
        files.push(card.display().to_string());
    }
    let rows = generated.records.len();
    let ins = input_column_names();
    let outs = output_column_names();
    let mut x = Array2::zeros((rows, ins.len()));
    let mut y = Array2::zeros((rows, outs.len()));
    for (i, r) in generated.records.iter().enumerate() {
        for (j, v) in r.parameters.to_values().iter().enumerate() {
            x[[i, j]] = *v as f32;
        }
        for (j, v) in r.outputs.to_values().iter().enumerate() {
            y[[i, j]] = *v as f32;
        }
    }
    let ds = Dataset {
        name: format!("wbc ({rows} generated patients, more-hemodynamics)"),
        features: x,
        feature_shape: vec![ins.len()],
        feature_names: ins.iter().map(|s| s.to_string()).collect(),
        task: Task::Regression,
        labels: Vec::new(),
        class_names: Vec::new(),
        targets: y,
        target_names: outs.iter().map(|s| s.to_string()).collect(),
    };
    let split = seeded_split(&ds, 0.2, common.seed)?;
    let (train, test, target_scaler, mut dataset) = standardize(split);
    dataset["generation_seconds"] = generation_seconds.into();
    dataset["rejected_without_steady_state"] = generated.rejected_without_steady_state.into();
    dataset["rejected_non_physiologic"] = generated.rejected_non_physiologic.into();
    let scaler = target_scaler
        .clone()
        .context("regression has a target scaler")?;
    let truth = test.targets.clone();
    let names = test.target_names.clone();
    let prepared = Prepared {
        experiment: "wbc",
        train,
        test,
        target_scaler,
        dataset,
        files,
    };
    let mut report = execute(prepared, common, &defaults(|_| 100), started)?;
    let scatter = args.scatter.clone().or_else(|| {
        common
            .json
            .as_ref()
            .map(|p| report::sibling(p, "-scatter.png"))
    });
    if let (Some(path), Some(a)) = (scatter, report.architectures.first()) {
        let n = a.test_outputs.0.nrows();
        let truth = truth.slice(ndarray::s![..n, ..]).to_owned();
        plot::scatter(
            &path,
            &names,
            &truth,
            &scaler.invert(&a.test_outputs.0),
            &scaler.invert(&a.test_outputs.1),
        )?;
        report.files.push(path.display().to_string());
        if let Some(p) = &common.json {
            report::write(p, &serde_json::to_string_pretty(&report)?)?;
        }
    }
    Ok(report)
}
