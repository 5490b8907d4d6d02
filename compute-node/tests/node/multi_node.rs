//! Several `more-node` processes sharing one PostgreSQL database and one S3 bucket (both real,
//! started by the test): an API-only node (`--max-jobs 0`) and two workers (`--max-jobs 1`,
//! `--job-lease-seconds 3`).
//!
//! - Jobs submitted through the API node run on both workers (the job's `node`, seen while it
//!   runs), and every run of the same job ends with bit-identical decrypted weights.
//! - Predictions for the same encrypted batch are byte-identical from all three nodes.
//! - A worker killed with SIGKILL in the middle of a job: the other worker takes the job over
//!   after the lease, resumes it from its last checkpoint and completes it with the weights and
//!   losses of the uninterrupted runs.
//!
//! Without PostgreSQL or `weed` the test prints `skipped: ...` and passes, unless
//! `MORE_REQUIRE_SERVICES=1` (CI); `.ci/services-setup` installs both.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{decrypted_weights, upload_dataset, Api};
use crate::services::{Postgres, SeaweedS3};
use more_core::tensor::Compact;
use more_core::wire::{self, DecodeLimits};
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Samples of the dataset: 2000 mini-batches per epoch, so that a job trains for about 2 s here.
/// The jobs must outlast a worker's 1 s poll for queued jobs (or one worker could run all of them
/// before the other looks) and give time to kill a worker after the first epoch.
const SAMPLES: usize = 8000;
const FEATURES: usize = 8;
const EPOCHS: usize = 6;
const BATCH: usize = 4;
const WORKERS: [&str; 2] = ["worker-a", "worker-b"];

/// The nodes of the cluster and the services they share.
struct Cluster {
    api: NodeProcess,
    workers: BTreeMap<String, NodeProcess>,
    // Dropped after the nodes (fields drop in order).
    _dir: tempfile::TempDir,
    _s3: SeaweedS3,
    _pg: Postgres,
}

impl Cluster {
    fn start(pg: Postgres, s3: SeaweedS3) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = |name: &str| {
            let mut config = NodeConfig::new(&dir.path().join(name)).arg(&[
                "--db",
                &pg.url(),
                "--store",
                &s3.bucket_url(),
                "--node-name",
                name,
                "--job-lease-seconds",
                "3",
            ]);
            config.env.extend(s3.env());
            config
        };
        let api = NodeProcess::start(&shared("api").arg(&["--max-jobs", "0"]));
        let workers = WORKERS
            .iter()
            .map(|w| {
                let node = NodeProcess::start(&shared(w).arg(&["--max-jobs", "1"]));
                (w.to_string(), node)
            })
            .collect();
        Cluster {
            api,
            workers,
            _dir: dir,
            _s3: s3,
            _pg: pg,
        }
    }

    /// Every node's API, the API node first.
    fn apis(&self) -> Vec<&Api> {
        std::iter::once(&*self.api)
            .chain(self.workers.values().map(|w| &**w))
            .collect()
    }
}

/// The test data, encrypted: (features, targets) as wire bytes.
fn encrypted(key: &SecretKey, rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<u8>) {
    let x = Array2::from_shape_fn((SAMPLES, FEATURES), |_| rng.random_range(-1.0f32..1.0));
    let y = Array2::from_shape_fn((SAMPLES, 2), |(i, j)| {
        let positive = x.row(i).iter().take(4).sum::<f32>() > 0.0;
        f32::from(u8::from(positive == (j == 0)))
    });
    (encrypt(key, x, rng), encrypt(key, y, rng))
}

fn encrypt(key: &SecretKey, a: Array2<f32>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let c = key.encrypt_compact(&a.into_dyn(), &ShadowDistribution::default(), rng);
    wire::encode(&c.expect("encrypt"))
}

/// A new model with the same spec and seed every time, and its job on `ds` (SGD with momentum,
/// so a takeover must restore the optimizer state too); returns (model id, job id).
fn submit(api: &Api, ds: &str) -> (String, String) {
    let spec = json!({"input_shape": [FEATURES], "layers": [{"type": "dense", "units": 16},
        {"type": "relu"}, {"type": "dense", "units": 2}]});
    let (s, model) = api.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 4}));
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().expect("id").to_string();
    let body = json!({"model_id": model, "dataset_id": ds, "epochs": EPOCHS, "batch_size": BATCH,
        "optimizer": {"type": "sgd", "learning_rate": 0.02, "momentum": 0.5}, "loss": "mse",
        "seed": 8});
    let (s, job) = api.post_json("/v1/jobs", &body);
    assert_eq!(s, 202, "{job}");
    (model, job["id"].as_str().expect("id").to_string())
}

fn active(job: &Value) -> bool {
    matches!(job["state"].as_str(), Some("queued" | "running"))
}

/// Per job: the nodes seen running it (in order, each once) and its last record.
type Seen = BTreeMap<String, (Vec<String>, Value)>;

