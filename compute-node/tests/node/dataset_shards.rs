//! Datasets as shards (issue #32): `POST /v1/datasets/{id}/shards?index=K`, on the binary.
//!
//! - `sqlite_and_files_rules_and_pins`: the append rules (a gap, a confirmed index re-sent with
//!   the same bytes or other bytes, another key's basis, another per-sample shape, `PUT` on a
//!   sharded dataset); each shard's tensors stored as standalone wire tensors, byte for byte as
//!   sent, and `BlobStore::get_range` reading a row at its computed byte offset; a job pins the
//!   shard list it was created with while a shard is appended during it, and the dataset it
//!   trains on is not deleted under it.
//! - `sqlite_and_files_gc_and_backup`: a backup taken while the node runs holds every shard blob
//!   and restores them with their bytes (the restored node lists the same shards); the garbage
//!   collector keeps every shard blob of a dataset and of a job's pinned list, and once the
//!   dataset is deleted drops the blobs only it named.
//! - `postgres_and_s3` (skipped without PostgreSQL and `weed` unless `MORE_REQUIRE_SERVICES=1`):
//!   the rules, the pin and the collector on PostgreSQL and a SeaweedFS bucket.
//! - `records_from_before_shards_still_train`: a dataset row stored without a shard list (as
//!   every row written before shards existed) reads as one shard of its two blobs, and a job on
//!   it trains to the same bits as the same ciphertexts appended as one shard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use more_core::wire::{self, AnyTensor, Bundle, DecodeLimits};
use more_secret_key::SecretKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{decrypted_weights, encrypted_two_class, upload_dataset, Api};
use crate::services::{Postgres, SeaweedS3};

const FEATURES: usize = 6;
const ROWS: usize = 32;

/// One shard's (features, targets) wire tensors.
type Pair = (Vec<u8>, Vec<u8>);

/// Where the node keeps its blobs, read behind its back.
enum Blobs<'a> {
    Files(PathBuf),
    S3(&'a SeaweedS3),
}

impl Blobs<'_> {
    fn read(&self, sha: &str) -> Option<Vec<u8>> {
        match self {
            Blobs::Files(dir) => std::fs::read(dir.join("blobs").join(sha)).ok(),
            Blobs::S3(s3) => {
                let key = format!("blobs/{sha}");
                s3.has_object(&key).then(|| s3.read_object(&key))
            }
        }
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One shard's body: a wire bundle of the two encrypted tensors (given as wire tensors).
fn bundle(x: &[u8], y: &[u8]) -> Vec<u8> {
    let decode = |b: &[u8]| wire::decode(b, &DecodeLimits::default()).expect("wire tensor");
    let tensors: Vec<(String, AnyTensor)> = vec![
        ("features".into(), decode(x)),
        ("targets".into(), decode(y)),
    ];
    wire::encode_bundle(&Bundle {
        metadata: json!({"rows": ROWS}),
        tensors,
    })
}

/// Shard `seed` of the two-class data under `key`: (features, targets) wire tensors.
fn shard(key: &SecretKey, seed: u64) -> Pair {
    encrypted_two_class(key, seed, ROWS, FEATURES)
}

fn post_shard(api: &Api, ds: &str, index: usize, x: &[u8], y: &[u8]) -> (u16, Value) {
    let path = format!("/v1/datasets/{ds}/shards?index={index}");
    let (s, body) = api.post_bytes(&path, &bundle(x, y));
    (s, serde_json::from_slice(&body).expect("JSON answer"))
}

fn dataset(api: &Api, ds: &str) -> Value {
    let (s, v) = api.get_json(&format!("/v1/datasets/{ds}"));
    assert_eq!(s, 200, "{v}");
    v
}

/// The append rules; returns the dataset id and its two shards' (features, targets).
fn append_rules(api: &Api, blobs: &Blobs, key: &SecretKey) -> (String, Vec<Pair>) {
    let body = json!({"name": "sharded", "task": "classification", "num_classes": 2});
    let (s, ds) = api.post_json("/v1/datasets", &body);
    assert_eq!(s, 201, "{ds}");
    let id = ds["id"].as_str().expect("id").to_string();
    let (s0, s1) = (shard(key, 10), shard(key, 11));

    let (s, v) = post_shard(api, &id, 1, &s0.0, &s0.1);
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("conflict")),
        "a gap: {v}"
    );
    let (s, first) = post_shard(api, &id, 0, &s0.0, &s0.1);
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["state"], "ready");
    assert_eq!(first["samples"], ROWS);
    let expected = json!([{"index": 0, "samples": ROWS, "features_sha256": sha(&s0.0),
        "targets_sha256": sha(&s0.1), "bytes": s0.0.len() + s0.1.len()}]);
    assert_eq!(first["shards"], expected);
    // Each tensor is its own blob, the wire tensor as sent (rows at computable offsets).
    assert_eq!(blobs.read(&sha(&s0.0)).as_deref(), Some(&s0.0[..]));
    assert_eq!(blobs.read(&sha(&s0.1)).as_deref(), Some(&s0.1[..]));

    let (s, again) = post_shard(api, &id, 0, &s0.0, &s0.1);
    assert_eq!((s, &again), (200, &first), "a resend changes nothing");
    let (s, v) = post_shard(api, &id, 0, &s1.0, &s1.1);
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("conflict")),
        "other bytes: {v}"
    );
    assert_eq!(dataset(api, &id), first);

    let other_key = shard(&SecretKey::from_seed(99), 11);
    let (s, v) = post_shard(api, &id, 1, &other_key.0, &other_key.1);
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("basis_mismatch")),
        "{v}"
    );
    let wider = encrypted_two_class(key, 12, ROWS, FEATURES + 1);
    let (s, v) = post_shard(api, &id, 1, &wider.0, &wider.1);
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("shape_mismatch")),
        "{v}"
    );
    assert_eq!(dataset(api, &id), first, "nothing stored by refused shards");

    let (s, two) = post_shard(api, &id, 1, &s1.0, &s1.1);
    assert_eq!(s, 200, "{two}");
    assert_eq!(two["samples"], 2 * ROWS);
    assert_eq!(two["shards"].as_array().map(Vec::len), Some(2));
    assert_eq!(two["shards"][1]["index"], 1);
    let (s, v) = api.put_bytes(&format!("/v1/datasets/{id}/features"), &s0.0);
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("conflict")),
        "PUT on shards: {v}"
    );
    (id, vec![s0, s1])
}

