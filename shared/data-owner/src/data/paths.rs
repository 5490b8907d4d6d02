//! Thin file-system helpers for the command line and the lab: they read the files and call the
//! rules over bytes ([`read_table`], [`read_idx_files`], [`read_image_folder`]).

use std::path::{Path, PathBuf};

use super::folder::read_image_folder;
use super::idx::read_idx_files;
use super::part::DataSet;
use super::table::read_table;
use super::text::decode_text;
use super::{DataError, Task};

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError(format!("cannot read {}: {e}", path.display())))
}

/// A table file's text ([`decode_text`]: gzip, binary check, encoding); the decoding notes are
/// dropped (use [`load_table`] to keep them).
///
/// # Errors
/// An unreadable file and the errors of [`decode_text`].
pub fn read_text_file(path: &Path) -> Result<String, DataError> {
    Ok(decode_text(&read(path)?, &file_name(path))?.text)
}

/// A table file read with [`read_table`] (named by its file name).
///
/// # Errors
/// An unreadable file and the errors of [`read_table`].
pub fn load_table(
    path: &Path,
    targets: &[String],
    task: Option<Task>,
) -> Result<DataSet, DataError> {
    read_table(&read(path)?, &file_name(path), targets, task)
}

/// IDX files read with [`read_idx_files`] (named by their file names).
///
/// # Errors
/// An unreadable file and the errors of [`read_idx_files`].
pub fn load_idx_files(files: &[&Path], max_samples: usize) -> Result<DataSet, DataError> {
    let mut named = Vec::new();
    for f in files {
        named.push((file_name(f), read(f)?));
    }
    let refs: Vec<(&str, &[u8])> = named.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    read_idx_files(&refs, max_samples)
}

/// An image folder read with [`read_image_folder`]: the files of `dir` (other than the labels
/// CSV) are the opened files.
///
/// # Errors
/// An unreadable labels CSV or folder and the errors of [`read_image_folder`].
pub fn load_image_folder(dir: &Path, labels: &Path, size: usize) -> Result<DataSet, DataError> {
    let labels_name = file_name(labels);
    let mut opened = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| DataError(format!("cannot read the folder {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() && path != labels {
            opened.push(file_name(&path));
        }
    }
    opened.sort();
    let mut read_listed = |name: &str| std::fs::read(dir.join(name)).ok();
    read_image_folder(
        &labels_name,
        &read(labels)?,
        &opened,
        &mut read_listed,
        size,
    )
}

/// The files of a data set, of one of the three kinds the clients read (the command line's and
/// the lab's `--csv`, `--idx`, `--images` flags, Python's `read_data` arguments).
#[derive(Debug, Clone, Copy)]
pub enum DataSource<'a> {
    /// A CSV table, its target column(s) and the task (`None`: guessed from the target).
    Table {
        /// The table file.
        path: &'a Path,
        /// The target column names.
        targets: &'a [String],
        /// The task, or `None` to guess it.
        task: Option<Task>,
    },
    /// IDX files (images and labels, optionally gzipped).
    Idx {
        /// The IDX files.
        files: &'a [PathBuf],
        /// At most this many training images.
        max_samples: usize,
    },
    /// A folder of PNG/JPEG/DICOM images and its labels CSV.
    ImageFolder {
        /// The folder.
        dir: &'a Path,
        /// The labels CSV (`filename,label`).
        labels: &'a Path,
        /// Side of the square images, pixels.
        size: usize,
    },
}

/// Reads a [`DataSource`] with [`load_table`], [`load_idx_files`] or [`load_image_folder`].
///
/// # Errors
/// Those of the reader the source names.
pub fn load(source: DataSource<'_>) -> Result<DataSet, DataError> {
    match source {
        DataSource::Table {
            path,
            targets,
            task,
        } => load_table(path, targets, task),
        DataSource::Idx { files, max_samples } => {
            let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
            load_idx_files(&files, max_samples)
        }
        DataSource::ImageFolder { dir, labels, size } => load_image_folder(dir, labels, size),
    }
}
