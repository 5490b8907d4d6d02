//! The `more-client` binary against a real compute node (the `more-server` application on a free
//! loopback port, in this process): key new → upload CSV → train → status → predict → decrypted
//! model download, compared with a plaintext run of the same model, data and seeds; and the
//! documented exit codes for bad inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Plain, PlanarTensor};
use more_data_owner::data::{self, Task};
use ndarray::{ArrayD, IxDyn};

mod common;

use common::Node;

const PASS: &str = "correct horse battery staple";

fn cli(args: &[&str], pass: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_more-client"));
    c.args(args).env_remove("MORE_TOKEN");
    match pass {
        Some(p) => c.env("MORE_PASSPHRASE", p),
        None => c.env_remove("MORE_PASSPHRASE"),
    };
    c.output().expect("run more-client")
}

fn ok(args: &[&str]) -> String {
    let out = cli(args, Some(PASS));
    assert!(
        out.status.success(),
        "more-client {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn code(args: &[&str], pass: Option<&str>) -> (i32, String) {
    let out = cli(args, pass);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// 120 patients: age, blood pressure, cholesterol, BMI, a non-numeric sex column (not a
/// feature), and an outcome that depends on them.
fn clinical_csv() -> String {
    let mut s = String::from("patient,age,sex,systolic_bp,cholesterol,bmi,outcome\n");
    for i in 0..120u32 {
        let age = 30 + (i * 37) % 50;
        let bp = 100 + (i * 53) % 70;
        let chol = 150 + (i * 29) % 120;
        let bmi = 18.0 + f64::from((i * 17) % 20) * 0.7;
        let risk = f64::from(age) / 80.0 + f64::from(bp) / 170.0 + bmi / 32.0;
        let outcome = if risk > 2.2 { "disease" } else { "healthy" };
        let sex = if i % 2 == 0 { "F" } else { "M" };
        s += &format!("P{i},{age},{sex},{bp},{chol},{bmi:.1},{outcome}\n");
    }
    s
}

fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no `{name}` line in {stdout}"))
}

fn read_csv(path: &Path) -> Vec<Vec<f32>> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    r.records()
        .map(|rec| rec.unwrap().iter().map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// The first `k` columns of every CSV row equal the plaintext outputs (row-major, `k` per row)
/// within 1e-3 relative: the f32 rounding of the encrypted run and of decryption.
fn assert_outputs_close(rows: &[Vec<f32>], plain: &[f32], k: usize, what: &str) {
    assert_eq!(rows.len() * k, plain.len(), "{what} rows");
    for (i, (row, want)) in rows.iter().zip(plain.chunks(k)).enumerate() {
        for (a, b) in row[..k].iter().zip(want) {
            assert!(
                (a - b).abs() < 1e-3 * b.abs().max(1.0),
                "{what} row {i}: {row:?} vs {want:?}"
            );
        }
    }
}

fn p(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn full_flow_equals_a_plaintext_run() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let key = p(dir.path(), "k.morekey");
    let csv_path = p(dir.path(), "patients.csv");
    std::fs::write(&csv_path, clinical_csv()).unwrap();
    let (key_s, csv_s) = (key.to_str().unwrap(), csv_path.to_str().unwrap());

    let fp = ok(&["key", "new", "--out", key_s]);
    assert_eq!(fp.trim().len(), 16);
    assert_eq!(ok(&["key", "fingerprint", "--key", key_s]), fp);

    let test_csv = p(dir.path(), "test.csv");
    let ds = ok(&[
        "upload",
        "--key",
        key_s,
        "--node",
        &node.url,
        "--csv",
        csv_s,
        "--target",
        "outcome",
        "--test-out",
        test_csv.to_str().unwrap(),
    ]);
    let ds = ds.trim();
    assert!(!ds.is_empty());

    let (epochs, batch, lr, seed) = (3usize, 8usize, 0.1f64, 7u64);
    let trained = ok(&[
        "train",
        "--node",
        &node.url,
        "--dataset",
        ds,
        "--epochs",
        "3",
        "--batch",
        "8",
        "--lr",
        "0.1",
        "--key",
        key_s,
    ]);
    let (model_id, job_id) = (field(&trained, "model"), field(&trained, "job"));
    assert_eq!(field(&trained, "state"), "completed");
    let status = ok(&[
        "status", "--node", &node.url, "--job", job_id, "--key", key_s,
    ]);
    assert_eq!(field(&status, "state"), "completed");
    assert_eq!(field(&status, "epoch"), "3/3");
    let enc_losses: Vec<f32> = field(&status, "losses")
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(field(&trained, "losses"), field(&status, "losses"));

    let predict = |source: [&str; 2], name: &str| {
        let out = p(dir.path(), name);
        let (url, out_s) = (&node.url, out.to_str().unwrap());
        ok(&[
            "predict", "--key", key_s, "--node", url, "--model", model_id, source[0], source[1],
            "--out", out_s,
        ]);
        out
    };
    let preds = predict(["--input", test_csv.to_str().unwrap()], "preds.csv");
    // The stored training dataset predicted on the node from its shards (issue #32's route).
    let stored_preds = predict(["--dataset", ds], "stored.csv");
    let model_file = p(dir.path(), "m.safetensors");
    ok(&[
        "model",
        "download",
        "--node",
        &node.url,
        "--model",
        model_id,
        "--decrypt",
        "--key",
        key_s,
        "--out",
        model_file.to_str().unwrap(),
    ]);

    // The plaintext run: the same parsing, preset, initial weights, configuration and seeds.
    let table = data::table_from_csv(&clinical_csv(), &["outcome".into()], None, "p").unwrap();
    assert_eq!(
        table.notes.len(),
        2,
        "patient and sex left out: {:?}",
        table.notes
    );
    let split = table.split;
    assert_eq!(split.train.task, Task::Classification);
    let (train, test) = (&split.train, &split.test);
    // The page's model for tables, which `train` picks by default for a table.
    let spec = ModelSpec::preset("table_mlp", &train.feature_shape, train.target_dim).unwrap();
    let model = Model::<f32, Plain>::new(&spec, Plain, 0).unwrap();
    let config = TrainConfig::new(
        epochs,
        batch,
        OptimizerSpec::Sgd {
            learning_rate: lr,
            momentum: 0.0,
        },
        LossKind::CrossEntropy,
        seed,
    );
    let tensor = |v: &[f32], shape: Vec<usize>| {
        PlanarTensor::plain(ArrayD::from_shape_vec(IxDyn(&shape), v.to_vec()).unwrap())
    };
    let x = tensor(&train.x, vec![train.rows(), train.width()]);
    let y = tensor(&train.y, vec![train.rows(), train.target_dim]);
    let mut trainer = Trainer::new(model, config).unwrap();
    let plain_losses: Vec<f32> = trainer
        .fit(&x, &y, &mut NoObserver)
        .unwrap()
        .iter()
        .map(|l| l.values()[0])
        .collect();
    for (e, p) in enc_losses.iter().zip(&plain_losses) {
        assert!(
            (e - p).abs() < 1e-3 * p.abs().max(1.0),
            "losses {enc_losses:?} vs {plain_losses:?}"
        );
    }
    let model = trainer.into_model();
    let out = model
        .forward(&tensor(&test.x, vec![test.rows(), test.width()]))
        .unwrap();
    let plain_out: Vec<f32> = out.values().iter().copied().collect();

    let rows = read_csv(&preds);
    let k = test.target_dim;
    assert_outputs_close(&rows, &plain_out, k, "test");
    let mut agree = 0;
    for (row, want) in rows.iter().zip(plain_out.chunks(k)) {
        let best = (0..k).fold(0, |b, j| if want[j] > want[b] { j } else { b });
        agree += usize::from(row[k] as usize == best);
    }
    assert_eq!(agree, rows.len(), "the class of every test row agrees");

    // `evaluate`: the clinical report of those predictions (the page's results view in words),
    // counted here from the test CSV's one-hot targets and the predictions' classes.
    let (test_s, preds_s) = (test_csv.to_str().unwrap(), preds.to_str().unwrap());
    let report_json = p(dir.path(), "report.json");
    let text = ok(&[
        "evaluate",
        "--test",
        test_s,
        "--predictions",
        preds_s,
        "--json",
        report_json.to_str().unwrap(),
    ]);
    let truth: Vec<usize> = test
        .y
        .chunks(k)
        .map(|y| (0..k).fold(0, |b, j| if y[j] > y[b] { j } else { b }))
        .collect();
    let predicted: Vec<usize> = rows.iter().map(|r| r[k] as usize).collect();
    let count = |f: &dyn Fn(usize, usize) -> bool| {
        truth
            .iter()
            .zip(&predicted)
            .filter(|(t, p)| f(**t, **p))
            .count()
    };
    let positive = k - 1; // the default: the last class
    let correct = count(&|t, p| t == p);
    let true_positives = count(&|t, p| t == positive && p == positive);
    let positives = count(&|t, _| t == positive);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_json).unwrap()).unwrap();
    assert_eq!(report["accuracy"]["numerator"], correct);
    assert_eq!(report["accuracy"]["denominator"], truth.len());
    assert_eq!(report["binary"]["sensitivity"]["numerator"], true_positives);
    assert_eq!(report["binary"]["sensitivity"]["denominator"], positives);
    let names = test.class_names.clone().unwrap();
    assert_eq!(report["classNames"], serde_json::json!(names));
    assert!(
        text.contains(&format!(
            "accuracy: {:.1} % ({correct}/{})",
            100.0 * correct as f64 / truth.len() as f64,
            truth.len()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("positive class: {}", names[positive])),
        "{text}"
    );
    assert!(text.contains("AUC: "), "{text}");
    // A class the test set does not have, and predictions of another file: bad input (3).
    let evaluate = |extra: &[&str]| {
        let mut args = vec!["evaluate", "--test", test_s, "--predictions"];
        args.extend(extra);
        code(&args, None)
    };
    let (c, err) = evaluate(&[preds_s, "--positive", "no such class"]);
    assert_eq!(c, 3, "{err}");
    assert!(err.contains("not a class of"), "{err}");
    let (c, err) = evaluate(&[stored_preds.to_str().unwrap()]);
    assert_eq!(c, 3, "{err}");
    assert!(err.contains("not its predictions"), "{err}");

    // `predict --dataset`: every training row, in the uploaded order, as the plaintext model.
    let stored = read_csv(&stored_preds);
    let plain_train = model
        .forward(&tensor(&train.x, vec![train.rows(), train.width()]))
        .unwrap();
    let plain_train: Vec<f32> = plain_train.values().iter().copied().collect();
    assert_outputs_close(&stored, &plain_train, k, "stored");

    // The decrypted model equals the plaintext-trained model.
    let bytes = std::fs::read(&model_file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, t) in model.parameters() {
        let view = st.tensor(&name).unwrap();
        assert_eq!(view.shape(), t.shape());
        let dec: Vec<f32> = view
            .data()
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        for (a, b) in dec.iter().zip(t.values().iter()) {
            assert!((a - b).abs() < 1e-3, "{name}: {a} vs {b}");
        }
    }
}

#[test]
fn bad_inputs_give_the_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let key = p(dir.path(), "k.morekey");
    let key_s = key.to_str().unwrap();
    ok(&["key", "new", "--out", key_s]);

    // 2: usage.
    assert_eq!(code(&["upload"], Some(PASS)).0, 2);
    assert_eq!(code(&["frobnicate"], Some(PASS)).0, 2);
    // 4: key exists, wrong passphrase, no passphrase (no terminal).
    assert_eq!(code(&["key", "new", "--out", key_s], Some(PASS)).0, 4);
    let (c, err) = code(&["key", "fingerprint", "--key", key_s], Some("wrong"));
    assert_eq!(c, 4, "{err}");
    let (c, err) = code(&["key", "fingerprint", "--key", key_s], None);
    assert_eq!(c, 4, "{err}");
    assert!(err.contains("MORE_PASSPHRASE"), "{err}");
    // 4: a file that is not a key file.
    let junk = p(dir.path(), "junk.morekey");
    std::fs::write(&junk, b"not a key").unwrap();
    assert_eq!(
        code(
            &["key", "fingerprint", "--key", junk.to_str().unwrap()],
            Some(PASS)
        )
        .0,
        4
    );
    // 1: no such key file.
    assert_eq!(
        code(
            &["key", "fingerprint", "--key", "/nonexistent/k"],
            Some(PASS)
        )
        .0,
        1
    );

    // 3: bad data, found before anything is sent (the node URL is never contacted).
    let upload = |data: &[&str]| {
        let head = ["upload", "--key", key_s, "--node", "http://127.0.0.1:9"];
        code(&[&head[..], data].concat(), Some(PASS))
    };
    let bad = |name: &str, text: &str, target: &str| {
        let f = p(dir.path(), name);
        std::fs::write(&f, text).unwrap();
        upload(&["--csv", f.to_str().unwrap(), "--target", target])
    };
    let (c, err) = bad("ragged.csv", "a,b,y\n1,2,x\n3,4\n", "y");
    assert_eq!(c, 3, "{err}");
    assert!(err.contains("row 3 has 2 fields"), "{err}");
    let (c, err) = bad("one.csv", "a,y\n1,x\n2,x\n3,x\n4,x\n5,x\n", "y");
    assert_eq!(c, 3, "{err}");
    assert!(err.contains("only one distinct value"), "{err}");
    let (c, err) = bad("t.csv", "a,y\n1,x\n2,z\n", "nope");
    assert_eq!((c, err.contains("not found")), (3, true), "{err}");
    let (c, err) = bad("few.csv", "a,y\n1,x\n2,z\n3,x\n", "y");
    assert_eq!((c, err.contains("Only 3 usable rows")), (3, true), "{err}");
    let png = p(dir.path(), "scan.csv");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0").unwrap();
    let (c, err) = upload(&["--csv", png.to_str().unwrap(), "--target", "y"]);
    assert_eq!((c, err.contains("it is a PNG image")), (3, true), "{err}");
    let idx = p(dir.path(), "images-idx3-ubyte");
    std::fs::write(&idx, b"\x00\x00\x08\x03\x00\x00\x00\x02").unwrap();
    let (c, err) = upload(&["--idx", idx.to_str().unwrap()]);
    assert_eq!(c, 3, "{err}");

    // 5: nothing listens on port 9.
    let good = p(dir.path(), "good.csv");
    std::fs::write(&good, clinical_csv()).unwrap();
    let (c, err) = upload(&["--csv", good.to_str().unwrap(), "--target", "outcome"]);
    assert_eq!(c, 5, "{err}");

    // 6: the node refuses (unknown dataset, unknown model); 8: plaintext from the node.
    let node = Node::start(&dir.path().join("node"));
    let (c, err) = code(
        &["train", "--node", &node.url, "--dataset", "nope"],
        Some(PASS),
    );
    assert_eq!(c, 6, "{err}");
    assert!(err.contains("not_found"), "{err}");
    let model: serde_json::Value = {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let body = serde_json::json!({"name": "m", "preset": "regression_mlp",
            "input_shape": [4], "outputs": 1});
        let text = agent
            .post(&format!("{}/v1/models", node.url))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    // 7: a diverging run ends failed (learning rate 1e9, the most the node accepts).
    let ds = ok(&[
        "upload",
        "--key",
        key_s,
        "--node",
        &node.url,
        "--csv",
        good.to_str().unwrap(),
        "--target",
        "outcome",
    ]);
    let (c, err) = code(
        &[
            "train",
            "--node",
            &node.url,
            "--dataset",
            ds.trim(),
            "--lr",
            "1e9",
            "--batch",
            "8",
            "--key",
            key_s,
        ],
        Some(PASS),
    );
    assert_eq!(c, 7, "{err}");
    assert!(err.contains("diverging"), "{err}");
    let id = model["id"].as_str().unwrap();
    let (c, err) = code(
        &[
            "model",
            "download",
            "--node",
            &node.url,
            "--model",
            id,
            "--decrypt",
            "--key",
            key_s,
            "--out",
            p(dir.path(), "m.st").to_str().unwrap(),
        ],
        Some(PASS),
    );
    assert_eq!(
        c, 8,
        "untrained weights are plaintext, never 'decrypted': {err}"
    );
    assert!(err.contains("plaintext"), "{err}");
}

/// PNG images in a folder with a labels CSV: uploaded, trained, predicted; a missing image is a
/// data error (exit code 3) found before anything is sent.
#[test]
fn image_folder_upload() {
    let dir = tempfile::tempdir().unwrap();
    let imgs = dir.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    let mut labels = String::from("filename,label\n");
    for i in 0..20u32 {
        let bright = i % 2 == 0;
        let img = image::GrayImage::from_fn(12, 12, |x, y| {
            let base = if bright { 200 } else { 40 };
            image::Luma([(base + (x * 3 + y * 5 + i) % 30) as u8])
        });
        img.save(imgs.join(format!("img{i}.png"))).unwrap();
        labels += &format!("img{i}.png,{}\n", if bright { "bright" } else { "dark" });
    }
    let labels_csv = dir.path().join("labels.csv");
    std::fs::write(&labels_csv, &labels).unwrap();
    let key = p(dir.path(), "k.morekey");
    let key_s = key.to_str().unwrap();
    ok(&["key", "new", "--out", key_s]);
    let node = Node::start(&dir.path().join("node"));
    let test_csv = p(dir.path(), "test.csv");
    let ds = ok(&[
        "upload",
        "--key",
        key_s,
        "--node",
        &node.url,
        "--images",
        imgs.to_str().unwrap(),
        "--labels",
        labels_csv.to_str().unwrap(),
        "--size",
        "8",
        "--test-out",
        test_csv.to_str().unwrap(),
    ]);
    let trained = ok(&[
        "train",
        "--node",
        &node.url,
        "--dataset",
        ds.trim(),
        "--epochs",
        "2",
        "--batch",
        "4",
        "--key",
        key_s,
    ]);
    assert_eq!(field(&trained, "state"), "completed");
    let preds = p(dir.path(), "preds.csv");
    ok(&[
        "predict",
        "--key",
        key_s,
        "--node",
        &node.url,
        "--model",
        field(&trained, "model"),
        "--input",
        test_csv.to_str().unwrap(),
        "--out",
        preds.to_str().unwrap(),
    ]);
    assert_eq!(
        read_csv(&preds).len(),
        4,
        "20 files, the last 20 % of the shuffle are the test part"
    );

    std::fs::write(&labels_csv, labels + "missing.png,dark\n").unwrap();
    let (c, err) = code(
        &[
            "upload",
            "--key",
            key_s,
            "--node",
            "http://127.0.0.1:9",
            "--images",
            imgs.to_str().unwrap(),
            "--labels",
            labels_csv.to_str().unwrap(),
        ],
        Some(PASS),
    );
    // A file the labels name but the folder lacks is skipped with a note (the data rules' one
    // rule for folders, more_data_owner::data); the upload then goes on to the (absent) node.
    assert_eq!(c, 5, "{err}");
    assert!(
        err.contains("note:") && err.contains("missing.png"),
        "{err}"
    );
}

/// The bearer token (`--token`, else `MORE_TOKEN`) is sent as `Authorization: Bearer`: a
/// one-request listener records the request and answers 404.
#[test]
fn token_is_sent_as_bearer() {
    use std::io::{Read, Write};
    for (args, env) in [
        (vec!["--token", "from-flag"], None),
        (vec![], Some("from-env")),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let body = r#"{"error":"not_found","message":"no such dataset"}"#;
            let resp = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).unwrap();
            String::from_utf8_lossy(&req).to_lowercase()
        });
        let mut c = Command::new(env!("CARGO_BIN_EXE_more-client"));
        c.args(["train", "--node", &url, "--dataset", "d1"])
            .args(&args);
        match env {
            Some(t) => c.env("MORE_TOKEN", t),
            None => c.env_remove("MORE_TOKEN"),
        };
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(6));
        let req = server.join().unwrap();
        let want = format!("authorization: bearer {}", env.unwrap_or("from-flag"));
        assert!(req.contains("get /v1/datasets/d1 "), "{req}");
        assert!(req.contains(&want), "{req}");
    }
}