fn create_model(api: &Api, seed: u64) -> String {
    let spec = json!({"input_shape": [FEATURES], "layers": [{"type": "dense", "units": 8},
        {"type": "relu"}, {"type": "dense", "units": 2}]});
    let (s, m) = api.post_json(
        "/v1/models",
        &json!({"name": "m", "spec": spec, "seed": seed}),
    );
    assert_eq!(s, 201, "{m}");
    m["id"].as_str().expect("id").to_string()
}

fn start_job(api: &Api, model: &str, ds: &str, epochs: usize) -> Value {
    let body = json!({"model_id": model, "dataset_id": ds, "epochs": epochs, "batch_size": 4,
        "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.0}, "loss": "mse",
        "seed": 5});
    let (s, job) = api.post_json("/v1/jobs", &body);
    assert_eq!(s, 202, "{job}");
    job
}

fn finished(api: &Api, job: &str) -> Value {
    api.wait_job(job, Duration::from_secs(60), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    })
}

/// A job pins the dataset's two shards; a third is appended while it runs; the dataset is not
/// deleted under it. Returns the third shard.
fn job_pins_its_shards(api: &Api, key: &SecretKey, ds: &str) -> Pair {
    let pinned = dataset(api, ds)["shards"].clone();
    let model = create_model(api, 3);
    // Long enough to be running while the shard is appended and the delete is tried.
    let job = start_job(api, &model, ds, 5000);
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(job["shards"], pinned);
    assert_eq!(job["batches_total"], 2 * ROWS / 4);
    let s2 = shard(key, 12);
    let (s, three) = post_shard(api, ds, 2, &s2.0, &s2.1);
    assert_eq!(s, 200, "appending while a job trains: {three}");
    assert_eq!(three["shards"].as_array().map(Vec::len), Some(3));
    let (s, v) = api.delete(&format!("/v1/datasets/{ds}"));
    assert_eq!((s, v["error"].as_str()), (409, Some("conflict")), "{v}");
    let (_, during) = api.get_json(&format!("/v1/jobs/{id}"));
    assert!(
        matches!(during["state"].as_str(), Some("queued" | "running")),
        "the job ended before the checks: {during}"
    );
    let (s, v) = api.post_empty(&format!("/v1/jobs/{id}/cancel"));
    assert_eq!(s, 200, "{v}");
    let end = finished(api, &id);
    assert_eq!(end["state"], "cancelled", "{end}");
    assert_eq!(end["shards"], pinned, "the pinned list changed");
    assert_eq!(end["batches_total"], 2 * ROWS / 4);
    s2
}

