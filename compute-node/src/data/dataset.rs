//! The in-memory data set every loader produces.

use ndarray::{Array2, Axis};

/// What is learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Class labels (`labels`, `class_names`); trained on one-hot targets with cross-entropy.
    Classification,
    /// Real-valued targets (`targets`, `target_names`); trained with MSE.
    Regression,
}

/// Samples as rows: features, and labels or real targets.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// A short name for reports.
    pub name: String,
    /// `(samples, features)`, row-major; an image is its pixels flattened.
    pub features: Array2<f32>,
    /// The shape of one sample, e.g. `[784]`, `[1, 28, 28]` or `[12]`.
    pub feature_shape: Vec<usize>,
    /// Feature names (CSV header) or empty.
    pub feature_names: Vec<String>,
    /// Classification or regression.
    pub task: Task,
    /// Class index per sample (classification; empty otherwise).
    pub labels: Vec<usize>,
    /// Class names in label order (classification; empty otherwise).
    pub class_names: Vec<String>,
    /// `(samples, outputs)` real targets (regression; `(samples, 0)` otherwise).
    pub targets: Array2<f32>,
    /// Target names (regression).
    pub target_names: Vec<String>,
}

impl Dataset {
    /// A classification data set.
    pub fn classification(
        name: impl Into<String>,
        features: Array2<f32>,
        feature_shape: Vec<usize>,
        labels: Vec<usize>,
        class_names: Vec<String>,
    ) -> Self {
        let n = features.nrows();
        Dataset {
            name: name.into(),
            features,
            feature_shape,
            feature_names: Vec::new(),
            task: Task::Classification,
            labels,
            class_names,
            targets: Array2::zeros((n, 0)),
            target_names: Vec::new(),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.nrows()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of classes (classification) or outputs (regression).
    pub fn outputs(&self) -> usize {
        match self.task {
            Task::Classification => self.class_names.len(),
            Task::Regression => self.targets.ncols(),
        }
    }

    /// Samples per class, in label order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// The training targets: one-hot rows for classification, `targets` for regression.
    pub fn target_matrix(&self) -> Array2<f32> {
        match self.task {
            Task::Classification => {
                let mut y = Array2::zeros((self.len(), self.class_names.len()));
                for (i, &l) in self.labels.iter().enumerate() {
                    y[[i, l]] = 1.0;
                }
                y
            }
            Task::Regression => self.targets.clone(),
        }
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            features: self.features.select(Axis(0), indices),
            feature_shape: self.feature_shape.clone(),
            feature_names: self.feature_names.clone(),
            task: self.task,
            labels: if self.labels.is_empty() {
                Vec::new()
            } else {
                indices.iter().map(|&i| self.labels[i]).collect()
            },
            class_names: self.class_names.clone(),
            targets: self.targets.select(Axis(0), indices),
            target_names: self.target_names.clone(),
        }
    }
}
