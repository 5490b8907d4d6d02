//! Standardisation: per-column mean and population standard deviation of the training part,
//! in f64 as the page computes them (formerly `columnStats` in the page's JS); a constant column gets a
//! standard deviation of 1 (it becomes 0, not NaN).

/// Per-column moments of a training matrix.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Standardizer {
    /// Column means of the training rows.
    pub mean: Vec<f64>,
    /// Column standard deviations (population, `1/n`; 0 or NaN becomes 1).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits on `x`, row-major with `width` values per row (the page's order of summation).
    pub fn fit(x: &[f32], width: usize) -> Self {
        let rows = x.len().checked_div(width).unwrap_or(0);
        let (mut mean, mut std) = (vec![0.0f64; width], vec![0.0f64; width]);
        for row in x.chunks_exact(width.max(1)).take(rows) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v) / rows as f64;
            }
        }
        for row in x.chunks_exact(width.max(1)).take(rows) {
            for ((s, &v), m) in std.iter_mut().zip(row).zip(&mean) {
                *s += (f64::from(v) - m).powi(2) / rows as f64;
            }
        }
        for s in &mut std {
            *s = s.sqrt();
            if *s == 0.0 || s.is_nan() {
                *s = 1.0;
            }
        }
        Standardizer { mean, std }
    }

    /// `(x − mean) / std` in place, column-wise (computed in f64, stored as f32).
    pub fn apply(&self, x: &mut [f32]) {
        let width = self.mean.len().max(1);
        for row in x.chunks_mut(width) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = ((f64::from(*v) - self.mean[j]) / self.std[j]) as f32;
            }
        }
    }

    /// `x · std + mean` in place (back to the file's units).
    pub fn invert(&self, x: &mut [f32]) {
        let width = self.mean.len().max(1);
        for row in x.chunks_mut(width) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (f64::from(*v) * self.std[j] + self.mean[j]) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_moments_and_constant_columns() {
        let x = [1.0f32, 5.0, 3.0, 5.0];
        let s = Standardizer::fit(&x, 2);
        assert_eq!(s.mean, [2.0, 5.0]);
        assert_eq!(s.std, [1.0, 1.0]);
        let mut y = x;
        s.apply(&mut y);
        assert_eq!(y, [-1.0, 0.0, 1.0, 0.0]);
        s.invert(&mut y);
        assert_eq!(y, x);
    }
}
