//! PostgreSQL stopped for 60 s under a training node, then started again (issue #27, finding
//! 10): requests answer 503 at once with an error naming the database, the health check shows
//! the node not ready, the job rides the outage out (its saves retried) and completes with the
//! weights of an uninterrupted run, and the rebuilt worker trains a new job.

mod faults_common;
mod server_common;
mod services;

use std::time::{Duration, Instant};

use faults_common::{
    assert_like, finished, names_only, queue_job, reference, trains_a_new_job, try_get_json,
    wait_job, JobShape,
};
use server_common::process::{NodeConfig, NodeProcess};
use services::Postgres;

const SHAPE: JobShape = JobShape {
    hidden: 16,
    epochs: 6,
};
const OUTAGE: Duration = Duration::from_secs(60);

#[test]
fn training_survives_a_60_second_database_outage() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let expected = reference(SHAPE);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(
        &NodeConfig::new(dir.path())
            .arg(&[
                "--db",
                &pg.url(),
                "--node-name",
                "pg-1",
                "--job-lease-seconds",
                "6",
            ])
            .env("MORE_FAULT_DELAY", "epoch_stored:1500"),
    );
    let (model, job) = queue_job(&node, SHAPE);
    wait_job(&node, &job, Duration::from_secs(60), |j| {
        j["epoch"].as_u64() >= Some(1)
    });

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
    trains_a_new_job(&node, Duration::from_secs(60));
    let (status, health) = try_get_json(&node, "/v1/health?probe=ready").expect("health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["worker"]["state"], "running", "{health}");
}