/// Polls the jobs on `api` until none is active.
fn watch(api: &Api, jobs: &[String], timeout: Duration) -> Seen {
    let mut seen = Seen::new();
    let start = Instant::now();
    loop {
        let mut any_active = false;
        for id in jobs {
            let (s, job) = api.get_json(&format!("/v1/jobs/{id}"));
            assert_eq!(s, 200, "{job}");
            let entry = seen.entry(id.clone()).or_default();
            if let (Some("running"), Some(node)) = (job["state"].as_str(), job["node"].as_str()) {
                if entry.0.last().map(String::as_str) != Some(node) {
                    entry.0.push(node.to_string());
                }
            }
            any_active |= active(&job);
            entry.1 = job;
        }
        if !any_active {
            return seen;
        }
        assert!(start.elapsed() < timeout, "jobs did not finish: {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn decrypted_losses(api: &Api, key: &SecretKey, job: &str) -> ArrayD<f32> {
    let (s, bytes) = api.get(&format!("/v1/jobs/{job}/losses"));
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
    let t = wire::decode(&bytes, &DecodeLimits::default()).expect("losses");
    key.decrypt(&t.into_typed::<f32, Compact>().expect("compact f32"))
        .expect("decrypt")
}

#[test]
fn jobs_spread_over_workers_and_survive_a_killed_worker() {
    let (Some(pg), Some(s3)) = (Postgres::start(), SeaweedS3::start()) else {
        return;
    };
    let mut cluster = Cluster::start(pg, s3);
    let key = SecretKey::from_seed(9);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (x, y) = encrypted(&key, &mut rng);
    let ds = upload_dataset(&cluster.api, "classification", Some(2), &x, &y);

    let reference = spread_jobs(&cluster, &key, &ds);
    same_predictions_everywhere(&cluster, &reference.0, &key, &mut rng);
    takeover_after_kill(&mut cluster, &key, &ds, &reference);
}

/// Three jobs through the API node: both workers run some, none on the API node, all complete
/// with bit-identical weights and losses. Returns one (model, job) as the uninterrupted reference.
fn spread_jobs(cluster: &Cluster, key: &SecretKey, ds: &str) -> (String, String) {
    let submitted: Vec<(String, String)> = (0..3).map(|_| submit(&cluster.api, ds)).collect();
    let jobs: Vec<String> = submitted.iter().map(|(_, j)| j.clone()).collect();
    let t0 = Instant::now();
    let seen = watch(&cluster.api, &jobs, Duration::from_secs(180));
    eprintln!("3 jobs done in {:?}", t0.elapsed());
    let mut nodes = BTreeSet::new();
    for (id, (ran_on, job)) in &seen {
        assert_eq!(job["state"], "completed", "{job}");
        assert_eq!(ran_on.len(), 1, "job {id} changed nodes: {ran_on:?}");
        nodes.extend(ran_on.iter().cloned());
    }
    let expected: BTreeSet<String> = WORKERS.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        nodes, expected,
        "jobs were not spread over both workers: {seen:?}"
    );

    let (model, job) = submitted[0].clone();
    let weights = decrypted_weights(&cluster.api, key, &model);
    let losses = decrypted_losses(&cluster.api, key, &job);
    for (m, j) in &submitted[1..] {
        assert_eq!(decrypted_weights(&cluster.api, key, m), weights);
        assert_eq!(decrypted_losses(&cluster.api, key, j), losses);
    }
    (model, job)
}

/// The same encrypted batch predicted by every node: the same bytes.
fn same_predictions_everywhere(
    cluster: &Cluster,
    model: &str,
    key: &SecretKey,
    rng: &mut ChaCha8Rng,
) {
    let batch = Array2::from_shape_fn((32, FEATURES), |_| rng.random_range(-1.0f32..1.0));
    let batch = encrypt(key, batch, rng);
    let path = format!("/v1/models/{model}/predict");
    let answers: Vec<(u16, Vec<u8>)> = cluster
        .apis()
        .iter()
        .map(|a| a.post_bytes(&path, &batch))
        .collect();
    assert_eq!(
        answers[0].0,
        200,
        "{}",
        String::from_utf8_lossy(&answers[0].1)
    );
    for a in &answers[1..] {
        assert!(a == &answers[0], "predictions differ between nodes");
    }
}

/// Kills the worker of a running job after its first epoch; the other worker completes it with
/// the reference's weights and losses.
fn takeover_after_kill(
    cluster: &mut Cluster,
    key: &SecretKey,
    ds: &str,
    reference: &(String, String),
) {
    let (model, job) = submit(&cluster.api, ds);
    let running = cluster.api.wait_job(&job, Duration::from_secs(60), |j| {
        j["epoch"].as_u64() >= Some(1) || !active(j)
    });
    assert_eq!(
        running["state"], "running",
        "the job ended before the kill; make it longer"
    );
    let victim = running["node"].as_str().expect("node").to_string();
    let survivor = WORKERS
        .iter()
        .find(|w| **w != victim)
        .expect("other worker")
        .to_string();
    let epoch_at_kill = running["epoch"].as_u64().expect("epoch");
    cluster.workers.remove(&victim).expect("victim").kill9();
    let t0 = Instant::now();

    let seen = watch(
        &cluster.api,
        std::slice::from_ref(&job),
        Duration::from_secs(120),
    );
    let (ran_on, done) = &seen[&job];
    eprintln!(
        "killed {victim} at epoch {epoch_at_kill}; done {:?} later: {done}",
        t0.elapsed()
    );
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["epoch"], EPOCHS);
    assert_eq!(
        ran_on,
        &[victim.clone(), survivor.clone()],
        "not taken over"
    );

    assert_eq!(
        decrypted_weights(&cluster.api, key, &model),
        decrypted_weights(&cluster.api, key, &reference.0),
        "the taken-over job's weights differ from an uninterrupted run's"
    );
    assert_eq!(
        decrypted_losses(&cluster.api, key, &job),
        decrypted_losses(&cluster.api, key, &reference.1)
    );
    let path = format!("/v1/models/{model}/weights");
    assert_eq!(
        cluster.api.get(&path),
        cluster.workers[&survivor].get(&path)
    );
}
