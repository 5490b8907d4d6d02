//! Load check: concurrent predict requests on loopback against an in-process node.
//!
//! `cargo run --release -p more-node --example load_check -- [clients] [requests] [batch] [cache_mb]`
//! (defaults 8, 400, 32, 256; `cache_mb` 0 turns the predict weights cache off). Does what a hospital does before predicting: uploads a compact-encrypted
//! training set (1,024 random 784-pixel samples, one-hot targets), trains `mnist_mlp` on the node
//! for one epoch, so the model's weights are compact ciphertexts stored on disk and loaded by the
//! predict route exactly as real requests load them; then `clients` threads post
//! compact-encrypted batches to `POST /v1/models/{id}/predict`. Prints throughput, latency
//! percentiles and the error count.

use std::time::{Duration, Instant};

use more_core::wire;
use more_secret_key::{SecretKey, ShadowDistribution};
use more_server::{Application, Settings};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("number"))
        .collect();
    let clients = args.first().copied().unwrap_or(8);
    let requests = args.get(1).copied().unwrap_or(400);
    let batch = args.get(2).copied().unwrap_or(32);
    let cache_mb = args.get(3).copied().unwrap_or(256);
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        bind: "127.0.0.1:0".into(),
        handle_signals: false,
        workers: 2,
        model_cache_bytes: cache_mb << 20,
        insecure_no_auth: true,
        ..Settings::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let app = Application::build(settings).await.expect("build");
            tx.send((app.port(), app.handle())).expect("send");
            app.run_until_stopped().await.expect("run");
        });
    });
    let (port, handle) = rx.recv()?;
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let key = SecretKey::from_seed(1);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let model_id = train_on_the_node(&agent, &base, &key, &mut rng)?;
    let url = format!("{base}/v1/models/{model_id}/predict");
    let x = Array2::from_shape_fn((batch, 784), |_| rng.random_range(0.0f32..1.0)).into_dyn();
    let body = wire::encode(&key.encrypt_compact(&x, &ShadowDistribution::default(), &mut rng)?);
    println!(
        "predict: {clients} clients x {} requests, batch {batch} (body {} kB), mnist_mlp trained on the node (compact f32 weights), compact f32 inputs, weights cache {cache_mb} MiB",
        requests / clients,
        body.len() / 1000
    );
    let start = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (agent, url, body) = (agent.clone(), url.clone(), body.clone());
                s.spawn(move || {
                    let (mut lat, mut errors) = (Vec::new(), 0);
                    for _ in 0..requests / clients {
                        let t = Instant::now();
                        match agent
                            .post(&url)
                            .header("content-type", "application/octet-stream")
                            .send(&body[..])
                        {
                            Ok(mut r) if r.status() == 200 => {
                                let _ = r.body_mut().with_config().limit(1 << 30).read_to_vec();
                                lat.push(t.elapsed());
                            }
                            _ => errors += 1,
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client"))
            .collect()
    });
    let wall = start.elapsed();
    let errors: usize = results.iter().map(|r| r.1).sum();
    let mut lat: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "ok {} errors {errors} in {:.2} s: {:.1} req/s, {:.0} samples/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        (lat.len() * batch) as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(handle.stop(true));
    server.join().expect("server");
    Ok(())
}

/// Posts JSON and returns the answer, failing on a non-2xx status.
fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let mut resp = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string())?;
    let status = resp.status();
    let answer: serde_json::Value = serde_json::from_slice(&resp.body_mut().read_to_vec()?)?;
    anyhow::ensure!(status.is_success(), "{url}: {status} {answer}");
    Ok(answer)
}

/// Uploads an encrypted training set, trains `mnist_mlp` one epoch on the node and waits for the
/// job; returns the model id.
fn train_on_the_node(
    agent: &ureq::Agent,
    base: &str,
    key: &SecretKey,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<String> {
    let n = 1024;
    let x = Array2::from_shape_fn((n, 784), |_| rng.random_range(0.0f32..1.0)).into_dyn();
    let mut y = Array2::<f32>::zeros((n, 10));
    for i in 0..n {
        y[[i, rng.random_range(0..10)]] = 1.0;
    }
    let features = wire::encode(&key.encrypt_compact(&x, &ShadowDistribution::default(), rng)?);
    let targets =
        wire::encode(&key.encrypt_compact(&y.into_dyn(), &ShadowDistribution::Simplex, rng)?);
    let ds = post_json(
        agent,
        &format!("{base}/v1/datasets"),
        &serde_json::json!({"name": "load", "task": "classification", "num_classes": 10}),
    )?;
    let ds = ds["id"].as_str().expect("id").to_string();
    for (part, bytes) in [("features", &features), ("targets", &targets)] {
        let resp = agent
            .put(format!("{base}/v1/datasets/{ds}/{part}"))
            .header("content-type", "application/octet-stream")
            .send(&bytes[..])?;
        anyhow::ensure!(resp.status() == 200, "upload {part}: {}", resp.status());
    }
    let model = post_json(
        agent,
        &format!("{base}/v1/models"),
        &serde_json::json!({"name": "load", "preset": "mnist_mlp", "input_shape": [784], "outputs": 10}),
    )?;
    let model_id = model["id"].as_str().expect("id").to_string();
    let job = post_json(
        agent,
        &format!("{base}/v1/jobs"),
        &serde_json::json!({"model_id": model_id, "dataset_id": ds, "epochs": 1, "batch_size": 64,
            "optimizer": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.9}, "seed": 1}),
    )?;
    let job_url = format!("{base}/v1/jobs/{}", job["id"].as_str().expect("id"));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let state: serde_json::Value =
            serde_json::from_slice(&agent.get(&job_url).call()?.body_mut().read_to_vec()?)?;
        match state["state"].as_str() {
            Some("completed") => return Ok(model_id),
            Some("queued" | "running") if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => anyhow::bail!("training job ended as {state}"),
        }
    }
}
