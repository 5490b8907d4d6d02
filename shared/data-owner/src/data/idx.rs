//! IDX files (LeCun's MNIST format, also Fashion-MNIST): unsigned-byte tensors with a big-endian
//! header, gzipped or not (detected by the gzip signature, not the name). Images (rank 3) and
//! labels (rank 1) pair by name: `t10k` or `test` in the name marks the test pair.

use super::part::{DataSet, Part, Split};
use super::split::split;
use super::targets::one_hot;
use super::text::{gunzip, is_gzip};
use super::{err, DataError, Task};

/// One IDX file (unsigned bytes): its dimensions and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Idx {
    /// Dimensions from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Parses one IDX file (gzip-compressed or not) as the page does (`parseIdx`).
///
/// # Errors
/// Bad magic number, not unsigned bytes, bad header, truncated data, damaged gzip.
pub fn parse_idx(bytes: &[u8], file_name: &str) -> Result<Idx, DataError> {
    let owned;
    let bytes = if is_gzip(bytes) {
        owned = gunzip(bytes).map_err(|e| DataError(format!("{file_name}: {e}")))?;
        &owned[..]
    } else {
        bytes
    };
    if bytes.len() < 8 || bytes[0] != 0 || bytes[1] != 0 {
        return err(format!(
            "{file_name} is not an IDX file (bad magic number)."
        ));
    }
    if bytes[2] != 0x08 {
        return err(format!(
            "{file_name}: only unsigned-byte IDX files are supported."
        ));
    }
    let rank = bytes[3] as usize;
    if !(1..=4).contains(&rank) || bytes.len() < 4 + 4 * rank {
        return err(format!("{file_name}: bad IDX header."));
    }
    let dims: Vec<usize> = bytes[4..4 + 4 * rank]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected = dims.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    let have = bytes.len() - 4 - 4 * rank;
    if expected != Some(have) {
        return err(format!(
            "{file_name} is truncated or damaged: the header announces {} values, the file holds {have}.",
            expected.map_or_else(|| "too many".to_string(), |e| e.to_string())
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[4 + 4 * rank..].to_vec(),
    })
}

/// A parsed IDX file with its name.
struct Named {
    name: String,
    is_test: bool,
    idx: Idx,
}

/// IDX image and label files given as `(name, bytes)` (`loadIdxFiles` of the page): names with
/// `t10k` or `test` are the test pair; at most `max_samples` training images (and
/// `ceil(max_samples / 4)` test images) are read; without a test pair the training pair is split
/// with the page's split. Pixels are scaled to `[0, 1]`, features `[1, h, w]`, labels 0–9
/// one-hot over 10 classes `"0"`..`"9"`.
///
/// # Errors
/// The [`parse_idx`] errors, missing or mismatched image/label files, labels above 9.
pub fn read_idx_files(files: &[(&str, &[u8])], max_samples: usize) -> Result<DataSet, DataError> {
    let mut parsed = Vec::new();
    for (name, bytes) in files {
        let lower = name.to_lowercase();
        parsed.push(Named {
            is_test: lower.contains("t10k") || lower.contains("test"),
            idx: parse_idx(bytes, name)?,
            name: name.to_string(),
        });
    }
    let images: Vec<&Named> = parsed.iter().filter(|p| p.idx.dims.len() == 3).collect();
    let labels: Vec<&Named> = parsed.iter().filter(|p| p.idx.dims.len() == 1).collect();
    if images.is_empty() || labels.is_empty() {
        return err("Open IDX image files (…-images-idx3-ubyte) together with their label files (…-labels-idx1-ubyte).");
    }
    let train = idx_pair(&images, &labels, false, max_samples)?;
    let test = idx_pair(&images, &labels, true, max_samples.div_ceil(4))?;
    let split = match (train, test) {
        (Some(train), Some(test)) => Split { train, test },
        (Some(one), None) | (None, Some(one)) => split(one),
        (None, None) => return err("No IDX image/label pair found."),
    };
    let n = split.train.rows() + split.test.rows();
    Ok(DataSet::new(split, Vec::new(), n, n))
}

fn idx_pair(
    images: &[&Named],
    labels: &[&Named],
    is_test: bool,
    cap: usize,
) -> Result<Option<Part>, DataError> {
    let im = images.iter().find(|p| p.is_test == is_test);
    let lb = labels.iter().find(|p| p.is_test == is_test);
    let (im, lb) = match (im, lb) {
        (None, None) => return Ok(None),
        (Some(im), Some(lb)) => (im, lb),
        (im, _) => {
            return err(format!(
                "Missing the {} {} file.",
                if is_test { "test" } else { "training" },
                if im.is_some() { "labels" } else { "images" }
            ))
        }
    };
    if im.idx.dims[0] != lb.idx.dims[0] {
        return err(format!(
            "{} has {} images but {} has {} labels.",
            im.name, im.idx.dims[0], lb.name, lb.idx.dims[0]
        ));
    }
    let (h, w) = (im.idx.dims[1], im.idx.dims[2]);
    let n = im.idx.dims[0].min(cap);
    let lab: Vec<usize> = lb.idx.data[..n].iter().map(|&l| l as usize).collect();
    if lab.iter().any(|&l| l > 9) {
        return err(format!("{}: labels must be 0–9.", lb.name));
    }
    Ok(Some(Part {
        name: im.name.clone(),
        task: Task::Classification,
        feature_shape: vec![1, h, w],
        x: scale_bytes(&im.idx.data[..n * h * w]),
        y: one_hot(&lab, 10),
        target_dim: 10,
        labels: Some(lab),
        class_names: Some(digit_names()),
        feature_names: None,
        target_names: None,
        sample_names: None,
    }))
}

/// Bytes to `[0, 1]` as the page computes them (`v / 255` in f64, stored as f32).
pub fn scale_bytes(b: &[u8]) -> Vec<f32> {
    b.iter().map(|&v| (f64::from(v) / 255.0) as f32).collect()
}

/// The class names `"0"`..`"9"`.
pub fn digit_names() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn header_errors() {
        assert!(parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01", "f")
            .unwrap_err()
            .0
            .contains("truncated"));
        assert!(parse_idx(b"PK\x03\x04xxxxxx", "f").is_err());
        assert_eq!(parse_idx(&idx(&[2], &[1, 2]), "f").unwrap().data, [1, 2]);
    }

    #[test]
    fn pairs_without_a_test_pair_are_split() {
        let images = idx(&[5, 1, 2], &[0, 255, 51, 0, 0, 0, 0, 0, 255, 255]);
        let labels = idx(&[5], &[0, 1, 2, 3, 4]);
        let d = read_idx_files(&[("a-images", &images), ("a-labels", &labels)], 100).unwrap();
        assert_eq!((d.split.train.rows(), d.split.test.rows()), (4, 1));
        assert_eq!(d.split.train.feature_shape, [1, 1, 2]);
        let bad = idx(&[5], &[0, 1, 2, 3, 10]);
        let e = read_idx_files(&[("a-images", &images), ("a-labels", &bad)], 100).unwrap_err();
        assert!(e.0.contains("0–9"), "{e}");
    }
}
