//! Shared parts of the fault tests (`faults_*.rs`): tiny encrypted data, a job on a small MLP,
//! an uninterrupted reference run of the same job, and waits that tolerate a node answering 503
//! while a service it needs is down.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use more_secret_key::SecretKey;
use ndarray::ArrayD;
use serde_json::{json, Value};

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{decrypted_weights, upload_dataset, Api};

/// Samples and features of the test data: one mini-batch per epoch, milliseconds per epoch.
pub const SAMPLES: usize = 64;
/// Features per sample.
pub const FEATURES: usize = 8;

/// The job every fault test runs: the hidden width of its MLP (the size of its checkpoints) and
/// its epochs.
#[derive(Clone, Copy, Debug)]
pub struct JobShape {
    /// Units of the hidden dense layer.
    pub hidden: usize,
    /// Epochs.
    pub epochs: usize,
}

/// The key of the tests' data.
pub fn key() -> SecretKey {
    SecretKey::from_seed(27)
}

/// The test data, encrypted under [`key`]: (features, targets) as wire bytes, the same on
/// every call.
pub fn encrypted() -> (Vec<u8>, Vec<u8>) {
    crate::server_common::encrypted_two_class(&key(), 5, SAMPLES, FEATURES)
}

/// Uploads the data, creates the model and queues its job; returns (model id, job id). SGD with
/// momentum, so that a resume must restore the optimizer's state too.
pub fn queue_job(api: &Api, shape: JobShape) -> (String, String) {
    let (x, y) = encrypted();
    let ds = upload_dataset(api, "classification", Some(2), &x, &y);
    let spec = json!({"input_shape": [FEATURES], "layers": [
        {"type": "dense", "units": shape.hidden}, {"type": "relu"},
        {"type": "dense", "units": 2}]});
    let (s, model) = api.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 4}));
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().expect("id").to_string();
    // Smaller steps for wider layers, which diverge otherwise.
    let learning_rate = 0.05 * (16.0 / shape.hidden as f64).min(1.0);
    let (s, job) = api.post_json(
        "/v1/jobs",
        &json!({"model_id": model, "dataset_id": ds, "epochs": shape.epochs,
            "batch_size": SAMPLES,
            "optimizer": {"type": "sgd", "learning_rate": learning_rate, "momentum": 0.9},
            "loss": "mse", "seed": 8}),
    );
    assert_eq!(s, 202, "{job}");
    (model, job["id"].as_str().expect("id").to_string())
}

/// GET returning (status, JSON or `null`), or `None` when the node did not answer.
pub fn try_get_json(api: &Api, path: &str) -> Option<(u16, Value)> {
    let mut request = api.agent.get(api.url(path));
    if let Some(t) = &api.token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let mut response = request.call().ok()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// Polls the job (every 100 ms, tolerating answers other than 200) until `done(job)`; panics
/// after `timeout`.
pub fn wait_job(api: &Api, job: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    let mut last = Value::Null;
    loop {
        if let Some((200, j)) = try_get_json(api, &format!("/v1/jobs/{job}")) {
            if done(&j) {
                return j;
            }
            last = j;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}; the job: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the job has left `queued`/`running`.
pub fn finished(api: &Api, job: &str, timeout: Duration) -> Value {
    wait_job(api, job, timeout, |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    })
}

/// The same job run without any fault, on a fresh node (SQLite, local store).
pub struct Reference {
    /// The model's `weights_sha256` after the job.
    pub weights_sha256: Value,
    /// The model's decrypted weights.
    pub weights: Vec<(String, ArrayD<f32>)>,
}

/// Runs the job without any fault.
pub fn reference(shape: JobShape) -> Reference {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(&NodeConfig::new(dir.path()));
    let _logs = LogsOnPanic(vec![&node]);
    let (model, job) = queue_job(&node, shape);
    let job = finished(&node, &job, Duration::from_secs(120));
    assert_eq!(job["state"], "completed", "{job}");
    let (_, record) = node.get_json(&format!("/v1/models/{model}"));
    Reference {
        weights_sha256: record["weights_sha256"].clone(),
        weights: decrypted_weights(&node, &key(), &model),
    }
}

/// Asserts the model ended exactly like the reference: the same ciphertext weights (SHA-256)
/// and bit-identical decrypted weights.
pub fn assert_like(api: &Api, model: &str, reference: &Reference) {
    let (s, record) = api.get_json(&format!("/v1/models/{model}"));
    assert_eq!(s, 200, "{record}");
    assert_eq!(record["weights_sha256"], reference.weights_sha256);
    let weights = decrypted_weights(api, &key(), model);
    assert_eq!(weights.len(), reference.weights.len());
    for ((na, ta), (nb, tb)) in weights.iter().zip(&reference.weights) {
        assert_eq!(na, nb);
        assert!(ta == tb, "{na} differs from the uninterrupted run");
    }
}

/// Queues a new job on the node and asserts it completes (the node trains without a manual
/// restart after the fault).
pub fn trains_a_new_job(api: &Api, timeout: Duration) {
    let (_, job) = queue_job(
        api,
        JobShape {
            hidden: 8,
            epochs: 2,
        },
    );
    let job = finished(api, &job, timeout);
    assert_eq!(
        job["state"], "completed",
        "a new job after the fault: {job}"
    );
}

/// Asserts an error body names `service` and no address or path.
pub fn names_only(body: &Value, service: &str, hidden: &[&str]) {
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(service), "{body}");
    for h in hidden {
        assert!(!message.contains(h), "the message shows {h:?}: {body}");
    }
}

/// Prints the last lines of each node's log when the test panics (for the CI log).
pub struct LogsOnPanic<'a>(pub Vec<&'a NodeProcess>);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for node in &self.0 {
            let log = node.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!("---- node on {} (last 60 lines):\n{tail}", node.base);
        }
    }
}
