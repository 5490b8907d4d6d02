//! Load check: concurrent predict requests on loopback against an in-process node.
//!
//! `cargo run --release -p more-node --example load_check -- [clients] [requests] [batch]`
//! (defaults 8, 400, 32). Uploads nothing but a model: an `mnist_mlp` with its initial weights
//! predicting compact-encrypted random 784-pixel batches. Prints throughput, latency
//! percentiles and the error count.

use std::time::{Duration, Instant};

use more_client::{SecretKey, ShadowDistribution};
use more_core::wire;
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
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        bind: "127.0.0.1:0".into(),
        handle_signals: false,
        workers: 2,
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
    let mut resp = agent
        .post(format!("{base}/v1/models"))
        .header("content-type", "application/json")
        .send(r#"{"name":"load","preset":"mnist_mlp","input_shape":[784],"outputs":10}"#)?;
    let model: serde_json::Value = serde_json::from_slice(&resp.body_mut().read_to_vec()?)?;
    let url = format!(
        "{base}/v1/models/{}/predict",
        model["id"].as_str().expect("id")
    );
    let key = SecretKey::from_seed(1);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = Array2::from_shape_fn((batch, 784), |_| rng.random_range(0.0f32..1.0)).into_dyn();
    let body = wire::encode(&key.encrypt_compact(&x, &ShadowDistribution::default(), &mut rng)?);
    println!(
        "predict: {clients} clients x {} requests, batch {batch} (body {} kB), mnist_mlp, compact f32",
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
                        match agent.post(&url).send(&body[..]) {
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
