//! Folder of PNG/JPEG images or DICOM files plus a `filename,label` CSV → [`Dataset`].

use crate::dataset::{Dataset, ImageMeta};
use crate::dicom::{load_dicom, Normalization};
use crate::error::{AngioError, Result};
use std::path::Path;

/// Loads the images listed in `labels_csv` (header `filename,label`; file names relative to `dir`).
///
/// PNG/JPEG images are read as the page reads them (`imageToGrey` of `web/formats.js`): 8-bit
/// RGB (alpha ignored, 16-bit samples reduced to 8), grey = (0.299 R + 0.587 G + 0.114 B) / 255,
/// then centre-cropped to a square and area-resized to `size × size` with the page's
/// [`more_dicom::crop_resize`], so a PNG gives the page's pixels exactly (a JPEG up to the two
/// JPEG decoders' rounding).
///
/// DICOM files (extension `.dcm`, or the `DICM` marker at byte 128) are read with [`load_dicom`]
/// (min-max normalisation over the file's frames); every frame of a multi-frame file (an XA cine
/// run) becomes one sample with the file's label.
///
/// `class_names`: the accepted labels in label order; when `None`, the sorted distinct labels of the
/// CSV. Errors: missing folder/CSV/image ([`AngioError::MissingFile`]), malformed CSV
/// ([`AngioError::Csv`]), a label outside `class_names` ([`AngioError::UnknownLabel`]), a file that is
/// not a decodable PNG/JPEG ([`AngioError::NotAnImage`]), an empty list, or more than 256 classes.
pub fn load_image_folder(
    dir: &Path,
    labels_csv: &Path,
    size: usize,
    class_names: Option<&[&str]>,
) -> Result<Dataset> {
    if size == 0 || size > 4096 {
        return Err(AngioError::InvalidParameter(format!(
            "size {size} not in 1..=4096"
        )));
    }
    for p in [dir, labels_csv] {
        if !p.exists() {
            return Err(AngioError::MissingFile(p.to_path_buf()));
        }
    }
    let csv_err = |reason: String| AngioError::Csv {
        path: labels_csv.to_path_buf(),
        reason,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(labels_csv)
        .map_err(|e| csv_err(e.to_string()))?;
    let headers = rdr.headers().map_err(|e| csv_err(e.to_string()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(fcol), Some(lcol)) = (col("filename"), col("label")) else {
        return Err(csv_err(format!(
            "header must contain `filename,label`, found {headers:?}"
        )));
    };
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_err(e.to_string()))?;
        let (Some(f), Some(l)) = (rec.get(fcol), rec.get(lcol)) else {
            return Err(csv_err(format!("short record {rec:?}")));
        };
        rows.push((f.to_string(), l.to_string()));
    }
    if rows.is_empty() {
        return Err(csv_err("no rows".into()));
    }
    let names: Vec<String> = match class_names {
        Some(c) => c.iter().map(|s| s.to_string()).collect(),
        None => {
            let mut v: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
            v.sort();
            v.dedup();
            v
        }
    };
    if names.is_empty() || names.len() > 256 {
        return Err(AngioError::InvalidParameter(format!(
            "{} classes; need 1..=256",
            names.len()
        )));
    }
    let mut ds = Dataset {
        images: Vec::with_capacity(rows.len() * size * size),
        labels: Vec::with_capacity(rows.len()),
        class_names: names.clone(),
        size,
        metadata: Vec::with_capacity(rows.len()),
    };
    for (file, label) in rows {
        let Some(idx) = names.iter().position(|n| *n == label) else {
            return Err(AngioError::UnknownLabel {
                file,
                label,
                accepted: names,
            });
        };
        let path = dir.join(&file);
        if !path.is_file() {
            return Err(AngioError::MissingFile(path));
        }
        if is_dicom(&path) {
            let dicom = load_dicom(&path, Some(size), Normalization::MinMax)?;
            for frame in dicom.frames {
                ds.images.extend_from_slice(&frame);
                ds.labels.push(idx as u8);
                ds.metadata.push(ImageMeta::File {
                    path: path.clone(),
                    original_width: dicom.meta.columns,
                    original_height: dicom.meta.rows,
                });
            }
            continue;
        }
        let img = image::ImageReader::open(&path)
            .map_err(|e| AngioError::Io {
                path: path.clone(),
                source: e,
            })?
            .with_guessed_format()
            .map_err(|e| AngioError::Io {
                path: path.clone(),
                source: e,
            })?
            .decode()
            .map_err(|e| AngioError::NotAnImage {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let (w, h) = (img.width(), img.height());
        let pixels = page_grey_resized(&img.to_rgb8(), size);
        ds.images.extend_from_slice(&pixels);
        ds.labels.push(idx as u8);
        ds.metadata.push(ImageMeta::File {
            path,
            original_width: w,
            original_height: h,
        });
    }
    Ok(ds)
}

/// A `.dcm` extension or the `DICM` marker after the 128-byte preamble (DICOM PS3.10 §7.1).
fn is_dicom(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dcm"))
    {
        return true;
    }
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| &head[128..] == b"DICM")
}

/// The page's grey values of an 8-bit RGB image (BT.601 weights, in f64 as JavaScript computes
/// them), centre-cropped and area-resized to `size × size`.
fn page_grey_resized(rgb: &image::RgbImage, size: usize) -> Vec<f32> {
    let grey: Vec<f32> = rgb
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(f64::from);
            ((0.299 * r + 0.587 * g + 0.114 * b) / 255.0) as f32
        })
        .collect();
    more_dicom::crop_resize(&grey, rgb.width() as usize, rgb.height() as usize, size)
}
