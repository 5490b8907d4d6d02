//! The node on its production backends: metadata in PostgreSQL and blobs in S3 (a real
//! PostgreSQL 15 cluster and a real SeaweedFS S3 server, both started by the test).
//!
//! - `postgres_and_s3_flow`: one `more-node` process with `--db postgres://... --store s3://...`
//!   trains on encrypted data; the decrypted losses, predictions and weights match the same run
//!   in plaintext; every blob is an S3 object; a second node on the same database and bucket
//!   serves the same weights and predictions byte for byte; a corrupted or missing S3 object is
//!   a 500 JSON error that names no server path or endpoint.
//! - `sqlite_and_postgres_agree`: the same job on the SQLite default and on PostgreSQL ends with
//!   bit-identical decrypted weights and losses.
//!
//! Without PostgreSQL or `weed` the tests print `skipped: ...` and pass, unless
//! `MORE_REQUIRE_SERVICES=1` (CI); `.ci/services-setup` installs both.

use std::path::Path;
use std::time::Duration;

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{decrypted_weights, upload_dataset, Api};
use crate::services::{Postgres, SeaweedS3};
use more_core::nn::{LossKind, Model, ModelSpec, NoObserver, OptimizerSpec, TrainConfig, Trainer};
use more_core::tensor::{Compact, Plain, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

const SAMPLES: usize = 256;
const FEATURES: usize = 8;
const EPOCHS: usize = 2;
const BATCH: usize = 8;
const MODEL_SEED: u64 = 4;
const JOB_SEED: u64 = 8;

/// Plaintext data, its ciphertexts (wire bytes) and the key.
struct Data {
    key: SecretKey,
    x: Array2<f32>,
    y: Array2<f32>,
    ex: Vec<u8>,
    ey: Vec<u8>,
}

/// Two classes: whether the first four features sum to more than zero (one-hot targets).
fn data() -> Data {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_fn((SAMPLES, FEATURES), |_| rng.random_range(-1.0f32..1.0));
    let y = Array2::from_shape_fn((SAMPLES, 2), |(i, j)| {
        let positive = x.row(i).iter().take(4).sum::<f32>() > 0.0;
        f32::from(u8::from(positive == (j == 0)))
    });
    let key = SecretKey::from_seed(9);
    let ex = encrypt(&key, &x, &mut rng);
    let ey = encrypt(&key, &y, &mut rng);
    Data { key, x, y, ex, ey }
}

fn encrypt(key: &SecretKey, a: &Array2<f32>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let shadow = ShadowDistribution::default();
    let c = key.encrypt_compact(&a.clone().into_dyn(), &shadow, rng);
    wire::encode(&c.expect("encrypt"))
}

fn spec() -> Value {
    json!({"input_shape": [FEATURES], "layers": [{"type": "dense", "units": 16}, {"type": "relu"},
        {"type": "dense", "units": 2}]})
}

/// MSE + SGD: keeps the encrypted and the plaintext run within f32 rounding (see server_restart).
fn optimizer() -> OptimizerSpec {
    OptimizerSpec::Sgd {
        learning_rate: 0.02,
        momentum: 0.5,
    }
}

/// Uploads the data, creates the model and trains it; returns (dataset, model, job) ids.
fn train(api: &Api, data: &Data) -> (String, String, String) {
    let ds = upload_dataset(api, "classification", Some(2), &data.ex, &data.ey);
    let body = json!({"name": "m", "spec": spec(), "seed": MODEL_SEED});
    let (s, model) = api.post_json("/v1/models", &body);
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().expect("id").to_string();
    let body = json!({"model_id": model, "dataset_id": ds, "epochs": EPOCHS, "batch_size": BATCH,
        "optimizer": optimizer(), "loss": "mse", "seed": JOB_SEED});
    let (s, job) = api.post_json("/v1/jobs", &body);
    assert_eq!(s, 202, "{job}");
    let job = job["id"].as_str().expect("id").to_string();
    let done = api.wait_job(&job, Duration::from_secs(120), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    assert_eq!(done["state"], "completed", "{done}");
    (ds, model, job)
}

/// The same training in plaintext: (per-epoch losses, trained model).
fn plaintext_run(data: &Data) -> (Vec<f32>, Model<f32, Plain>) {
    let spec: ModelSpec = serde_json::from_value(spec()).expect("spec");
    let config = TrainConfig::new(EPOCHS, BATCH, optimizer(), LossKind::Mse, JOB_SEED);
    let model = Model::new(&spec, Plain, MODEL_SEED).expect("model");
    let mut trainer = Trainer::new(model, config).expect("trainer");
    let px = PlanarTensor::plain(data.x.clone().into_dyn());
    let py = PlanarTensor::plain(data.y.clone().into_dyn());
    let losses = (0..EPOCHS)
        .map(|_| {
            let loss = trainer.train_epoch(&px, &py, &mut NoObserver);
            loss.expect("epoch").values()[[0]]
        })
        .collect();
    (losses, trainer.model().clone())
}

fn decrypt(key: &SecretKey, bytes: &[u8]) -> ArrayD<f32> {
    let t = wire::decode(bytes, &DecodeLimits::default()).expect("wire tensor");
    key.decrypt(&t.into_typed::<f32, Compact>().expect("compact f32"))
        .expect("decrypt")
}

/// Asserts `a` is within f32 rounding of `b` (the encrypted run computes on two planes).
fn assert_close(what: &str, a: &ArrayD<f32>, b: &ArrayD<f32>) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-3 * y.abs().max(1e-2),
            "{what}: encrypted {x} vs plaintext {y}"
        );
    }
}

