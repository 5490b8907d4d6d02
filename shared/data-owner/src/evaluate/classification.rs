//! The classification report: predicted classes by name, accuracy against two baselines, and
//! for the positive class the user picks (one-vs-rest beyond two classes) sensitivity,
//! specificity, PPV, NPV, the ROC curve with its AUC and a calibration diagram.

use super::calibration::{calibration_bins, CalibrationBin};
use super::confusion::{BinaryMetrics, ConfusionMatrix};
use super::ratio::Ratio;
use super::roc::{roc_curve, Roc};
use super::{err, EvaluateError};
use serde::Serialize;

/// Calibration bins of the report (tenths of probability).
pub const CALIBRATION_BINS: usize = 10;

/// Everything the results view shows for a classifier on the test set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationReport {
    /// Class names in class order (from the data: text labels, label files, folder names).
    pub class_names: Vec<String>,
    /// Index of the positive class.
    pub positive: usize,
    /// Test samples.
    pub samples: usize,
    /// Predicted class per sample (the largest probability).
    pub predicted: Vec<usize>,
    /// Probability of the positive class per sample (softmax of the outputs).
    pub positive_probability: Vec<f64>,
    /// Probability of the predicted class per sample.
    pub confidence: Vec<f64>,
    /// Correct predictions of all.
    pub accuracy: Ratio,
    /// The training part's most frequent class (the majority baseline always predicts it).
    pub majority_class: String,
    /// Accuracy on the test set of always predicting the majority class.
    pub majority_accuracy: Ratio,
    /// Mean of the per-class sensitivities (recalls).
    pub balanced_accuracy: f64,
    /// Balanced accuracy of any prediction that ignores the input (1 / classes): the
    /// balanced-chance line.
    pub chance_balanced_accuracy: f64,
    /// Whether the model beats both baselines (accuracy above the majority class's and
    /// balanced accuracy above chance).
    pub beats_baselines: bool,
    /// Confusion matrix (rows true class, columns predicted).
    pub confusion: ConfusionMatrix,
    /// The positive class against the rest.
    pub binary: BinaryMetrics,
    /// ROC curve of the positive class's probability (`None` when the test set lacks positives
    /// or negatives; `roc_note` says why).
    pub roc: Option<Roc>,
    /// Why there is no ROC curve.
    pub roc_note: Option<String>,
    /// Reliability diagram of the positive class's probability.
    pub calibration: Vec<CalibrationBin>,
}

/// Softmax of one row of outputs (logits), computed stably in f64.
pub fn softmax(row: &[f32]) -> Vec<f64> {
    let max = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let e: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = k;
        }
    }
    best
}

fn majority(train_labels: &[usize], classes: usize) -> usize {
    let mut counts = vec![0usize; classes];
    for &l in train_labels.iter().filter(|&&l| l < classes) {
        counts[l] += 1;
    }
    // the first of the most frequent classes
    (0..classes).fold(0, |best, k| if counts[k] > counts[best] { k } else { best })
}

