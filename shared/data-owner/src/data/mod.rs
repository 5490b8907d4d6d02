//! The data rules, once: every reader of the data owner's side (the page through the wasm
//! client, the `more-client` command line, Python and the lab of `more-node`) calls these pure
//! functions over bytes, so one file gives the same tensors, task, class names and notes
//! everywhere. Thin file-system helpers are in [`paths`].
//!
//! Every reader returns a [`DataSet`]: a [`Split`] of two [`Part`]s (features `f32` with their
//! shape, targets, the [`Task`], class names or target column names, feature names) and the
//! notes saying what was done. Every problem is a [`DataError`] with a message for the user.
//!
//! | rule | module |
//! |---|---|
//! | bytes to text: gzip, binary files refused, encoding (UTF-8, BOM, Windows-1252) | [`text`] |
//! | CSV: separator `,` or `;`, decimal commas | [`csv`] |
//! | cells and columns: numbers, missing values, task guess, categorical or left out | [`columns`] |
//! | tables: drop, one-hot, impute, standardise | [`table`] |
//! | class names and one-hot targets | [`targets`] |
//! | splits (the page's; the lab's ChaCha8 and per-class index rules) | [`split`](mod@split) |
//! | standardisation | [`standardize`] |
//! | IDX | [`idx`] |
//! | one image file: DICOM or PNG/JPEG | [`image`] |
//! | image folders (mixed DICOM/PNG/JPEG) | [`folder`] |
//! | the page's bundled MNIST sample | [`mnist`] |
//! | new cases encoded as a training table was (score new patients) | [`score`] |
//!
//! Decisions where the former copies (page `web/formats.js`, the CLI's `data.rs`, the lab's
//! `compute-node/src/data/`) disagreed:
//! - few distinct values → classification: at most 10 whole numbers (the page's; the lab said 20);
//! - mixed DICOM/PNG folders: each file decoded by what it is (DICOM by the `DICM` marker or a
//!   `.dcm` name), every DICOM file through `more-dicom` (window, centre crop, area resize); the
//!   angiography crate's min-max/bilinear DICOM loader is no longer used for folders; a file that
//!   is missing or cannot be decoded is skipped with a note (the page's DICOM rule, now for
//!   images too); class names of folders sorted as table classes (numbers numerically);
//! - blank and NA cells: the page's rule (target missing → row dropped; feature missing → the
//!   training part's column mean, for a categorical column each level's frequency), with a note;
//! - text columns: categorical (2–20 levels, repeated) one-hot encoded with the levels in the
//!   notes; free text and identifiers left out with a note (the page left every text column out,
//!   the lab refused the file);
//! - text class labels are class names (sorted; numbers numerically);
//! - `;` separators with decimal commas are detected; encodings UTF-8, UTF-8/UTF-16 with BOM and
//!   Windows-1252/Latin-1 are read (the page and the lab refused non-UTF-8 files).

pub mod columns;
pub mod csv;
pub mod folder;
pub mod idx;
pub mod image;
pub mod mnist;
pub mod part;
pub mod paths;
pub mod score;
pub mod split;
pub mod standardize;
pub mod table;
pub mod targets;
pub mod text;

pub use self::csv::{parse_csv, Csv};
pub use columns::{column_profile, guess_task, is_missing, number, ColumnProfile};
pub use folder::{read_image_folder, read_labelled_images, LabelledImage};
pub use idx::{parse_idx, read_idx_files, Idx};
pub use image::{crop_resize, decode_image};
pub use mnist::{load_bundled_mnist_test, BUNDLED_MNIST_DIR};
pub use part::{take_rows, DataSet, Part, Split, Table};
pub use paths::{load, load_idx_files, load_image_folder, load_table, read_text_file, DataSource};
pub use split::{permutation, split};
pub use standardize::Standardizer;
pub use table::{encode_table, impute_missing, profile_table, read_table, table_from_csv};
pub use targets::one_hot;
pub use text::{decode_text, Text};

/// A problem with the user's data (exit code 3 of `more-client`); the message is for the user.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct DataError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DataError> {
    Err(DataError(msg.into()))
}

/// What the data set is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One target column whose distinct values are the classes (targets one-hot).
    Classification,
    /// Numeric target columns, standardised with the training split's moments.
    Regression,
}

impl Task {
    /// The name the REST API uses (`"classification"` / `"regression"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}
