//! Datasets larger than memory (issue #32), end to end against the `more-node` binary:
//!
//! - an upload in shards (`more_data_owner::rest::shards`, the flow of the CLI and Python)
//!   interrupted by `kill -9` of the client (a child process: this test binary re-run as the
//!   client) and, separately, of the node, then resumed: every shard index is confirmed by the
//!   node exactly once and never sent again after that (counted on the node's side, in its access
//!   log), and the stored shards decrypt to the source rows.
//!
//! Bounded: 2,400 rows of 62 features in 12 shards of ~100 KiB (a few seconds, < 10 MB disk).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use more_core::tensor::Compact;
use more_core::wire::{self, DecodeLimits};
use more_data_owner::data::Task;
use more_data_owner::rest::shards::{
    upload_sharded, ShardOptions, ShardPlan, ShardUpload, Start, TrainingRows,
};
use more_data_owner::rest::{CreateDataset, Node};
use more_secret_key::{SecretKey, ShadowDistribution};
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::server_common::process::{NodeConfig, NodeProcess};

/// Rows of the resume tests' data set.
const ROWS: usize = 2400;
/// Features per row.
const WIDTH: usize = 62;
/// Classes (one-hot targets).
const CLASSES: usize = 2;
/// 200 rows per shard: (62 + 2) values × 8 bytes × 200.
const SHARD_BYTES: u64 = 64 * 8 * 200;
/// The key of the data owner (the child client and this process use the same one).
const KEY_SEED: u64 = 32;
/// The environment variable that turns [`upload_client_process`] into the client.
const CLIENT_ENV: &str = "MORE_TEST_UPLOAD_CLIENT";

/// The source rows: features in [-1, 1), one-hot targets (class 0 when the first three features
/// sum above 0); the same for the same seed.
pub(crate) fn source(seed: u64, rows: usize, width: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..rows * width)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let y = x
        .chunks(width)
        .flat_map(|r| {
            let c = usize::from(r.iter().take(3).sum::<f32>() <= 0.0);
            (0..CLASSES).map(move |k| if k == c { 1.0 } else { 0.0 })
        })
        .collect();
    (x, y)
}

fn rows_of<'a>(x: &'a [f32], y: &'a [f32], shape: &'a [usize]) -> TrainingRows<'a> {
    TrainingRows {
        task: Task::Classification,
        feature_shape: shape,
        x,
        y,
        target_dim: CLASSES,
    }
}

fn create() -> Start {
    Start::Create(CreateDataset {
        name: "large".into(),
        task: "classification".into(),
        num_classes: Some(CLASSES),
    })
}

/// Uploads the source rows to `url` from `start`, calling `after_shard(index)` after each shard
/// the node confirmed, and `on_dataset(id)` once.
fn upload(
    url: &str,
    start: Start,
    on_dataset: &mut dyn FnMut(&str) -> more_data_owner::Result<()>,
    after_shard: &mut dyn FnMut(usize),
) -> more_data_owner::Result<ShardUpload> {
    let (x, y) = source(1, ROWS, WIDTH);
    let shape = [WIDTH];
    let node = Node::new(url, None)?;
    let options = ShardOptions {
        shard_bytes: SHARD_BYTES,
        feature_shadow: ShadowDistribution::default(),
    };
    let key = SecretKey::from_seed(KEY_SEED);
    upload_sharded(
        &node,
        &key,
        &rows_of(&x, &y, &shape),
        start,
        &options,
        on_dataset,
        &mut |p| {
            if !p.skipped {
                after_shard(p.index)
            }
            Ok(())
        },
    )
}

fn plan() -> ShardPlan {
    ShardPlan::new(ROWS, WIDTH, CLASSES, SHARD_BYTES)
}

/// The client as a process (run by [`upload_client_process_is_killed_and_resumed`] through this
/// test binary, with [`CLIENT_ENV`] = `URL ID_FILE`): writes the dataset id to `ID_FILE`, then
/// sends its shards 100 ms apart (a slow link) until it is killed. Does nothing without the
/// variable.
#[test]
#[ignore = "the client half of upload_client_process_is_killed_and_resumed, run as a child"]
fn upload_client_process() {
    let Ok(args) = std::env::var(CLIENT_ENV) else {
        return;
    };
    let (url, id_file) = args.split_once(' ').expect("URL ID_FILE");
    let mut on_dataset = |id: &str| {
        std::fs::write(id_file, id).expect("id file");
        Ok(())
    };
    let mut pace = |_| std::thread::sleep(Duration::from_millis(100));
    upload(url, create(), &mut on_dataset, &mut pace).expect("upload");
}

