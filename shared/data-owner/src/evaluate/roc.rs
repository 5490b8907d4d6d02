//! The ROC curve and the area under it, for scores of a positive class.
//!
//! The curve follows Fawcett (2006), "An introduction to ROC analysis", Pattern Recognition
//! Letters 27, 861–874: Algorithm 2 (scores sorted decreasing; a point is emitted only when the
//! score changes, so equal scores make one diagonal step, not an optimistic or pessimistic
//! staircase) and Algorithm 3 (AUC as the sum of the trapezoids between consecutive points,
//! divided by P·N). With ties this equals the Mann–Whitney probability that a random positive
//! scores above a random negative, counting a tie as one half.

use super::{err, EvaluateError};
use serde::Serialize;

/// One point of the curve: the rates when every score `>= threshold` is called positive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RocPoint {
    /// False-positive rate (1 − specificity), in [0, 1].
    pub fpr: f64,
    /// True-positive rate (sensitivity), in [0, 1].
    pub tpr: f64,
    /// The score threshold (`+inf` for the first point, (0, 0)).
    pub threshold: f64,
}

/// A ROC curve from (0, 0) to (1, 1) and its area.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Roc {
    /// Points in increasing threshold order reversed: (0, 0) first, (1, 1) last.
    pub points: Vec<RocPoint>,
    /// Area under the curve in [0, 1] (0.5: no better than chance).
    pub auc: f64,
    /// Positive samples (P).
    pub positives: usize,
    /// Negative samples (N).
    pub negatives: usize,
}

/// The ROC curve of `scores` (higher: more likely positive) against `positive` (the truth).
///
/// # Errors
/// Lengths differ, a score is not finite, or there is no positive or no negative sample (the
/// curve is then undefined).
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Result<Roc, EvaluateError> {
    if scores.len() != positive.len() {
        return err(format!(
            "{} scores but {} labels.",
            scores.len(),
            positive.len()
        ));
    }
    if scores.iter().any(|s| !s.is_finite()) {
        return err("A score is not a finite number.");
    }
    let p = positive.iter().filter(|&&b| b).count();
    let n = positive.len() - p;
    if p == 0 || n == 0 {
        return err("The ROC curve needs both positive and negative samples in the test set.");
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut area2, mut prev_tp, mut prev_fp) = (0usize, 0usize, 0usize);
    let point = |tp: usize, fp: usize, threshold: f64| RocPoint {
        fpr: fp as f64 / n as f64,
        tpr: tp as f64 / p as f64,
        threshold,
    };
    let mut points = vec![point(0, 0, f64::INFINITY)];
    for (k, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            // twice the trapezoid between the previous point and this one, in counts
            area2 += (fp - prev_fp) * (tp + prev_tp);
            (prev_tp, prev_fp) = (tp, fp);
            points.push(point(tp, fp, scores[i]));
        }
    }
    Ok(Roc {
        points,
        auc: area2 as f64 / (2 * p * n) as f64,
        positives: p,
        negatives: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Mann–Whitney form of the AUC, counted pair by pair (ties one half).
    fn pairwise_auc(s: &[f64], y: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for i in (0..s.len()).filter(|&i| y[i]) {
            for j in (0..s.len()).filter(|&j| !y[j]) {
                pairs += 1.0;
                wins += if s[i] > s[j] {
                    1.0
                } else if s[i] == s[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / pairs
    }

    #[test]
    fn hand_computed_curve() {
        // scores 0.9 P, 0.8 N, 0.7 P, 0.6 N: points (0,0) (0,.5) (.5,.5) (.5,1) (1,1), AUC 0.75
        let r = roc_curve(&[0.9, 0.8, 0.7, 0.6], &[true, false, true, false]).unwrap();
        let xy: Vec<(f64, f64)> = r.points.iter().map(|q| (q.fpr, q.tpr)).collect();
        assert_eq!(
            xy,
            [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
        assert_eq!(r.auc, 0.75);
    }

    #[test]
    fn ties_make_one_diagonal_step() {
        // all four scores equal: one step from (0,0) to (1,1), AUC 0.5 (not 0 or 1)
        let r = roc_curve(&[0.5; 4], &[true, false, true, false]).unwrap();
        assert_eq!(r.points.len(), 2);
        assert_eq!(r.auc, 0.5);
        // a tie between one positive and one negative: half credit for that pair
        let r = roc_curve(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]).unwrap();
        assert_eq!(r.auc, (1.0 + 1.0 + 0.5 + 1.0) / 4.0);
    }

    #[test]
    fn equals_the_pairwise_probability() {
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..20 {
            let y: Vec<bool> = (0..60).map(|_| next() < 0.4).collect();
            // coarse scores: many ties
            let s: Vec<f64> = y
                .iter()
                .map(|&b| ((next() + if b { 0.3 } else { 0.0 }) * 5.0).floor())
                .collect();
            if y.iter().all(|&b| b) || y.iter().all(|&b| !b) {
                continue;
            }
            let r = roc_curve(&s, &y).unwrap();
            assert!((r.auc - pairwise_auc(&s, &y)).abs() < 1e-12);
            assert_eq!(r.points.last().map(|q| (q.fpr, q.tpr)), Some((1.0, 1.0)));
        }
    }

    #[test]
    fn refuses_one_class_and_bad_scores() {
        assert!(roc_curve(&[0.1, 0.2], &[true, true]).is_err());
        assert!(roc_curve(&[f64::NAN, 0.2], &[true, false]).is_err());
        assert!(roc_curve(&[0.1], &[true, false]).is_err());
    }
}
