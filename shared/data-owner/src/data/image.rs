//! One image file to model inputs, decoded by what its bytes are: a DICOM file (the `DICM`
//! marker after the 128-byte preamble, or a `.dcm`/`.dicom` name) through the one DICOM
//! pipeline of [`more_dicom`] (Modality LUT, the file's window or min-max, MONOCHROME1 inverted,
//! every frame a sample); anything else as PNG or JPEG (the `image` crate, format from the bytes):
//! 8-bit RGB (alpha ignored, 16-bit samples reduced to 8), grey = (0.299 R + 0.587 G + 0.114 B) /
//! 255 in f64 (formerly the page's `imageToGrey` in JS). Every frame is then centre-cropped to a square and
//! area-resized to `size × size` by [`crop_resize`].

use super::text::is_dicom;
use super::DataError;

/// The centre crop and area resize of every image (formerly `cropResize` in the page's JS).
pub use more_dicom::crop_resize;

/// What kind of image a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// A DICOM file.
    Dicom,
    /// Anything else (read as PNG or JPEG).
    Picture,
}

/// The kind of the file `name` with contents `bytes`: DICOM by the `DICM` marker or a `.dcm` /
/// `.dicom` name.
pub fn image_kind(name: &str, bytes: &[u8]) -> ImageKind {
    let lower = name.to_lowercase();
    if is_dicom(bytes) || lower.ends_with(".dcm") || lower.ends_with(".dicom") {
        ImageKind::Dicom
    } else {
        ImageKind::Picture
    }
}

/// The frames of one image file, each `size × size` grey values in `[0, 1]` (module
/// documentation). `name` is for messages.
///
/// # Errors
/// A DICOM file [`more_dicom::decode_dicom`] cannot decode (the message names the cause), or a
/// file that is not a decodable PNG/JPEG image.
pub fn decode_image(name: &str, bytes: &[u8], size: usize) -> Result<Vec<Vec<f32>>, DataError> {
    match image_kind(name, bytes) {
        ImageKind::Dicom => {
            let d = more_dicom::decode_dicom(bytes).map_err(|e| DataError(e.to_string()))?;
            let (rows, columns) = (d.rows as usize, d.columns as usize);
            Ok(d.data
                .chunks_exact(rows * columns)
                .map(|frame| crop_resize(frame, columns, rows, size))
                .collect())
        }
        ImageKind::Picture => {
            let img = image::load_from_memory(bytes)
                .map_err(|_| DataError(format!("{name} is not a PNG or JPEG image.")))?;
            Ok(vec![page_grey_resized(&img.to_rgb8(), size)])
        }
    }
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
    crop_resize(&grey, rgb.width() as usize, rgb.height() as usize, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_resize_matches_the_page() {
        // The page's former JS cropResize (git history of web/formats.js) of a 6×4 ramp (i / 23) to 3×3, computed with node.
        let src: Vec<f32> = (0..24u8).map(|i| f32::from(i) / 23.0).collect();
        let page = [
            0.119_565_22_f32,
            0.173_913_05,
            0.228_260_87,
            0.445_652_16,
            0.5,
            0.554_347_8,
            0.771_739_1,
            0.826_086_94,
            0.880_434_8,
        ];
        assert_eq!(crop_resize(&src, 6, 4, 3), page);
    }

    #[test]
    fn kinds_and_png_pixels() {
        let mut dicm = vec![0u8; 132];
        dicm[128..].copy_from_slice(b"DICM");
        assert_eq!(image_kind("x.png", &dicm), ImageKind::Dicom);
        assert_eq!(image_kind("x.DCM", b"junk"), ImageKind::Dicom);
        assert_eq!(image_kind("x.png", b"\x89PNG"), ImageKind::Picture);
        let img = image::RgbImage::from_fn(2, 2, |x, _| image::Rgb([255 * x as u8, 0, 0]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let frames = decode_image("a.png", &png, 1).unwrap();
        let red = ((0.299 * 255.0 + 0.587 * 0.0 + 0.114 * 0.0) / 255.0) as f32;
        assert_eq!(frames, [vec![(f64::from(red) * 2.0 / 4.0) as f32]]);
        assert!(decode_image("a.png", b"not an image", 4)
            .unwrap_err()
            .0
            .contains("not a PNG"));
        assert!(decode_image("a.dcm", b"not dicom", 4).is_err());
    }
}
