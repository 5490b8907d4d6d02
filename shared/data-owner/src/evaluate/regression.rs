//! The regression report: per output, in the target's units and under its column name, the
//! mean absolute error, the root-mean-square error and R², against two baselines computed where
//! the data is: the training mean, and a linear model fitted on the training split.

use super::linear::LinearModel;
use super::{err, EvaluateError};
use serde::Serialize;

/// What the report needs; targets and model outputs are standardised (the page's and the
/// library's targets are), `target_mean`/`target_std` the training part's moments that undo it.
#[derive(Clone, Debug)]
pub struct RegressionInput<'a> {
    /// Decrypted model outputs, `test rows × outputs`, standardised.
    pub outputs: &'a [f32],
    /// Test targets, `test rows × outputs`, standardised.
    pub test_y: &'a [f32],
    /// Test features, `test rows × width` (as the model saw them).
    pub test_x: &'a [f32],
    /// Training features, `train rows × width`.
    pub train_x: &'a [f32],
    /// Training targets, `train rows × outputs`, standardised.
    pub train_y: &'a [f32],
    /// Features per row.
    pub width: usize,
    /// Target column names, one per output.
    pub names: &'a [String],
    /// Training mean of each target, in its units.
    pub target_mean: &'a [f64],
    /// Training standard deviation of each target, in its units.
    pub target_std: &'a [f64],
}

/// MAE, RMSE and R² of one set of predictions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Errors {
    /// Mean absolute error, in the target's units.
    pub mae: f64,
    /// Root-mean-square error, in the target's units.
    pub rmse: f64,
    /// Coefficient of determination on the test set (1 − SSE/SST; 0 for the test mean).
    pub r2: f64,
}

/// One output's errors and its baselines.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputErrors {
    /// The target column's name.
    pub name: String,
    /// The model's errors.
    pub model: Errors,
    /// Always predicting the training mean.
    pub mean_baseline: Errors,
    /// A least-squares linear model fitted on the training split (`None` when it cannot be
    /// fitted, e.g. non-finite features).
    pub linear_baseline: Option<Errors>,
    /// Whether the model's MAE is below the mean baseline's.
    pub beats_mean: bool,
    /// Whether the model's MAE is below the linear model's (`true` without a linear baseline).
    pub beats_linear: bool,
}

/// The report of every output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegressionReport {
    /// Test samples.
    pub samples: usize,
    /// Per output.
    pub outputs: Vec<OutputErrors>,
    /// Model predictions in the target's units, `samples × outputs`, row-major.
    pub predictions: Vec<f64>,
    /// Whether every output beats both baselines.
    pub beats_baselines: bool,
}

/// Errors of `pred` against `truth` (same units).
pub fn errors(truth: &[f64], pred: &[f64]) -> Errors {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let sst: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    let sse: f64 = truth.iter().zip(pred).map(|(t, p)| (t - p).powi(2)).sum();
    let mae = truth
        .iter()
        .zip(pred)
        .map(|(t, p)| (t - p).abs())
        .sum::<f64>()
        / n;
    Errors {
        mae,
        rmse: (sse / n).sqrt(),
        r2: if sst > 0.0 { 1.0 - sse / sst } else { 0.0 },
    }
}

fn check(i: &RegressionInput) -> Result<usize, EvaluateError> {
    let d = i.names.len();
    let rows = i.test_y.len().checked_div(d).unwrap_or(0);
    if d == 0 || i.test_y.len() != rows * d || rows == 0 {
        return err(format!(
            "{} test targets are not rows of {d} outputs.",
            i.test_y.len()
        ));
    }
    if i.outputs.len() != i.test_y.len() || i.target_mean.len() != d || i.target_std.len() != d {
        return err(format!(
            "{} outputs, {} targets, {} means, {} deviations for {d} outputs.",
            i.outputs.len(),
            i.test_y.len(),
            i.target_mean.len(),
            i.target_std.len()
        ));
    }
    if i.test_x.len() != rows * i.width {
        return err(format!(
            "{} test features for {rows} rows of {}.",
            i.test_x.len(),
            i.width
        ));
    }
    Ok(rows)
}

/// The report (module documentation).
///
/// # Errors
/// Sizes that do not match.
pub fn regression_report(i: &RegressionInput) -> Result<RegressionReport, EvaluateError> {
    let rows = check(i)?;
    let d = i.names.len();
    let units = |v: f64, k: usize| v * i.target_std[k] + i.target_mean[k];
    let linear = LinearModel::fit(i.train_x, i.width, i.train_y, d)
        .ok()
        .map(|m| m.predict(i.test_x));
    let predictions: Vec<f64> = (0..rows * d)
        .map(|j| units(f64::from(i.outputs[j]), j % d))
        .collect();
    let outputs: Vec<OutputErrors> = (0..d)
        .map(|k| {
            let col = |v: &dyn Fn(usize) -> f64| (0..rows).map(v).collect::<Vec<f64>>();
            let truth = col(&|r| units(f64::from(i.test_y[r * d + k]), k));
            let model = errors(&truth, &col(&|r| predictions[r * d + k]));
            let mean_baseline = errors(&truth, &vec![i.target_mean[k]; rows]);
            let linear_baseline = linear
                .as_ref()
                .map(|l| errors(&truth, &col(&|r| units(l[r * d + k], k))));
            OutputErrors {
                name: i.names[k].clone(),
                beats_mean: model.mae < mean_baseline.mae,
                beats_linear: linear_baseline.is_none_or(|l| model.mae < l.mae),
                model,
                mean_baseline,
                linear_baseline,
            }
        })
        .collect();
    Ok(RegressionReport {
        samples: rows,
        beats_baselines: outputs.iter().all(|o| o.beats_mean && o.beats_linear),
        outputs,
        predictions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_by_hand() {
        let e = errors(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]);
        assert!((e.mae - 2.0 / 3.0).abs() < 1e-12);
        assert!((e.rmse - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(e.r2.abs() < 1e-12, "the test mean has R² 0");
    }

    #[test]
    fn units_and_baselines() {
        // target "mmHg": mean 100, std 10; the truth is 100 + 10·x, the model outputs x + 0.1
        let train_x = [-1.0f32, 0.0, 1.0, 2.0];
        let train_y = [-1.0f32, 0.0, 1.0, 2.0];
        let test_x = [0.5f32, -0.5];
        let test_y = [0.5f32, -0.5];
        let outputs = [0.6f32, -0.4];
        let names = vec!["pressure (mmHg)".to_string()];
        let r = regression_report(&RegressionInput {
            outputs: &outputs,
            test_y: &test_y,
            test_x: &test_x,
            train_x: &train_x,
            train_y: &train_y,
            width: 1,
            names: &names,
            target_mean: &[100.0],
            target_std: &[10.0],
        })
        .unwrap();
        let o = &r.outputs[0];
        assert_eq!(o.name, "pressure (mmHg)");
        assert!(
            (o.model.mae - 1.0).abs() < 1e-5,
            "0.1 standardised is 1 mmHg"
        );
        assert!((o.mean_baseline.mae - 5.0).abs() < 1e-9);
        let lin = o.linear_baseline.unwrap();
        assert!(lin.mae < 1e-6, "the exact line is found");
        assert!(o.beats_mean && !o.beats_linear && !r.beats_baselines);
        assert!((r.predictions[0] - 106.0).abs() < 1e-4);
    }
}
