//! `more-node backup`, `backup verify` and `restore` (issue #31), on the binary:
//!
//! - `sqlite_and_files`: a node on the defaults (SQLite, `file://` store) trains a model; a
//!   backup taken while it runs verifies; the data dir is wiped and restored; the restored blobs
//!   have the same SHA-256s, and a node on it answers the same listings, weights and predictions
//!   byte for byte. A second backup into the same place and a restore over a database are
//!   refused. Damaged copies of the backup (a flipped byte in a blob, a missing blob, a manifest
//!   edited with or without a new sum) are refused by `verify` and by `restore`, which then
//!   writes nothing.
//! - `postgres_and_s3`: the same round trip with PostgreSQL (`pg_dump`/`pg_restore`) and a
//!   SeaweedFS bucket, the backup itself on S3; the restored store backed up again lists the same
//!   blobs (each read verified against its SHA-256); a damaged S3 object is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use more_secret_key::SecretKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{encrypted_two_class, upload_dataset, Api};
use crate::services::{Postgres, SeaweedS3};

const FEATURES: usize = 6;

/// What a restore must give back: the API's listings, the trained weights, a prediction.
#[derive(Debug, PartialEq)]
struct State {
    datasets: Value,
    models: Value,
    jobs: Value,
    weights: Vec<u8>,
    prediction: Vec<u8>,
}

/// Uploads encrypted data, trains a model for one epoch; the model's id.
fn populate(api: &Api, key: &SecretKey) -> String {
    let (x, y) = encrypted_two_class(key, 1, 64, FEATURES);
    let ds = upload_dataset(api, "classification", Some(2), &x, &y);
    let spec = json!({"input_shape": [FEATURES], "layers": [{"type": "dense", "units": 8},
        {"type": "relu"}, {"type": "dense", "units": 2}]});
    let (s, model) = api.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 3}));
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().expect("id").to_string();
    let body = json!({"model_id": model, "dataset_id": ds, "epochs": 1, "batch_size": 16,
        "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.0}, "loss": "mse",
        "seed": 5});
    let (s, job) = api.post_json("/v1/jobs", &body);
    assert_eq!(s, 202, "{job}");
    let job = job["id"].as_str().expect("id").to_string();
    let done = api.wait_job(&job, Duration::from_secs(60), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    assert_eq!(done["state"], "completed", "{done}");
    model
}

fn state(api: &Api, key: &SecretKey, model: &str) -> State {
    let list = |path: &str| {
        let (s, v) = api.get_json(path);
        assert_eq!(s, 200, "{path}: {v}");
        v
    };
    let (s, weights) = api.get(&format!("/v1/models/{model}/weights"));
    assert_eq!(s, 200);
    let batch = encrypted_two_class(key, 2, 8, FEATURES).0;
    let (s, prediction) = api.post_bytes(&format!("/v1/models/{model}/predict"), &batch);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&prediction));
    State {
        datasets: list("/v1/datasets"),
        models: list("/v1/models"),
        jobs: list("/v1/jobs"),
        weights,
        prediction,
    }
}

/// Runs `more-node ARGS` with `env`.
fn more_node(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_more-node"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run more-node")
}

fn succeeds(out: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "more-node failed: {text}");
    text
}

/// Asserts the command failed and its message contains `why`.
fn refused(out: Output, why: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "accepted, expected a refusal ({why})"
    );
    assert!(err.contains(why), "refused, but not for {why:?}: {err}");
}

/// Every blob of a `file://` store: its name and the SHA-256 of its bytes.
fn file_blobs(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir.join("blobs")) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("blob");
            let sha: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (e.file_name().to_string_lossy().into_owned(), sha)
        })
        .collect()
}

