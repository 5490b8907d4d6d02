//! Concurrent clients against one node (in process, real SQLite and blob files, `max_jobs: 2`):
//! many threads released together by a `Barrier` race on job creation, resume, cancel, deletes
//! and uploads. The database's constraints (one active job per model, immutable datasets once a
//! job references them, compare-and-swap updates) must give every race one consistent outcome:
//! one winner, 409 `{error, message}` for the others, no lost cancel, no job of a deleted model
//! left queued, and never a 5xx.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{settings, start, upload_dataset, Api};
use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Epochs of a job meant to outlive the test (cancelled at its end).
const LONG: usize = 10_000;
/// Epochs of a job meant to finish within a second or so.
const SHORT: usize = 3;
const SAMPLES: usize = 200;
const FEATURES: usize = 8;

/// One node training up to two jobs at once, and the test data encrypted under one key.
struct Node {
    api: Api,
    /// The node, in process or as a process; stopped when dropped.
    _server: Box<dyn std::any::Any>,
    _dir: tempfile::TempDir,
    key: SecretKey,
}

impl std::ops::Deref for Node {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

fn node() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = settings(dir.path());
    st.max_jobs = 2;
    let server = start(st);
    Node {
        api: server.api.clone(),
        _server: Box::new(server),
        _dir: dir,
        key: SecretKey::from_seed(5),
    }
}

/// A `more-node` process that pauses for `ms` milliseconds at the fault point `point`.
fn paused_node(point: &str, ms: u64) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = NodeConfig::new(dir.path()).env("MORE_FAULT_DELAY", &format!("{point}:{ms}"));
    let server = NodeProcess::start(&config);
    Node {
        api: server.api.clone(),
        _server: Box::new(server),
        _dir: dir,
        key: SecretKey::from_seed(5),
    }
}

impl Node {
    /// Encrypted (features, targets); `variant` changes the features' values, not their shape.
    fn data(&self, variant: u64) -> (Vec<u8>, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(variant);
        let x = Array2::from_shape_fn((SAMPLES, FEATURES), |_| rng.random_range(-1.0f32..1.0));
        let y = Array2::from_shape_fn((SAMPLES, 2), |(i, j)| f32::from(u8::from(i % 2 == j)));
        let sh = ShadowDistribution::default();
        let enc = |a: Array2<f32>, rng: &mut ChaCha8Rng| {
            wire::encode(&self.key.encrypt_compact(&a.into_dyn(), &sh, rng).unwrap())
        };
        (enc(x, &mut rng), enc(y, &mut rng))
    }

    fn dataset(&self) -> String {
        let (x, y) = self.data(0);
        upload_dataset(self, "classification", Some(2), &x, &y)
    }

    fn model(&self) -> String {
        let spec = json!({"input_shape": [FEATURES], "layers": [{"type": "dense", "units": 8},
            {"type": "relu"}, {"type": "dense", "units": 2}]});
        let (s, m) = self.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 1}));
        assert_eq!(s, 201, "{m}");
        m["id"].as_str().unwrap().to_string()
    }

    /// `POST /v1/jobs`, checked to be no 5xx.
    fn create_job(&self, model: &str, ds: &str, epochs: usize) -> (u16, Value) {
        let body = json!({"model_id": model, "dataset_id": ds, "epochs": epochs,
            "batch_size": 4, "optimizer": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.0},
            "loss": "mse", "seed": 3});
        no_5xx(self.post_json("/v1/jobs", &body))
    }

    /// A job that was queued; panics otherwise.
    fn queued_job(&self, model: &str, ds: &str, epochs: usize) -> String {
        let (s, job) = self.create_job(model, ds, epochs);
        assert_eq!(s, 202, "{job}");
        job["id"].as_str().unwrap().to_string()
    }

    /// Waits until the job is neither queued nor running; returns it.
    fn settled(&self, id: &str) -> Value {
        self.wait_job(id, Duration::from_secs(60), |j| !active(j))
    }

    /// Cancels a job (if still active) and waits until it has stopped.
    fn stop(&self, id: &str) -> Value {
        no_5xx(self.post_empty(&format!("/v1/jobs/{id}/cancel")));
        self.settled(id)
    }

    /// Every job of `model`.
    fn jobs_of(&self, model: &str) -> Vec<Value> {
        let (s, jobs) = no_5xx(self.get_json("/v1/jobs"));
        assert_eq!(s, 200);
        jobs.as_array()
            .unwrap()
            .iter()
            .filter(|j| j["model_id"] == model)
            .cloned()
            .collect()
    }
}

