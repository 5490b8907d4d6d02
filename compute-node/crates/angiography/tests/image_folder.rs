//! PNG/JPEG folder + labels CSV loader, on files written here.
use more_angiography::{load_image_folder, AngioError, ImageMeta};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("angio-folder-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_images(dir: &std::path::Path) {
    let mut a = image::GrayImage::new(20, 10);
    for (x, _y, p) in a.enumerate_pixels_mut() {
        p.0 = [(x * 12) as u8];
    }
    a.save(dir.join("a.png")).unwrap();
    image::GrayImage::from_pixel(8, 8, image::Luma([255]))
        .save(dir.join("b.png"))
        .unwrap();
    image::RgbImage::from_pixel(16, 16, image::Rgb([0, 0, 0]))
        .save(dir.join("c.jpg"))
        .unwrap();
}

#[test]
fn loads_resizes_and_labels() {
    let dir = tmp("ok");
    write_images(&dir);
    std::fs::write(
        dir.join("labels.csv"),
        "filename,label\na.png,RCA\nb.png,LCA\nc.jpg,RCA\n",
    )
    .unwrap();
    let ds = load_image_folder(&dir, &dir.join("labels.csv"), 8, None).unwrap();
    assert_eq!(ds.class_names, vec!["LCA", "RCA"]);
    assert_eq!(ds.labels, vec![1, 0, 1]);
    assert_eq!((ds.size, ds.images.len()), (8, 3 * 64));
    assert!(ds.images.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(ds.image(1).unwrap().iter().all(|&v| v == 1.0));
    assert!(ds.image(2).unwrap().iter().all(|&v| v < 0.02));
    // The page's centre crop (columns 5..15 of the 20×10 ramp 12·x) and area resize (each
    // output pixel covers 1.25 input columns): first 60·1 + 72·0.25, last 156·0.25 + 168·1.
    let a = ds.image(0).unwrap();
    assert!((a[0] - 62.4 / 255.0).abs() < 1e-6, "{a:?}");
    assert!((a[7] - 165.6 / 255.0).abs() < 1e-6, "{a:?}");
    assert!(matches!(
        &ds.metadata[0],
        ImageMeta::File {
            original_width: 20,
            original_height: 10,
            ..
        }
    ));
    // Fixed class list: label order follows it.
    let ds2 = load_image_folder(&dir, &dir.join("labels.csv"), 8, Some(&["RCA", "LCA"])).unwrap();
    assert_eq!(ds2.labels, vec![0, 1, 0]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn errors() {
    let dir = tmp("err");
    write_images(&dir);
    let csv = dir.join("labels.csv");
    std::fs::write(&csv, "filename,label\na.png,LCA\nmissing.png,RCA\n").unwrap();
    assert!(matches!(
        load_image_folder(&dir, &csv, 8, None),
        Err(AngioError::MissingFile(_))
    ));
    std::fs::write(&csv, "filename,label\na.png,LAD\n").unwrap();
    let e = load_image_folder(&dir, &csv, 8, Some(&["LCA", "RCA"]));
    assert!(matches!(e, Err(AngioError::UnknownLabel { .. })), "{e:?}");
    std::fs::write(dir.join("notes.png"), "this is text").unwrap();
    std::fs::write(&csv, "filename,label\nnotes.png,LCA\n").unwrap();
    assert!(matches!(
        load_image_folder(&dir, &csv, 8, None),
        Err(AngioError::NotAnImage { .. })
    ));
    std::fs::write(&csv, "file,class\na.png,LCA\n").unwrap();
    assert!(matches!(
        load_image_folder(&dir, &csv, 8, None),
        Err(AngioError::Csv { .. })
    ));
    std::fs::write(&csv, "filename,label\n").unwrap();
    assert!(matches!(
        load_image_folder(&dir, &csv, 8, None),
        Err(AngioError::Csv { .. })
    ));
    assert!(matches!(
        load_image_folder(&dir, &dir.join("nope.csv"), 8, None),
        Err(AngioError::MissingFile(_))
    ));
    assert!(matches!(
        load_image_folder(&dir, &csv, 0, None),
        Err(AngioError::InvalidParameter(_))
    ));
    std::fs::remove_dir_all(&dir).ok();
}

/// Real DICOM files (shipped by pydicom, see tests/data/README.md) in a labelled folder: each
/// frame becomes one sample with its file's label; a PNG in the same folder still loads.
#[test]
fn dicom_files_in_a_labelled_folder() {
    let dir = tmp("dicom");
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    std::fs::copy(data.join("CT_small.dcm"), dir.join("ct.dcm")).unwrap();
    // No extension: detected by the DICM marker.
    std::fs::copy(data.join("SC_rgb_rle_2frame.dcm"), dir.join("cine")).unwrap();
    write_images(&dir);
    std::fs::write(
        dir.join("labels.csv"),
        "filename,label\nct.dcm,LCA\ncine,RCA\nb.png,LCA\n",
    )
    .unwrap();
    let ds = load_image_folder(&dir, &dir.join("labels.csv"), 32, None).unwrap();
    assert_eq!(
        ds.labels,
        vec![0, 1, 1, 0],
        "1 CT frame, 2 cine frames, 1 PNG"
    );
    assert_eq!(ds.images.len(), 4 * 32 * 32);
    assert!(ds.images.iter().all(|v| (0.0..=1.0).contains(v)));
    let ct = &ds.images[..32 * 32];
    let (lo, hi) = ct
        .iter()
        .fold((1f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(hi - lo > 0.3, "a real CT frame, not a constant: {lo}..{hi}");
    std::fs::remove_dir_all(&dir).ok();
}