/// Waits (at most 20 s) until `done()`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The collector keeps every shard blob while a row names it; deleting the dataset drops the
/// blobs only it named, and keeps those the job pinned.
fn gc_follows_shards(api: &Api, blobs: &Blobs, ds: &str, pinned: &[Pair], third: &Pair) {
    // Past the grace period and a few sweeps: nothing referenced is gone.
    std::thread::sleep(Duration::from_millis(3500));
    for (x, y) in pinned.iter().chain([third]) {
        assert!(
            blobs.read(&sha(x)).is_some() && blobs.read(&sha(y)).is_some(),
            "a shard blob was collected"
        );
    }
    let (s, v) = api.delete(&format!("/v1/datasets/{ds}"));
    assert_eq!(s, 204, "{v}");
    eventually(
        "the deleted dataset's own shard blobs are collected",
        || blobs.read(&sha(&third.0)).is_none() && blobs.read(&sha(&third.1)).is_none(),
    );
    for (x, y) in pinned {
        assert!(
            blobs.read(&sha(x)).is_some() && blobs.read(&sha(y)).is_some(),
            "a pinned shard blob was collected"
        );
    }
}

/// The node's `serve` arguments: sweeps every second, a blob unreferenced for 1 s goes.
const GC: [&str; 4] = ["--gc-interval-seconds", "1", "--gc-grace-seconds", "1"];

#[test]
fn sqlite_and_files_rules_and_pins() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let node = NodeProcess::start(&NodeConfig::new(&data));
    let blobs = Blobs::Files(data.clone());
    let key = SecretKey::from_seed(7);
    let (ds, pinned) = append_rules(&node, &blobs, &key);
    check_range_reads(&data, &pinned[1].0);
    job_pins_its_shards(&node, &key, &ds);
}

#[test]
fn sqlite_and_files_gc_and_backup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let node = NodeProcess::start(&NodeConfig::new(&data).arg(&GC));
    let blobs = Blobs::Files(data.clone());
    let key = SecretKey::from_seed(7);
    let (s, ds) = node.post_json(
        "/v1/datasets",
        &json!({"name": "d", "task": "classification"}),
    );
    assert_eq!(s, 201, "{ds}");
    let ds = ds["id"].as_str().expect("id").to_string();
    let pinned: Vec<_> = (0..2).map(|i| shard(&key, 30 + i)).collect();
    for (i, (x, y)) in pinned.iter().enumerate() {
        let (s, v) = post_shard(&node, &ds, i, x, y);
        assert_eq!(s, 200, "{v}");
    }
    let model = create_model(&node, 3);
    let job = start_job(&node, &model, &ds, 1);
    let end = finished(&node, job["id"].as_str().expect("id"));
    assert_eq!(end["state"], "completed", "{end}");
    let third = shard(&key, 32);
    let (s, v) = post_shard(&node, &ds, 2, &third.0, &third.1);
    assert_eq!(s, 200, "{v}");
    backup_and_restore(&node, tmp.path(), &ds);
    gc_follows_shards(&node, &blobs, &ds, &pinned, &third);
}

#[test]
fn postgres_and_s3() {
    let (Some(pg), Some(s3)) = (Postgres::start(), SeaweedS3::start()) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = NodeConfig::new(tmp.path())
        .arg(&["--db", &pg.url(), "--store", &s3.bucket_url()])
        .arg(&GC);
    config.env.extend(s3.env());
    let node = NodeProcess::start(&config);
    let blobs = Blobs::S3(&s3);
    let key = SecretKey::from_seed(7);
    let (ds, pinned) = append_rules(&node, &blobs, &key);
    let third = job_pins_its_shards(&node, &key, &ds);
    gc_follows_shards(&node, &blobs, &ds, &pinned, &third);
}

/// `BlobStore::get_range` on the node's `file://` store: row 5 of each plane of a stored
/// features tensor, at `header + (plane·V + row·FEATURES)·4`.
fn check_range_reads(data: &Path, features: &[u8]) {
    let store =
        more_store::blobs::BlobStore::open(&format!("file://{}", data.display())).expect("store");
    let header = wire::decode_header(features).expect("header");
    let values = (ROWS * FEATURES) as u64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for plane in 0..2u64 {
        let start = header.header_len as u64 + (plane * values + 5 * FEATURES as u64) * 4;
        let range = start..start + FEATURES as u64 * 4;
        let got = rt
            .block_on(store.get_range(&sha(features), range.clone()))
            .expect("range");
        assert_eq!(
            &got[..],
            &features[range.start as usize..range.end as usize]
        );
    }
    let past = features.len() as u64;
    assert!(rt
        .block_on(store.get_range(&sha(features), past..past + 4))
        .is_err());
}

