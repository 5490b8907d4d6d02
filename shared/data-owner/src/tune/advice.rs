//! The plain-language suggestion when a model does not beat its baseline: which way to move
//! what, read off the decrypted losses and the class counts.
//!
//! The rules, in order (thresholds are relative changes of the loss):
//! - rate too high: the job diverged, a loss is not finite, or the training loss ended more
//!   than [`RISE`] above where it started → lower the learning rate three-fold;
//! - rate too low: over two or more epochs the training loss fell by less than [`FLAT`] →
//!   raise it three-fold;
//! - overfitting: the validation loss ended more than [`RISE`] above its best epoch while the
//!   training loss kept falling → train only to the best epoch (early stopping keeps it);
//! - too few epochs: the last epoch is the best on the validation set and still improved on the
//!   one before by more than [`FLAT`] → train twice as many epochs;
//! - class imbalance (classification): the largest class holds at least [`IMBALANCE`] of the
//!   cases → a model answering it always looks good on accuracy: judge by the balanced line and
//!   sensitivity, add cases of the smaller classes;
//! - nothing of the above and still no better than the baseline: more cases or more informative
//!   columns.

use serde::{Deserialize, Serialize};

/// A relative rise of the loss that counts as rising (2 %).
pub const RISE: f64 = 0.02;
/// A relative fall of the loss below which it counts as flat (2 %).
pub const FLAT: f64 = 0.02;
/// Share of the largest class from which the classes count as imbalanced (70 %).
pub const IMBALANCE: f64 = 0.7;

/// What a training run gave, decrypted. `score` and `baseline` are on one scale where higher is
/// better (accuracy or balanced accuracy against the majority or balanced-chance line; R² against
/// 0 for the mean, or −MAE).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// `"classification"` or `"regression"`.
    pub task: String,
    /// The run's learning rate.
    pub learning_rate: f64,
    /// Epochs trained.
    pub epochs: usize,
    /// Decrypted training loss per epoch.
    #[serde(default)]
    pub training_losses: Vec<f64>,
    /// Decrypted validation loss per epoch (empty without a validation set).
    #[serde(default)]
    pub validation_losses: Vec<f64>,
    /// The model's score on the test part.
    pub score: f64,
    /// The baseline's score on the same part and scale.
    pub baseline: f64,
    /// Cases per class in the training part (classification).
    #[serde(default)]
    pub class_counts: Option<Vec<usize>>,
    /// Whether the job failed by divergence.
    #[serde(default)]
    pub diverged: bool,
}

/// Why a model falls short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The steps are too large: the loss rose or diverged.
    RateTooHigh,
    /// The steps are too small: the loss hardly moved.
    RateTooLow,
    /// Trained past the best epoch: the validation loss rose again.
    Overfitting,
    /// Still improving when training ended.
    TooFewEpochs,
    /// One class dominates the cases.
    ClassImbalance,
    /// None of the above: the data may not carry enough signal at this size.
    Unclear,
}

/// One suggestion: the cause, the move (a setting and its new value), and a sentence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// Why.
    pub cause: Cause,
    /// What to change, short ("learning rate 0.05 → 0.0167").
    pub action: String,
    /// The sentence to show.
    pub text: String,
}

/// Whether the model beats its baseline, and what to change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// `score > baseline`.
    pub beats_baseline: bool,
    /// The suggestions, most important first (empty when the run looks healthy).
    pub advice: Vec<Advice>,
}

/// The suggestion for `d`.
pub fn advise(d: &Diagnosis) -> Suggestion {
    let beats_baseline = d.score > d.baseline;
    let mut advice: Vec<Advice> = [rate(d), fit(d), imbalance(d)]
        .into_iter()
        .flatten()
        .collect();
    if advice.is_empty() && !beats_baseline {
        advice.push(Advice {
            cause: Cause::Unclear,
            action: "more cases or more informative columns".into(),
            text: "Training went normally but the model does not beat the baseline: the \
                   columns may not predict the target at this size. More cases, or columns \
                   that carry more of the outcome, are the way forward."
                .into(),
        });
    }
    Suggestion {
        beats_baseline,
        advice,
    }
}

/// Relative change from `a` to `b` (`(b − a)/|a|`; 0 for a = 0).
fn change(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        (b - a) / a.abs()
    }
}

