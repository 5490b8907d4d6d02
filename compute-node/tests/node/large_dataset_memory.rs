//! A dataset larger than the node's memory limit trains to completion (issue #32), against the
//! `more-node` binary:
//!
//! - the memory limit is a memory cgroup holding the node (v2 `memory.max`, v1
//!   `memory.limit_in_bytes`): it limits what the node really uses (resident memory and the page
//!   cache it dirties), and the kernel kills the node past it (the test then fails). Tried first
//!   and dropped: `prlimit --data` (RLIMIT_DATA) and `--as` count reservations never touched
//!   (mimalloc's 1 GiB arena, thread stacks: idle `VmData` 1.08 GB, `VmSize` 2 GB); with
//!   `MIMALLOC_ARENA_RESERVE=4MiB` idle `VmData` is ~98 MB, yet a 256 MiB RLIMIT_DATA still
//!   aborted the node ("memory allocation of 176 bytes failed") at the start of a streamed job of
//!   26 MB, while it ran within ~120 MB of RSS uncapped. A cgroup needs root or a delegated
//!   hierarchy: without one the tests skip (fail with `MORE_REQUIRE_SERVICES=1`, as on CI);
//! - a dataset of [`FACTOR`] x the limit of ciphertext (one block of rows re-encrypted with fresh
//!   shadows per shard, like Fashion-MNIST repeated) trains one epoch, streamed
//!   (`--stream-above-mib 0`); the peak RSS (`VmHWM`), the bytes the job read and a timeline of
//!   the node's anonymous memory and threads ([`MemoryTimeline`]) are printed. Seen failing:
//!   before the stream bounded its reads in flight and the node its blocking threads, the debug
//!   node grew to 316 threads and 445 MiB (measured uncapped) and was killed at this limit;
//!   since, 141-146 MiB peak under it (2026-12-07);
//! - on a smaller dataset the same job streamed under the limit and loaded into memory on a node
//!   without it (the default `--stream-above-mib`) give bit-identical decrypted weights and the
//!   same encrypted losses (same shuffle, same bits).
//!
//! Bounded: limit 192 MiB, 768 MiB of ciphertext (~25 s on a 2-core VM, < 800 MB disk,
//! deleted with the temp dir). The full tier (`MORE_LARGE_CAP_MIB=1024 MORE_LARGE_FACTOR=4`)
//! is [`large_dataset_full_tier`], ignored.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use more_data_owner::data::Task;
use more_data_owner::rest::shards::{shard_bundle, TrainingRows};
use more_data_owner::rest::{CreateDataset, Node};
use more_secret_key::{SecretKey, ShadowDistribution};
use serde_json::{json, Value};

use crate::large_dataset::source;
use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::server_common::{decrypted_weights, Api};

/// The CI tier's memory limit (the node's memory cgroup), MiB.
const CAP_MIB: u64 = 192;
/// Dataset bytes over the limit.
const FACTOR: u64 = 4;
/// Features per row: a Fashion-MNIST image.
const WIDTH: usize = 784;
/// Rows of the plaintext block each shard re-encrypts.
const BLOCK_ROWS: usize = 1024;
/// The key.
const KEY_SEED: u64 = 36;

/// A node with `args`.
fn start_node(dir: &std::path::Path, args: &[&str]) -> NodeProcess {
    NodeProcess::start(&NodeConfig::new(dir).arg(args))
}

/// `/proc/PID/status`'s `key` (`VmHWM`, `VmRSS`, `VmData`) in KiB; 0 when absent.
pub fn proc_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// One sample: seconds since the start, `RssAnon` KiB, `RssFile` KiB, threads.
type Sample = (f64, u64, u64, u64);

/// The node's anonymous memory (`RssAnon`), file-backed resident memory (`RssFile`) and threads,
/// sampled every 200 ms on a thread of its own until [`MemoryTimeline::report`], which prints
/// the samples a second apart (where the memory goes: data, allocator, threads, page cache).
pub struct MemoryTimeline {
    /// Set to stop the sampling thread.
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The sampling thread, answering its samples.
    samples: std::thread::JoinHandle<Vec<Sample>>,
}

