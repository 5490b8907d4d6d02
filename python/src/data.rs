//! `read_data`: a data file read with the data owner's rules (`more_data_owner::data`), the
//! same tensors, task, class names and notes as the page, the command line and the lab.

use std::path::PathBuf;

use more_data_owner::data::{self, DataSource, Part, Split, Task};
use more_data_owner::CliError;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{to_py, DataError};

/// What to read: a CSV table, IDX files, or an image/DICOM folder with its labels CSV.
struct Source {
    csv: Option<PathBuf>,
    targets: Vec<String>,
    task: Option<Task>,
    idx: Vec<PathBuf>,
    images: Option<(PathBuf, PathBuf)>,
    size: usize,
    max_samples: usize,
}

fn read(s: &Source) -> Result<(Split, Vec<String>), CliError> {
    let source = if let Some(path) = &s.csv {
        DataSource::Table {
            path,
            targets: &s.targets,
            task: s.task,
        }
    } else if let Some((dir, labels)) = &s.images {
        DataSource::ImageFolder {
            dir,
            labels,
            size: s.size,
        }
    } else {
        DataSource::Idx {
            files: &s.idx,
            max_samples: s.max_samples,
        }
    };
    let set = data::load(source)?;
    Ok((set.split, set.notes))
}

/// A part's arrays into `out` as `x_{name}` `(rows, *feature_shape)` and `y_{name}`
/// `(rows, target_dim)`, float32.
fn put_part(out: &Bound<'_, PyDict>, name: &str, p: Part) -> PyResult<()> {
    let py = out.py();
    let rows = p.rows();
    let mut shape = vec![rows];
    shape.extend(&p.feature_shape);
    let x = ndarray::ArrayD::from_shape_vec(shape, p.x)
        .map_err(|e| DataError::new_err(e.to_string()))?;
    let y = ndarray::Array2::from_shape_vec((rows, p.target_dim), p.y)
        .map_err(|e| DataError::new_err(e.to_string()))?;
    out.set_item(format!("x_{name}"), x.into_pyarray(py))?;
    out.set_item(format!("y_{name}"), y.into_pyarray(py))?;
    Ok(())
}

/// Reads a data set as the page does; a dict of `x_train`, `y_train`, `x_test`, `y_test`
/// (float32), `task`, `name`, `class_names`, `feature_names`, `target_names` and `notes`.
#[pyfunction]
#[pyo3(signature = (csv = None, target = Vec::new(), task = None, idx = Vec::new(), images = None, labels = None, size = 28, max_samples = 2000))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_data<'py>(
    py: Python<'py>,
    csv: Option<PathBuf>,
    target: Vec<String>,
    task: Option<&str>,
    idx: Vec<PathBuf>,
    images: Option<PathBuf>,
    labels: Option<PathBuf>,
    size: usize,
    max_samples: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let task = match task {
        None | Some("auto") => None,
        Some("classification") => Some(Task::Classification),
        Some("regression") => Some(Task::Regression),
        Some(other) => return Err(DataError::new_err(format!("unknown task {other:?}"))),
    };
    let images = match (images, labels) {
        (Some(dir), Some(labels)) => Some((dir, labels)),
        (None, None) => None,
        _ => return Err(DataError::new_err("images and labels go together")),
    };
    if usize::from(csv.is_some()) + usize::from(images.is_some()) + usize::from(!idx.is_empty())
        != 1
    {
        return Err(DataError::new_err(
            "give one of csv=, idx= or images= with labels=",
        ));
    }
    let source = Source {
        csv,
        targets: target,
        task,
        idx,
        images,
        size,
        max_samples,
    };
    let (split, notes) = py
        .allow_threads(|| read(&source))
        .map_err(|e| to_py(py, e))?;
    let out = PyDict::new(py);
    let train = &split.train;
    out.set_item("task", train.task.as_str())?;
    out.set_item("name", train.name.clone())?;
    out.set_item("class_names", train.class_names.clone())?;
    out.set_item("feature_names", train.feature_names.clone())?;
    out.set_item("target_names", train.target_names.clone())?;
    out.set_item("notes", notes)?;
    put_part(&out, "train", split.train)?;
    put_part(&out, "test", split.test)?;
    Ok(out)
}
