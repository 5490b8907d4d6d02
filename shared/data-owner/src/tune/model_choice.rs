//! The choice between model kinds (for tables: a linear model beside the table MLP) after their
//! early-stopped runs, by the one-standard-error rule: the simplest model whose validation loss is
//! within one standard error of the lowest one (Breiman, Friedman, Olshen, Stone 1984,
//! "Classification and Regression Trees", §3.4.3; Hastie, Tibshirani, Friedman 2009, "The
//! Elements of Statistical Learning", 2nd ed., §7.10). On a small validation set the lowest loss
//! is partly luck: NCCTG lung's 36 validation patients preferred the MLP, whose test accuracy then
//! fell 2 patients short of the logistic regression.
//!
//! The key holder computes the per-sample losses from the decrypted models' outputs on the
//! validation rows (the node only ever holds the encrypted mean).

use serde::{Deserialize, Serialize};

/// The loss of the runs, as the node trains it (`more_core::nn::LossKind`). JSON: `"mse"` or
/// `"cross_entropy"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleLoss {
    /// Mean over the outputs of `(ŷ − y)²`.
    Mse,
    /// `−Σ y ⊙ log softmax(z)` on logits `z`, one-hot `y`.
    CrossEntropy,
}

impl SampleLoss {
    /// The loss of one sample: `outputs` and `targets` of equal length `k`.
    pub fn of(self, outputs: &[f64], targets: &[f64]) -> f64 {
        match self {
            SampleLoss::Mse => {
                let sum: f64 = outputs
                    .iter()
                    .zip(targets)
                    .map(|(o, y)| (o - y) * (o - y))
                    .sum();
                sum / outputs.len().max(1) as f64
            }
            SampleLoss::CrossEntropy => {
                let max = outputs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let log_sum = outputs.iter().map(|z| (z - max).exp()).sum::<f64>().ln() + max;
                -outputs
                    .iter()
                    .zip(targets)
                    .map(|(z, y)| y * (z - log_sum))
                    .sum::<f64>()
            }
        }
    }
}

/// One model kind's run, decrypted: its outputs on the validation rows. JSON:
/// `{"label": "linear model", "outputs": [...], "diverged": false}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    /// The model kind, as the page names it.
    pub label: String,
    /// Outputs on the validation rows, row-major `n × k` (empty when the run diverged).
    #[serde(default)]
    pub outputs: Vec<f64>,
    /// Whether the run failed or diverged.
    #[serde(default)]
    pub diverged: bool,
}

/// What [`choose_model`] weighs. JSON: `{"loss": "cross_entropy", "width": 2, "targets": [...],
/// "runs": [...]}`, `runs` ordered from the simplest model to the most complex.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelChoiceRequest {
    /// The training loss.
    pub loss: SampleLoss,
    /// Outputs (and targets) per sample, `k`.
    pub width: usize,
    /// The validation rows' targets, row-major `n × k`.
    pub targets: Vec<f64>,
    /// The runs, simplest first.
    pub runs: Vec<ModelRun>,
}

/// The kept run and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelChoice {
    /// Index of the kept run in the request; `None` when every run diverged.
    pub index: Option<usize>,
    /// Each run's mean validation loss and its standard error (`null` for a diverged run).
    pub losses: Vec<Option<(f64, f64)>>,
    /// One sentence for the Train card.
    pub reason: String,
}

/// Mean and standard error (sample standard deviation / √n) of a run's per-sample losses; `None`
/// for a diverged run, outputs whose shape is not the targets', or a non-finite loss.
fn mean_and_error(request: &ModelChoiceRequest, run: &ModelRun) -> Option<(f64, f64)> {
    let (k, targets) = (request.width, &request.targets);
    if run.diverged || k == 0 || targets.is_empty() || run.outputs.len() != targets.len() {
        return None;
    }
    let losses: Vec<f64> = run
        .outputs
        .chunks(k)
        .zip(targets.chunks(k))
        .map(|(o, y)| request.loss.of(o, y))
        .collect();
    let n = losses.len() as f64;
    let mean = losses.iter().sum::<f64>() / n;
    let var = losses.iter().map(|l| (l - mean) * (l - mean)).sum::<f64>() / (n - 1.0).max(1.0);
    let error = (var / n).sqrt();
    (mean.is_finite() && error.is_finite()).then_some((mean, error))
}