fn active(job: &Value) -> bool {
    matches!(job["state"].as_str(), Some("queued" | "running"))
}

/// Asserts an answer is no 5xx, and passes it on.
fn no_5xx<T: std::fmt::Debug>(resp: (u16, T)) -> (u16, T) {
    assert!(resp.0 < 500, "server error: {resp:?}");
    resp
}

/// Asserts a 409 with the API's error body.
fn assert_conflict(resp: &(u16, Value)) {
    let (s, v) = resp;
    assert_eq!(*s, 409, "{v}");
    assert!(v["error"].is_string(), "{v}");
    assert!(v["message"].is_string(), "{v}");
}

/// Runs `f(i)` on `n` threads released together; returns the results in thread order.
fn concurrently<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Exactly one of the answers is `winner`; the others are 409 with an error body.
fn one_winner(answers: &[(u16, Value)], winner: u16) {
    let won = answers.iter().filter(|(s, _)| *s == winner).count();
    assert_eq!(won, 1, "{answers:?}");
    answers
        .iter()
        .filter(|(s, _)| *s != winner)
        .for_each(assert_conflict);
}

#[test]
fn sixteen_concurrent_creates_one_job() {
    let n = node();
    let (ds, model) = (n.dataset(), n.model());
    let api = n.api.clone();
    let (m, d) = (model.clone(), ds.clone());
    let answers = concurrently(16, move |_| {
        let body = json!({"model_id": m, "dataset_id": d, "epochs": LONG, "batch_size": 4,
            "optimizer": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.0}});
        no_5xx(api.post_json("/v1/jobs", &body))
    });
    one_winner(&answers, 202);
    let jobs = n.jobs_of(&model);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0]["id"],
        answers.iter().find(|a| a.0 == 202).unwrap().1["id"]
    );
    n.stop(jobs[0]["id"].as_str().unwrap());
}

/// `threads` concurrent resumes, thread `i` resuming `ids[i % ids.len()]`.
fn resume_race(n: &Node, ids: &[String], threads: usize) -> Vec<(u16, Value)> {
    let (api, ids) = (n.api.clone(), ids.to_vec());
    concurrently(threads, move |i| {
        no_5xx(api.post_empty(&format!("/v1/jobs/{}/resume", ids[i % ids.len()])))
    })
}

#[test]
fn concurrent_resumes_have_one_winner() {
    let n = node();
    let (ds, model) = (n.dataset(), n.model());
    let first = n.queued_job(&model, &ds, LONG);
    assert_eq!(n.stop(&first)["state"], "cancelled");

    // One cancelled job, resumed by 16 threads.
    one_winner(&resume_race(&n, std::slice::from_ref(&first), 16), 202);
    assert_eq!(n.jobs_of(&model).iter().filter(|j| active(j)).count(), 1);
    assert_eq!(n.stop(&first)["state"], "cancelled");

    // Two cancelled jobs of the same model, 8 threads each: only one may become active.
    let second = n.queued_job(&model, &ds, LONG);
    assert_eq!(n.stop(&second)["state"], "cancelled");
    one_winner(&resume_race(&n, &[first.clone(), second.clone()], 16), 202);
    let active_jobs: Vec<Value> = n.jobs_of(&model).into_iter().filter(active).collect();
    assert_eq!(active_jobs.len(), 1, "{active_jobs:?}");
    n.stop(&first);
    n.stop(&second);
}