/// Runs `more-node ARGS`; panics unless it succeeds.
fn more_node(args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_more-node"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run more-node");
    assert!(
        out.status.success(),
        "more-node {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A backup taken while the node runs holds every shard blob of the dataset (and of the job);
/// restored into a new data dir, the blobs have their bytes and a node there lists the same
/// shards.
fn backup_and_restore(api: &Api, tmp: &Path, ds: &str) {
    let (data, backup, restored) = (tmp.join("data"), tmp.join("backup"), tmp.join("restored"));
    let url = format!("file://{}", backup.display());
    more_node(&[
        "backup",
        "--to",
        &url,
        "--data-dir",
        data.to_str().expect("utf-8"),
    ]);
    more_node(&["backup", "verify", "--from", &url]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    let listed: BTreeMap<String, u64> = manifest["blobs"]
        .as_array()
        .expect("blobs")
        .iter()
        .map(|b| {
            (
                b["sha256"].as_str().expect("sha").to_string(),
                b["bytes"].as_u64().expect("bytes"),
            )
        })
        .collect();
    let before = dataset(api, ds);
    let shards = before["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 3);
    more_node(&[
        "restore",
        "--from",
        &url,
        "--data-dir",
        restored.to_str().expect("utf-8"),
    ]);
    let restored_blobs = Blobs::Files(restored.clone());
    for s in shards {
        for field in ["features_sha256", "targets_sha256"] {
            let sha_hex = s[field].as_str().expect("sha");
            assert!(
                listed.contains_key(sha_hex),
                "shard {} {field} not backed up",
                s["index"]
            );
            let bytes = restored_blobs.read(sha_hex).expect("restored blob");
            assert_eq!(sha(&bytes), sha_hex);
        }
    }
    let node = NodeProcess::start(&NodeConfig::new(&restored));
    assert_eq!(dataset(&node, ds), before);
}

/// A dataset row without `shards` (every row written before shards existed) is one shard of its
/// blobs, and trains: to the same bits as the same ciphertexts appended as one shard.
#[test]
fn records_from_before_shards_still_train() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(&NodeConfig::new(tmp.path()));
    let key = SecretKey::from_seed(7);
    let (x, y) = shard(&key, 20);
    let old = upload_dataset(&node, "classification", Some(2), &x, &y);
    let blobs_before = strip_shards(&tmp.path().join("more.db"), &old);
    assert_eq!(blobs_before, 2, "the old row's blob references");
    let read = dataset(&node, &old);
    let expected = json!([{"index": 0, "samples": ROWS, "features_sha256": sha(&x),
        "targets_sha256": sha(&y), "bytes": x.len() + y.len()}]);
    assert_eq!(read["shards"], expected, "{read}");

    let (s, new) = node.post_json(
        "/v1/datasets",
        &json!({"name": "n", "task": "classification", "num_classes": 2}),
    );
    assert_eq!(s, 201);
    let new = new["id"].as_str().expect("id").to_string();
    let (s, v) = post_shard(&node, &new, 0, &x, &y);
    assert_eq!(s, 200, "{v}");

    let mut weights = Vec::new();
    for ds in [&old, &new] {
        let model = create_model(&node, 3);
        let job = start_job(&node, &model, ds, 2);
        let end = finished(&node, job["id"].as_str().expect("id"));
        assert_eq!(end["state"], "completed", "{end}");
        assert_eq!(end["shards"], expected);
        weights.push(decrypted_weights(&node, &key, &model));
    }
    assert_eq!(
        weights[0], weights[1],
        "the old row trains as its one shard"
    );
}

/// Rewrites a dataset row as rows were stored before shards existed (no `shards` field); the
/// number of its blob references.
fn strip_shards(db: &Path, id: &str) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let url = format!("sqlite://{}", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
        let (record,): (String,) = sqlx::query_as("SELECT record FROM datasets WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("row");
        let mut v: Value = serde_json::from_str(&record).expect("JSON");
        assert!(v
            .as_object_mut()
            .expect("object")
            .remove("shards")
            .is_some());
        sqlx::query("UPDATE datasets SET record = $1 WHERE id = $2")
            .bind(v.to_string())
            .bind(id)
            .execute(&pool)
            .await
            .expect("update");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM blob_refs WHERE owner = $1")
            .bind(format!("dataset:{id}"))
            .fetch_one(&pool)
            .await
            .expect("count");
        n
    })
}
