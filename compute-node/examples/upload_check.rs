//! Upload check: streams one large compact-encrypted dataset tensor to a running node and reports
//! the throughput and the node's peak memory.
//!
//! `cargo run --release -p more-node --example upload_check -- BASE_URL NODE_PID [MB] [RUNS]`
//! (defaults 500 MB, 3 runs). Start the node yourself (`more-node serve --data-dir D
//! --insecure-no-auth --max-upload-mb 1024`, with `--store s3://bucket` for S3) so that this process, which holds the
//! ciphertext in memory, is not the one measured. Each run creates a dataset and `PUT`s the
//! features (samples × 784 compact f32 ciphertexts, 8 bytes a value); the node validates every
//! value and streams the body into its object store. Peak memory is the node's `VmHWM` from
//! `/proc/PID/status` (Linux) after each run, next to its `VmRSS` before the first.

use std::time::Instant;

use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = args
        .first()
        .cloned()
        .unwrap_or("http://127.0.0.1:8080".into());
    let pid: u32 = args.get(1).map(|p| p.parse()).transpose()?.unwrap_or(0);
    let megabytes: usize = args.get(2).map(|m| m.parse()).transpose()?.unwrap_or(500);
    let runs: usize = args.get(3).map(|r| r.parse()).transpose()?.unwrap_or(3);
    let body = ciphertext_of_about(megabytes)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    println!(
        "upload: {:.1} MB compact f32 ciphertext to {base}; node RSS before: {} MiB",
        body.len() as f64 / 1e6,
        proc_status_kib(pid, "VmRSS:").unwrap_or(0) / 1024
    );
    for run in 1..=runs {
        let id = create_dataset(&agent, &base)?;
        let start = Instant::now();
        let mut resp = agent
            .put(format!("{base}/v1/datasets/{id}/features"))
            .header("content-type", "application/octet-stream")
            .send(&body[..])?;
        let seconds = start.elapsed().as_secs_f64();
        let answer = resp.body_mut().read_to_string()?;
        anyhow::ensure!(resp.status() == 200, "upload failed: {answer}");
        println!(
            "run {run}: {:.2} s, {:.1} MB/s; node peak RSS (VmHWM) {} MiB",
            seconds,
            body.len() as f64 / 1e6 / seconds,
            proc_status_kib(pid, "VmHWM:").unwrap_or(0) / 1024
        );
    }
    Ok(())
}

/// The wire bytes of a compact f32 ciphertext of shape (samples, 784) of about `megabytes` MB.
fn ciphertext_of_about(megabytes: usize) -> anyhow::Result<Vec<u8>> {
    let samples = (megabytes * 1_000_000 / (784 * 8)).max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let x = Array2::from_shape_fn((samples, 784), |_| rng.random_range(0.0f32..1.0)).into_dyn();
    let key = SecretKey::from_seed(7);
    Ok(wire::encode(&key.encrypt_compact(
        &x,
        &ShadowDistribution::default(),
        &mut rng,
    )?))
}

fn create_dataset(agent: &ureq::Agent, base: &str) -> anyhow::Result<String> {
    let mut resp = agent
        .post(format!("{base}/v1/datasets"))
        .header("content-type", "application/json")
        .send(r#"{"name": "upload check", "task": "classification", "num_classes": 10}"#)?;
    let answer: serde_json::Value = serde_json::from_slice(&resp.body_mut().read_to_vec()?)?;
    anyhow::ensure!(resp.status() == 201, "create dataset: {answer}");
    Ok(answer["id"].as_str().unwrap_or_default().to_string())
}

/// A `kB` field of `/proc/PID/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
