//! The S3 store (SeaweedFS) stopped for 30 s under a training node, then started again on the
//! same ports and data (issue #27, finding 11): reads answer 503 naming the store; the job
//! retries its stores for its budget (20 s here), then ends `interrupted`, not `failed` (it used
//! to fail at its first store error, for good); resumed once the store is back, it completes with
//! the weights of an uninterrupted run, and the node trains a new job. (Riding an outage out
//! within the budget is `faults_postgres.rs`.)

use std::time::{Duration, Instant};

use crate::faults_common::{
    assert_like, finished, names_only, queue_job, reference, trains_a_new_job, try_get_json,
    wait_job, JobShape,
};
use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::services::SeaweedS3;

const SHAPE: JobShape = JobShape {
    hidden: 16,
    epochs: 6,
};
const OUTAGE: Duration = Duration::from_secs(30);

#[test]
fn training_survives_a_30_second_store_outage() {
    let Some(mut s3) = SeaweedS3::start() else {
        return;
    };
    let expected = reference(SHAPE);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = NodeConfig::new(dir.path())
        .arg(&["--store", &s3.bucket_url(), "--job-retry-seconds", "20"])
        .env("MORE_FAULT_DELAY", "epoch_stored:1500");
    config.env.extend(s3.env());
    let node = NodeProcess::start(&config);
    let (model, job) = queue_job(&node, SHAPE);
    wait_job(&node, &job, Duration::from_secs(60), |j| {
        j["epoch"].as_u64() >= Some(1)
    });

    s3.stop();
    let stopped = Instant::now();
    let (status, body) = try_get_json(&node, &format!("/v1/jobs/{job}/losses")).expect("answer");
    eprintln!(
        "GET losses during the outage: {status} after {:?}: {body}",
        stopped.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    names_only(&body, "store", &["s3:", "127.0.0.1", "http"]);
    let interrupted = finished(&node, &job, OUTAGE);
    eprintln!("job after {:?}: {interrupted}", stopped.elapsed());
    assert_eq!(interrupted["state"], "interrupted", "{interrupted}");
    let error = interrupted["error"].as_str().unwrap_or_default();
    assert!(error.contains("store"), "{interrupted}");
    std::thread::sleep(OUTAGE.saturating_sub(stopped.elapsed()));
    s3.start_again();
    eprintln!("store back after {:?}", stopped.elapsed());

    let (s, resumed) = node.post_empty(&format!("/v1/jobs/{job}/resume"));
    assert_eq!(s, 202, "{resumed}");
    let done = finished(&node, &job, Duration::from_secs(150));
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["epoch"], SHAPE.epochs);
    assert_like(&node, &model, &expected);
    trains_a_new_job(&node, Duration::from_secs(60));
}
