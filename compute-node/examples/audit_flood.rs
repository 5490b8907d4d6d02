//! Audit cost under a flood of refusals: 4 threads send requests without a token (401s) to an
//! in-process node on loopback while one legitimate client (an API key) lists models one request
//! at a time; prints the legitimate request's median and p95 latency without and with the flood,
//! once with every refusal written (`--audit-refusal-window-seconds 0`) and once aggregated per
//! peer (the default 60 s window), and the audit rows each run left.
//!
//! `cargo run --release -p more-node --example audit_flood -- [flood_seconds] [rate]` (defaults
//! 10 and 0). `rate`: refusals per second per flooding thread (0: as fast as they are answered;
//! the flood is then bounded by the machine's CPU, and aggregated refusals, being cheaper, come
//! faster; a fixed rate compares the two at the same load).
//! A measurement, not a test: numbers depend on the machine and its disk (SQLite fsyncs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use more_server::auth::{api_keys, Role};
use more_server::db::Db;
use more_server::{Application, Settings};

fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let seconds = args.first().copied().unwrap_or(10);
    let rate = args.get(1).copied().unwrap_or(0);
    for window in [0, 60] {
        run(window, Duration::from_secs(seconds), rate)?;
    }
    Ok(())
}

fn run(window: u64, flood_for: Duration, rate: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        bind: "127.0.0.1:0".into(),
        handle_signals: false,
        workers: 2,
        insecure_no_auth: false,
        audit_refusal_window: Duration::from_secs(window),
        ..Settings::default()
    };
    let db_url = settings.db_url()?;
    let export_url = db_url.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let app = Application::build(settings).await.expect("build");
            let db = Db::connect(&db_url).await.expect("db");
            api_keys::create_tenant(&db, "bench").await.expect("tenant");
            let key = api_keys::create_key(&db, "bench", Role::Viewer)
                .await
                .expect("key");
            drop(db);
            tx.send((app.port(), app.handle(), key.key)).expect("send");
            app.run_until_stopped().await.expect("run");
        });
    });
    let (port, handle, key) = rx.recv()?;
    let base = format!("http://127.0.0.1:{port}/v1/models");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let legit = |d: Duration| -> Vec<f64> {
        let mut ms = Vec::new();
        let start = Instant::now();
        while start.elapsed() < d {
            let t = Instant::now();
            let status = agent
                .get(&base)
                .header("authorization", format!("Bearer {key}"))
                .call()
                .expect("legit request")
                .status();
            assert_eq!(status.as_u16(), 200);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms
    };
    let quiet = legit(Duration::from_secs(3));
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let (stop, refused, base) = (stop.clone(), refused.clone(), base.clone());
            let agent = agent.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if rate > 0 {
                        let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    sent += 1;
                    if let Ok(r) = agent.get(&base).call() {
                        assert_eq!(r.status().as_u16(), 401);
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let flooded = legit(flood_for);
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().expect("flooder");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(handle.stop(true));
    server.join().expect("server thread");
    let rows = rt.block_on(async {
        let db = Db::connect(&export_url).await?;
        anyhow::Ok(more_server::audit::export(&db, None, None).await?)
    })?;
    let refusal_rows = rows.iter().filter(|r| r.status == 401).count();
    println!(
        "window {window:>2} s: legit median {:.2} ms p95 {:.2} ms quiet ({} requests); \
         median {:.2} ms p95 {:.2} ms under {} 401s in {:.0} s ({} requests); {} audit rows of \
         401s",
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.95),
        quiet.len(),
        percentile(&flooded, 0.5),
        percentile(&flooded, 0.95),
        refused.load(Ordering::Relaxed),
        flood_for.as_secs_f64(),
        flooded.len(),
        refusal_rows
    );
    Ok(())
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}
