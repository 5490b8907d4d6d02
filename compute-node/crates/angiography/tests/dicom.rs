//! DICOM loader on real files shipped with pydicom 3.0.2 (see tests/data/README.md) and on a
//! synthetic XA file written here.
use more_angiography::{load_dicom, AngioError, Normalization, ViewAngles};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn close(a: f32, b: f64) -> bool {
    (a as f64 - b).abs() < 1e-4
}

#[test]
fn ct_small_minmax_after_rescale() {
    let im = load_dicom(&data("CT_small.dcm"), None, Normalization::MinMax).unwrap();
    assert_eq!(im.meta.modality.as_deref(), Some("CT"));
    assert_eq!(
        (im.meta.rows, im.meta.columns, im.meta.number_of_frames),
        (128, 128, 1)
    );
    assert_eq!(im.meta.rescale, (1.0, -1024.0));
    let f = &im.frames[0];
    // pydicom 3.0.2: raw min 128, max 2191 -> rescaled -896..1167 (span 2063).
    assert!(close(f[0], (175.0 - 128.0) / 2063.0), "{}", f[0]);
    assert!(close(f[64 * 128 + 64], (1928.0 - 128.0) / 2063.0));
    assert_eq!(f.iter().cloned().fold(f32::MAX, f32::min), 0.0);
    assert_eq!(f.iter().cloned().fold(f32::MIN, f32::max), 1.0);
}

#[test]
fn ct_small_window_in_hounsfield_units() {
    // Window 0 ± 1000 HU: raw 1928 -> 904 HU -> (904 + 1000) / 2000.
    let im = load_dicom(
        &data("CT_small.dcm"),
        None,
        Normalization::Window {
            center: 0.0,
            width: 2000.0,
        },
    )
    .unwrap();
    assert!(close(im.frames[0][64 * 128 + 64], 1904.0 / 2000.0));
}

#[test]
fn mr_small_resized() {
    let im = load_dicom(&data("MR_small.dcm"), None, Normalization::MinMax).unwrap();
    assert_eq!((im.meta.rows, im.meta.columns), (64, 64));
    assert!(close(im.frames[0][0], (905.0 - 127.0) / 2018.0));
    assert!(close(im.frames[0][32 * 64 + 32], (182.0 - 127.0) / 2018.0));
    let small = load_dicom(&data("MR_small.dcm"), Some(32), Normalization::MinMax).unwrap();
    assert_eq!(
        (small.width, small.height, small.frames[0].len()),
        (32, 32, 1024)
    );
    assert!(small.frames[0].iter().all(|v| (0.0..=1.0).contains(v)));
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    assert!((mean(&small.frames[0]) - mean(&im.frames[0])).abs() < 0.02);
}

#[test]
fn rgb_rle_two_frames_to_grey() {
    let im = load_dicom(&data("SC_rgb_rle_2frame.dcm"), None, Normalization::MinMax).unwrap();
    assert_eq!(
        (im.meta.rows, im.meta.columns, im.meta.number_of_frames),
        (100, 100, 2)
    );
    assert_eq!(im.frames.len(), 2);
    // pydicom 3.0.2 RGB values: frame 0 [0,0] = (255,0,0), frame 1 [0,0] = (0,255,255),
    // frame 0 [50,50] = (128,128,255); luma min 0, max 255 over both frames.
    assert!(close(im.frames[0][0], 0.299));
    assert!(close(im.frames[1][0], 0.701));
    assert!(close(im.frames[0][50 * 100 + 50], 0.5587373));
    assert_eq!(im.frames[1][99 * 100 + 99], 0.0);
    assert_eq!(im.meta.view(), None);
}

#[test]
fn rtdose_32_bit_is_a_clean_error() {
    // 15 frames of uint32: dicom-pixeldata 0.10 decodes only 1/8/16 bits allocated.
    let r = load_dicom(&data("rtdose.dcm"), Some(10), Normalization::MinMax);
    assert!(matches!(r, Err(AngioError::Dicom { .. })), "{r:?}");
}

#[test]
fn bad_inputs_are_errors() {
    assert!(matches!(
        load_dicom(&data("nope.dcm"), None, Normalization::MinMax),
        Err(AngioError::MissingFile(_))
    ));
    assert!(matches!(
        load_dicom(&data("README.md"), None, Normalization::MinMax),
        Err(AngioError::Dicom { .. })
    ));
    assert!(matches!(
        load_dicom(&data("CT_small.dcm"), Some(0), Normalization::MinMax),
        Err(AngioError::InvalidParameter(_))
    ));
    assert!(load_dicom(
        &data("CT_small.dcm"),
        None,
        Normalization::Window {
            center: 0.0,
            width: 0.0
        }
    )
    .is_err());
}

#[test]
fn view_labels_from_positioner_angles() {
    assert_eq!(ViewAngles::new(45.0, -25.0).label(), "LAO 45 CAU 25");
    assert_eq!(ViewAngles::new(-30.0, 0.0).label(), "RAO 30");
    assert_eq!(ViewAngles::new(0.2, 30.0).label(), "AP CRA 30");
}

#[test]
fn synthetic_xa_multiframe_with_angles() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    let (rows, cols, frames) = (4u16, 6u16, 3usize);
    let pixels: Vec<u8> = (0..frames * rows as usize * cols as usize)
        .map(|i| (i * 3) as u8)
        .collect();
    let mut obj = InMemDicomObject::new_empty();
    let put =
        |o: &mut InMemDicomObject, t, vr, v: PrimitiveValue| o.put(DataElement::new(t, vr, v));
    put(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE.into(),
    );
    put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4.5".into());
    put(&mut obj, tags::MODALITY, VR::CS, "XA".into());
    put(
        &mut obj,
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2".into(),
    );
    put(&mut obj, tags::NUMBER_OF_FRAMES, VR::IS, "3".into());
    put(&mut obj, tags::ROWS, VR::US, PrimitiveValue::from(rows));
    put(&mut obj, tags::COLUMNS, VR::US, PrimitiveValue::from(cols));
    put(
        &mut obj,
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(8u16),
    );
    put(
        &mut obj,
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(8u16),
    );
    put(&mut obj, tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16));
    put(
        &mut obj,
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    );
    put(
        &mut obj,
        tags::POSITIONER_PRIMARY_ANGLE,
        VR::DS,
        "-30.5".into(),
    );
    put(
        &mut obj,
        tags::POSITIONER_SECONDARY_ANGLE,
        VR::DS,
        "25".into(),
    );
    put(
        &mut obj,
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(pixels),
    );
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE)
        .media_storage_sop_instance_uid("1.2.3.4.5");
    let file = obj.with_meta(meta).unwrap();
    let dir = std::env::temp_dir().join(format!("angio-xa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("xa.dcm");
    file.write_to_file(&path).unwrap();

    let im = load_dicom(&path, None, Normalization::MinMax).unwrap();
    assert_eq!(im.meta.modality.as_deref(), Some("XA"));
    assert_eq!(
        (
            im.meta.number_of_frames,
            im.frames.len(),
            im.width,
            im.height
        ),
        (3, 3, 6, 4)
    );
    let view = im.meta.view().unwrap();
    assert_eq!(view.primary_deg, -30.5);
    assert_eq!(view.label(), "RAO 31 CRA 25"); // rounding is half away from zero
                                               // Last pixel of the last frame is the global maximum (raw 71 * 3 = 213).
    assert_eq!(*im.frames[2].last().unwrap(), 1.0);
    assert!(close(im.frames[1][0], 72.0 / 213.0));
    std::fs::remove_dir_all(&dir).ok();
}
