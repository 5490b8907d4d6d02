//! Crash recovery of the real `more-node` binary (SQLite and blob files in a tempdir, no mocks).
//!
//! A node is crashed (the `MORE_FAULT_POINT` abort, or SIGKILL) at the points where a blob is
//! durable but no row names it yet: during and after an upload, between two epochs, and after the
//! final weights. A new node on the same directory must then answer every request (never a 5xx),
//! show the state from before the crash, take running jobs over by itself after the lease, end
//! them with exactly the weights of an uninterrupted run, and garbage-collect what the crash left.

use crate::server_common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{upload_dataset, Api};
use more_core::tensor::Compact;
use more_core::wire::{self, DecodeLimits};
use more_secret_key::SecretKey;
use ndarray::ArrayD;
use serde_json::{json, Value};

/// Training epochs of the crash-between-epochs jobs.
const EPOCHS: usize = 4;
/// Samples and features of the test data (small: each job trains in well under a second).
const SAMPLES: usize = 200;
const FEATURES: usize = 8;
/// GC grace, in seconds. Not 0: the collector compares whole seconds (`modified <= now - grace`),
/// so with 0 it may remove a blob the node itself wrote this second, between the blob's put and
/// the commit of the row that names it (a race of the test's own re-uploads and takeovers with
/// the collector, not of the crash). 1 s still collects every orphan within ~2 s.
const GC_GRACE: &str = "1";

/// A node on `dir` with a short lease and a fast GC, optionally armed with a fault point.
fn node(dir: &Path, fault: Option<&str>) -> NodeProcess {
    let mut config = NodeConfig::new(dir).arg(&[
        "--job-lease-seconds",
        "2",
        "--gc-interval-seconds",
        "1",
        "--gc-grace-seconds",
        GC_GRACE,
    ]);
    if let Some(f) = fault {
        config = config.env("MORE_FAULT_POINT", f);
    }
    NodeProcess::start(&config)
}

/// The test data, encrypted: (features, targets) as wire bytes, the same on every call.
fn encrypted(key: &SecretKey, seed: u64) -> (Vec<u8>, Vec<u8>) {
    server_common::encrypted_two_class(key, seed, SAMPLES, FEATURES)
}

/// An empty classification dataset; returns its id.
fn new_dataset(api: &Api) -> String {
    let (s, ds) = api.post_json(
        "/v1/datasets",
        &json!({"name": "crash", "task": "classification", "num_classes": 2}),
    );
    assert_eq!(s, 201, "{ds}");
    ds["id"].as_str().expect("id").to_string()
}

/// Uploads the data, creates the model and queues its job; returns (model id, job id).
/// SGD with momentum, so that a resume must also restore the optimizer's state to match.
fn queue_job(api: &Api, key: &SecretKey, job_seed: u64) -> (String, String) {
    let (x, y) = encrypted(key, 1);
    let ds = upload_dataset(api, "classification", Some(2), &x, &y);
    let spec = json!({"input_shape": [FEATURES], "layers": [{"type": "dense", "units": 8},
        {"type": "relu"}, {"type": "dense", "units": 2}]});
    let (s, model) = api.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 4}));
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().expect("id").to_string();
    let (s, job) = api.post_json(
        "/v1/jobs",
        &json!({"model_id": model, "dataset_id": ds, "epochs": EPOCHS, "batch_size": 16,
            "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9}, "loss": "mse",
            "seed": job_seed}),
    );
    assert_eq!(s, 202, "{job}");
    (model, job["id"].as_str().expect("id").to_string())
}

/// Waits until the job has left `queued`/`running`; returns it.
fn finished(api: &Api, job: &str) -> Value {
    api.wait_job(job, Duration::from_secs(60), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    })
}

/// The decrypted tensors of the model's weights bundle, by name.
fn decrypted_weights(api: &Api, key: &SecretKey, model: &str) -> Vec<(String, ArrayD<f32>)> {
    let (s, bytes) = api.get(&format!("/v1/models/{model}/weights"));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
    let bundle = wire::decode_bundle(&bytes, &DecodeLimits::default()).expect("bundle");
    bundle
        .tensors
        .into_iter()
        .map(|(name, t)| {
            let t = t.into_typed::<f32, Compact>().expect("compact f32");
            (name, key.decrypt(&t).expect("decrypt"))
        })
        .collect()
}

