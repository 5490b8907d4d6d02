//! Jobs with a validation dataset, on a real node: the node stores the encrypted mean validation
//! loss after each epoch, and the key holder's decryption equals the plaintext computation (the
//! same training run and `validation_loss` in this process); a validation dataset under another
//! key, of other shapes or not ready is refused at creation; "stop now, keep what was trained":
//! a cancelled job leaves its model's weights as they were, and `POST /v1/jobs/{id}/keep` gives the
//! model the weights of the job's last completed epoch (equal to the plaintext run's after that
//! many epochs).

use std::time::Duration;

use more_core::nn::{
    validation_loss, LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer,
};
use more_core::tensor::{Compact, Plain, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::server_common::{decrypted_weights, settings, start, upload_dataset, Api};

const FEATURES: usize = 6;
const OPTIMIZER: OptimizerSpec = OptimizerSpec::Sgd {
    learning_rate: 0.1,
    momentum: 0.0,
};

/// Two-class plaintext data: `samples × FEATURES` in [-1, 1), one-hot targets (class 0 when the
/// first three features sum above 0).
fn two_class(seed: u64, samples: usize, features: usize) -> (Array2<f32>, Array2<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((samples, features), |_| rng.random_range(-1.0f32..1.0));
    let y = Array2::from_shape_fn((samples, 2), |(i, j)| {
        let s: f32 = x.row(i).iter().take(3).sum();
        f32::from(u8::from((s > 0.0) == (j == 0)))
    });
    (x, y)
}

/// `(x, y)` encrypted under `key` as wire tensors, uploaded as a classification dataset.
fn upload(api: &Api, key: &SecretKey, x: &Array2<f32>, y: &Array2<f32>, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shadow = ShadowDistribution::default();
    let mut enc = |a: &Array2<f32>| {
        wire::encode(
            &key.encrypt_compact(&a.clone().into_dyn(), &shadow, &mut rng)
                .expect("encrypt"),
        )
    };
    let (ex, ey) = (enc(x), enc(y));
    upload_dataset(api, "classification", Some(2), &ex, &ey)
}

fn create_model(api: &Api) -> String {
    let (s, m) = api.post_json(
        "/v1/models",
        &json!({"name": "m", "preset": "table_mlp", "input_shape": [FEATURES], "outputs": 2,
                "seed": 3}),
    );
    assert_eq!(s, 201, "{m}");
    m["id"].as_str().unwrap().to_string()
}

fn job_body(model: &str, ds: &str, epochs: usize, validation: Option<&str>) -> Value {
    let mut body = json!({"model_id": model, "dataset_id": ds, "epochs": epochs,
        "batch_size": 16, "optimizer": OPTIMIZER, "seed": 5});
    if let Some(v) = validation {
        body["validation_dataset_id"] = v.into();
    }
    body
}

/// A wire tensor of compact ciphertexts from the node, decrypted.
fn decrypt_tensor(key: &SecretKey, bytes: &[u8]) -> ArrayD<f32> {
    let t = wire::decode(bytes, &DecodeLimits::default())
        .unwrap()
        .into_typed::<f32, Compact>()
        .unwrap();
    key.decrypt(&t).unwrap()
}

/// A plaintext trainer of the node's model and job configuration.
fn plain_trainer(epochs: usize) -> Trainer<f32, Plain> {
    let spec = ModelSpec::preset("table_mlp", &[FEATURES], 2).unwrap();
    let config = TrainConfig::new(epochs, 16, OPTIMIZER, LossKind::CrossEntropy, 5);
    Trainer::new(Model::new(&spec, Plain, 3).unwrap(), config).unwrap()
}

fn plain(a: &Array2<f32>) -> PlanarTensor<f32, Plain> {
    PlanarTensor::plain(a.clone().into_dyn())
}

/// Relative agreement of an encrypted run with the plaintext one: 1e-3 (f32 planes whose shadow
/// slot rounds with the message slot, over a few epochs of SGD; as `server_flow`).
fn close(got: f32, want: f32) -> bool {
    (got - want).abs() <= 1e-3 * want.abs().max(1e-2)
}

#[test]
fn validation_losses_decrypt_to_the_plaintext_computation() {
    let key = SecretKey::from_seed(31);
    let (x, y) = two_class(1, 96, FEATURES);
    let (vx, vy) = two_class(2, 40, FEATURES);
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let ds = upload(&srv, &key, &x, &y, 10);
    let val = upload(&srv, &key, &vx, &vy, 11);
    let model = create_model(&srv);
    let (s, job) = srv.post_json("/v1/jobs", &job_body(&model, &ds, 3, Some(&val)));
    assert_eq!(s, 202, "{job}");
    assert_eq!(job["validation_dataset_id"], val.as_str());
    let id = job["id"].as_str().unwrap();
    let job = srv.wait_job(id, Duration::from_secs(60), |j| {
        j["state"] != "queued" && j["state"] != "running"
    });
    assert_eq!(job["state"], "completed", "{job}");
    assert!(job["validation_losses_sha256"].is_string(), "{job}");
    let (s, bytes) = srv.get(&format!("/v1/jobs/{id}/validation_losses"));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
    let got = decrypt_tensor(&key, &bytes);
    assert_eq!(got.shape(), &[3]);

    let mut trainer = plain_trainer(3);
    for (epoch, &g) in got.iter().enumerate() {
        trainer
            .train_epoch(&plain(&x), &plain(&y), &mut NoObserver)
            .unwrap();
        let want = validation_loss(
            trainer.model(),
            LossKind::CrossEntropy,
            &plain(&vx),
            &plain(&vy),
            16,
        )
        .unwrap()
        .values()[[0]];
        assert!(
            close(g, want),
            "epoch {}: decrypted {g} vs plaintext {want}",
            epoch + 1
        );
    }
    // A job without a validation set has no validation losses.
    let (s, plain_job) = srv.post_json("/v1/jobs", &job_body(&model, &ds, 1, None));
    assert_eq!(s, 202, "{plain_job}");
    let (s, e) = srv.get_json(&format!(
        "/v1/jobs/{}/validation_losses",
        plain_job["id"].as_str().unwrap()
    ));
    assert_eq!((s, e["error"].as_str()), (409, Some("conflict")), "{e}");
}

#[test]
fn a_validation_dataset_of_another_key_shape_or_state_is_refused() {
    let key = SecretKey::from_seed(32);
    let (x, y) = two_class(3, 32, FEATURES);
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let ds = upload(&srv, &key, &x, &y, 12);
    let model = create_model(&srv);
    let other_key = upload(&srv, &SecretKey::from_seed(33), &x, &y, 13);
    let (x5, y5) = two_class(4, 32, FEATURES - 1);
    let other_shape = upload(&srv, &key, &x5, &y5, 14);
    let (s, empty) = srv.post_json(
        "/v1/datasets",
        &json!({"name": "e", "task": "classification", "num_classes": 2}),
    );
    assert_eq!(s, 201, "{empty}");
    let cases = [
        (other_key.as_str(), 400, "basis_mismatch"),
        (other_shape.as_str(), 400, "shape_mismatch"),
        (empty["id"].as_str().unwrap(), 409, "conflict"),
        ("0123456789abcdef0123456789abcdef", 404, "not_found"),
    ];
    for (val, status, code) in cases {
        let (s, e) = srv.post_json("/v1/jobs", &job_body(&model, &ds, 1, Some(val)));
        assert_eq!((s, e["error"].as_str()), (status, Some(code)), "{val}: {e}");
        assert!(
            !e["message"].as_str().unwrap().contains('/'),
            "no server path: {e}"
        );
    }
    let (_, jobs) = srv.get_json("/v1/jobs");
    assert_eq!(
        jobs.as_array().unwrap().len(),
        0,
        "nothing was queued: {jobs}"
    );
}

#[test]
fn a_cancelled_job_keeps_the_weights_of_its_last_epoch_on_request() {
    let key = SecretKey::from_seed(34);
    let (x, y) = two_class(5, 256, FEATURES);
    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let ds = upload(&srv, &key, &x, &y, 15);
    let model = create_model(&srv);
    let (s, job) = srv.post_json("/v1/jobs", &job_body(&model, &ds, 10_000, None));
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    srv.wait_job(id, Duration::from_secs(30), |j| {
        j["epoch"].as_u64() >= Some(2)
    });
    let (s, j) = srv.post_empty(&format!("/v1/jobs/{id}/cancel"));
    assert_eq!(s, 200, "{j}");
    let job = srv.wait_job(id, Duration::from_secs(30), |j| j["state"] == "cancelled");
    let epochs = job["epoch"].as_u64().unwrap() as usize;
    assert!((2..10_000).contains(&epochs), "{job}");
    // Cancel alone: the model keeps the weights it had before the job (none trained).
    let (_, m) = srv.get_json(&format!("/v1/models/{model}"));
    assert_eq!(
        (m["trained_epochs"].as_u64(), m["weights_sha256"].is_null()),
        (Some(0), true),
        "{m}"
    );

    let (s, kept) = srv.post_empty(&format!("/v1/jobs/{id}/keep"));
    assert_eq!(s, 200, "{kept}");
    assert_eq!(kept["kept_epochs"].as_u64(), Some(epochs as u64), "{kept}");
    let (_, m) = srv.get_json(&format!("/v1/models/{model}"));
    assert_eq!(m["trained_epochs"].as_u64(), Some(epochs as u64), "{m}");
    let mut trainer = plain_trainer(epochs);
    trainer
        .fit(&plain(&x), &plain(&y), &mut NoObserver)
        .unwrap();
    let want = trainer.model().parameters();
    let got = decrypted_weights(&srv, &key, &model);
    assert_eq!(got.len(), want.len());
    for ((gn, g), (wn, w)) in got.iter().zip(&want) {
        assert_eq!(gn, wn);
        for (a, b) in g.iter().zip(w.values().iter()) {
            assert!(
                (a - b).abs() <= 1e-3 * b.abs().max(0.1),
                "{gn} after {epochs} epochs: {a} vs {b}"
            );
        }
    }
    // Kept once; a job that is not cancelled keeps nothing.
    let (s, e) = srv.post_empty(&format!("/v1/jobs/{id}/keep"));
    assert_eq!(s, 409, "{e}");
    let (_, done) = srv.post_json("/v1/jobs", &job_body(&create_model(&srv), &ds, 1, None));
    let done_id = done["id"].as_str().unwrap();
    srv.wait_job(done_id, Duration::from_secs(30), |j| {
        j["state"] == "completed"
    });
    let (s, e) = srv.post_empty(&format!("/v1/jobs/{done_id}/keep"));
    assert_eq!(s, 409, "{e}");
}
