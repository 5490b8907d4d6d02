//! A CSV table for the lab, read with the data owner's rules
//! ([`more_data_owner::data::encode_table`]: encodings, `;` and decimal commas, categorical
//! columns one-hot encoded, free text left out, rows with a missing target dropped, the task
//! guessed from the target column), so a file gives the lab the rows and columns it gives the
//! page. Missing feature values stay NaN here: the lab imputes them with its training split's
//! means ([`more_data_owner::data::impute_missing`]) before standardising.

use std::path::Path;

use ndarray::Array2;

use more_data_owner::data::{decode_text, encode_table, Task as RuleTask};

use super::{DataError, Dataset, Task};

/// The task of a CSV experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CsvTask {
    /// Labels → class indices, one-hot targets, cross-entropy.
    Classification,
    /// Real targets, MSE.
    Regression,
}

/// A table and the notes saying what the rules did to it.
#[derive(Clone, Debug)]
pub struct CsvTable {
    /// Every usable row (features NaN where a value is missing).
    pub dataset: Dataset,
    /// The data owner's notes (encoding, columns encoded or left out, rows dropped).
    pub notes: Vec<String>,
}

/// Loads `path` with `targets` as target columns.
///
/// # Errors
/// [`DataError::Io`] for an unreadable file, [`DataError::Rules`] for everything the data
/// owner's rules refuse (no data row, an unknown or unusable target column, no feature column,
/// fewer than 5 usable rows).
pub fn load_csv(
    path: &Path,
    targets: &[String],
    task: Option<CsvTask>,
) -> Result<CsvTable, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.display().to_string();
    let text = decode_text(&bytes, &name)?;
    let task = task.map(|t| match t {
        CsvTask::Classification => RuleTask::Classification,
        CsvTask::Regression => RuleTask::Regression,
    });
    let encoded = encode_table(&text.text, targets, task, &name)?;
    let part = encoded.part;
    let features = Array2::from_shape_vec((part.rows(), part.width()), part.x)
        .map_err(|e| DataError::Invalid(e.to_string()))?;
    let mut dataset = match part.task {
        RuleTask::Classification => Dataset::classification(
            format!("csv ({name})"),
            features,
            part.feature_shape,
            part.labels.unwrap_or_default(),
            part.class_names.unwrap_or_default(),
        ),
        RuleTask::Regression => Dataset {
            name: format!("csv ({name})"),
            targets: Array2::from_shape_vec((features.nrows(), part.target_dim), part.y)
                .map_err(|e| DataError::Invalid(e.to_string()))?,
            features,
            feature_shape: part.feature_shape,
            feature_names: Vec::new(),
            task: Task::Regression,
            labels: Vec::new(),
            class_names: Vec::new(),
            target_names: part.target_names.unwrap_or_default(),
        },
    };
    dataset.feature_names = part.feature_names.unwrap_or_default();
    let mut notes = text.notes;
    notes.extend(encoded.notes);
    Ok(CsvTable { dataset, notes })
}