/// The same job run without any crash.
struct Reference {
    /// The model's record after the job.
    model: Value,
    /// The job's record at its end.
    job: Value,
    /// The model's decrypted weights.
    weights: Vec<(String, ArrayD<f32>)>,
}

/// Runs the job without any crash, on a fresh node in another tempdir.
fn uninterrupted(key: &SecretKey, job_seed: u64) -> Reference {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = node(dir.path(), None);
    let (model, job) = queue_job(&n, key, job_seed);
    let job = finished(&n, &job);
    assert_eq!(job["state"], "completed", "{job}");
    let (_, record) = n.get_json(&format!("/v1/models/{model}"));
    Reference {
        weights: decrypted_weights(&n, key, &model),
        model: record,
        job,
    }
}

/// Asserts the crashed-and-resumed job ended exactly like the uninterrupted one: same ciphertext
/// weights and losses (same SHA-256), same decrypted weights.
fn assert_like_uninterrupted(api: &Api, key: &SecretKey, model: &str, job: &Value) {
    let reference = uninterrupted(key, 8);
    let (_, record) = api.get_json(&format!("/v1/models/{model}"));
    assert_eq!(record["trained_epochs"], EPOCHS);
    assert_eq!(record["weights_sha256"], reference.model["weights_sha256"]);
    assert_eq!(job["losses_sha256"], reference.job["losses_sha256"]);
    assert_same_weights(&decrypted_weights(api, key, model), &reference.weights);
}

/// Asserts two decrypted weight sets are bit-identical.
///
/// Bit equality, not a tolerance: a resumed job restores the parameters, the optimizer state
/// (momentum) and the step counter from its checkpoint bundle, shuffles epoch `e` from the same
/// `(seed, e)`, and the encrypted arithmetic is deterministic, so the resumed run performs the
/// same f32 operations in the same order on the same ciphertexts as the uninterrupted one (the
/// ciphertext weights blobs even have the same SHA-256, asserted by the callers).
fn assert_same_weights(a: &[(String, ArrayD<f32>)], b: &[(String, ArrayD<f32>)]) {
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        let max = ta
            .iter()
            .zip(tb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            ta == tb,
            "{na} differs from the uninterrupted run by up to {max}"
        );
    }
}

/// A PUT that may get no response (the node dies during it): `None` on a transport error.
fn try_put(api: &Api, path: &str, bytes: &[u8]) -> Option<u16> {
    api.agent
        .put(api.url(path))
        .header("content-type", "application/octet-stream")
        .send(bytes)
        .ok()
        .map(|r| r.status().as_u16())
}

/// Names of the files under `dir/sub` (recursively; empty when it does not exist).
fn files_under(dir: &Path, sub: &str) -> BTreeSet<String> {
    fn walk(p: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&dir.join(sub), &mut out);
    out
}

/// Every blob SHA-256 that a dataset, model or job names (as the API shows them).
fn referenced(api: &Api) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for list in ["/v1/datasets", "/v1/models", "/v1/jobs"] {
        let (s, v) = api.get_json(list);
        assert_eq!(s, 200, "{list}: {v}");
        for item in v.as_array().expect("array") {
            for (k, sha) in item.as_object().expect("object") {
                if let (true, Some(sha)) = (k.ends_with("_sha256"), sha.as_str()) {
                    out.insert(sha.to_string());
                }
            }
        }
    }
    out
}

/// Polls `cond` every 100 ms; panics with `what` after `timeout`.
fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `DATA_DIR/blobs` holds exactly the referenced blobs and `staging/` is empty.
fn wait_collected(api: &Api, dir: &Path) {
    wait_until(Duration::from_secs(10), "garbage collection", || {
        files_under(dir, "blobs") == referenced(api) && files_under(dir, "staging").is_empty()
    });
}

