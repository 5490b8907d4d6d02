//! Stop the node mid-job, start a new one on the same data directory: the job is `interrupted`,
//! resumes from its checkpoint and ends with the same losses as an uninterrupted plaintext run.

use std::time::{Duration, Instant};

use crate::server_common::{settings, start, upload_dataset};
use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Compact, Plain, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const EPOCHS: usize = 12;

#[test]
fn interrupted_job_resumes_from_checkpoint() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n, f) = (1200, 16);
    let x = Array2::from_shape_fn((n, f), |_| rng.random_range(-1.0f32..1.0));
    let y = Array2::from_shape_fn((n, 2), |(i, j)| {
        let s: f32 = x.row(i).iter().take(4).sum();
        if (s > 0.0) == (j == 0) {
            1.0
        } else {
            0.0
        }
    });
    let key = SecretKey::from_seed(9);
    let sh = ShadowDistribution::default();
    let ex = wire::encode(
        &key.encrypt_compact(&x.clone().into_dyn(), &sh, &mut rng)
            .unwrap(),
    );
    let ey = wire::encode(
        &key.encrypt_compact(&y.clone().into_dyn(), &sh, &mut rng)
            .unwrap(),
    );
    let spec = json!({"input_shape": [f], "layers": [{"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 2}]});
    // MSE + SGD: with softmax cross-entropy on these random inputs the shadow channel of plain
    // SGD diverged (the trainer stops with `Diverged`, as designed). Adam's m/(sqrt(v)+eps) amplifies f32 rounding where v is tiny, so the encrypted and
    // plaintext runs drift apart by ~0.4% in the first epoch; SGD keeps them within 1e-4.
    let optimizer = OptimizerSpec::Sgd {
        learning_rate: 0.02,
        momentum: 0.5,
    };

    let dir = tempfile::tempdir().unwrap();
    let srv = start(settings(dir.path()));
    let ds = upload_dataset(&srv, "classification", Some(2), &ex, &ey);
    let (_, ds_before) = srv.get_json(&format!("/v1/datasets/{ds}"));
    let (s, model) = srv.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 4}));
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().unwrap().to_string();
    let (s, job) = srv.post_json(
        "/v1/jobs",
        &json!({"model_id": model, "dataset_id": ds, "epochs": EPOCHS,
        "batch_size": 4, "optimizer": optimizer, "loss": "mse", "seed": 8}),
    );
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    let running = srv.wait_job(&id, Duration::from_secs(60), |j| {
        j["epoch"].as_u64() >= Some(1) || !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    eprintln!("epoch 1 done after {:?}: {running}", t0.elapsed());
    assert_eq!(
        running["state"], "running",
        "the job ran to its end before the stop; make it longer"
    );
    srv.stop();

    // A new node on the same directory.
    let srv = start(settings(dir.path()));
    let (_, job) = srv.get_json(&format!("/v1/jobs/{id}"));
    assert_eq!(job["state"], "interrupted", "{job}");
    let done_before = job["epoch"].as_u64().unwrap();
    assert!((1..EPOCHS as u64).contains(&done_before), "{job}");
    let (s, job) = srv.post_empty(&format!("/v1/jobs/{id}/resume"));
    assert_eq!(s, 202, "{job}");
    let job = srv.wait_job(&id, Duration::from_secs(120), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["epoch"], EPOCHS);
    eprintln!(
        "resumed after epoch {done_before}, completed after {:?}",
        t0.elapsed()
    );
    let (_, m) = srv.get_json(&format!("/v1/models/{model}"));
    assert_eq!(m["trained_epochs"], EPOCHS);
    let (_, ds_after) = srv.get_json(&format!("/v1/datasets/{ds}"));
    assert_eq!(ds_after, ds_before);

    // Losses: one per epoch, equal to an uninterrupted plaintext run.
    let (s, bytes) = srv.get(&format!("/v1/jobs/{id}/losses"));
    assert_eq!(s, 200);
    let losses = wire::decode(&bytes, &DecodeLimits::default())
        .unwrap()
        .into_typed::<f32, Compact>()
        .unwrap();
    let losses = key.decrypt(&losses).unwrap();
    assert_eq!(losses.len(), EPOCHS);
    let spec: ModelSpec = serde_json::from_value(spec).unwrap();
    let config = TrainConfig::new(EPOCHS, 4, optimizer, LossKind::Mse, 8);
    let mut trainer = Trainer::new(Model::new(&spec, Plain, 4).unwrap(), config).unwrap();
    let (px, py) = (
        PlanarTensor::plain(x.into_dyn()),
        PlanarTensor::plain(y.into_dyn()),
    );
    for (e, enc) in losses.iter().enumerate() {
        let p = trainer
            .train_epoch(&px, &py, &mut NoObserver)
            .unwrap()
            .values()[[0]];
        assert!(
            (enc - p).abs() <= 1e-3 * p.abs().max(1e-2),
            "epoch {e}: encrypted {enc} vs plaintext {p}"
        );
    }
    srv.healthy();
}
