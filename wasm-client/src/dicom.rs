//! DICOM decoding in the page: the JS-facing face of `more-dicom` (the same decoding the
//! command-line client uses), so the page and `more-client` read the same pixels. No patient
//! attribute is looked at or returned.

use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

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

impl From<more_dicom::DicomFrames> for DicomFrames {
    fn from(d: more_dicom::DicomFrames) -> Self {
        DicomFrames {
            data: d.data.as_slice().into(),
            frames: d.frames,
            rows: d.rows,
            columns: d.columns,
            modality: d.modality,
            photometric: d.photometric,
            bits_allocated: d.bits_allocated,
            transfer_syntax: d.transfer_syntax,
            rescale_slope: d.rescale_slope,
            rescale_intercept: d.rescale_intercept,
            window_center: d.window_center,
            window_width: d.window_width,
            primary_angle: d.primary_angle,
            secondary_angle: d.secondary_angle,
        }
    }
}

/// Decodes a DICOM file (with or without the 128-byte preamble) with `more_dicom::decode_dicom`.
/// An unsupported transfer syntax (JPEG 2000, JPEG-LS) is an error that names it.
#[wasm_bindgen]
pub fn decode_dicom(bytes: &[u8]) -> Result<DicomFrames, JsError> {
    Ok(more_dicom::decode_dicom(bytes)?.into())
}
