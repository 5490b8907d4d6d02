//! DICOM decoding: the one DICOM pipeline of the data owner's library (`more-data-owner`, which
//! the page through `more-wasm`, the command line, Python and the lab call), so all read the same
//! pixels. The pure-Rust dicom-rs stack, and this pipeline: the Modality LUT
//! (Rescale Slope/Intercept), then the file's first Window Center/Width when present (one sample per
//! pixel), else min-max over all frames, to [0, 1]; MONOCHROME1 inverted so that larger is
//! brighter; colour averaged to grey (BT.601 luma). Every frame of a multi-frame file (an XA cine
//! run) is returned.
//!
//! Only image facts are read from the header: no patient attribute is looked at or returned.
#![deny(missing_docs)]

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{file::ReadPreamble, DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Largest number of decoded samples (frames × rows × columns × samples per pixel) per file.
pub const MAX_SAMPLES: usize = 64 << 20;

/// Why a file could not be decoded. The message names the cause (and the transfer syntax when it
/// is not supported); it never contains header values other than image facts.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct DicomError(pub String);

/// The frames of one DICOM file in [0, 1] and the header facts the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomFrames {
    /// `frames × rows × columns` grey values in [0, 1], row-major.
    pub data: Vec<f32>,
    /// Number of frames (1 for a single image).
    pub frames: u32,
    /// Rows (height).
    pub rows: u32,
    /// Columns (width).
    pub columns: u32,
    /// Modality (0008,0060), e.g. "XA"; empty when absent.
    pub modality: String,
    /// Photometric interpretation (0028,0004).
    pub photometric: String,
    /// Bits allocated per sample (0028,0100).
    pub bits_allocated: u16,
    /// Transfer syntax UID and name.
    pub transfer_syntax: String,
    /// Rescale slope applied (1 when absent).
    pub rescale_slope: f64,
    /// Rescale intercept applied (0 when absent).
    pub rescale_intercept: f64,
    /// Window centre used (from the file), if any; else min-max was used.
    pub window_center: Option<f64>,
    /// Window width used (from the file), if any.
    pub window_width: Option<f64>,
    /// Positioner primary angle (0018,1510), degrees, LAO > 0.
    pub primary_angle: Option<f64>,
    /// Positioner secondary angle (0018,1511), degrees, cranial > 0.
    pub secondary_angle: Option<f64>,
}

fn float_attr(obj: &DefaultDicomObject, tag: Tag) -> Option<f64> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_float64().ok())
}

fn str_attr(obj: &DefaultDicomObject, tag: Tag) -> Option<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
}

fn fail<T>(msg: impl Into<String>) -> Result<T, DicomError> {
    Err(DicomError(msg.into()))
}

/// Grey values of every frame (colour to BT.601 luma), before windowing.
fn grey_frames(
    decoded: &dicom_pixeldata::DecodedPixelData<'_>,
    frames: u32,
    npx: usize,
    spp: usize,
) -> Result<Vec<f64>, DicomError> {
    let mut grey: Vec<f64> = Vec::with_capacity(npx * frames as usize);
    for f in 0..frames {
        // Default options: the Modality LUT (rescale) only, no VOI LUT (applied by the caller).
        let raw: Vec<f64> = decoded
            .to_vec_frame::<f64>(f)
            .map_err(|e| DicomError(format!("frame {f}: {e}")))?;
        if raw.len() < npx * spp {
            return fail(format!(
                "frame {f}: {} samples, expected {}",
                raw.len(),
                npx * spp
            ));
        }
        if spp >= 3 {
            grey.extend((0..npx).map(|i| {
                0.299 * raw[i * spp] + 0.587 * raw[i * spp + 1] + 0.114 * raw[i * spp + 2]
            }));
        } else {
            grey.extend_from_slice(&raw[..npx]);
        }
    }
    Ok(grey)
}

/// `grey` mapped to [0, 1]: through the window `(centre, width)` when given, else min-max;
/// inverted for MONOCHROME1.
fn to_unit(grey: &[f64], window: Option<(f64, f64)>, invert: bool) -> Vec<f32> {
    let (lo, hi) = match window {
        Some((c, w)) => (c - w / 2.0, c + w / 2.0),
        None => grey
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            }),
    };
    let span = if hi > lo { hi - lo } else { 1.0 };
    grey.iter()
        .map(|&x| {
            let y = ((x - lo) / span).clamp(0.0, 1.0);
            (if invert { 1.0 - y } else { y }) as f32
        })
        .collect()
}

