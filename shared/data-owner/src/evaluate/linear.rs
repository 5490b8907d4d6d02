//! Ordinary least squares with an intercept, the regression baseline "a linear model fitted on
//! the training split": solved with `nalgebra`'s singular value decomposition, so collinear
//! columns (the one-hot levels of a categorical column sum to the intercept) get the
//! minimum-norm solution instead of a failure.

use super::{err, EvaluateError};
use nalgebra::DMatrix;

/// Singular values below this fraction of the largest are treated as zero.
const RANK_TOLERANCE: f64 = 1e-10;

/// `y ≈ [1, x] · coefficients` for each output.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearModel {
    /// Features per row.
    pub width: usize,
    /// Outputs per row.
    pub outputs: usize,
    /// `(width + 1) × outputs`, the intercept row first.
    pub coefficients: DMatrix<f64>,
}

impl LinearModel {
    /// Fits `y` (`rows × outputs`) on `x` (`rows × width`), both row-major.
    ///
    /// # Errors
    /// Sizes that do not match, no rows, or values that are not finite.
    pub fn fit(x: &[f32], width: usize, y: &[f32], outputs: usize) -> Result<Self, EvaluateError> {
        if width == 0 || outputs == 0 || x.is_empty() || !x.len().is_multiple_of(width) {
            return err(format!(
                "{} feature values are not rows of {width}.",
                x.len()
            ));
        }
        let rows = x.len() / width;
        if y.len() != rows * outputs {
            return err(format!(
                "{} targets for {rows} rows of {outputs} outputs.",
                y.len()
            ));
        }
        if x.iter().chain(y).any(|v| !v.is_finite()) {
            return err("The linear baseline needs finite features and targets.");
        }
        let design = DMatrix::from_fn(rows, width + 1, |i, j| {
            if j == 0 {
                1.0
            } else {
                f64::from(x[i * width + j - 1])
            }
        });
        let b = DMatrix::from_fn(rows, outputs, |i, k| f64::from(y[i * outputs + k]));
        let svd = design.svd(true, true);
        let eps = RANK_TOLERANCE * svd.singular_values.max();
        let coefficients = svd
            .solve(&b, eps)
            .map_err(|e| EvaluateError(e.to_string()))?;
        Ok(LinearModel {
            width,
            outputs,
            coefficients,
        })
    }

    /// Predictions for `x` (`rows × width`, row-major): `rows × outputs`, row-major.
    pub fn predict(&self, x: &[f32]) -> Vec<f64> {
        let c = &self.coefficients;
        x.chunks(self.width)
            .flat_map(|row| {
                (0..self.outputs).map(move |k| {
                    c[(0, k)]
                        + row
                            .iter()
                            .enumerate()
                            .map(|(j, &v)| f64::from(v) * c[(j + 1, k)])
                            .sum::<f64>()
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_line() {
        // y = 3 + 2·x0 − x1 on four rows
        let x = [0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 3.0];
        let y: Vec<f32> = x.chunks(2).map(|r| 3.0 + 2.0 * r[0] - r[1]).collect();
        let m = LinearModel::fit(&x, 2, &y, 1).unwrap();
        for (k, want) in [3.0, 2.0, -1.0].iter().enumerate() {
            assert!((m.coefficients[(k, 0)] - want).abs() < 1e-9);
        }
        assert!((m.predict(&[1.0, 1.0])[0] - 4.0).abs() < 1e-9);
    }

    #[test]
    fn least_squares_by_hand_and_collinear_columns() {
        // points (0,0) (1,1) (2,1): slope 1/2, intercept 1/6 (normal equations by hand)
        let m = LinearModel::fit(&[0.0, 1.0, 2.0], 1, &[0.0, 1.0, 1.0], 1).unwrap();
        assert!((m.coefficients[(0, 0)] - 1.0 / 6.0).abs() < 1e-9);
        assert!((m.coefficients[(1, 0)] - 0.5).abs() < 1e-9);
        // one-hot levels summing to the intercept: still fits, predictions the level means
        let x = [1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        let m = LinearModel::fit(&x, 2, &[1.0, 3.0, 10.0, 12.0], 1).unwrap();
        let p = m.predict(&[1.0, 0.0, 0.0, 1.0]);
        assert!((p[0] - 2.0).abs() < 1e-9 && (p[1] - 11.0).abs() < 1e-9);
        assert!(LinearModel::fit(&[1.0, f32::NAN], 1, &[0.0, 1.0], 1).is_err());
        assert!(LinearModel::fit(&[1.0, 2.0], 1, &[0.0], 1).is_err());
    }
}