/// Three significant digits.
fn round3(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(2 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// Too high or too low a learning rate, from the training losses.
fn rate(d: &Diagnosis) -> Option<Advice> {
    let t = &d.training_losses;
    let lr = d.learning_rate;
    let rose = match (t.first(), t.last()) {
        (Some(&a), Some(&b)) => change(a, b) > RISE,
        _ => false,
    };
    if d.diverged || t.iter().any(|l| !l.is_finite()) || rose {
        let to = round3(lr / 3.0);
        return Some(Advice {
            cause: Cause::RateTooHigh,
            action: format!("learning rate {lr} → {to}"),
            text: format!(
                "The training loss rose or blew up: the learning rate {lr} takes steps too large \
                 for this data. Lower it to about {to}."
            ),
        });
    }
    if t.len() >= 2 && change(t[0], t[t.len() - 1]) > -FLAT {
        let to = round3(lr * 3.0);
        return Some(Advice {
            cause: Cause::RateTooLow,
            action: format!("learning rate {lr} → {to}"),
            text: format!(
                "The training loss hardly moved over {} epochs: the learning rate {lr} takes \
                 steps too small. Raise it to about {to}.",
                t.len()
            ),
        });
    }
    None
}

/// Overfitting or too few epochs, from the validation losses.
fn fit(d: &Diagnosis) -> Option<Advice> {
    let v = &d.validation_losses;
    let n = v.len();
    if n < 2 || v.iter().any(|l| !l.is_finite()) {
        return None;
    }
    let (best_i, best) = v
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let training_fell = match (d.training_losses.first(), d.training_losses.last()) {
        (Some(&a), Some(&b)) => b < a,
        _ => true,
    };
    if best_i + 1 < n && change(best, v[n - 1]) > RISE && training_fell {
        return Some(Advice {
            cause: Cause::Overfitting,
            action: format!("epochs {} → {}", d.epochs, best_i + 1),
            text: format!(
                "The loss on held-out cases was lowest after epoch {} and rose afterwards: the \
                 model began to memorise the training cases. Train {} epochs (early stopping \
                 keeps that epoch).",
                best_i + 1,
                best_i + 1
            ),
        });
    }
    if best_i + 1 == n && change(v[n - 2], v[n - 1]) < -FLAT {
        let to = d.epochs.max(1) * 2;
        return Some(Advice {
            cause: Cause::TooFewEpochs,
            action: format!("epochs {} → {to}", d.epochs),
            text: format!(
                "The loss on held-out cases was still falling when training stopped: train \
                 longer, about {to} epochs."
            ),
        });
    }
    None
}

/// A dominant class, from the class counts.
fn imbalance(d: &Diagnosis) -> Option<Advice> {
    let counts = d.class_counts.as_ref()?;
    let total: usize = counts.iter().sum();
    let largest = counts.iter().copied().enumerate().max_by_key(|&(_, c)| c)?;
    let share = largest.1 as f64 / total.max(1) as f64;
    if d.task != "classification" || counts.len() < 2 || share < IMBALANCE {
        return None;
    }
    let pct = (share * 100.0).round();
    Some(Advice {
        cause: Cause::ClassImbalance,
        action: "judge by balanced accuracy; add cases of the smaller classes".into(),
        text: format!(
            "Class {} holds {pct} % of the cases: a model that always answers it is right \
             {pct} % of the time. Judge the model by the balanced line and its sensitivity, and \
             add cases of the smaller classes if you can.",
            largest.0
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(training: &[f64], validation: &[f64], score: f64, baseline: f64) -> Diagnosis {
        Diagnosis {
            task: "classification".into(),
            learning_rate: 0.05,
            epochs: training.len(),
            training_losses: training.to_vec(),
            validation_losses: validation.to_vec(),
            score,
            baseline,
            class_counts: None,
            diverged: false,
        }
    }

    fn causes(s: &Suggestion) -> Vec<Cause> {
        s.advice.iter().map(|a| a.cause).collect()
    }

    #[test]
    fn a_rising_or_diverged_loss_says_lower_the_rate() {
        let s = advise(&d(&[0.7, 0.9, 1.4], &[], 0.458, 0.458));
        assert!(!s.beats_baseline);
        assert_eq!(causes(&s), vec![Cause::RateTooHigh]);
        assert_eq!(s.advice[0].action, "learning rate 0.05 → 0.0167");
        let mut div = d(&[0.7], &[], 0.5, 0.5);
        div.diverged = true;
        assert_eq!(causes(&advise(&div)), vec![Cause::RateTooHigh]);
    }

    #[test]
    fn a_flat_loss_says_raise_the_rate() {
        let s = advise(&d(&[0.693, 0.692, 0.690], &[], 0.5, 0.5));
        assert_eq!(causes(&s), vec![Cause::RateTooLow]);
        assert_eq!(s.advice[0].action, "learning rate 0.05 → 0.15");
    }

    #[test]
    fn validation_losses_tell_overfitting_from_too_few_epochs() {
        let over = advise(&d(&[1.0, 0.6, 0.4, 0.3], &[0.9, 0.6, 0.7, 0.8], 0.6, 0.7));
        assert_eq!(causes(&over), vec![Cause::Overfitting]);
        assert_eq!(over.advice[0].action, "epochs 4 → 2");
        let few = advise(&d(&[1.0, 0.7], &[0.9, 0.7], 0.6, 0.7));
        assert_eq!(causes(&few), vec![Cause::TooFewEpochs]);
        assert_eq!(few.advice[0].action, "epochs 2 → 4");
    }

    #[test]
    fn a_dominant_class_is_named_and_a_healthy_run_gets_no_advice() {
        let mut im = d(&[1.0, 0.5], &[0.6, 0.59], 0.9, 0.9);
        im.class_counts = Some(vec![10, 90]);
        let s = advise(&im);
        assert_eq!(causes(&s), vec![Cause::ClassImbalance]);
        assert!(
            s.advice[0].text.contains("Class 1 holds 90 %"),
            "{}",
            s.advice[0].text
        );
        let ok = advise(&d(&[1.0, 0.5], &[0.6, 0.59], 0.95, 0.6));
        assert!(ok.beats_baseline && ok.advice.is_empty());
        let unclear = advise(&d(&[1.0, 0.5], &[0.6, 0.59], 0.5, 0.6));
        assert_eq!(causes(&unclear), vec![Cause::Unclear]);
    }
}