/// Decodes a DICOM file (with or without the 128-byte preamble).
///
/// # Errors
/// [`DicomError`] for an unreadable file, an unsupported transfer syntax (JPEG 2000, JPEG-LS:
/// the message names it), an empty image, or more than [`MAX_SAMPLES`] decoded samples.
pub fn decode_dicom(bytes: &[u8]) -> Result<DicomFrames, DicomError> {
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .from_reader(bytes)
        .map_err(|e| DicomError(format!("not a readable DICOM file ({e})")))?;
    let uid = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let ts = match TransferSyntaxRegistry.get(&uid) {
        Some(t) => format!("{uid} ({})", t.name()),
        None => format!("{uid} (unknown)"),
    };
    let decoded = obj
        .decode_pixel_data()
        .map_err(|e| DicomError(format!("transfer syntax {ts} is not supported here ({e})")))?;
    let (rows, columns) = (decoded.rows(), decoded.columns());
    let frames = decoded.number_of_frames().max(1);
    let spp = decoded.samples_per_pixel().max(1) as usize;
    let npx = rows as usize * columns as usize;
    if npx == 0 {
        return fail("the image has zero rows or columns");
    }
    if npx * spp * frames as usize > MAX_SAMPLES {
        return fail(format!(
            "{frames} frames of {columns}×{rows}: too large to decode"
        ));
    }
    let photometric = decoded.photometric_interpretation().clone();
    let (rescale_slope, rescale_intercept) = decoded
        .rescale()
        .ok()
        .and_then(|r| r.first().map(|r| (r.slope, r.intercept)))
        .unwrap_or((1.0, 0.0));
    let grey = grey_frames(&decoded, frames, npx, spp)?;
    let window = match (
        float_attr(&obj, tags::WINDOW_CENTER),
        float_attr(&obj, tags::WINDOW_WIDTH),
    ) {
        (Some(c), Some(w)) if w > 0.0 && spp == 1 => Some((c, w)),
        _ => None,
    };
    let invert = photometric == PhotometricInterpretation::Monochrome1;
    Ok(DicomFrames {
        data: to_unit(&grey, window, invert),
        frames,
        rows,
        columns,
        modality: str_attr(&obj, tags::MODALITY).unwrap_or_default(),
        photometric: photometric.to_string(),
        bits_allocated: decoded.bits_allocated(),
        transfer_syntax: ts,
        rescale_slope,
        rescale_intercept,
        window_center: window.map(|w| w.0),
        window_width: window.map(|w| w.1),
        primary_angle: float_attr(&obj, tags::POSITIONER_PRIMARY_ANGLE),
        secondary_angle: float_attr(&obj, tags::POSITIONER_SECONDARY_ANGLE),
    })
}

/// A `w × h` grey image centre-cropped to a square and resized to `size × size` by area averaging
/// (each output pixel is the mean of the input pixels it covers), in f64 (formerly `cropResize`
/// in the page's JS). The data owner's library (`more_data_owner::data::image`, which the page,
/// the CLI, Python and the lab call) brings every DICOM frame and every PNG/JPEG image to the
/// model's input size with it. A `src` shorter than `w × h` gives zeros.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn crop_resize(src: &[f32], w: usize, h: usize, size: usize) -> Vec<f32> {
    let mut out = vec![0f32; size * size];
    if src.len() < w * h || w == 0 || h == 0 {
        return out;
    }
    let side = w.min(h) as f64;
    let x0 = (w as f64 - side) / 2.0;
    let y0 = (h as f64 - side) / 2.0;
    let scale = side / size as f64;
    for oy in 0..size {
        let ya = y0 + oy as f64 * scale;
        let yb = ya + scale;
        for ox in 0..size {
            let xa = x0 + ox as f64 * scale;
            let xb = xa + scale;
            let (mut sum, mut area) = (0f64, 0f64);
            for y in (ya.floor() as usize)..(yb.ceil() as usize).min(h) {
                let wy = yb.min(y as f64 + 1.0) - ya.max(y as f64);
                for x in (xa.floor() as usize)..(xb.ceil() as usize).min(w) {
                    let wx = xb.min(x as f64 + 1.0) - xa.max(x as f64);
                    sum += wy * wx * f64::from(src[y * w + x]);
                    area += wy * wx;
                }
            }
            out[oy * size + ox] = if area != 0.0 {
                (sum / area) as f32
            } else {
                0.0
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_min_max_and_monochrome1() {
        assert_eq!(to_unit(&[0.0, 5.0, 10.0], None, false), vec![0.0, 0.5, 1.0]);
        assert_eq!(to_unit(&[0.0, 5.0, 10.0], None, true), vec![1.0, 0.5, 0.0]);
        assert_eq!(
            to_unit(&[-10.0, 100.0, 300.0], Some((100.0, 200.0)), false),
            vec![0.0, 0.5, 1.0]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_dicom(b"not a dicom file").is_err());
        assert!(decode_dicom(&[]).is_err());
    }
}