/// A node on PostgreSQL and S3 (its data dir holds nothing but the unused defaults).
fn node(dir: &Path, pg: &Postgres, s3: &SeaweedS3) -> NodeProcess {
    let mut config = NodeConfig::new(dir).arg(&["--db", &pg.url(), "--store", &s3.bucket_url()]);
    config.env.extend(s3.env());
    NodeProcess::start(&config)
}

#[test]
fn postgres_and_s3_flow() {
    let (Some(pg), Some(s3)) = (Postgres::start(), SeaweedS3::start()) else {
        return;
    };
    let data = data();
    let dir = tempfile::tempdir().expect("tempdir");
    let first = node(&dir.path().join("a"), &pg, &s3);
    let (ds, model, job) = train(&first, &data);
    check_against_plaintext(&first, &data, &model, &job);
    check_blobs_in_s3(&first, &s3, &ds, &model, &job);

    let second = node(&dir.path().join("b"), &pg, &s3);
    let path = format!("/v1/models/{model}/weights");
    assert_eq!(first.get(&path), second.get(&path), "weights differ");
    let predict = format!("/v1/models/{model}/predict");
    let batch = encrypt(&data.key, &data.x, &mut ChaCha8Rng::seed_from_u64(5));
    let (s, out) = first.post_bytes(&predict, &batch);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&out));
    assert_eq!(
        second.post_bytes(&predict, &batch),
        (200, out),
        "predictions differ"
    );
    assert!(
        std::fs::read_dir(dir.path().join("b"))
            .map(|d| d.flatten().all(|e| e.file_name() != "blobs"))
            .unwrap_or(true),
        "the S3 node wrote blobs to its data dir"
    );

    // A node that has not read the weights yet: the others keep the verified bytes they read in
    // their weights cache and go on serving those.
    let third = node(&dir.path().join("c"), &pg, &s3);
    check_broken_objects(&third, &s3, &model, dir.path());
    first.healthy();
    check_audit_log_append_only(&pg);
}

/// Both nodes wrote their requests to the audit log, and PostgreSQL refuses to change it.
fn check_audit_log_append_only(pg: &Postgres) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&pg.url()).await.expect("connect");
        let (entries,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert!(entries > 10, "{entries} audit entries");
        for sql in [
            "UPDATE audit_log SET status = 200",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ] {
            let e = sqlx::query(sql).execute(&pool).await.expect_err(sql);
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
    });
}

