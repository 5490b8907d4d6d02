//! Contact sheet: a grid of sample images, one row per class (label order), as an 8-bit PNG.

use crate::dataset::Dataset;
use crate::error::{AngioError, Result};
use image::GrayImage;
use std::path::Path;

/// Builds a grey image with one row per class (label order, top to bottom) holding the first
/// `per_class` images of that class, separated by 2-pixel white gaps. Classes with fewer images leave
/// black cells.
pub fn contact_sheet(ds: &Dataset, per_class: usize) -> Result<GrayImage> {
    if per_class == 0 || ds.is_empty() || ds.class_names.is_empty() {
        return Err(AngioError::InvalidParameter(
            "empty data set or per_class = 0".into(),
        ));
    }
    let (s, gap) = (ds.size as u32, 2u32);
    let rows = ds.class_names.len() as u32;
    let cols = per_class as u32;
    let mut sheet = GrayImage::from_pixel(
        cols * (s + gap) + gap,
        rows * (s + gap) + gap,
        image::Luma([255]),
    );
    for class in 0..rows {
        let idx = (0..ds.len())
            .filter(|&i| ds.labels[i] as u32 == class)
            .take(per_class);
        for (col, i) in idx.enumerate() {
            let Some(img) = ds.image(i) else { continue };
            let (x0, y0) = (gap + col as u32 * (s + gap), gap + class * (s + gap));
            for (k, &v) in img.iter().enumerate() {
                let (x, y) = (k as u32 % s, k as u32 / s);
                sheet.put_pixel(
                    x0 + x,
                    y0 + y,
                    image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8]),
                );
            }
        }
    }
    Ok(sheet)
}

/// Writes [`contact_sheet`] to `path` (format from the extension, e.g. `.png`).
pub fn write_contact_sheet(ds: &Dataset, per_class: usize, path: &Path) -> Result<()> {
    let sheet = contact_sheet(ds, per_class)?;
    sheet.save(path).map_err(|e| AngioError::ImageWrite {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
