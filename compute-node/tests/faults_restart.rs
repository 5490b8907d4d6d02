//! A node killed (SIGKILL) mid-job and restarted under its own `--node-name` takes its job back
//! at once, far within the lease, finishes it with the weights of an uninterrupted run, and
//! trains new jobs (issue #27, finding 9: the new process used to heartbeat as the dead one, so
//! the job stayed `running` and new jobs `queued`).

mod faults_common;
mod server_common;

use std::time::{Duration, Instant};

use faults_common::{finished, queue_job, reference, trains_a_new_job, wait_job, JobShape};
use server_common::process::{NodeConfig, NodeProcess};

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