/// Polls the dataset until the node has confirmed at least `n` shards.
fn wait_confirmed(url: &str, id: &str, n: usize) -> usize {
    let node = Node::new(url, None).expect("client");
    let start = Instant::now();
    loop {
        let ds = node.dataset(id).expect("dataset");
        let confirmed = ds["shards"].as_array().map_or(0, Vec::len);
        if confirmed >= n {
            return confirmed;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no progress: {ds}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_client(url: &str, id_file: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "large_dataset::upload_client_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLIENT_ENV, format!("{url} {}", id_file.display()))
        .spawn()
        .expect("spawn the client")
}

fn read_id(id_file: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(id) = std::fs::read_to_string(id_file) {
            if id.len() == 32 {
                return id;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no dataset id");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn upload_client_process_is_killed_and_resumed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = NodeConfig::new(dir.path());
    let node = NodeProcess::start(&config);
    let id_file = dir.path().join("dataset-id");
    let mut client = spawn_client(&node.base, &id_file);
    let id = read_id(&id_file);
    let before = wait_confirmed(&node.base, &id, 3);
    client.kill().expect("kill -9 the client");
    client.wait().expect("reap the client");
    let at_kill = wait_confirmed(&node.base, &id, before);
    assert!(
        at_kill < plan().shards(),
        "the client finished before it was killed"
    );

    let done = upload(
        &node.base,
        Start::Resume(id.clone()),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .expect("resumed upload");
    assert_eq!(done.shards, plan().shards());
    assert_eq!(done.skipped + done.sent, done.shards);
    assert!(
        done.skipped >= at_kill,
        "{done:?} after {at_kill} confirmed"
    );
    assert_each_shard_sent_once(&[node.log_text()], &id);
    assert_shards_decrypt_to_source(dir.path(), &node.dataset_record(&id));
}

#[test]
fn upload_resumes_after_the_node_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = NodeConfig::new(dir.path());
    let node = RefCell::new(Some(NodeProcess::start(&config)));
    let url = node.borrow().as_ref().expect("node").base.clone();
    let logs = RefCell::new(Vec::new());
    let id = RefCell::new(String::new());
    let mut kill_at_fourth = |index: usize| {
        if index == 3 {
            let n = node.borrow_mut().take().expect("node");
            logs.borrow_mut().push(n.log_text());
            n.kill9();
        }
    };
    let first = upload(
        &url,
        create(),
        &mut |i| {
            *id.borrow_mut() = i.into();
            Ok(())
        },
        &mut kill_at_fourth,
    );
    let err = first.expect_err("the node is gone");
    assert!(
        matches!(err, more_data_owner::CliError::Unreachable(_)),
        "{err}"
    );
    let id = id.into_inner();

    let node = NodeProcess::start(&config);
    let done = upload(
        &node.base,
        Start::Resume(id.clone()),
        &mut |_| Ok(()),
        &mut |_| {},
    )
    .expect("resumed upload");
    assert_eq!((done.skipped, done.sent), (4, plan().shards() - 4));
    let mut logs = logs.into_inner();
    logs.push(node.log_text());
    assert_each_shard_sent_once(&logs, &id);
    assert_shards_decrypt_to_source(dir.path(), &node.dataset_record(&id));
}

impl NodeProcess {
    fn dataset_record(&self, id: &str) -> Value {
        let (s, ds) = self.get_json(&format!("/v1/datasets/{id}"));
        assert_eq!(s, 200, "{ds}");
        ds
    }
}

/// Asserts, from the node's access logs in order, that every shard of the plan was confirmed
/// (2xx) exactly once and that no request for an index followed its confirmation: a resumed
/// upload sends only the shards the node had not confirmed.
fn assert_each_shard_sent_once(logs: &[String], id: &str) {
    let needle = format!("/v1/datasets/{id}/shards?index=");
    let mut confirmed = vec![0usize; plan().shards()];
    for line in logs.iter().flat_map(|l| l.lines()) {
        let Some(rest) = line.split(&needle).nth(1) else {
            continue;
        };
        let index: usize = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("")
            .parse()
            .expect("index");
        let status = rest
            .split("HTTP/1.1 ")
            .nth(1)
            .and_then(|s| s.get(..3))
            .unwrap_or("");
        assert_eq!(
            confirmed[index], 0,
            "shard {index} sent again after its confirmation: {line}"
        );
        if status.starts_with('2') {
            confirmed[index] += 1;
        }
    }
    assert!(
        confirmed.iter().all(|&c| c == 1),
        "confirmations per shard: {confirmed:?}"
    );
}

/// The stored blob `sha256` under the node's file store.
fn blob(data_dir: &Path, sha256: &str) -> Vec<u8> {
    let path: PathBuf = data_dir.join("blobs").join(sha256);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that the dataset's shards, decrypted in order, are the source rows (within the
/// rounding of f32 encryption).
fn assert_shards_decrypt_to_source(data_dir: &Path, ds: &Value) {
    let key = SecretKey::from_seed(KEY_SEED);
    let decrypt = |sha: &Value| -> Vec<f32> {
        let bytes = blob(data_dir, sha.as_str().expect("sha256"));
        let t = wire::decode(&bytes, &DecodeLimits::default()).expect("wire tensor");
        let c = t.into_typed::<f32, Compact>().expect("compact f32");
        key.decrypt(&c).expect("decrypt").iter().copied().collect()
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let shards = ds["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), plan().shards(), "{ds}");
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["index"], i);
        assert_eq!(s["samples"], plan().range(i).len());
        x.extend(decrypt(&s["features_sha256"]));
        y.extend(decrypt(&s["targets_sha256"]));
    }
    let (sx, sy) = source(1, ROWS, WIDTH);
    let close = |a: &[f32], b: &[f32]| {
        a.len() == b.len() && a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-3)
    };
    assert!(close(&x, &sx), "the features do not decrypt to the source");
    assert!(close(&y, &sy), "the targets do not decrypt to the source");
    assert_eq!(ds["samples"], ROWS);
}