/// Reads every object the node lists (and its blobs): all 200, or 409 for the losses of a job
/// without a finished epoch, never a 5xx.
fn no_server_error(api: &Api) {
    api.healthy();
    let (_, datasets) = api.get_json("/v1/datasets");
    let (_, models) = api.get_json("/v1/models");
    let (_, jobs) = api.get_json("/v1/jobs");
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|o| o["id"].as_str().expect("id").to_string())
            .collect()
    };
    let mut paths = vec![];
    paths.extend(ids(&datasets).iter().map(|i| format!("/v1/datasets/{i}")));
    for m in ids(&models) {
        paths.push(format!("/v1/models/{m}"));
        paths.push(format!("/v1/models/{m}/weights"));
    }
    for j in ids(&jobs) {
        paths.push(format!("/v1/jobs/{j}"));
        paths.push(format!("/v1/jobs/{j}/losses"));
    }
    for p in paths {
        let (s, body) = api.get(&p);
        assert!(
            s == 200 || (s == 409 && p.ends_with("/losses")),
            "{p}: {s} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// Crash after an upload's blob is durable, before the dataset names it: the dataset keeps its
/// state, the orphan blob is collected, and a new upload works.
#[test]
fn crash_after_upload_blob_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(7);
    let (x, y) = encrypted(&key, 1);
    let n = node(dir.path(), Some("upload_stored"));
    let ds = new_dataset(&n);
    let (_, before) = n.get_json(&format!("/v1/datasets/{ds}"));
    let answer = try_put(&n, &format!("/v1/datasets/{ds}/features"), &x);
    assert_eq!(
        answer, None,
        "the upload was answered, so the node did not crash"
    );
    n.wait_exit(Duration::from_secs(30));
    assert_eq!(
        files_under(dir.path(), "blobs").len(),
        1,
        "the fault point fires after the blob is stored"
    );

    let n = node(dir.path(), None);
    let (s, after) = n.get_json(&format!("/v1/datasets/{ds}"));
    assert_eq!(s, 200, "{after}");
    assert_eq!(
        after, before,
        "the dataset changed although the upload crashed"
    );
    assert!(after["features_sha256"].is_null());
    no_server_error(&n);
    wait_collected(&n, dir.path());
    assert!(files_under(dir.path(), "blobs").is_empty());

    let (s, v) = n.put_bytes(&format!("/v1/datasets/{ds}/features"), &x);
    assert_eq!(s, 200, "{v}");
    let (s, v) = n.put_bytes(&format!("/v1/datasets/{ds}/targets"), &y);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "ready");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(files_under(dir.path(), "blobs"), referenced(&n));
    assert_eq!(files_under(dir.path(), "blobs").len(), 2);
    no_server_error(&n);
}

/// Starts a PUT of `body` over a raw connection, sends only its first half and returns the open
/// connection (the node waits for the rest).
fn half_sent_put(api: &Api, path: &str, body: &[u8]) -> std::net::TcpStream {
    let addr = api.base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).expect("send head");
    for chunk in body[..body.len() / 2].chunks(4096) {
        conn.write_all(chunk).expect("send body");
        conn.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(2));
    }
    conn
}

/// Node killed (SIGKILL) in the middle of an upload body: the dataset is unchanged and the
/// restarted node answers everything.
#[test]
fn kill_during_upload_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(7);
    let (x, y) = encrypted(&key, 1);
    let (x2, _) = encrypted(&key, 2);
    let n = node(dir.path(), None);
    let ds = upload_dataset(&n, "classification", Some(2), &x, &y);
    let (_, before) = n.get_json(&format!("/v1/datasets/{ds}"));
    let conn = half_sent_put(&n, &format!("/v1/datasets/{ds}/features"), &x2);
    // The node has validated the header and opened its staging object: the upload is under way.
    wait_until(Duration::from_secs(10), "staging object", || {
        !files_under(dir.path(), "staging").is_empty()
    });
    n.kill9();
    drop(conn);

    let n = node(dir.path(), None);
    let (s, after) = n.get_json(&format!("/v1/datasets/{ds}"));
    assert_eq!(s, 200, "{after}");
    assert_eq!(after, before, "a killed upload changed the dataset");
    no_server_error(&n);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(files_under(dir.path(), "blobs"), referenced(&n));
    no_server_error(&n);
}

