//! IDX files (LeCun's MNIST format, also Fashion-MNIST) for the lab: read with the data owner's
//! IDX rule ([`more_data_owner::data::parse_idx`]: gzipped or not, detected by the gzip
//! signature; unsigned bytes; the header's sizes must match the data exactly) and the page's
//! pixel scaling ([`more_data_owner::data::idx::scale_bytes`]); written back for tests and tools.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use more_data_owner::data::idx::scale_bytes;
use more_data_owner::data::{parse_idx, Idx};

use super::{DataError, Dataset};

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (`--data fashion`):
/// `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`,
/// `t10k-labels-idx1-ubyte.gz`.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's class names, in label order.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Decoded IDX images.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count·rows·cols` pixels, row-major.
    pub pixels: Vec<u8>,
}

/// Reads and parses one IDX file of `rank` dimensions (`what` names it in messages).
fn read_rank(path: &Path, rank: usize, what: &str) -> Result<Idx, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let idx = parse_idx(&bytes, &path.display().to_string())?;
    if idx.dims.len() != rank {
        return Err(DataError::Invalid(format!(
            "{}: {} dimensions, {what} have {rank} (images and labels swapped?)",
            path.display(),
            idx.dims.len()
        )));
    }
    Ok(idx)
}

/// Reads an IDX3 image file.
///
/// # Errors
/// [`DataError::Io`], [`DataError::Rules`] (not IDX, truncated or trailing data, damaged gzip),
/// [`DataError::Invalid`] for another rank (e.g. a label file) or an empty image size.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let idx = read_rank(path, 3, "images")?;
    let (count, rows, cols) = (idx.dims[0], idx.dims[1], idx.dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::Invalid(format!(
            "{}: image size {rows}x{cols}",
            path.display()
        )));
    }
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: idx.data,
    })
}

/// Reads an IDX1 label file.
///
/// # Errors
/// As [`read_idx_images`].
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    Ok(read_rank(path, 1, "labels")?.data)
}

/// Loads images and labels as a classification set with pixels scaled to `[0, 1]` (the page's
/// `v / 255`) and classes `0..=max label` (named after Fashion-MNIST's classes when `fashion`
/// is set).
///
/// # Errors
/// As the readers, [`DataError::CountMismatch`], and [`DataError::Invalid`] without images.
pub fn load_idx_pair(images: &Path, labels: &Path, fashion: bool) -> Result<Dataset, DataError> {
    let img = read_idx_images(images)?;
    let lab = read_idx_labels(labels)?;
    if img.count != lab.len() {
        return Err(DataError::CountMismatch {
            images: img.count,
            labels: lab.len(),
        });
    }
    let Some(&max) = lab.iter().max() else {
        return Err(DataError::Invalid(format!(
            "{}: no images",
            images.display()
        )));
    };
    let classes = usize::from(max) + 1;
    let class_names = if fashion && classes <= 10 {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        (0..classes).map(|c| c.to_string()).collect()
    };
    let features =
        Array2::from_shape_vec((img.count, img.rows * img.cols), scale_bytes(&img.pixels))
            .map_err(|e| DataError::Invalid(e.to_string()))?;
    let name = format!(
        "{} ({})",
        if fashion { "fashion-mnist" } else { "idx" },
        images.display()
    );
    Ok(Dataset::classification(
        name,
        features,
        vec![1, img.rows, img.cols],
        lab.iter().map(|&l| l as usize).collect(),
        class_names,
    ))
}

/// The four Fashion-MNIST files under `dir`: `(train images, train labels, test images, test labels)`.
pub fn fashion_paths(dir: &Path) -> [PathBuf; 4] {
    [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    .map(|f| dir.join(f))
}

fn write_file(path: &Path, bytes: &[u8], gzip: bool) -> Result<(), DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).map_err(io)?;
        std::fs::write(path, enc.finish().map_err(io)?).map_err(io)
    } else {
        std::fs::write(path, bytes).map_err(io)
    }
}

/// Writes an IDX3 image file (gzipped if `gzip`).
///
/// # Errors
/// [`DataError::Invalid`] when `pixels` is not `count·rows·cols` long; [`DataError::Io`].
pub fn write_idx_images(path: &Path, images: &IdxImages, gzip: bool) -> Result<(), DataError> {
    if images.pixels.len() != images.count * images.rows * images.cols {
        return Err(DataError::Invalid(
            "pixel count does not match the shape".into(),
        ));
    }
    let mut b = Vec::with_capacity(16 + images.pixels.len());
    for v in [
        IMAGES_MAGIC,
        images.count as u32,
        images.rows as u32,
        images.cols as u32,
    ] {
        b.extend(v.to_be_bytes());
    }
    b.extend(&images.pixels);
    write_file(path, &b, gzip)
}

/// Writes an IDX1 label file (gzipped if `gzip`).
///
/// # Errors
/// [`DataError::Io`].
pub fn write_idx_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<(), DataError> {
    let mut b = Vec::with_capacity(8 + labels.len());
    b.extend(LABELS_MAGIC.to_be_bytes());
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    write_file(path, &b, gzip)
}
