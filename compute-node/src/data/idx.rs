//! IDX files (LeCun's MNIST format, also Fashion-MNIST): images (magic `0x00000803`, u8,
//! `count × rows × cols`) and labels (magic `0x00000801`, u8), big-endian header, gzipped or
//! not (detected by the gzip magic `1f 8b`, not by the file name).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ndarray::Array2;

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

fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    what: &'static str,
    dims: usize,
) -> Result<Vec<usize>, DataError> {
    let len = 4 + 4 * dims;
    let truncated = || DataError::Truncated {
        path: path.to_path_buf(),
        what: "header",
        expected: len,
        got: bytes.len(),
    };
    if bytes.len() < 4 {
        return Err(truncated());
    }
    let got = be_u32(bytes, 0);
    if got != magic {
        return Err(DataError::WrongMagic {
            path: path.to_path_buf(),
            what,
            expected: magic,
            got,
        });
    }
    if bytes.len() < len {
        return Err(truncated());
    }
    Ok((0..dims)
        .map(|d| be_u32(bytes, 4 + 4 * d) as usize)
        .collect())
}

fn body<'a>(
    path: &Path,
    bytes: &'a [u8],
    start: usize,
    need: usize,
) -> Result<&'a [u8], DataError> {
    let got = bytes.len() - start;
    if got < need {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: "data",
            expected: need,
            got,
        });
    }
    if got > need {
        return Err(DataError::Invalid(format!(
            "{}: {} bytes after the data announced by the header",
            path.display(),
            got - need
        )));
    }
    Ok(&bytes[start..])
}

/// Reads an IDX3 image file.
///
/// # Errors
/// [`DataError::Io`], [`DataError::WrongMagic`], [`DataError::Truncated`], or
/// [`DataError::Invalid`] for trailing bytes or an empty image size.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let bytes = read_bytes(path)?;
    let h = header(
        path,
        &bytes,
        IMAGES_MAGIC,
        "IDX images, u8, 3 dimensions",
        3,
    )?;
    let (count, rows, cols) = (h[0], h[1], h[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::Invalid(format!(
            "{}: image size {rows}x{cols}",
            path.display()
        )));
    }
    let need = count
        .checked_mul(rows * cols)
        .ok_or_else(|| DataError::Invalid(format!("{}: size overflow", path.display())))?;
    let pixels = body(path, &bytes, 16, need)?.to_vec();
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Reads an IDX1 label file.
///
/// # Errors
/// As [`read_idx_images`].
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_bytes(path)?;
    let h = header(path, &bytes, LABELS_MAGIC, "IDX labels, u8, 1 dimension", 1)?;
    Ok(body(path, &bytes, 8, h[0])?.to_vec())
}

/// Loads images and labels as a classification set with pixels scaled to `[0, 1]` (÷255) and
/// classes `0..=max label` (named after Fashion-MNIST's classes when `fashion` is set).
///
/// # Errors
/// As the readers, and [`DataError::CountMismatch`].
pub fn load_idx_pair(images: &Path, labels: &Path, fashion: bool) -> Result<Dataset, DataError> {
    let img = read_idx_images(images)?;
    let lab = read_idx_labels(labels)?;
    if img.count != lab.len() {
        return Err(DataError::CountMismatch {
            images: img.count,
            labels: lab.len(),
        });
    }
    if img.count == 0 {
        return Err(DataError::Empty {
            path: images.to_path_buf(),
            what: "no images",
        });
    }
    let classes = *lab.iter().max().expect("non-empty") as usize + 1;
    let class_names = if fashion && classes <= 10 {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        (0..classes).map(|c| c.to_string()).collect()
    };
    let features = Array2::from_shape_vec(
        (img.count, img.rows * img.cols),
        img.pixels.iter().map(|&p| p as f32 / 255.0).collect(),
    )
    .expect("sizes checked");
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
