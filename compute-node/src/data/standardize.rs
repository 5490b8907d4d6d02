//! Z-score standardization fitted on the training split only. The moments are the data owner's
//! rule ([`more_data_owner::data::Standardizer::fit`]: f64, population standard deviation, a
//! constant column gets 1); they are kept and applied in f32 here because secure mode's
//! [`more_secure::quantize::Standardization`] (which the lab hands them to) standardises in f32,
//! so the lab's float model and the BFV client read the same values.

use ndarray::{Array2, Axis};

/// Per-column mean and standard deviation of a training matrix; `apply` maps `x → (x − mean)/std`
/// and `invert` maps back.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Standardizer {
    /// Column means of the training split.
    pub mean: Vec<f32>,
    /// Column standard deviations (population, `1/n`; a constant column 1) of the training split.
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits on `train` with the data owner's rule.
    pub fn fit(train: &Array2<f32>) -> Self {
        let x: Vec<f32> = train.iter().copied().collect();
        let rule = more_data_owner::data::Standardizer::fit(&x, train.ncols());
        Standardizer {
            mean: rule.mean.iter().map(|&m| m as f32).collect(),
            std: rule.std.iter().map(|&s| s as f32).collect(),
        }
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