#[test]
fn cancel_racing_with_start_is_never_lost() {
    let n = node();
    let (ds, model) = (n.dataset(), n.model());
    // Cancels sent right after the create, then later and later into (and past) the short
    // run, so that they land while it is queued, being claimed, training and saving.
    for round in 0..10u64 {
        let id = n.queued_job(&model, &ds, SHORT);
        let (api, job) = (n.api.clone(), id.clone());
        let answers = concurrently(4, move |i| {
            std::thread::sleep(Duration::from_millis(round * 40 + i as u64 * 5));
            no_5xx(api.post_empty(&format!("/v1/jobs/{job}/cancel")))
        });
        let end = n.settled(&id);
        let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
        answers
            .iter()
            .filter(|(s, _)| *s != 200)
            .for_each(assert_conflict);
        if accepted > 0 {
            assert_eq!(
                end["state"], "cancelled",
                "round {round}: a cancel was accepted, the job ended {end}; answers {answers:?}"
            );
        } else {
            assert_eq!(end["state"], "completed", "round {round}: {end}");
        }
    }
}

/// The window the race above hits only by chance, held open: a cancel accepted after the last
/// epoch, while the trained weights are being stored, must still end the job `cancelled` (and
/// leave the model untrained); a resume then completes it.
#[test]
fn cancel_while_weights_are_stored_is_never_lost() {
    let n = paused_node("weights_stored", 1500);
    let (ds, model) = (n.dataset(), n.model());
    let id = n.queued_job(&model, &ds, SHORT);
    // All epochs recorded while still running: only the trained weights are left to store.
    let last_epoch_done = |j: &Value| !active(j) || j["epoch"] == SHORT;
    let running = n.wait_job(&id, Duration::from_secs(60), last_epoch_done);
    assert_eq!(running["state"], "running", "{running}");
    let (s, answer) = n.post_empty(&format!("/v1/jobs/{id}/cancel"));
    assert_eq!(s, 200, "{answer}");
    let end = n.settled(&id);
    assert_eq!(end["state"], "cancelled", "{end}");
    let (s, m) = n.get_json(&format!("/v1/models/{model}"));
    assert_eq!((s, &m["trained_epochs"]), (200, &json!(0)), "{m}");

    let (s, answer) = n.post_empty(&format!("/v1/jobs/{id}/resume"));
    assert_eq!(s, 202, "{answer}");
    assert_eq!(n.settled(&id)["state"], "completed");
    let (_, m) = n.get_json(&format!("/v1/models/{model}"));
    assert_eq!(m["trained_epochs"], SHORT, "{m}");
}

/// The outcome of a job create racing with a delete of its model or dataset.
fn create_vs_delete(n: &Node, model: &str, ds: &str, delete: &str) -> ((u16, Value), u16) {
    let (api, m, d, del) = (
        n.api.clone(),
        model.to_string(),
        ds.to_string(),
        delete.to_string(),
    );
    let mut answers = concurrently(2, move |i| {
        if i == 0 {
            let body = json!({"model_id": m, "dataset_id": d, "epochs": LONG, "batch_size": 4,
                "optimizer": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.0}});
            no_5xx(api.post_json("/v1/jobs", &body))
        } else {
            no_5xx(api.delete(&del))
        }
    });
    let deleted = answers.pop().unwrap().0;
    (answers.pop().unwrap(), deleted)
}

/// Either the job was created and the delete refused (409), or the delete won (204) and the
/// create failed (404/409); no job of the deleted object stays active.
fn check_create_vs_delete(n: &Node, created: &(u16, Value), deleted: u16, what: &str) {
    match (created.0, deleted) {
        (202, 409) => {
            n.stop(created.1["id"].as_str().unwrap());
        }
        (404 | 409, 204) => {}
        _ => {
            let job = created.1["id"].as_str().map(|id| n.settled(id));
            panic!(
                "inconsistent {what} race: create {created:?}, delete {deleted}; job now {job:?}"
            );
        }
    }
}

