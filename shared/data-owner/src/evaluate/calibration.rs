//! Calibration (a reliability diagram): in bins of the predicted probability, the mean predicted
//! probability against the observed frequency of the positive class, with the count per bin.

use super::{err, EvaluateError};
use serde::Serialize;

/// One bin of predicted probabilities `[lower, upper)` (the last bin includes 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationBin {
    /// Lower edge of the bin.
    pub lower: f64,
    /// Upper edge of the bin.
    pub upper: f64,
    /// Samples whose predicted probability falls in the bin.
    pub count: usize,
    /// Mean predicted probability of those samples (`None` for an empty bin).
    pub mean_predicted: Option<f64>,
    /// Fraction of those samples that are positive (`None` for an empty bin).
    pub observed: Option<f64>,
}

/// `bins` equal-width bins over [0, 1] of `probabilities` against `positive`.
///
/// # Errors
/// Lengths differ, `bins` is 0, or a probability is outside [0, 1].
pub fn calibration_bins(
    probabilities: &[f64],
    positive: &[bool],
    bins: usize,
) -> Result<Vec<CalibrationBin>, EvaluateError> {
    if probabilities.len() != positive.len() {
        return err(format!(
            "{} probabilities but {} labels.",
            probabilities.len(),
            positive.len()
        ));
    }
    if bins == 0 {
        return err("Calibration needs at least one bin.");
    }
    if probabilities.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return err("A probability is outside [0, 1].");
    }
    let mut sum = vec![0.0; bins];
    let mut hits = vec![0usize; bins];
    let mut count = vec![0usize; bins];
    for (&p, &y) in probabilities.iter().zip(positive) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sum[b] += p;
        count[b] += 1;
        hits[b] += usize::from(y);
    }
    Ok((0..bins)
        .map(|b| CalibrationBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            count: count[b],
            mean_predicted: (count[b] > 0).then(|| sum[b] / count[b] as f64),
            observed: (count[b] > 0).then(|| hits[b] as f64 / count[b] as f64),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_by_hand() {
        let p = [0.05, 0.15, 0.55, 0.65, 0.95, 1.0];
        let y = [false, true, true, false, true, true];
        let b = calibration_bins(&p, &y, 2).unwrap();
        assert_eq!((b[0].count, b[1].count), (2, 4));
        assert!((b[0].mean_predicted.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(b[0].observed, Some(0.5));
        assert!((b[1].mean_predicted.unwrap() - (0.55 + 0.65 + 0.95 + 1.0) / 4.0).abs() < 1e-12);
        assert_eq!(b[1].observed, Some(0.75));
        let b = calibration_bins(&p, &y, 10).unwrap();
        assert_eq!(b[3].count, 0);
        assert_eq!(b[3].observed, None);
        assert_eq!(b[9].count, 2); // 0.95 and 1.0 (the last bin includes 1)
        assert!(calibration_bins(&[1.5], &[true], 10).is_err());
    }
}
