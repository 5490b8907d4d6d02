//! The output of every reader: a training and a test [`Part`] and the notes saying what was done.

use super::Task;

/// One part (training or test) of a labelled data set, ready to encrypt.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// A name for the data set (the file name).
    pub name: String,
    /// Classification or regression.
    pub task: Task,
    /// Shape of one sample (`[features]` for tables, `[1, h, w]` for images).
    pub feature_shape: Vec<usize>,
    /// Row-major features, `rows × prod(feature_shape)`.
    pub x: Vec<f32>,
    /// Row-major targets, `rows × target_dim` (one-hot for classification).
    pub y: Vec<f32>,
    /// Target width (number of classes, or of target columns).
    pub target_dim: usize,
    /// Class index of each row (classification only).
    pub labels: Option<Vec<usize>>,
    /// Class names in class order (classification only).
    pub class_names: Option<Vec<String>>,
    /// Feature column names (tables only; a one-hot column is `column=level`).
    pub feature_names: Option<Vec<String>>,
    /// Names of the target columns (tables only).
    pub target_names: Option<Vec<String>>,
    /// A name per sample (image folders: `file#frame`, frames counted from 1).
    pub sample_names: Option<Vec<String>>,
}

impl Part {
    /// Number of samples.
    pub fn rows(&self) -> usize {
        let width: usize = self.feature_shape.iter().product();
        self.x.len().checked_div(width).unwrap_or(0)
    }

    /// Values per sample (`prod(feature_shape)`).
    pub fn width(&self) -> usize {
        self.feature_shape.iter().product()
    }

    /// The rows `idx` of this part, in that order.
    pub fn select(&self, idx: &[usize]) -> Part {
        Part {
            x: take_rows(&self.x, self.width(), idx),
            y: take_rows(&self.y, self.target_dim, idx),
            labels: self
                .labels
                .as_ref()
                .map(|l| idx.iter().map(|&i| l[i]).collect()),
            sample_names: self
                .sample_names
                .as_ref()
                .map(|n| idx.iter().map(|&i| n[i].clone()).collect()),
            ..self.clone()
        }
    }
}

/// A training part and a test part.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Uploaded encrypted and trained on.
    pub train: Part,
    /// Kept by the data owner for prediction.
    pub test: Part,
}

/// A data set as every reader returns it: the split and the notes.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSet {
    /// Training and test parts (table features imputed and standardised with the training
    /// part's moments).
    pub split: Split,
    /// Every decision taken on the data, as plain sentences (encoding, decimal commas, columns
    /// encoded or left out, rows dropped, values imputed, files skipped).
    pub notes: Vec<String>,
    /// Data rows (tables) or listed files (image folders) read.
    pub rows_read: usize,
    /// Rows or files used.
    pub rows_used: usize,
    /// Tables: the training part's feature moments the features were standardised with.
    pub feature_scale: Option<super::standardize::Standardizer>,
    /// Tables: the task the target column suggests ([`guess_task`](super::guess_task)), shown
    /// beside the task used.
    pub guessed_task: Option<super::Task>,
    /// Regression tables: the training part's target moments (to bring predictions back to
    /// the file's units with [`Standardizer::invert`](super::standardize::Standardizer::invert)).
    pub target_scale: Option<super::standardize::Standardizer>,
}

impl DataSet {
    /// A data set without standardisers (images, IDX).
    pub fn new(split: Split, notes: Vec<String>, rows_read: usize, rows_used: usize) -> Self {
        DataSet {
            split,
            notes,
            rows_read,
            rows_used,
            feature_scale: None,
            guessed_task: None,
            target_scale: None,
        }
    }
}

/// The former name of [`DataSet`] (tables).
pub type Table = DataSet;

/// Rows `idx` of a row-major buffer with `width` values per row.
pub fn take_rows(buf: &[f32], width: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * width);
    for &r in idx {
        out.extend_from_slice(&buf[r * width..(r + 1) * width]);
    }
    out
}

/// `"1 row"`, `"2 rows"`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