fn manifest(backup: &Path) -> Value {
    let text = std::fs::read_to_string(backup.join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

fn manifest_blobs(m: &Value) -> Vec<(String, u64)> {
    let blobs = m["blobs"].as_array().expect("blobs");
    blobs
        .iter()
        .map(|b| {
            let sha = b["sha256"].as_str().expect("sha256").to_string();
            (sha, b["bytes"].as_u64().expect("bytes"))
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

#[test]
fn sqlite_and_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (data, backup) = (tmp.path().join("data"), tmp.path().join("backup"));
    let data_arg = data.to_str().expect("utf-8");
    let key = SecretKey::from_seed(7);
    let node = NodeProcess::start(&NodeConfig::new(&data));
    let model = populate(&node, &key);
    let before = state(&node, &key, &model);
    // Taken while the node runs.
    succeeds(more_node(
        &["backup", "--to", &url(&backup), "--data-dir", data_arg],
        &[],
    ));
    refused(
        more_node(
            &["backup", "--to", &url(&backup), "--data-dir", data_arg],
            &[],
        ),
        "already holds objects",
    );
    succeeds(more_node(
        &["backup", "verify", "--from", &url(&backup)],
        &[],
    ));
    node.terminate();
    let blobs_before = file_blobs(&data);

    std::fs::remove_dir_all(&data).expect("wipe");
    succeeds(more_node(
        &["restore", "--from", &url(&backup), "--data-dir", data_arg],
        &[],
    ));
    let blobs_after = file_blobs(&data);
    let listed: Vec<String> = manifest_blobs(&manifest(&backup))
        .into_iter()
        .map(|b| b.0)
        .collect();
    assert!(
        listed.len() >= 3,
        "dataset, weights and checkpoint blobs: {listed:?}"
    );
    assert_eq!(blobs_after.keys().cloned().collect::<Vec<_>>(), listed);
    for (name, sha) in &blobs_after {
        assert_eq!(name, sha, "a restored blob is not its SHA-256");
        assert_eq!(blobs_before.get(name), Some(sha), "blob {name}");
    }
    refused(
        more_node(
            &["restore", "--from", &url(&backup), "--data-dir", data_arg],
            &[],
        ),
        "exists; restore into a new",
    );
    let node = NodeProcess::start(&NodeConfig::new(&data));
    assert_eq!(
        state(&node, &key, &model),
        before,
        "the restored node differs"
    );
    node.terminate();

    damaged_backups_are_refused(tmp.path(), &backup, &listed);
}

/// A way to damage a backup.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// One bit of the first blob flipped.
    Flipped,
    /// The second blob removed.
    Missing,
    /// A byte of the manifest changed, its sum left as it was.
    Edited,
    /// The third blob's entry removed from the manifest, with a fresh sum.
    EditedWithSum,
}

impl Fault {
    /// Damages the backup at `b`; the refusal's message expected for it.
    fn apply(self, b: &Path, blobs: &[String]) -> String {
        match self {
            Fault::Flipped => {
                let path = b.join("blobs").join(&blobs[0]);
                let mut bytes = std::fs::read(&path).expect("blob");
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x01;
                std::fs::write(&path, bytes).expect("write");
                format!("blob {} is damaged", blobs[0])
            }
            Fault::Missing => {
                std::fs::remove_file(b.join("blobs").join(&blobs[1])).expect("rm");
                format!("blob {} is missing", blobs[1])
            }
            Fault::Edited => {
                let path = b.join("manifest.json");
                let text = std::fs::read_to_string(&path).expect("manifest");
                std::fs::write(&path, text.replacen("\"bytes\": ", "\"bytes\": 1", 1)).expect("w");
                "manifest.json has SHA-256".to_string()
            }
            Fault::EditedWithSum => {
                let mut m = manifest(b);
                m["blobs"].as_array_mut().expect("blobs").remove(2);
                let mut text = serde_json::to_vec_pretty(&m).expect("json");
                text.push(b'\n');
                let sum: String = Sha256::digest(&text)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                std::fs::write(b.join("manifest.json"), text).expect("w");
                let sum_file = format!("{sum}  manifest.json\n");
                std::fs::write(b.join("manifest.json.sha256"), sum_file).expect("w");
                let sha = &blobs[2];
                format!("blob {sha} is referenced by the database but not in the manifest")
            }
        }
    }
}

/// One damaged copy of `backup` per fault: `verify` and `restore` refuse each, and the restore
/// writes no database and no blob.
fn damaged_backups_are_refused(tmp: &Path, backup: &Path, blobs: &[String]) {
    let faults = [
        Fault::Flipped,
        Fault::Missing,
        Fault::Edited,
        Fault::EditedWithSum,
    ];
    for (i, what) in faults.into_iter().enumerate() {
        let copy = tmp.join(format!("damaged-{i}"));
        copy_dir(backup, &copy);
        let why = what.apply(&copy, blobs);
        refused(
            more_node(&["backup", "verify", "--from", &url(&copy)], &[]),
            &why,
        );
        let target = tmp.join(format!("target-{i}"));
        let target_arg = target.to_str().expect("utf-8");
        refused(
            more_node(
                &["restore", "--from", &url(&copy), "--data-dir", target_arg],
                &[],
            ),
            &why,
        );
        assert!(
            !target.join("more.db").exists(),
            "{what:?}: a database was restored"
        );
        assert!(
            file_blobs(&target).is_empty(),
            "{what:?}: blobs were restored"
        );
    }
}

/// The PostgreSQL client tools of the test cluster's version.
fn pg_bin() -> PathBuf {
    PathBuf::from("/usr/lib/postgresql/15/bin")
}

/// A new empty database `name` on the cluster; its URL.
fn create_database(pg: &Postgres, name: &str) -> String {
    succeeds(
        Command::new(pg_bin().join("psql"))
            .arg(pg.url())
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql"),
    );
    let url = pg.url();
    let (server, _) = url.rsplit_once('/').expect("a database in the URL");
    format!("{server}/{name}")
}

#[test]
fn postgres_and_s3() {
    let (Some(pg), Some(s3)) = (Postgres::start(), SeaweedS3::start()) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(8);
    let (store, env) = (s3.bucket_url(), s3.env());
    let node_on = |dir: &str, db: &str| {
        let mut config =
            NodeConfig::new(&tmp.path().join(dir)).arg(&["--db", db, "--store", &store]);
        config.env.extend(env.clone());
        NodeProcess::start(&config)
    };
    let storage = |dir: &str, db: &str| -> Vec<String> {
        let data = tmp.path().join(dir).display().to_string();
        let bin = pg_bin().display().to_string();
        [
            "--data-dir",
            &data,
            "--db",
            db,
            "--store",
            &store,
            "--pg-bin",
            &bin,
        ]
        .map(String::from)
        .to_vec()
    };
    let run =
        |args: Vec<String>| more_node(&args.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    let with = |head: &[&str], tail: Vec<String>| -> Vec<String> {
        head.iter().map(|s| s.to_string()).chain(tail).collect()
    };

    let node = node_on("a", &pg.url());
    let model = populate(&node, &key);
    let before = state(&node, &key, &model);
    let backup = format!("s3://{}/backups/one", crate::services::BUCKET);
    succeeds(run(with(
        &["backup", "--to", &backup],
        storage("a", &pg.url()),
    )));
    let pg_bin_arg = pg_bin().display().to_string();
    succeeds(run(with(
        &[
            "backup",
            "verify",
            "--from",
            &backup,
            "--pg-bin",
            &pg_bin_arg,
        ],
        vec![],
    )));
    node.terminate();

    // Wiped: a new empty database, and every blob deleted from the bucket.
    let listed = s3_manifest_blobs(&s3, "backups/one");
    for (sha, _) in &listed {
        s3.delete_object(&format!("blobs/{sha}"));
        assert!(!s3.has_object(&format!("blobs/{sha}")));
    }
    let restored = create_database(&pg, "restored");
    succeeds(run(with(
        &["restore", "--from", &backup],
        storage("b", &restored),
    )));
    let node = node_on("b", &restored);
    assert_eq!(
        state(&node, &key, &model),
        before,
        "the restored node differs"
    );
    // Every blob back, each read and verified against its SHA-256 by a second backup.
    let again = format!("s3://{}/backups/two", crate::services::BUCKET);
    succeeds(run(with(
        &["backup", "--to", &again],
        storage("b", &restored),
    )));
    assert_eq!(s3_manifest_blobs(&s3, "backups/two"), listed);
    node.terminate();

    // A damaged object in the backup: refused, and nothing restored.
    let (sha, _) = &listed[0];
    s3.overwrite_object(&format!("backups/one/blobs/{sha}"), b"not the ciphertext");
    let why = format!("blob {sha} is damaged");
    let verify = with(
        &[
            "backup",
            "verify",
            "--from",
            &backup,
            "--pg-bin",
            &pg_bin_arg,
        ],
        vec![],
    );
    refused(run(verify), &why);
    let empty = create_database(&pg, "untouched");
    refused(
        run(with(&["restore", "--from", &backup], storage("c", &empty))),
        &why,
    );
    let tables = Command::new(pg_bin().join("psql"))
        .arg(&empty)
        .args([
            "-At",
            "-c",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        ])
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&tables.stdout).trim(), "0");
}

/// The blob list (SHA-256, bytes) of the manifest under `prefix` in the test bucket.
fn s3_manifest_blobs(s3: &SeaweedS3, prefix: &str) -> Vec<(String, u64)> {
    let text = s3.read_object(&format!("{prefix}/manifest.json"));
    manifest_blobs(&serde_json::from_slice(&text).expect("manifest JSON"))
}
