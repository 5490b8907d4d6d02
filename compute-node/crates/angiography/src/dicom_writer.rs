//! Synthetic angiograms written as a DICOM folder with a labels CSV, the input a hospital would
//! open in the page ("Open a DICOM folder"): one single-frame XA file per image (explicit VR little
//! endian, 8-bit MONOCHROME2, stored value = round(255 · pixel)), the rendered view's positioner
//! angles, a window (centre 127.5, width 255) that maps the stored values back to `stored / 255`,
//! and `labels.csv` (`filename,label`, label = class name). The patient module holds only an
//! obviously synthetic name and ID; nothing else about a person is written.

use crate::dataset::{Dataset, ImageMeta};
use crate::error::{AngioError, Result};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::path::{Path, PathBuf};

/// The patient name written into every file: clearly not a person.
pub const SYNTHETIC_PATIENT_NAME: &str = "SYNTHETIC^ANGIOGRAM";
/// The patient ID written into every file.
pub const SYNTHETIC_PATIENT_ID: &str = "SYNTHETIC-0000";
/// The labels file written next to the DICOM files.
pub const LABELS_FILE: &str = "labels.csv";
/// Root of the UIDs of the written files (the 2.25 UUID-derived arc, PS3.5 B.2, with a fixed
/// prefix for this generator).
const UID_ROOT: &str = "2.25.4711042";

/// The name of image `index`'s file: `angio_00012.dcm`.
pub fn dicom_file_name(index: usize) -> String {
    format!("angio_{index:05}.dcm")
}

/// Writes every image of `ds` into `dir` (created if missing) as `angio_NNNNN.dcm`, and
/// `labels.csv`. Returns the paths of the DICOM files, in image order.
///
/// # Errors
/// [`AngioError::InvalidParameter`] for an empty data set, [`AngioError::Io`] when the folder or
/// the CSV cannot be written, [`AngioError::Dicom`] when a file cannot be built or written.
pub fn write_dicom_folder(ds: &Dataset, dir: &Path) -> Result<Vec<PathBuf>> {
    if ds.labels.is_empty() || ds.size == 0 {
        return Err(AngioError::InvalidParameter(
            "no images to write as DICOM".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|source| AngioError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let px = ds.size * ds.size;
    let mut csv = String::from("filename,label\n");
    let mut written = Vec::with_capacity(ds.labels.len());
    for (i, (pixels, &label)) in ds.images.chunks_exact(px).zip(&ds.labels).enumerate() {
        let name = dicom_file_name(i);
        let path = dir.join(&name);
        let angles = match ds.metadata.get(i) {
            Some(ImageMeta::Synthetic(m)) => Some((m.angles.primary_deg, m.angles.secondary_deg)),
            _ => None,
        };
        write_xa_file(&path, i, pixels, ds.size, angles)?;
        let class = ds
            .class_names
            .get(usize::from(label))
            .ok_or_else(|| AngioError::InvalidParameter(format!("label {label} has no name")))?;
        csv.push_str(&format!("{name},{class}\n"));
        written.push(path);
    }
    let labels = dir.join(LABELS_FILE);
    std::fs::write(&labels, csv).map_err(|source| AngioError::Io {
        path: labels,
        source,
    })?;
    Ok(written)
}

/// Stored 8-bit values of pixels in [0, 1].
fn to_stored(pixels: &[f32]) -> Vec<u8> {
    pixels
        .iter()
        .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

fn ds_text(v: f64) -> String {
    // DS holds at most 16 characters; two decimals are what a C-arm reports.
    format!("{v:.2}")
}

/// One single-frame 8-bit MONOCHROME2 XA file at `path`.
fn write_xa_file(
    path: &Path,
    index: usize,
    pixels: &[f32],
    size: usize,
    angles: Option<(f64, f64)>,
) -> Result<()> {
    let dicom_err = |reason: String| AngioError::Dicom {
        path: path.to_path_buf(),
        reason,
    };
    let side = u16::try_from(size).map_err(|_| dicom_err(format!("size {size} > 65535")))?;
    let instance_uid = format!("{UID_ROOT}.{}", index + 1);
    let text = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let short = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let mut elements = vec![
        text(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
        ),
        text(tags::SOP_INSTANCE_UID, VR::UI, &instance_uid),
        text(tags::MODALITY, VR::CS, "XA"),
        text(tags::PATIENT_NAME, VR::PN, SYNTHETIC_PATIENT_NAME),
        text(tags::PATIENT_ID, VR::LO, SYNTHETIC_PATIENT_ID),
        text(tags::STUDY_INSTANCE_UID, VR::UI, &format!("{UID_ROOT}.0.1")),
        text(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            &format!("{UID_ROOT}.0.2"),
        ),
        text(tags::IMAGE_TYPE, VR::CS, "DERIVED\\PRIMARY\\SINGLE PLANE"),
        short(tags::SAMPLES_PER_PIXEL, 1),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        short(tags::ROWS, side),
        short(tags::COLUMNS, side),
        short(tags::BITS_ALLOCATED, 8),
        short(tags::BITS_STORED, 8),
        short(tags::HIGH_BIT, 7),
        short(tags::PIXEL_REPRESENTATION, 0),
        text(tags::WINDOW_CENTER, VR::DS, "127.5"),
        text(tags::WINDOW_WIDTH, VR::DS, "255"),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(to_stored(pixels)),
        ),
    ];
    if let Some((primary, secondary)) = angles {
        elements.push(text(
            tags::POSITIONER_PRIMARY_ANGLE,
            VR::DS,
            &ds_text(primary),
        ));
        elements.push(text(
            tags::POSITIONER_SECONDARY_ANGLE,
            VR::DS,
            &ds_text(secondary),
        ));
    }
    let obj = InMemDicomObject::from_element_iter(elements)
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| dicom_err(e.to_string()))?;
    obj.write_to_file(path)
        .map_err(|e| dicom_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{generate, Task};
    use crate::dicom::{load_dicom, Normalization};

    #[test]
    fn written_files_read_back_as_the_rendered_images_with_their_views() {
        let ds = generate(6, 16, Task::ArteryTree, 3).unwrap();
        let dir = std::env::temp_dir().join(format!("more-angio-dicom-{}", std::process::id()));
        let files = write_dicom_folder(&ds, &dir).unwrap();
        assert_eq!(files.len(), 6);
        for (i, f) in files.iter().enumerate() {
            let back = load_dicom(f, None, Normalization::FileWindow).unwrap();
            assert_eq!(back.meta.modality.as_deref(), Some("XA"));
            assert_eq!((back.width, back.height, back.frames.len()), (16, 16, 1));
            let original = &ds.images[i * 256..(i + 1) * 256];
            let worst = back.frames[0]
                .iter()
                .zip(original)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst <= 0.5 / 255.0 + 1e-6, "image {i}: {worst}");
            let ImageMeta::Synthetic(m) = &ds.metadata[i] else {
                panic!("synthetic metadata")
            };
            let view = back.meta.view().unwrap();
            assert!((view.primary_deg - m.angles.primary_deg).abs() < 0.006);
            assert!((view.secondary_deg - m.angles.secondary_deg).abs() < 0.006);
        }
        let labels = std::fs::read_to_string(dir.join(LABELS_FILE)).unwrap();
        let first = format!(
            "angio_00000.dcm,{}",
            ds.class_names[usize::from(ds.labels[0])]
        );
        assert_eq!(labels.lines().nth(1), Some(first.as_str()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
