//! Z-score standardization fitted on the training split only.

use ndarray::{Array2, Axis};

/// Per-column mean and standard deviation of a training matrix; `apply` maps `x → (x − mean)/std`
/// and `invert` maps back. A constant column gets `std = 1` (it becomes 0, not NaN).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Standardizer {
    /// Column means of the training split.
    pub mean: Vec<f32>,
    /// Column standard deviations (population, `1/n`) of the training split.
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits on `train` (f64 accumulation).
    pub fn fit(train: &Array2<f32>) -> Self {
        let n = train.nrows().max(1) as f64;
        let mut mean = Vec::with_capacity(train.ncols());
        let mut std = Vec::with_capacity(train.ncols());
        for col in train.axis_iter(Axis(1)) {
            let m = col.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = col.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
            let s = var.sqrt();
            mean.push(m as f32);
            std.push(if s > 1e-12 { s as f32 } else { 1.0 });
        }
        Standardizer { mean, std }
    }

    /// `(x − mean)/std`, column-wise.
    pub fn apply(&self, x: &Array2<f32>) -> Array2<f32> {
        let mut out = x.clone();
        for (j, mut col) in out.axis_iter_mut(Axis(1)).enumerate() {
            col.mapv_inplace(|v| (v - self.mean[j]) / self.std[j]);
        }
        out
    }

    /// `x·std + mean`, column-wise.
    pub fn invert(&self, x: &Array2<f32>) -> Array2<f32> {
        let mut out = x.clone();
        for (j, mut col) in out.axis_iter_mut(Axis(1)).enumerate() {
            col.mapv_inplace(|v| v * self.std[j] + self.mean[j]);
        }
        out
    }
}
