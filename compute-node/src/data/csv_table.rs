//! A CSV table with a header: named target column(s), every other column a numeric feature.
//!
//! - Classification: one target column; its distinct values (numeric order if all are numbers,
//!   else text order) become the classes `0..k`.
//! - Regression: one or more numeric target columns.
//! - Without an explicit task ([`CsvTask`]), a single target column whose cells are not all
//!   numbers, or are all integers with at most 20 distinct values, is classification; anything
//!   else is regression.
//!
//! Values are returned raw: the lab standardizes features (and regression targets) with a
//! [`super::Standardizer`] fitted on the training split only.

use std::path::Path;

use ndarray::Array2;

use super::{DataError, Dataset, Task};

/// The task of a CSV experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CsvTask {
    /// Labels → class indices, one-hot targets, cross-entropy.
    Classification,
    /// Real targets, MSE.
    Regression,
}

fn parse(cell: &str) -> Option<f32> {
    cell.trim().parse::<f32>().ok().filter(|v| v.is_finite())
}

/// Loads `path` with `targets` as target columns.
///
/// # Errors
/// [`DataError::Io`]/[`DataError::Csv`] for unreadable files, [`DataError::Empty`] without header
/// or rows, [`DataError::MissingColumn`], [`DataError::NonNumeric`] for a feature (or regression
/// target) cell that is not a finite number, [`DataError::Invalid`] for no targets, several
/// classification targets, or no feature column.
pub fn load_csv(
    path: &Path,
    targets: &[String],
    task: Option<CsvTask>,
) -> Result<Dataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let csv_err = |source| DataError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&bytes[..]);
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.is_empty() || header.iter().all(|h| h.is_empty()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "no header",
        });
    }
    if targets.is_empty() {
        return Err(DataError::Invalid(
            "name at least one target column (--target)".into(),
        ));
    }
    let mut target_idx = Vec::new();
    for t in targets {
        let j =
            header
                .iter()
                .position(|h| h == t.trim())
                .ok_or_else(|| DataError::MissingColumn {
                    path: path.to_path_buf(),
                    column: t.clone(),
                    available: header.join(", "),
                })?;
        target_idx.push(j);
    }
    let feature_idx: Vec<usize> = (0..header.len())
        .filter(|j| !target_idx.contains(j))
        .collect();
    if feature_idx.is_empty() {
        return Err(DataError::Invalid(format!(
            "{}: no feature column left besides the targets",
            path.display()
        )));
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push(record.iter().map(|c| c.trim().to_string()).collect());
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "no data rows",
        });
    }
    let non_numeric = |row: usize, j: usize| DataError::NonNumeric {
        path: path.to_path_buf(),
        row: row + 1,
        column: header[j].clone(),
        value: rows[row][j].clone(),
    };
    let mut features = Array2::zeros((rows.len(), feature_idx.len()));
    for (i, row) in rows.iter().enumerate() {
        for (k, &j) in feature_idx.iter().enumerate() {
            features[[i, k]] = parse(&row[j]).ok_or_else(|| non_numeric(i, j))?;
        }
    }
    let task = task.unwrap_or_else(|| {
        if target_idx.len() != 1 {
            return CsvTask::Regression;
        }
        let j = target_idx[0];
        let values: Vec<Option<f32>> = rows.iter().map(|r| parse(&r[j])).collect();
        if values.iter().any(Option::is_none) {
            return CsvTask::Classification;
        }
        let mut distinct: Vec<i64> = Vec::new();
        for v in values.iter().flatten() {
            if v.fract() != 0.0 {
                return CsvTask::Regression;
            }
            if !distinct.contains(&(*v as i64)) {
                distinct.push(*v as i64);
                if distinct.len() > 20 {
                    return CsvTask::Regression;
                }
            }
        }
        CsvTask::Classification
    });
    let feature_names: Vec<String> = feature_idx.iter().map(|&j| header[j].clone()).collect();
    let name = format!("csv ({})", path.display());
    match task {
        CsvTask::Classification => {
            if target_idx.len() != 1 {
                return Err(DataError::Invalid(
                    "classification takes exactly one target column".into(),
                ));
            }
            let j = target_idx[0];
            let mut classes: Vec<String> = rows.iter().map(|r| r[j].clone()).collect();
            classes.sort_by(|a, b| match (parse(a), parse(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            });
            classes.dedup();
            if classes.len() < 2 {
                return Err(DataError::Invalid(format!(
                    "{}: target {:?} has a single class",
                    path.display(),
                    header[j]
                )));
            }
            let labels = rows
                .iter()
                .map(|r| classes.iter().position(|c| *c == r[j]).expect("listed"))
                .collect();
            let mut ds =
                Dataset::classification(name, features, vec![feature_idx.len()], labels, classes);
            ds.feature_names = feature_names;
            Ok(ds)
        }
        CsvTask::Regression => {
            let mut y = Array2::zeros((rows.len(), target_idx.len()));
            for (i, row) in rows.iter().enumerate() {
                for (k, &j) in target_idx.iter().enumerate() {
                    y[[i, k]] = parse(&row[j]).ok_or_else(|| non_numeric(i, j))?;
                }
            }
            Ok(Dataset {
                name,
                features,
                feature_shape: vec![feature_idx.len()],
                feature_names,
                task: Task::Regression,
                labels: Vec::new(),
                class_names: Vec::new(),
                targets: y,
                target_names: target_idx.iter().map(|&j| header[j].clone()).collect(),
            })
        }
    }
}