/// The kept run: the simplest whose mean validation loss is within one standard error of the
/// lowest mean (the standard error of that lowest run).
pub fn choose_model(request: &ModelChoiceRequest) -> ModelChoice {
    let losses: Vec<Option<(f64, f64)>> = request
        .runs
        .iter()
        .map(|r| mean_and_error(request, r))
        .collect();
    let Some((best, (best_mean, best_error))) = losses
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|l| (i, l)))
        .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
    else {
        return ModelChoice {
            index: None,
            losses,
            reason: "every model's run diverged".into(),
        };
    };
    let index = losses
        .iter()
        .position(|l| l.is_some_and(|(m, _)| m <= best_mean + best_error))
        .expect("the best run is within one standard error of itself");
    let name = |i: usize| &request.runs[i].label;
    let reason = if index == best {
        format!(
            "{}: the lowest validation loss ({best_mean:.4} ± {best_error:.4})",
            name(index)
        )
    } else {
        let (m, _) = losses[index].expect("kept runs have a loss");
        format!(
            "{}: validation loss {m:.4}, within one standard error of the {}'s {best_mean:.4} ± \
             {best_error:.4}, and simpler (the one-standard-error rule)",
            name(index),
            name(best)
        )
    };
    ModelChoice {
        index: Some(index),
        losses,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, outputs: &[f64]) -> ModelRun {
        ModelRun {
            label: label.into(),
            outputs: outputs.to_vec(),
            diverged: false,
        }
    }

    #[test]
    fn the_sample_losses_are_the_nodes() {
        // Cross-entropy of logits (0, ln 3) for class 1: −log(3/4).
        let ce = SampleLoss::CrossEntropy.of(&[0.0, 3f64.ln()], &[0.0, 1.0]);
        assert!((ce - (4.0f64 / 3.0).ln()).abs() < 1e-12, "{ce}");
        assert_eq!(SampleLoss::Mse.of(&[1.0, 3.0], &[0.0, 1.0]), 2.5);
    }

    #[test]
    fn a_simpler_model_within_one_standard_error_is_kept() {
        // Regression, 4 samples: the complex model's losses 0, 0.04, 0, 0.04 (mean 0.02, standard
        // error 0.0115); the linear one's 0.01 each (mean 0.01 < 0.02): the linear one is best
        // outright. Then a linear model at 0.0225 each: within 0.02 + 0.0115, kept as simpler.
        let targets = [0.0, 0.0, 0.0, 0.0];
        let complex = run("table MLP", &[0.0, 0.2, 0.0, 0.2]);
        let request = |linear: f64| ModelChoiceRequest {
            loss: SampleLoss::Mse,
            width: 1,
            targets: targets.to_vec(),
            runs: vec![run("linear model", &[linear; 4]), complex.clone()],
        };
        let c = choose_model(&request(0.1));
        assert_eq!(c.index, Some(0), "{}", c.reason);
        let c = choose_model(&request(0.15));
        assert_eq!(c.index, Some(0), "{}", c.reason);
        assert!(c.reason.contains("one-standard-error"), "{}", c.reason);
        // 0.04 each is outside: the complex model wins.
        let c = choose_model(&request(0.2));
        assert_eq!(c.index, Some(1), "{}", c.reason);
        let (m, e) = c.losses[1].unwrap();
        assert!((m - 0.02).abs() < 1e-12 && (e - (0.0016f64 / 3.0 / 4.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn diverged_and_misshapen_runs_are_never_kept() {
        let mut broken = run("table MLP", &[0.0]);
        broken.diverged = true;
        let request = ModelChoiceRequest {
            loss: SampleLoss::CrossEntropy,
            width: 2,
            targets: vec![1.0, 0.0, 0.0, 1.0],
            runs: vec![run("linear model", &[0.0, 1.0]), broken],
        };
        let c = choose_model(&request);
        assert_eq!(c.index, None, "{}", c.reason);
        assert_eq!(c.losses, vec![None, None]);
    }
}
