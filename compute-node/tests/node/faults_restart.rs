//! A node killed (SIGKILL) mid-job and restarted under its own `--node-name` takes its job back
//! at once, far within the lease, finishes it with the weights of an uninterrupted run, and
//! trains new jobs (issue #27, finding 9: the new process used to heartbeat as the dead one, so
//! the job stayed `running` and new jobs `queued`). And a `failed` job resumes from its last
//! checkpoint (finding 11: it was 409).

use crate::faults_common;

use std::time::{Duration, Instant};

use crate::faults_common::{
    encrypted, finished, queue_job, reference, trains_a_new_job, wait_job, JobShape, FEATURES,
    SAMPLES,
};
use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::upload_dataset;
use serde_json::json;

const SHAPE: JobShape = JobShape {
    hidden: 16,
    epochs: 8,
};
/// The lease: a takeover by lease would take this long.
const LEASE_SECONDS: u64 = 60;

fn node(dir: &std::path::Path) -> NodeConfig {
    NodeConfig::new(dir).arg(&[
        "--node-name",
        "worker-1",
        "--job-lease-seconds",
        &LEASE_SECONDS.to_string(),
    ])
}

#[test]
fn a_node_restarted_under_its_name_takes_its_job_back_at_once() {
    let expected = reference(SHAPE);
    let dir = tempfile::tempdir().expect("tempdir");
    // Epochs paced at 400 ms so that the kill lands mid-job.
    let first = NodeProcess::start(&node(dir.path()).env("MORE_FAULT_DELAY", "epoch_stored:400"));
    let (model, job) = queue_job(&first, SHAPE);
    wait_job(&first, &job, Duration::from_secs(60), |j| {
        j["epoch"].as_u64() >= Some(2)
    });
    first.kill9();

    let restarted = Instant::now();
    let second = NodeProcess::start(&node(dir.path()));
    let done = finished(&second, &job, Duration::from_secs(LEASE_SECONDS / 3));
    let took = restarted.elapsed();
    eprintln!("restart to completion: {took:?} (lease {LEASE_SECONDS} s)");
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["epoch"], SHAPE.epochs);
    let log = second.log_text();
    assert!(
        log.contains("tasks of this node's earlier worker back in the queue"),
        "the restarted node did not reclaim its task:\n{log}"
    );
    faults_common::assert_like(&second, &model, &expected);
    trains_a_new_job(&second, Duration::from_secs(30));
}

/// A job that diverges ends `failed` once; `resume` queues it again (its error cleared) and it
/// continues from its last checkpoint, diverging at the same epoch again (training is
/// deterministic), not from epoch 0.
#[test]
fn a_failed_job_resumes_from_its_last_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(&node(dir.path()));
    let (x, y) = encrypted();
    let ds = upload_dataset(&node, "classification", Some(2), &x, &y);
    let spec = json!({"input_shape": [FEATURES], "layers": [
        {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 2}]});
    let (s, model) = node.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 4}));
    assert_eq!(s, 201, "{model}");
    let (s, job) = node.post_json(
        "/v1/jobs",
        &json!({"model_id": model["id"], "dataset_id": ds, "epochs": 50,
            "batch_size": SAMPLES / 4,
            "optimizer": {"type": "sgd", "learning_rate": 1.5, "momentum": 0.9},
            "loss": "mse", "seed": 8}),
    );
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_str().expect("id");
    let failed = finished(&node, id, Duration::from_secs(60));
    assert_eq!(failed["state"], "failed", "{failed}");
    let epoch = failed["epoch"].as_u64().expect("epoch");
    assert!(
        epoch >= 1,
        "diverged before a checkpoint; raise the learning rate: {failed}"
    );
    eprintln!("failed at epoch {epoch}: {}", failed["error"]);

    let (s, resumed) = node.post_empty(&format!("/v1/jobs/{id}/resume"));
    assert_eq!(s, 202, "{resumed}");
    assert_eq!(resumed["state"], "queued", "{resumed}");
    assert!(resumed["error"].is_null(), "{resumed}");
    let again = finished(&node, id, Duration::from_secs(60));
    assert_eq!(again["state"], "failed", "{again}");
    assert_eq!(again["epoch"], epoch, "{again}");
    assert_eq!(again["error"], failed["error"]);
    let log = node.log_text();
    let claimed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("job claimed") && l.contains(id))
        .collect();
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    assert!(
        claimed[1].contains(&format!("epoch={epoch}")),
        "{claimed:?}"
    );
}
