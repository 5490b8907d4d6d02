//! The clinical report of a classifier (`more_data_owner::evaluate`), computed where the key is:
//! the same numbers as the page's results view and `more-client evaluate`.

use numpy::PyReadonlyArray2;
use pyo3::prelude::*;

use crate::DataError;

/// The report of decrypted `outputs` (float32 `(samples, classes)` logits) against the test
/// rows' `labels` (class indices), with `class_names`, the majority baseline from
/// `train_labels` and `positive` the positive class's index, as JSON text (the page's field
/// names: `accuracy`, `majorityAccuracy`, `balancedAccuracy`, `binary` with `sensitivity`,
/// `specificity`, `ppv`, `npv`, `roc` with `auc`, `calibration`, `confusion`).
///
/// Raises `DataError` when the sizes do not fit, `positive` is not a class or an output is not
/// finite.
#[pyfunction]
pub(crate) fn classification_report_json(
    outputs: PyReadonlyArray2<'_, f32>,
    labels: Vec<usize>,
    class_names: Vec<String>,
    train_labels: Vec<usize>,
    positive: usize,
) -> PyResult<String> {
    let outputs: Vec<f32> = outputs.as_array().iter().copied().collect();
    let report = more_data_owner::evaluate::classification_report(
        &outputs,
        &labels,
        &class_names,
        &train_labels,
        positive,
    )
    .map_err(|e| DataError::new_err(e.0))?;
    serde_json::to_string(&report).map_err(|e| DataError::new_err(e.to_string()))
}
