//! PostgreSQL stopped for 60 s under two training nodes, then started again (issue #27, finding
//! 10): requests answer 503 at once with an error naming the database, the health check shows
//! the nodes not ready; a job between two epochs rides the outage out (its epoch's save retried)
//! and a job that had finished all its epochs keeps its result (the save of its end retried):
//! both complete with the weights of an uninterrupted run, and the rebuilt workers train a new
//! job.

use crate::faults_common;

use std::time::{Duration, Instant};

use crate::faults_common::{
    assert_like, finished, names_only, queue_job, reference, trains_a_new_job, try_get_json,
    wait_job, JobShape,
};
use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::services::Postgres;

/// The job caught between two epochs.
const SHAPE: JobShape = JobShape {
    hidden: 16,
    epochs: 10,
};
/// The job caught after its last epoch, its weights stored, before its end is saved.
const SHORT: JobShape = JobShape {
    hidden: 16,
    epochs: 3,
};
const OUTAGE: Duration = Duration::from_secs(60);

#[test]
fn training_survives_a_60_second_database_outage() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let (expected, expected_short) = (reference(SHAPE), reference(SHORT));
    let dir = tempfile::tempdir().expect("tempdir");
    let dir2 = tempfile::tempdir().expect("tempdir");
    // One store for both nodes, as one database: either may take the other's job over.
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = format!("file://{}", store_dir.path().display());
    let config = |dir: &std::path::Path, name: &str, delay: &str| {
        NodeConfig::new(dir)
            .arg(&["--db", &pg.url(), "--store", &store, "--node-name", name])
            .arg(&["--job-lease-seconds", "6"])
            .env("MORE_FAULT_DELAY", delay)
    };
    let node = NodeProcess::start(&config(dir.path(), "pg-1", "epoch_stored:1500"));
    let (model, job) = queue_job(&node, SHAPE);
    wait_job(&node, &job, Duration::from_secs(60), |j| {
        j["epoch"].as_u64() >= Some(1)
    });
    // The second node takes the second job (the first is busy) and pauses after storing its
    // trained weights, before the transaction that completes it.
    let node2 = NodeProcess::start(&config(dir2.path(), "pg-2", "weights_stored:3000"));
    let _logs = faults_common::LogsOnPanic(vec![&node, &node2]);
    let (model2, job2) = queue_job(&node2, SHORT);
    let paused = Instant::now();
    while !node2.log_text().contains("at weights_stored") {
        assert!(
            paused.elapsed() < Duration::from_secs(60),
            "{}",
            node2.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, running) = node.get_json(&format!("/v1/jobs/{job}"));
    assert_eq!(
        running["state"], "running",
        "the first job ended early: {running}"
    );

    pg.stop();
    let stopped = Instant::now();
    // A request during the outage: a quick 503 naming the database, not a 500 after a minute.
    let asked = Instant::now();
    let (status, body) = try_get_json(&node, "/v1/jobs").expect("an answer");
    let took = asked.elapsed();
    eprintln!("GET /v1/jobs during the outage: {status} in {took:?}: {body}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    names_only(&body, "database", &["postgres:", "127.0.0.1", "5432"]);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (status, health) = try_get_json(&node, "/v1/health?probe=ready").expect("health");
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["database"], "down", "{health}");
    std::thread::sleep(OUTAGE.saturating_sub(stopped.elapsed()));
    pg.start_again();
    eprintln!("database back after {:?}", stopped.elapsed());

    let done = finished(&node, &job, Duration::from_secs(150));
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["epoch"], SHAPE.epochs);
    assert_like(&node, &model, &expected);
    let done2 = finished(&node2, &job2, Duration::from_secs(60));
    assert_eq!(done2["state"], "completed", "{done2}");
    assert_like(&node2, &model2, &expected_short);
    // Both saves met the outage and were retried.
    assert!(
        node.log_text().contains("save the epoch"),
        "no retried epoch save"
    );
    assert!(
        node2.log_text().contains("save the completed job"),
        "no retried end save"
    );
    trains_a_new_job(&node, Duration::from_secs(60));
    for n in [&node, &node2] {
        let (status, health) = try_get_json(n, "/v1/health?probe=ready").expect("health");
        assert_eq!(status, 200, "{health}");
        assert_eq!(health["worker"]["state"], "running", "{health}");
    }
}