impl MemoryTimeline {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let samples = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut out = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let kb = |k| proc_kb(pid, k);
                out.push((
                    t0.elapsed().as_secs_f64(),
                    kb("RssAnon"),
                    kb("RssFile"),
                    kb("Threads"),
                ));
                std::thread::sleep(Duration::from_millis(200));
            }
            out
        });
        MemoryTimeline { stop, samples }
    }

    /// Stops sampling; prints a sample a second and the peak, labelled `what`.
    pub fn report(self, what: &str) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = self.samples.join().unwrap_or_default();
        let mut next = 0.0;
        for &(t, anon, file, threads) in &samples {
            if t >= next {
                println!(
                    "{what} {t:6.1} s: RssAnon {:7} KiB, RssFile {file:7} KiB, threads {threads}",
                    anon
                );
                next = t + 1.0;
            }
        }
        let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
        println!(
            "{what}: peak RssAnon {peak} KiB over {} samples",
            samples.len()
        );
    }
}

/// The limit of the tests, MiB: `MORE_LARGE_CAP_MIB` (0: none, to measure), else [`CAP_MIB`].
fn cap_mib() -> u64 {
    std::env::var("MORE_LARGE_CAP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CAP_MIB)
}

/// A memory cgroup holding the node (cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`),
/// removed when dropped (a process still in it moves to the parent first).
pub struct MemoryCap {
    dir: Option<PathBuf>,
}

impl MemoryCap {
    /// Puts `pid` into a new memory cgroup limited to `bytes`; none for 0. Without a writable
    /// cgroup hierarchy the test is skipped (`None`), or fails when `MORE_REQUIRE_SERVICES=1`.
    pub fn new(pid: u32, bytes: u64) -> Option<Self> {
        if bytes == 0 {
            return Some(MemoryCap { dir: None });
        }
        let name = format!("more-test-{}-{pid}", std::process::id());
        for (root, limit) in [
            ("/sys/fs/cgroup", "memory.max"),
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes"),
        ] {
            let dir = Path::new(root).join(&name);
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let ok = write_existing(&dir.join(limit), &bytes.to_string())
                && write_existing(&dir.join("cgroup.procs"), &pid.to_string());
            if ok {
                return Some(MemoryCap { dir: Some(dir) });
            }
            let _ = std::fs::remove_dir(&dir);
        }
        let need = std::env::var("MORE_REQUIRE_SERVICES").as_deref() == Ok("1");
        assert!(
            !need,
            "no writable memory cgroup (v2 memory.max or v1 memory.limit_in_bytes)"
        );
        eprintln!("skipped: no writable memory cgroup to cap the node");
        None
    }
}

/// Writes `text` to the existing file `path` (a cgroup's control file; never creates one).
fn write_existing(path: &Path, text: &str) -> bool {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .is_ok()
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            // Whatever still runs in it goes back to the parent, then the group goes.
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            if let Some(parent) = dir.parent() {
                for pid in procs.lines() {
                    write_existing(&parent.join("cgroup.procs"), pid);
                }
            }
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The shard bodies of `shards` x the plaintext block, each encrypted with fresh shadows.
pub struct Shards {
    key: SecretKey,
    x: Vec<f32>,
    y: Vec<f32>,
}

impl Shards {
    /// The block and the key.
    pub fn of_block() -> Self {
        let (x, y) = source(7, BLOCK_ROWS, WIDTH);
        Shards {
            key: SecretKey::from_seed(KEY_SEED),
            x,
            y,
        }
    }

    /// A shard's body: the block encrypted with fresh shadows.
    pub fn body(&self) -> Vec<u8> {
        let shape = [WIDTH];
        let rows = TrainingRows {
            task: Task::Classification,
            feature_shape: &shape,
            x: &self.x,
            y: &self.y,
            target_dim: 2,
        };
        let shadow = ShadowDistribution::default();
        shard_bundle(&self.key, &rows, 0..BLOCK_ROWS, &shadow).expect("encrypt a shard")
    }
}

/// Creates a dataset on `api` and appends `bodies()` to it; (id, seconds spent in the appends,
/// bytes sent).
pub fn upload_bodies(
    api: &Api,
    shards: usize,
    mut body: impl FnMut(usize) -> Vec<u8>,
) -> (String, f64, u64) {
    let node = Node::new(&api.base, None).expect("client");
    let meta = CreateDataset {
        name: "large".into(),
        task: "classification".into(),
        num_classes: Some(2),
    };
    let ds = node.create_dataset(&meta).expect("create");
    let id = ds["id"].as_str().expect("id").to_string();
    let (mut secs, mut bytes) = (0.0, 0);
    for k in 0..shards {
        let b = body(k);
        let t = Instant::now();
        node.append_shard(&id, k, &b).expect("append");
        secs += t.elapsed().as_secs_f64();
        bytes += b.len() as u64;
    }
    (id, secs, bytes)
}

/// Creates the model and trains it one epoch on `ds`; (model id, completed job record, seconds).
pub fn train(api: &Api, ds: &str) -> (String, Value, f64) {
    let spec = json!({"input_shape": [WIDTH], "layers": [{"type": "dense", "units": 16},
        {"type": "relu"}, {"type": "dense", "units": 2}]});
    let (s, model) = api.post_json("/v1/models", &json!({"name": "m", "spec": spec, "seed": 5}));
    assert_eq!(s, 201, "{model}");
    let model = model["id"].as_str().expect("id").to_string();
    let body = json!({"model_id": model, "dataset_id": ds, "epochs": 1, "batch_size": 256,
        "optimizer": {"type": "sgd", "learning_rate": 0.02, "momentum": 0.5}, "loss": "mse", "seed": 9});
    let (s, job) = api.post_json("/v1/jobs", &body);
    assert_eq!(s, 202, "{job}");
    let t = Instant::now();
    let job = job["id"].as_str().expect("id").to_string();
    let done = api.wait_job(&job, Duration::from_secs(600), |j| {
        !matches!(j["state"].as_str(), Some("queued" | "running"))
    });
    assert_eq!(done["state"], "completed", "{done}");
    (model, done, t.elapsed().as_secs_f64())
}

/// The bytes the node logged as read for `job` (the streamed source's count).
pub fn bytes_read(node: &NodeProcess, job: &str) -> u64 {
    node.log_text()
        .lines()
        .filter(|l| l.contains("dataset streamed") && l.contains(job))
        .filter_map(|l| {
            l.split("bytes_read=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn streamed_job_equals_the_in_memory_job_bit_for_bit() {
    let shards = Shards::of_block();
    let bodies: Vec<Vec<u8>> = (0..4).map(|_| shards.body()).collect();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let streamed = start_node(a.path(), &["--stream-above-mib", "0"]);
    let Some(_cap) = MemoryCap::new(streamed.pid(), CAP_MIB << 20) else {
        return;
    };
    let in_memory = start_node(b.path(), &[]);
    let mut runs = Vec::new();
    for node in [&streamed, &in_memory] {
        let (ds, _, _) = upload_bodies(node, bodies.len(), |k| bodies[k].clone());
        let (model, job, _) = train(node, &ds);
        runs.push((decrypted_weights(node, &shards.key, &model), job));
    }
    let id = runs[0].1["id"].as_str().unwrap_or_default().to_string();
    assert!(
        bytes_read(&streamed, &id) > 0,
        "the capped job was not streamed"
    );
    let bits = |w: &[(String, ndarray::ArrayD<f32>)]| -> Vec<(String, Vec<u32>)> {
        w.iter()
            .map(|(n, a)| (n.clone(), a.iter().map(|v| v.to_bits()).collect()))
            .collect()
    };
    assert_eq!(bits(&runs[0].0), bits(&runs[1].0), "weights differ");
    assert_eq!(runs[0].1["losses_sha256"], runs[1].1["losses_sha256"]);
}

/// What one capped run measured.
pub struct Run {
    /// The memory limit, MiB.
    pub cap_mib: u64,
    /// Whether the job was streamed (else loaded into memory).
    pub streamed: bool,
    /// Dataset bytes (shard bodies sent).
    pub bytes: u64,
    /// Shards.
    pub shards: usize,
    /// Seconds of the one epoch (job created to completed).
    pub epoch_secs: f64,
    /// The node's peak RSS (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// Bytes the streamed job read (0 when loaded).
    pub bytes_read: u64,
    /// MB/s of the shard appends.
    pub upload_mb_s: f64,
}

impl Run {
    /// The run as JSON (for the benchmark's file).
    pub fn to_json(&self) -> Value {
        json!({"cap_mib": self.cap_mib, "streamed": self.streamed, "bytes": self.bytes,
            "shards": self.shards, "epoch_secs": self.epoch_secs, "peak_rss_kib": self.peak_rss_kib,
            "bytes_read": self.bytes_read, "upload_mb_s": self.upload_mb_s})
    }
}

/// One run under a `cap_mib` limit: a dataset of `factor` x the limit trained one epoch,
/// streamed or loaded; printed and returned. Panics when the node's peak RSS reaches the limit
/// (it cannot pass it: an allocation past `RLIMIT_DATA` fails and the job or node fails).
pub fn capped_run(cap_mib: u64, factor: f64, streamed: bool) -> Option<Run> {
    let dir = tempfile::tempdir().unwrap();
    let threshold = if streamed { "0" } else { "1000000" };
    let node = start_node(
        dir.path(),
        &[
            "--stream-above-mib",
            threshold,
            "--stream-read-ahead-mib",
            "16",
        ],
    );
    // MORE_LARGE_LIMIT_MIB: a limit other than the size's reference (0: none, to measure).
    let limit = match std::env::var("MORE_LARGE_LIMIT_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(mib) => mib << 20,
        None if std::env::var("MORE_LARGE_CAP_MIB").as_deref() == Ok("0") => 0,
        None => cap_mib << 20,
    };
    let _cap = MemoryCap::new(node.pid(), limit)?;
    let shards = Shards::of_block();
    let shard_bytes = shards.body().len() as u64;
    let count = (((cap_mib << 20) as f64 * factor) / shard_bytes as f64).ceil() as usize;
    let timeline = MemoryTimeline::start(node.pid());
    let (ds, upload_secs, bytes) = upload_bodies(&node, count, |_| shards.body());
    timeline.report("upload");
    let timeline = MemoryTimeline::start(node.pid());
    let (_, job, epoch_secs) = train(&node, &ds);
    timeline.report("epoch");
    let id = job["id"].as_str().unwrap_or_default().to_string();
    let run = Run {
        cap_mib,
        streamed,
        bytes,
        shards: count,
        epoch_secs,
        peak_rss_kib: proc_kb(node.pid(), "VmHWM"),
        bytes_read: bytes_read(&node, &id),
        upload_mb_s: bytes as f64 / 1e6 / upload_secs,
    };
    println!("{}", run.to_json());
    assert!(
        limit == 0 || run.peak_rss_kib << 10 < limit,
        "peak RSS {} KiB over the limit",
        run.peak_rss_kib
    );
    Some(run)
}

#[test]
fn dataset_four_times_the_memory_limit_trains_to_completion() {
    let Some(run) = capped_run(cap_mib().max(1), FACTOR as f64, true) else {
        return;
    };
    assert!(run.bytes >= FACTOR * (cap_mib().max(1) << 20));
    assert!(
        run.bytes_read >= run.bytes * 9 / 10,
        "the epoch read {} of {} bytes",
        run.bytes_read,
        run.bytes
    );
}

#[test]
#[ignore = "full tier: 1 GiB limit, 4+ GiB dataset; minutes and ~5 GB of disk"]
fn large_dataset_full_tier() {
    let cap_mib = std::env::var("MORE_LARGE_CAP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let factor = std::env::var("MORE_LARGE_FACTOR")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4.0);
    capped_run(cap_mib, factor, true);
}
