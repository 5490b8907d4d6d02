//! The lab's experiments on small subsets, through the library: fields of the report and the
//! agreement between plaintext and encrypted runs.

use clap::Parser;

use more_node::lab::{experiment, ExperimentArgs, ExperimentReport};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Experiment(ExperimentArgs),
}

fn run(args: &[&str]) -> ExperimentReport {
    let mut argv = vec!["more-node", "experiment"];
    argv.extend_from_slice(args);
    let Command::Experiment(a) = Cli::try_parse_from(argv).expect("valid arguments").command;
    experiment(a).expect("experiment runs")
}

fn check_classification(r: &ExperimentReport) {
    for a in &r.architectures {
        let (p, e) = (a.plaintext.accuracy.unwrap(), a.encrypted.accuracy.unwrap());
        assert!((0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&e));
        // Every differing prediction must be explained: agreement >= 0.99 or all near-ties.
        assert!(
            a.agreement >= 0.99 || a.near_ties == a.differing_count,
            "{}: agreement {} with {} differing, {} near-ties",
            a.name,
            a.agreement,
            a.differing_count,
            a.near_ties
        );
        assert_eq!(a.losses.plaintext.len(), a.losses.encrypted_decrypted.len());
        assert!(a.ciphertext_bytes > 0 && a.time_ratio > 0.0);
    }
}

/// f32 planes in matrix form: close agreement, every difference explained.
#[test]
fn mnist_quick_f32_matrix_form() {
    let r = run(&[
        "mnist",
        "--quick",
        "--quiet",
        "--arch",
        "mnist_mlp",
        "--precision",
        "f32",
        "--representation",
        "matrix",
    ]);
    check_classification(&r);
    assert!(r.architectures[0].max_weight_difference < 1e-3);
}

#[test]
fn mnist_quick_json_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("mnist.json");
    let r = run(&[
        "mnist",
        "--quick",
        "--quiet",
        "--arch",
        "mnist_mlp",
        "--json",
        json.to_str().unwrap(),
    ]);
    check_classification(&r);
    let a = &r.architectures[0];
    assert_eq!(
        a.plaintext.accuracy, a.encrypted.accuracy,
        "mlp: identical accuracy"
    );
    // f64 (the default): the encrypted run reproduces the plaintext run to rounding.
    assert_eq!(a.agreement, 1.0, "every prediction identical");
    assert!(
        a.max_weight_difference < 1e-9,
        "{}",
        a.max_weight_difference
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for field in [
        "experiment",
        "dataset",
        "architectures",
        "study",
        "machine",
        "date",
        "plaintext",
        "encrypted",
        "agreement",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    assert!(v["plaintext"]["accuracy"].is_number() && v["plaintext"]["train_seconds"].is_number());
    assert!(v["architectures"][0]["losses"]["encrypted_decrypted"].is_array());
    assert!(dir.path().join("mnist.md").exists());
    assert!(dir.path().join("mnist-loss.png").exists());
}

#[test]
fn csv_regression_quick() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    let mut text = String::from("a,b,c,y\n");
    for i in 0..200 {
        let (a, b, c) = (
            (i % 17) as f32 / 17.0,
            (i % 5) as f32,
            ((i * 7) % 23) as f32 * 0.1,
        );
        text.push_str(&format!("{a},{b},{c},{}\n", 2.0 * a - 0.5 * b + c * c));
    }
    std::fs::write(&csv, text).unwrap();
    let r = run(&[
        "csv",
        "--file",
        csv.to_str().unwrap(),
        "--target",
        "y",
        "--quick",
        "--quiet",
        "--epochs",
        "5",
    ]);
    let a = &r.architectures[0];
    let (p, e) = (a.plaintext.rmse.unwrap(), a.encrypted.rmse.unwrap());
    assert!((p - e).abs() <= 1e-3 * p.max(1e-9), "rmse {p} vs {e}");
    assert!(a.agreement >= 0.99);
    // Bad column: a clear error.
    let Command::Experiment(args) = Cli::try_parse_from([
        "more-node",
        "experiment",
        "csv",
        "--file",
        csv.to_str().unwrap(),
        "--target",
        "nope",
        "--quiet",
    ])
    .unwrap()
    .command;
    let err = experiment(args).unwrap_err().to_string();
    assert!(err.contains("Target column \"nope\" not found"), "{err}");
}

#[test]
fn wbc_quick() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("wbc.json");
    let r = run(&[
        "wbc",
        "--quick",
        "--patients",
        "200",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let a = &r.architectures[0];
    let (p, e) = (a.plaintext.rmse.unwrap(), a.encrypted.rmse.unwrap());
    assert!((p - e).abs() <= 1e-3 * p, "rmse {p} vs {e}");
    assert_eq!(
        a.plaintext.per_output.as_ref().unwrap().len(),
        more_hemodynamics::output_column_names().len()
    );
    assert!(dir.path().join("wbc-scatter.png").exists());
    assert!(dir.path().join("wbc-200.csv").exists());
}

#[test]
fn angio_quick() {
    let r = run(&["angio", "--quick", "--quiet"]);
    check_classification(&r);
    assert_eq!(r.dataset["classes"].as_array().unwrap().len(), 2);
    assert!(r.architectures[0].confusion_matrix.is_some());
}

/// Real-format input: a folder of real DICOM files (pydicom's test files, one of them a 2-frame
/// cine) and PNG images with a labels CSV runs through the same encrypted pipeline.
#[test]
fn angio_from_a_folder_of_dicom_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/angiography/tests/data");
    let mut csv = String::from("filename,label\n");
    for i in 0..3 {
        std::fs::copy(
            data.join("CT_small.dcm"),
            dir.path().join(format!("ct{i}.dcm")),
        )
        .unwrap();
        csv.push_str(&format!("ct{i}.dcm,LCA\n"));
        std::fs::copy(
            data.join("SC_rgb_rle_2frame.dcm"),
            dir.path().join(format!("sc{i}.dcm")),
        )
        .unwrap();
        csv.push_str(&format!("sc{i}.dcm,RCA\n"));
    }
    for i in 0..12u32 {
        let img = image::GrayImage::from_fn(40, 40, |x, y| {
            image::Luma([((x * (i + 1) + y * 3) % 256) as u8])
        });
        img.save(dir.path().join(format!("p{i}.png"))).unwrap();
        csv.push_str(&format!(
            "p{i}.png,{}\n",
            if i % 2 == 0 { "LCA" } else { "RCA" }
        ));
    }
    std::fs::write(dir.path().join("labels.csv"), csv).unwrap();
    let folder = dir.path().to_str().unwrap().to_string();
    let labels = dir.path().join("labels.csv").to_str().unwrap().to_string();
    let r = run(&[
        "angio", "--quick", "--quiet", "--folder", &folder, "--labels", &labels, "--size", "16",
    ]);
    check_classification(&r);
    let counts = &r.dataset["class_counts"];
    let per_class: Vec<u64> = (0..2)
        .map(|k| counts["train"][k].as_u64().unwrap() + counts["test"][k].as_u64().unwrap())
        .collect();
    assert_eq!(per_class, [9, 12], "3 CT + 6 cine frames, 12 PNG: {counts}");
    assert_eq!(r.architectures[0].agreement, 1.0);
}
