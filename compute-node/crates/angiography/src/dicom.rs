//! DICOM loader (single- and multi-frame, e.g. XA cine runs) to [0, 1] f32 frames.
//!
//! Pipeline per file: parse with `dicom-object`, decode pixel data with `dicom-pixeldata` (pure-Rust
//! decoders: native, RLE, JPEG baseline/lossless, deflate; JPEG 2000 / JPEG-LS are **not** enabled and
//! give [`AngioError::Dicom`]), apply the Modality LUT (Rescale Slope/Intercept (0028,1053)/(0028,1052)
//! when present), normalise to [0, 1] according to [`Normalization`], invert MONOCHROME1 so that larger
//! always means brighter, average colour samples to grey (ITU-R BT.601 luma weights), and optionally
//! resize each frame to `size × size` (bilinear "triangle" filter of the `image` crate; the aspect
//! ratio is not preserved).

use crate::error::{AngioError, Result};
use crate::geometry::ViewAngles;
use dicom_dictionary_std::tags;
use dicom_object::{open_file, DefaultDicomObject};
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder};
use image::{imageops, ImageBuffer, Luma};
use std::path::Path;

/// How rescaled pixel values are mapped to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalization {
    /// Linear min-max over **all frames** of the file (a cine run keeps one scale).
    MinMax,
    /// Linear window: center − width/2 → 0, center + width/2 → 1, clamped (rescaled units).
    Window {
        /// Window centre (rescaled units, e.g. HU for CT).
        center: f64,
        /// Window width (> 0).
        width: f64,
    },
    /// The first Window Center/Width (0028,1050)/(0028,1051) of the file, else [`Normalization::MinMax`].
    FileWindow,
}

/// Header facts of a loaded DICOM file.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomMeta {
    /// Modality (0008,0060), e.g. "XA", "CT", "MR".
    pub modality: Option<String>,
    /// Rows (0028,0010) of the stored image.
    pub rows: u32,
    /// Columns (0028,0011) of the stored image.
    pub columns: u32,
    /// Number of frames (0028,0008), 1 when absent.
    pub number_of_frames: u32,
    /// Photometric interpretation (0028,0004).
    pub photometric_interpretation: String,
    /// Rescale (slope, intercept) applied, (1, 0) when absent.
    pub rescale: (f64, f64),
    /// Positioner primary angle (0018,1510), degrees, LAO > 0.
    pub positioner_primary_deg: Option<f64>,
    /// Positioner secondary angle (0018,1511), degrees, cranial > 0.
    pub positioner_secondary_deg: Option<f64>,
}

impl DicomMeta {
    /// The C-arm view, when both positioner angles are present (label e.g. "LAO 45 CAU 25").
    pub fn view(&self) -> Option<ViewAngles> {
        Some(ViewAngles::new(
            self.positioner_primary_deg?,
            self.positioner_secondary_deg?,
        ))
    }
}

/// A loaded DICOM image: frames of `width × height` f32 in [0, 1], row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomImage {
    /// One buffer per frame, each `width × height`.
    pub frames: Vec<Vec<f32>>,
    /// Width of each output frame (pixels).
    pub width: usize,
    /// Height of each output frame (pixels).
    pub height: usize,
    /// Header facts.
    pub meta: DicomMeta,
}

fn derr(path: &Path, reason: impl ToString) -> AngioError {
    AngioError::Dicom {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn float_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<f64> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_float64().ok())
}

fn str_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
}