#[test]
fn delete_racing_with_job_creation_is_consistent() {
    let n = node();
    for round in 0..12 {
        let (ds, model) = (n.dataset(), n.model());
        let (delete, what) = if round % 2 == 0 {
            (format!("/v1/models/{model}"), "model delete")
        } else {
            (format!("/v1/datasets/{ds}"), "dataset delete")
        };
        let (created, deleted) = create_vs_delete(&n, &model, &ds, &delete);
        check_create_vs_delete(&n, &created, deleted, what);
    }
    let (_, jobs) = n.get_json("/v1/jobs");
    for job in jobs.as_array().unwrap().iter().filter(|j| active(j)) {
        n.stop(job["id"].as_str().unwrap());
    }
}

#[test]
fn uploads_racing_with_job_creation() {
    let n = node();
    let (ds, model) = (n.dataset(), n.model());
    let (_, before) = n.get_json(&format!("/v1/datasets/{ds}"));
    let variants: Vec<Vec<u8>> = (1..=6).map(|v| n.data(v).0).collect();
    let (api, m, d) = (n.api.clone(), model.clone(), ds.clone());
    let answers = concurrently(7, move |i| {
        if i == 0 {
            let body = json!({"model_id": m, "dataset_id": d, "epochs": SHORT, "batch_size": 4,
                "optimizer": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.0}});
            no_5xx(api.post_json("/v1/jobs", &body))
        } else {
            no_5xx(api.put_bytes(&format!("/v1/datasets/{d}/features"), &variants[i - 1]))
        }
    });
    let (created, uploads) = answers.split_first().unwrap();
    assert_eq!(created.0, 202, "{created:?}");
    let job = created.1["id"].as_str().unwrap().to_string();
    let mut stored: BTreeSet<String> = [before["features_sha256"].as_str().unwrap().to_string()]
        .into_iter()
        .collect();
    for (s, v) in uploads {
        match s {
            200 => {
                stored.insert(v["features_sha256"].as_str().unwrap().to_string());
            }
            _ => assert_conflict(&(*s, v.clone())),
        }
    }

    // Once the job exists the dataset is frozen.
    let (x, y) = n.data(9);
    assert_conflict(&n.put_bytes(&format!("/v1/datasets/{ds}/features"), &x));
    assert_conflict(&n.put_bytes(&format!("/v1/datasets/{ds}/targets"), &y));
    let (_, frozen) = n.get_json(&format!("/v1/datasets/{ds}"));

    // The job is pinned to blobs that were uploaded, and the dataset still names them. It reads
    // its features by that SHA-256 (verified on read), so completing means it trained on them.
    let end = n.settled(&job);
    assert_eq!(end["state"], "completed", "{end}");
    let pinned = end["features_sha256"].as_str().unwrap();
    assert!(stored.contains(pinned), "{pinned} was never uploaded");
    assert_eq!(end["targets_sha256"], before["targets_sha256"]);
    assert_eq!(
        frozen["features_sha256"], end["features_sha256"],
        "the dataset changed after the job was created from it"
    );
    no_5xx(n.get(&format!("/v1/jobs/{job}/losses")));
}

#[test]
fn two_models_train_at_once() {
    let n = node();
    let ds = n.dataset();
    let jobs: Vec<String> = (0..2)
        .map(|_| n.queued_job(&n.model(), &ds, LONG))
        .collect();
    let start = Instant::now();
    loop {
        let (_, all) = no_5xx(n.get_json("/v1/jobs"));
        let running = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "running")
            .count();
        if running == 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never both running: {all}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for id in &jobs {
        assert_eq!(n.stop(id)["state"], "cancelled");
    }
}
