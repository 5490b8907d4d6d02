//! DICOM decoding in the page, with the pure-Rust dicom-rs stack that the native loader
//! (`compute-node/crates/angiography/src/dicom.rs`) uses, and the same pipeline: the Modality LUT
//! (Rescale Slope/Intercept), then the file's first Window Center/Width when present, else min-max
//! over all frames, to [0, 1]; MONOCHROME1 inverted so that larger is brighter; colour averaged to
//! grey (BT.601 luma). Every frame of a multi-frame file (an XA cine run) is returned.
//!
//! Only image facts are read from the header: no patient attribute is looked at or returned.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{file::ReadPreamble, DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

/// Largest number of decoded samples (frames × rows × columns × samples per pixel) per file.
const MAX_SAMPLES: usize = 64 << 20;

/// The frames of one DICOM file in [0, 1] and the header facts the page shows.
#[wasm_bindgen(getter_with_clone)]
pub struct DicomFrames {
    /// `frames × rows × columns` grey values in [0, 1], row-major.
    pub data: Float32Array,
    /// Number of frames.
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

/// Decodes a DICOM file (with or without the 128-byte preamble). An unsupported transfer syntax
/// (JPEG 2000, JPEG-LS) is an error that names it.
#[wasm_bindgen]
pub fn decode_dicom(bytes: &[u8]) -> Result<DicomFrames, JsError> {
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .from_reader(bytes)
        .map_err(|e| JsError::new(&format!("not a readable DICOM file ({e})")))?;
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
        .map_err(|e| JsError::new(&format!("transfer syntax {ts} is not supported here ({e})")))?;
    let (rows, cols) = (decoded.rows(), decoded.columns());
    let n_frames = decoded.number_of_frames().max(1);
    let spp = decoded.samples_per_pixel().max(1) as usize;
    let npx = rows as usize * cols as usize;
    if npx == 0 {
        return Err(JsError::new("the image has zero rows or columns"));
    }
    if npx * spp * n_frames as usize > MAX_SAMPLES {
        return Err(JsError::new(&format!(
            "{n_frames} frames of {cols}×{rows}: too large to decode in the page"
        )));
    }
    let photometric = decoded.photometric_interpretation().clone();
    let (slope, intercept) = decoded
        .rescale()
        .ok()
        .and_then(|r| r.first().map(|r| (r.slope, r.intercept)))
        .unwrap_or((1.0, 0.0));
    let mut grey: Vec<f64> = Vec::with_capacity(npx * n_frames as usize);
    for f in 0..n_frames {
        // Default options: the Modality LUT (rescale) only, no VOI LUT (applied below).
        let raw: Vec<f64> = decoded
            .to_vec_frame::<f64>(f)
            .map_err(|e| JsError::new(&format!("frame {f}: {e}")))?;
        if raw.len() < npx * spp {
            return Err(JsError::new(&format!(
                "frame {f}: {} samples, expected {}",
                raw.len(),
                npx * spp
            )));
        }
        if spp >= 3 {
            grey.extend((0..npx).map(|i| {
                0.299 * raw[i * spp] + 0.587 * raw[i * spp + 1] + 0.114 * raw[i * spp + 2]
            }));
        } else {
            grey.extend_from_slice(&raw[..npx]);
        }
    }
    let window = match (
        float_attr(&obj, tags::WINDOW_CENTER),
        float_attr(&obj, tags::WINDOW_WIDTH),
    ) {
        (Some(c), Some(w)) if w > 0.0 && spp == 1 => Some((c, w)),
        _ => None,
    };
    let (lo, hi) = match window {
        Some((c, w)) => (c - w / 2.0, c + w / 2.0),
        None => grey
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            }),
    };
    let span = if hi > lo { hi - lo } else { 1.0 };
    let invert = photometric == PhotometricInterpretation::Monochrome1;
    let data: Vec<f32> = grey
        .iter()
        .map(|&x| {
            let y = ((x - lo) / span).clamp(0.0, 1.0);
            (if invert { 1.0 - y } else { y }) as f32
        })
        .collect();
    Ok(DicomFrames {
        data: data.as_slice().into(),
        frames: n_frames,
        rows,
        columns: cols,
        modality: str_attr(&obj, tags::MODALITY).unwrap_or_default(),
        photometric: photometric.to_string(),
        bits_allocated: decoded.bits_allocated(),
        transfer_syntax: ts,
        rescale_slope: slope,
        rescale_intercept: intercept,
        window_center: window.map(|w| w.0),
        window_width: window.map(|w| w.1),
        primary_angle: float_attr(&obj, tags::POSITIONER_PRIMARY_ANGLE),
        secondary_angle: float_attr(&obj, tags::POSITIONER_SECONDARY_ANGLE),
    })
}