/// Decrypted losses, predictions and weights equal the plaintext run's (within f32 rounding).
fn check_against_plaintext(api: &Api, data: &Data, model: &str, job: &str) {
    let (plain_losses, plain_model) = plaintext_run(data);
    let (s, bytes) = api.get(&format!("/v1/jobs/{job}/losses"));
    assert_eq!(s, 200);
    let losses = ArrayD::from_shape_vec(vec![EPOCHS], plain_losses).expect("shape");
    assert_close("losses", &decrypt(&data.key, &bytes), &losses);

    let batch = encrypt(&data.key, &data.x, &mut ChaCha8Rng::seed_from_u64(6));
    let (s, out) = api.post_bytes(&format!("/v1/models/{model}/predict"), &batch);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&out));
    let plain_out = plain_model.forward(&PlanarTensor::plain(data.x.clone().into_dyn()));
    assert_close(
        "predictions",
        &decrypt(&data.key, &out),
        plain_out.expect("forward").values(),
    );

    let weights = decrypted_weights(api, &data.key, model);
    let plain = plain_model.parameters();
    assert_eq!(weights.len(), plain.len());
    for ((name, w), (plain_name, p)) in weights.iter().zip(&plain) {
        assert_eq!(name, plain_name);
        assert_close(name, w, p.values());
    }
}

/// The dataset, checkpoint, losses and weights blobs are objects `blobs/{sha256}` in the bucket.
fn check_blobs_in_s3(api: &Api, s3: &SeaweedS3, ds: &str, model: &str, job: &str) {
    let (_, ds) = api.get_json(&format!("/v1/datasets/{ds}"));
    let (_, model) = api.get_json(&format!("/v1/models/{model}"));
    let (_, job) = api.get_json(&format!("/v1/jobs/{job}"));
    let shas = [
        &ds["features_sha256"],
        &ds["targets_sha256"],
        &model["weights_sha256"],
        &job["checkpoint_sha256"],
        &job["losses_sha256"],
    ];
    for sha in shas {
        let sha = sha
            .as_str()
            .unwrap_or_else(|| panic!("no sha256 in {ds} {model} {job}"));
        assert!(
            s3.has_object(&format!("blobs/{sha}")),
            "blob {sha} not in S3"
        );
    }
}

/// A corrupted, then a missing, weights object: 500 `internal` JSON, no path or endpoint named.
fn check_broken_objects(api: &Api, s3: &SeaweedS3, model: &str, data_dir: &Path) {
    let (_, record) = api.get_json(&format!("/v1/models/{model}"));
    let key = format!("blobs/{}", record["weights_sha256"].as_str().expect("sha"));
    let path = format!("/v1/models/{model}/weights");
    s3.overwrite_object(&key, b"not the weights");
    let corrupt = internal_error(api, &path);
    s3.delete_object(&key);
    let missing = internal_error(api, &path);
    for v in [corrupt, missing] {
        let message = v["message"].as_str().expect("message");
        for secret in [
            data_dir.display().to_string().as_str(),
            "/tmp",
            "127.0.0.1",
            "s3://",
        ] {
            assert!(!message.contains(secret), "message names {secret:?}: {v}");
        }
    }
}

fn internal_error(api: &Api, path: &str) -> Value {
    let (s, v) = api.get_json(path);
    assert_eq!(s, 500, "{v}");
    assert_eq!(v["error"], "internal", "{v}");
    eprintln!("{path}: {v}");
    v
}

#[test]
fn sqlite_and_postgres_agree() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let data = data();
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = NodeProcess::start(&NodeConfig::new(&dir.path().join("sqlite")));
    let postgres = NodeProcess::start(
        &NodeConfig::new(&dir.path().join("postgres")).arg(&["--db", &pg.url()]),
    );
    let (_, model_a, job_a) = train(&sqlite, &data);
    let (_, model_b, job_b) = train(&postgres, &data);
    let losses =
        |api: &Api, job: &str| decrypt(&data.key, &api.get(&format!("/v1/jobs/{job}/losses")).1);
    assert_eq!(losses(&sqlite, &job_a), losses(&postgres, &job_b));
    assert_eq!(
        decrypted_weights(&sqlite, &data.key, &model_a),
        decrypted_weights(&postgres, &data.key, &model_b)
    );
}
