//! The numbers of BENCHMARKS.md's "Datasets larger than memory" (issue #32), ignored (minutes,
//! gigabytes of disk): run once by hand,
//! `cargo build --release -p more-node && MORE_BENCH_NODE_BIN=target/release/more-node MORE_LARGE_CAP_MIB=1024 cargo test -p more-node --test node large_dataset_bench:: -- --ignored --nocapture --test-threads=1`
//! (the node a release build; the client, this test, encrypts at the test profile's speed, which
//! the numbers do not include).
//!
//! - `epoch_time_and_rss_against_dataset_size`: one epoch of the same model at dataset sizes from
//!   a quarter of the memory limit (loaded into memory) to 4x it (streamed), each under the limit
//!   (a memory cgroup, see `large_dataset_memory`); writes `target/large-dataset/sizes.json` and
//!   the plot `target/large-dataset/epoch-rss.svg` (SVG written here: no plotting dependency);
//! - `upload_throughput_to_files_and_s3`: MB/s of shard appends (the node's receive, check and
//!   store; encryption not counted) to its file store and to SeaweedFS's S3.
//!
//! Each run's data lives in a temp dir deleted at its end.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::large_dataset_memory::{capped_run, Run, Shards};
use crate::server_common::process::{NodeConfig, NodeProcess};
use crate::services::SeaweedS3;

fn cap_mib() -> u64 {
    std::env::var("MORE_LARGE_CAP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/large-dataset");
    std::fs::create_dir_all(&dir).expect("target/large-dataset");
    dir
}

#[test]
#[ignore = "benchmark: minutes and up to 5 GB of disk; numbers in BENCHMARKS.md"]
fn epoch_time_and_rss_against_dataset_size() {
    let cap = cap_mib();
    let mut runs = Vec::new();
    for factor in [0.25, 1.0, 2.0, 4.0] {
        // The smallest fits the node's default in-memory threshold: loaded, not streamed.
        runs.push(capped_run(cap, factor, factor >= 1.0).expect("a memory cgroup"));
    }
    let json: Vec<serde_json::Value> = runs.iter().map(Run::to_json).collect();
    let dir = out_dir();
    std::fs::write(
        dir.join("sizes.json"),
        serde_json::to_vec_pretty(&json).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("epoch-rss.svg"), svg(cap, &runs)).unwrap();
}

#[test]
#[ignore = "benchmark: ~1 GB to a file store and to SeaweedFS"]
fn upload_throughput_to_files_and_s3() {
    let shards = Shards::of_block();
    let count = (1usize << 30) / shards.body().len();
    let files = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&NodeConfig::new(files.path()));
    let (_, secs, bytes) =
        crate::large_dataset_memory::upload_bodies(&node, count, |_| shards.body());
    println!(
        "file store: {bytes} B in {secs:.1} s = {:.0} MB/s",
        bytes as f64 / 1e6 / secs
    );
    drop(node);
    drop(files);
    let Some(s3) = SeaweedS3::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path()).arg(&["--store", &s3.bucket_url()]);
    config.env.extend(s3.env());
    let node = NodeProcess::start(&config);
    let (_, secs, bytes) =
        crate::large_dataset_memory::upload_bodies(&node, count, |_| shards.body());
    println!(
        "S3 (SeaweedFS): {bytes} B in {secs:.1} s = {:.0} MB/s",
        bytes as f64 / 1e6 / secs
    );
}

/// Epoch seconds and peak RSS against dataset GiB, two polylines on one SVG, the limit dashed.
fn svg(cap_mib: u64, runs: &[Run]) -> String {
    let (w, h, m) = (640.0, 360.0, 60.0);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let max_x = runs
        .iter()
        .map(|r| gib(r.bytes))
        .fold(0.0, f64::max)
        .max(1e-9);
    let max_t = runs
        .iter()
        .map(|r| r.epoch_secs)
        .fold(0.0, f64::max)
        .max(1e-9);
    let max_m = (cap_mib as f64).max(
        runs.iter()
            .map(|r| r.peak_rss_kib as f64 / 1024.0)
            .fold(0.0, f64::max),
    );
    let x = |v: f64| m + v / max_x * (w - 2.0 * m);
    let y = |v: f64, max: f64| h - m + -(v / max) * (h - 2.0 * m);
    let line = |pts: Vec<(f64, f64)>, color: &str| {
        let p: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            p.join(" ")
        )
    };
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n");
    let _ = writeln!(s, "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>");
    let _ = writeln!(s, "<text x=\"{m}\" y=\"24\">One epoch against dataset size, node limited to {cap_mib} MiB (memory cgroup)</text>");
    let _ = writeln!(
        s,
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        h - m,
        w - m,
        h - m
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\">dataset GiB (ciphertext)</text>",
        w / 2.0 - 60.0,
        h - 20.0
    );
    for r in runs {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.2}</text>",
            x(gib(r.bytes)),
            h - m + 16.0,
            gib(r.bytes)
        );
    }
    let t: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| (x(gib(r.bytes)), y(r.epoch_secs, max_t)))
        .collect();
    let rss: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| (x(gib(r.bytes)), y(r.peak_rss_kib as f64 / 1024.0, max_m)))
        .collect();
    let _ = writeln!(s, "{}", line(t, "#1f77b4"));
    let _ = writeln!(s, "{}", line(rss, "#d62728"));
    let cy = y(cap_mib as f64, max_m);
    let _ = writeln!(s, "<line x1=\"{m}\" y1=\"{cy:.1}\" x2=\"{}\" y2=\"{cy:.1}\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>", w - m);
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{:.1}\" fill=\"#d62728\">limit {cap_mib} MiB</text>",
        w - m - 90.0,
        cy - 4.0
    );
    let _ = writeln!(
        s,
        "<text x=\"{m}\" y=\"44\" fill=\"#1f77b4\">epoch seconds (max {max_t:.0} s)</text>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"44\" fill=\"#d62728\">peak RSS MiB (max {max_m:.0})</text>",
        m + 220.0
    );
    s.push_str("</svg>\n");
    s
}
