//! Thin file-system helpers for the command line and the lab: they read the files and call the
//! rules over bytes ([`read_table`], [`read_idx_files`], [`read_image_folder`]).

use std::path::Path;

use super::folder::read_image_folder;
use super::idx::read_idx_files;
use super::part::{DataSet, Split};
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

/// IDX files read with [`read_idx_files`].
///
/// # Errors
/// An unreadable file and the errors of [`read_idx_files`].
pub fn load_idx_files(files: &[&Path], max_samples: usize) -> Result<Split, DataError> {
    let mut named = Vec::new();
    for f in files {
        named.push((file_name(f), read(f)?));
    }
    let refs: Vec<(&str, &[u8])> = named.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    Ok(read_idx_files(&refs, max_samples)?.split)
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