/// What a killed upload leaves in `staging/` is collected by GC.
#[test]
fn kill_during_upload_body_staging_is_collected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(7);
    let (x, y) = encrypted(&key, 1);
    let n = node(dir.path(), None);
    let ds = new_dataset(&n);
    let conn = half_sent_put(&n, &format!("/v1/datasets/{ds}/features"), &x);
    wait_until(Duration::from_secs(10), "staging object", || {
        !files_under(dir.path(), "staging").is_empty()
    });
    n.kill9();
    drop(conn);

    let n = node(dir.path(), None);
    wait_collected(&n, dir.path());
    upload_dataset(&n, "classification", Some(2), &x, &y);
    no_server_error(&n);
}

/// What a crashed job left, as an API-only node shows it.
struct Wreck {
    job_id: String,
    model_id: String,
    /// The job's record after the crash.
    job: Value,
    /// The model's record after the crash.
    model: Value,
}

/// Runs the job with a fault point armed until the node aborts, then looks at the wreck through
/// an API-only node (`--max-jobs 0`, which never takes a job over): the job is still `running`
/// on the dead node, and nothing answers 5xx.
fn crash_job(dir: &Path, key: &SecretKey, fault: &str) -> Wreck {
    let n = node(dir, Some(fault));
    let (model_id, job_id) = queue_job(&n, key, 8);
    n.wait_exit(Duration::from_secs(60));
    let viewer = NodeProcess::start(&NodeConfig::new(dir).arg(&["--max-jobs", "0"]));
    let (s, job) = viewer.get_json(&format!("/v1/jobs/{job_id}"));
    assert_eq!(s, 200, "{job}");
    assert_eq!(
        job["state"], "running",
        "the crashed job is left running: {job}"
    );
    let (_, model) = viewer.get_json(&format!("/v1/models/{model_id}"));
    no_server_error(&viewer);
    viewer.kill9();
    Wreck {
        job_id,
        model_id,
        job,
        model,
    }
}

/// Crash after epoch 2's checkpoint blob is stored, before the job names it: a restarted node
/// takes the job over after the lease (no API call), resumes from epoch 1's checkpoint and ends
/// with exactly the weights of an uninterrupted run.
#[test]
fn crash_between_epochs_resumes_to_same_weights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(7);
    let wreck = crash_job(dir.path(), &key, "epoch_stored:2");
    assert_eq!(wreck.job["epoch"], 1, "epoch 2 was recorded: {}", wreck.job);
    let (model, job) = (wreck.model_id, wreck.job_id);
    let n = node(dir.path(), None);

    let j = finished(&n, &job);
    assert_eq!(j["state"], "completed", "{j}");
    assert_eq!(j["epoch"], EPOCHS);
    // Resumed from the checkpoint of epoch 1, not retrained from scratch (which, being
    // deterministic, would reach the same weights).
    assert_eq!(n.epochs_done(&job), (2..=EPOCHS).collect::<Vec<_>>());
    assert_like_uninterrupted(&n, &key, &model, &j);
    no_server_error(&n);
    wait_collected(&n, dir.path());
}

/// Crash after the final weights blob is stored, before the model names it: the job is taken
/// over, completes, and the model's weights equal the uninterrupted run's; every blob the rows
/// name is readable and verified.
#[test]
fn crash_after_weights_stored_completes_with_same_weights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(7);
    let wreck = crash_job(dir.path(), &key, "weights_stored");
    assert_eq!(wreck.job["epoch"], EPOCHS, "{}", wreck.job);
    assert!(wreck.model["weights_sha256"].is_null(), "{}", wreck.model);
    assert_eq!(wreck.model["trained_epochs"], 0);
    let (model, job) = (wreck.model_id, wreck.job_id);
    let n = node(dir.path(), None);

    let j = finished(&n, &job);
    assert_eq!(j["state"], "completed", "{j}");
    // Every epoch was checkpointed before the crash: the takeover trains none again.
    assert_eq!(n.epochs_done(&job), Vec::<usize>::new());
    assert_like_uninterrupted(&n, &key, &model, &j);
    // GET /weights and /losses verify the blob against its SHA-256 (500 if missing or corrupt).
    no_server_error(&n);
    wait_collected(&n, dir.path());
    no_server_error(&n);
}
