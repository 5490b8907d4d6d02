//! The confusion matrix and the four rates of a positive class against the rest (one-vs-rest
//! for more than two classes).

use super::ratio::Ratio;
use super::{err, EvaluateError};
use serde::Serialize;

/// Counts of (true class, predicted class): `counts[t][p]`, classes in the data's class order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfusionMatrix {
    /// `classes × classes` counts, rows the true class, columns the predicted class.
    pub counts: Vec<Vec<usize>>,
}

/// Sensitivity, specificity, PPV and NPV of one positive class against all others, with counts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BinaryMetrics {
    /// True positives: positive cases predicted positive.
    pub true_positives: usize,
    /// False positives: other cases predicted positive.
    pub false_positives: usize,
    /// True negatives: other cases predicted other.
    pub true_negatives: usize,
    /// False negatives: positive cases predicted other.
    pub false_negatives: usize,
    /// Sensitivity (recall, true-positive rate): TP / (TP + FN).
    pub sensitivity: Ratio,
    /// Specificity (true-negative rate): TN / (TN + FP).
    pub specificity: Ratio,
    /// Positive predictive value (precision): TP / (TP + FP).
    pub ppv: Ratio,
    /// Negative predictive value: TN / (TN + FN).
    pub npv: Ratio,
}

impl ConfusionMatrix {
    /// The matrix of `truth` and `predicted` class indices (each `< classes`).
    ///
    /// # Errors
    /// Lengths differ, or an index is not below `classes`.
    pub fn new(
        truth: &[usize],
        predicted: &[usize],
        classes: usize,
    ) -> Result<Self, EvaluateError> {
        if truth.len() != predicted.len() {
            return err(format!(
                "{} true classes but {} predictions.",
                truth.len(),
                predicted.len()
            ));
        }
        let mut counts = vec![vec![0; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t >= classes || p >= classes {
                return err(format!("Class index {} is not below {classes}.", t.max(p)));
            }
            counts[t][p] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    /// Samples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Samples on the diagonal (predicted as their true class).
    pub fn correct(&self) -> usize {
        (0..self.counts.len()).map(|k| self.counts[k][k]).sum()
    }

    /// Mean over classes of each class's recall (classes without samples are skipped).
    pub fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = self
            .counts
            .iter()
            .enumerate()
            .filter_map(|(k, row)| Ratio::new(row[k], row.iter().sum()).value)
            .collect();
        recalls.iter().sum::<f64>() / recalls.len().max(1) as f64
    }

    /// The four rates of class `positive` against all other classes.
    pub fn binary(&self, positive: usize) -> BinaryMetrics {
        let total = self.total();
        let tp = self.counts[positive][positive];
        let actual_pos: usize = self.counts[positive].iter().sum();
        let predicted_pos: usize = self.counts.iter().map(|r| r[positive]).sum();
        let fn_ = actual_pos - tp;
        let fp = predicted_pos - tp;
        let tn = total - tp - fn_ - fp;
        BinaryMetrics {
            true_positives: tp,
            false_positives: fp,
            true_negatives: tn,
            false_negatives: fn_,
            sensitivity: Ratio::new(tp, tp + fn_),
            specificity: Ratio::new(tn, tn + fp),
            ppv: Ratio::new(tp, tp + fp),
            npv: Ratio::new(tn, tn + fn_),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_by_hand() {
        // truth:     1 1 1 1 0 0 0 0 0 0
        // predicted: 1 1 1 0 1 0 0 0 0 0   -> TP 3, FN 1, FP 1, TN 5
        let t = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
        let p = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0];
        let m = ConfusionMatrix::new(&t, &p, 2).unwrap();
        assert_eq!(m.counts, [[5, 1], [1, 3]]);
        let b = m.binary(1);
        assert_eq!(
            (
                b.true_positives,
                b.false_negatives,
                b.false_positives,
                b.true_negatives
            ),
            (3, 1, 1, 5)
        );
        assert_eq!(b.sensitivity, Ratio::new(3, 4));
        assert_eq!(b.specificity, Ratio::new(5, 6));
        assert_eq!(b.ppv, Ratio::new(3, 4));
        assert_eq!(b.npv, Ratio::new(5, 6));
        // class 0 as positive swaps the roles
        let b0 = m.binary(0);
        assert_eq!(b0.sensitivity, Ratio::new(5, 6));
        assert_eq!(b0.ppv, Ratio::new(5, 6));
        assert!((m.balanced_accuracy() - (3.0 / 4.0 + 5.0 / 6.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.correct(), 8);
    }

    #[test]
    fn one_vs_rest_of_three_classes() {
        let t = [0, 1, 2, 2, 1];
        let p = [0, 2, 2, 1, 1];
        let b = ConfusionMatrix::new(&t, &p, 3).unwrap().binary(2);
        assert_eq!(
            (
                b.true_positives,
                b.false_negatives,
                b.false_positives,
                b.true_negatives
            ),
            (1, 1, 1, 2)
        );
        assert!(ConfusionMatrix::new(&[0, 3], &[0, 0], 3).is_err());
        assert!(ConfusionMatrix::new(&[0], &[0, 0], 3).is_err());
    }
}