/// The report of `outputs` (`labels.len() × class_names.len()` decrypted logits, row-major)
/// against the test `labels`, with `positive` the positive class and the baselines from the
/// training part's `train_labels`.
///
/// # Errors
/// Sizes that do not match, fewer than 2 classes, `positive` not a class, outputs not finite.
pub fn classification_report(
    outputs: &[f32],
    labels: &[usize],
    class_names: &[String],
    train_labels: &[usize],
    positive: usize,
) -> Result<ClassificationReport, EvaluateError> {
    let k = class_names.len();
    if k < 2 || positive >= k {
        return err(format!("Positive class {positive} of {k} classes."));
    }
    if outputs.len() != labels.len() * k {
        return err(format!(
            "{} outputs for {} samples of {k} classes.",
            outputs.len(),
            labels.len()
        ));
    }
    if outputs.iter().any(|v| !v.is_finite()) {
        return err("An output is not a finite number.");
    }
    let probs: Vec<Vec<f64>> = outputs.chunks(k).map(softmax).collect();
    let predicted: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    let confusion = ConfusionMatrix::new(labels, &predicted, k)?;
    let positive_probability: Vec<f64> = probs.iter().map(|p| p[positive]).collect();
    let is_positive: Vec<bool> = labels.iter().map(|&l| l == positive).collect();
    let (roc, roc_note) = match roc_curve(&positive_probability, &is_positive) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.0)),
    };
    let maj = majority(train_labels, k);
    let n = labels.len();
    let accuracy = Ratio::new(confusion.correct(), n);
    let majority_accuracy = Ratio::new(labels.iter().filter(|&&l| l == maj).count(), n);
    let balanced_accuracy = confusion.balanced_accuracy();
    let chance = 1.0 / k as f64;
    Ok(ClassificationReport {
        class_names: class_names.to_vec(),
        positive,
        samples: n,
        confidence: probs.iter().zip(&predicted).map(|(p, &c)| p[c]).collect(),
        predicted,
        beats_baselines: accuracy.value > majority_accuracy.value && balanced_accuracy > chance,
        accuracy,
        majority_class: class_names[maj].clone(),
        majority_accuracy,
        balanced_accuracy,
        chance_balanced_accuracy: chance,
        binary: confusion.binary(positive),
        confusion,
        roc,
        roc_note,
        calibration: calibration_bins(&positive_probability, &is_positive, CALIBRATION_BINS)?,
        positive_probability,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn report_by_hand() {
        // logits whose softmax for "sick" (class 1) is 0.9, 0.7, 0.4, 0.2
        let logit = |p: f64| [0.0f32, (p / (1.0 - p)).ln() as f32];
        let outputs: Vec<f32> = [0.9, 0.7, 0.4, 0.2]
            .iter()
            .flat_map(|&p| logit(p))
            .collect();
        let labels = [1, 0, 1, 0];
        let r = classification_report(
            &outputs,
            &labels,
            &names(&["healthy", "sick"]),
            &[0, 0, 1],
            1,
        )
        .unwrap();
        assert_eq!(r.predicted, [1, 1, 0, 0]);
        assert_eq!(r.accuracy, Ratio::new(2, 4));
        assert_eq!(r.majority_class, "healthy");
        assert_eq!(r.majority_accuracy, Ratio::new(2, 4));
        assert!(!r.beats_baselines, "2/4 does not beat 2/4");
        assert_eq!(r.binary.sensitivity, Ratio::new(1, 2));
        assert_eq!(r.binary.specificity, Ratio::new(1, 2));
        assert_eq!(r.roc.as_ref().unwrap().auc, 0.75);
        assert!((r.positive_probability[0] - 0.9).abs() < 1e-6);
        assert!((r.confidence[3] - 0.8).abs() < 1e-6);
        assert_eq!(r.calibration[9].count, 1);
        // the other class as positive mirrors the curve
        let r0 = classification_report(&outputs, &labels, &names(&["healthy", "sick"]), &[0], 0)
            .unwrap();
        assert_eq!(r0.roc.unwrap().auc, 0.75);
        assert_eq!(r0.binary.ppv, Ratio::new(1, 2));
    }

    #[test]
    fn softmax_is_stable_and_checks_sizes() {
        let p = softmax(&[1000.0, 1000.0]);
        assert_eq!(p, [0.5, 0.5]);
        let n = names(&["a", "b", "c"]);
        assert!(classification_report(&[0.0; 5], &[0, 1], &n, &[0], 0).is_err());
        assert!(classification_report(&[0.0; 6], &[0, 1], &n, &[0], 3).is_err());
        let r =
            classification_report(&[0.0, 0.0, 1.0, 0.0, 1.0, 0.0], &[2, 1], &n, &[1], 0).unwrap();
        assert!(
            r.roc.is_none() && r.roc_note.is_some(),
            "no positive sample of class a"
        );
    }
}
