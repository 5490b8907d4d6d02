//! Streaming from a dataset's shards (issue #32), on in-process nodes with `file://` stores:
//!
//! - a dataset of three uneven shards, trained by a node that streams it (range reads, a
//!   read-ahead of about two batches), gives the same weight bytes as the same job on a node
//!   that loads it into memory; the job answers `data_bytes_read`, exactly the headers once and
//!   every row once per epoch (nothing read twice, no shard read whole);
//! - `POST /v1/models/{id}/predict/{dataset}` streams the dataset in batches of the predict
//!   limit and answers the bytes of predicting the same rows in the same batches in memory.

use std::time::Duration;

use more_core::wire::{self, AnyTensor, Bundle, DecodeLimits};
use more_secret_key::SecretKey;
use serde_json::{json, Value};

use crate::server_common::{encrypted_two_class, settings, start, Api, TestServer};

const FEATURES: usize = 6;
/// Rows of each of the three shards (uneven: batches cross shard boundaries).
const SHARD_ROWS: [usize; 3] = [40, 25, 35];
const EPOCHS: usize = 2;
const BATCH: usize = 16;
/// The nodes' predict batch limit: a streamed prediction reads the dataset in batches of it.
const PREDICT_BATCH: usize = 32;

/// One shard's body: a wire bundle of the two encrypted tensors.
fn bundle(x: &[u8], y: &[u8]) -> Vec<u8> {
    let decode = |b: &[u8]| wire::decode(b, &DecodeLimits::default()).expect("wire tensor");
    wire::encode_bundle(&Bundle {
        metadata: json!({}),
        tensors: vec![
            ("features".into(), decode(x)),
            ("targets".into(), decode(y)),
        ],
    })
}

/// A node whose jobs load up to `in_memory_max_bytes` into memory and stream larger data.
fn node(dir: &std::path::Path, in_memory_max_bytes: u64, read_ahead_bytes: u64) -> TestServer {
    let mut s = settings(dir);
    s.max_predict_batch = PREDICT_BATCH;
    s.job_data = more_server::jobs::DataSettings {
        in_memory_max_bytes,
        read_ahead_bytes,
    };
    start(s)
}

/// Uploads the shards as one dataset; its id.
fn upload(api: &Api, shards: &[(Vec<u8>, Vec<u8>)]) -> String {
    let (s, ds) = api.post_json(
        "/v1/datasets",
        &json!({"name": "streamed", "task": "classification", "num_classes": 2}),
    );
    assert_eq!(s, 201, "{ds}");
    let id = ds["id"].as_str().expect("id").to_string();
    for (k, (x, y)) in shards.iter().enumerate() {
        let path = format!("/v1/datasets/{id}/shards?index={k}");
        let (s, body) = api.post_bytes(&path, &bundle(x, y));
        assert_eq!(s, 200, "shard {k}: {}", String::from_utf8_lossy(&body));
    }
    id
}

/// Trains a fresh model on the dataset to completion; the trained weights bundle's tensors as
/// wire bytes, by name, and the job's answer.
fn train(api: &Api, dataset: &str) -> (Vec<(String, Vec<u8>)>, Value) {
    let (tensors, job, _) = train_model(api, dataset);
    (tensors, job)
}

/// As [`train`], with the trained model's id.
fn train_model(api: &Api, dataset: &str) -> (Vec<(String, Vec<u8>)>, Value, String) {
    let spec = json!({"input_shape": [FEATURES], "layers": [{"type": "dense", "units": 8},
        {"type": "relu"}, {"type": "dense", "units": 2}]});
    let (s, m) = api.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 3}));
    assert_eq!(s, 201, "{m}");
    let model = m["id"].as_str().expect("id");
    let body = json!({"model_id": model, "dataset_id": dataset, "epochs": EPOCHS,
        "batch_size": BATCH, "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9},
        "loss": "mse", "seed": 9});
    let (s, job) = api.post_json("/v1/jobs", &body);
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_str().expect("id");
    let done: Value = api.wait_job(id, Duration::from_secs(60), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    assert_eq!(done["state"], "completed", "{done}");
    let (s, bytes) = api.get(&format!("/v1/models/{model}/weights"));
    assert_eq!(s, 200);
    let bundle = wire::decode_bundle(&bytes, &DecodeLimits::default()).expect("bundle");
    let tensors = bundle
        .tensors
        .into_iter()
        .map(|(name, t): (String, AnyTensor)| (name, t.encode()))
        .collect();
    (tensors, done, model.to_string())
}