/// Loads every frame of the DICOM file at `path`, normalised by `norm`, resized to `size × size`
/// when `size` is `Some` (1..=4096).
pub fn load_dicom(path: &Path, size: Option<usize>, norm: Normalization) -> Result<DicomImage> {
    if !path.exists() {
        return Err(AngioError::MissingFile(path.to_path_buf()));
    }
    if let Some(s) = size {
        if s == 0 || s > 4096 {
            return Err(AngioError::InvalidParameter(format!(
                "size {s} not in 1..=4096"
            )));
        }
    }
    if let Normalization::Window { width, center } = norm {
        if !(width > 0.0 && width.is_finite() && center.is_finite()) {
            return Err(AngioError::InvalidParameter(
                "window width must be > 0".into(),
            ));
        }
    }
    let obj = open_file(path).map_err(|e| derr(path, e))?;
    let decoded = obj.decode_pixel_data().map_err(|e| derr(path, e))?;
    let (rows, cols) = (decoded.rows(), decoded.columns());
    let n_frames = decoded.number_of_frames().max(1);
    let spp = decoded.samples_per_pixel().max(1) as usize;
    let photometric = decoded.photometric_interpretation().clone();
    let rescale = decoded
        .rescale()
        .ok()
        .and_then(|r| r.first().map(|r| (r.slope, r.intercept)))
        .unwrap_or((1.0, 0.0));
    let npx = rows as usize * cols as usize;
    if npx == 0 {
        return Err(derr(path, "image has zero rows or columns"));
    }
    let mut frames = Vec::with_capacity(n_frames as usize);
    for f in 0..n_frames {
        // Default options: Modality LUT (rescale) only, no VOI LUT.
        let raw: Vec<f64> = decoded.to_vec_frame::<f64>(f).map_err(|e| derr(path, e))?;
        if raw.len() < npx * spp {
            return Err(derr(
                path,
                format!("frame {f}: {} samples, expected {}", raw.len(), npx * spp),
            ));
        }
        let grey: Vec<f64> = if spp >= 3 {
            (0..npx)
                .map(|i| 0.299 * raw[i * spp] + 0.587 * raw[i * spp + 1] + 0.114 * raw[i * spp + 2])
                .collect()
        } else {
            raw[..npx].to_vec()
        };
        frames.push(grey);
    }
    let window = match norm {
        Normalization::Window { center, width } => Some((center, width)),
        Normalization::FileWindow => match (
            float_attr(&obj, tags::WINDOW_CENTER),
            float_attr(&obj, tags::WINDOW_WIDTH),
        ) {
            (Some(c), Some(w)) if w > 0.0 => Some((c, w)),
            _ => None,
        },
        Normalization::MinMax => None,
    };
    let (lo, hi) = match window {
        Some((c, w)) => (c - w / 2.0, c + w / 2.0),
        None => {
            let lo = frames
                .iter()
                .flatten()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let hi = frames
                .iter()
                .flatten()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        }
    };
    let span = if hi > lo { hi - lo } else { 1.0 };
    let invert = photometric == PhotometricInterpretation::Monochrome1;
    let (w, h) = (cols as usize, rows as usize);
    let out_frames = frames
        .into_iter()
        .map(|fr| {
            let v: Vec<f32> = fr
                .iter()
                .map(|&x| {
                    let y = ((x - lo) / span).clamp(0.0, 1.0);
                    (if invert { 1.0 - y } else { y }) as f32
                })
                .collect();
            match size {
                Some(s) if s != w || s != h => resize_f32(&v, w, h, s),
                _ => v,
            }
        })
        .collect();
    let (ow, oh) = size.map(|s| (s, s)).unwrap_or((w, h));
    Ok(DicomImage {
        frames: out_frames,
        width: ow,
        height: oh,
        meta: DicomMeta {
            modality: str_attr(&obj, tags::MODALITY),
            rows,
            columns: cols,
            number_of_frames: n_frames,
            photometric_interpretation: photometric.to_string(),
            rescale,
            positioner_primary_deg: float_attr(&obj, tags::POSITIONER_PRIMARY_ANGLE),
            positioner_secondary_deg: float_attr(&obj, tags::POSITIONER_SECONDARY_ANGLE),
        },
    })
}

/// Resizes a row-major `w × h` f32 image to `s × s` with the `image` crate's triangle filter,
/// clamping the result to [0, 1].
pub fn resize_f32(v: &[f32], w: usize, h: usize, s: usize) -> Vec<f32> {
    match ImageBuffer::<Luma<f32>, Vec<f32>>::from_raw(w as u32, h as u32, v.to_vec()) {
        Some(buf) => imageops::resize(&buf, s as u32, s as u32, imageops::FilterType::Triangle)
            .into_raw()
            .into_iter()
            .map(|x| x.clamp(0.0, 1.0))
            .collect(),
        None => vec![0.0; s * s],
    }
}