#[test]
fn a_streamed_multi_shard_dataset_trains_to_the_in_memory_weight_bytes() {
    let key = SecretKey::from_seed(32);
    let shards: Vec<(Vec<u8>, Vec<u8>)> = SHARD_ROWS
        .iter()
        .enumerate()
        .map(|(k, &rows)| encrypted_two_class(&key, 40 + k as u64, rows, FEATURES))
        .collect();
    let stored: usize = shards.iter().map(|(x, y)| x.len() + y.len()).sum();

    let memory_dir = tempfile::tempdir().expect("tempdir");
    let memory = node(memory_dir.path(), u64::MAX, 0);
    let (in_memory, job) = train(&memory, &upload(&memory, &shards));
    assert!(job.get("data_bytes_read").is_none(), "{job}");
    memory.stop();

    // A batch of 16 rows is 16·(6 + 2)·2 planes·4 B = 1 KiB decoded: about two batches ahead.
    let stream_dir = tempfile::tempdir().expect("tempdir");
    let streaming = node(stream_dir.path(), 0, 2100);
    let (streamed, job) = train(&streaming, &upload(&streaming, &shards));
    streaming.stop();

    assert_eq!(streamed.len(), in_memory.len());
    for ((name, a), (other, b)) in streamed.iter().zip(&in_memory) {
        assert_eq!(name, other);
        assert!(
            a == b,
            "{name}: the streamed weights differ from the in-memory ones"
        );
    }
    // Each epoch reads every row once (its features' and targets' two planes), the headers
    // once (each blob's 24-byte prefix, then its whole 72-byte header): nothing twice, no
    // shard whole.
    let rows: usize = SHARD_ROWS.iter().sum();
    let payload = (rows * (FEATURES + 2) * 2 * 4 * EPOCHS) as u64;
    let headers = (SHARD_ROWS.len() * 2 * (24 + 72)) as u64;
    eprintln!(
        "stored {stored} B; streamed {} for {EPOCHS} epochs",
        job["data_bytes_read"]
    );
    assert_eq!(job["data_bytes_read"], json!([payload + headers]), "{job}");
}

/// The rows of every shard's features as one tensor, cut into `PREDICT_BATCH`-row wire tensors.
fn feature_batches(shards: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    use more_core::tensor::{Compact, PlanarTensor};
    let typed = |b: &[u8]| wire::decode_as::<f32, Compact>(b, &DecodeLimits::default()).unwrap();
    let parts: Vec<PlanarTensor<f32, Compact>> = shards.iter().map(|(x, _)| typed(x)).collect();
    let all = PlanarTensor::concatenate(0, &parts).expect("one basis");
    let n = all.shape()[0];
    (0..n)
        .step_by(PREDICT_BATCH)
        .map(|s| wire::encode(&all.slice_axis(0, s, (s + PREDICT_BATCH).min(n)).unwrap()))
        .collect()
}

/// Prediction over a stored dataset (`POST /v1/models/{id}/predict/{dataset}`), streamed from
/// its shards in batches of the predict limit, is the bytes of predicting the same rows, in the
/// same batches, sent in the request body; the streamed reads are the rows of the dataset once.
#[test]
fn prediction_streamed_from_the_shards_equals_prediction_in_memory() {
    let key = SecretKey::from_seed(33);
    let shards: Vec<(Vec<u8>, Vec<u8>)> = SHARD_ROWS
        .iter()
        .enumerate()
        .map(|(k, &rows)| encrypted_two_class(&key, 50 + k as u64, rows, FEATURES))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let api = node(dir.path(), 0, 2100);
    let dataset = upload(&api, &shards);
    let (_, _, model) = train_model(&api, &dataset);

    let (s, streamed) = api.post_bytes(&format!("/v1/models/{model}/predict/{dataset}"), &[]);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&streamed));
    let mut parts = Vec::new();
    for body in feature_batches(&shards) {
        let (s, out) = api.post_bytes(&format!("/v1/models/{model}/predict"), &body);
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&out));
        parts.push(
            wire::decode_as::<f32, more_core::tensor::Compact>(&out, &DecodeLimits::default())
                .unwrap(),
        );
    }
    let in_memory = wire::encode(&more_core::tensor::PlanarTensor::concatenate(0, &parts).unwrap());
    let rows: usize = SHARD_ROWS.iter().sum();
    let out = wire::decode(&streamed, &DecodeLimits::default()).expect("wire tensor");
    assert_eq!(out.shape(), &[rows, 2]);
    assert!(
        streamed == in_memory,
        "the streamed outputs differ from the in-memory ones"
    );

    let (s, v) = api.post_bytes(
        &format!("/v1/models/{model}/predict/{}", "0".repeat(32)),
        &[],
    );
    assert_eq!(s, 404, "{}", String::from_utf8_lossy(&v));
    api.stop();
}
