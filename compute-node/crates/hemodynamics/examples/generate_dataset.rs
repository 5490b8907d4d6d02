//! Generates a data set, writes the CSV and data card, and reports the wall time.
//!
//! Run: `cargo run --release -p more-hemodynamics --example generate_dataset -- [count] [seed] [out_dir]`
//! (defaults: 5000 patients, seed 2024, the system temporary directory).
use more_hemodynamics::{data_card, generate_dataset, write_csv_file};
use std::sync::atomic::{AtomicUsize, Ordering};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5000);
    let seed: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2024);
    let out_dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let last_report = AtomicUsize::new(0);
    let progress = |done: usize| {
        if done * 10 / count.max(1) > last_report.load(Ordering::Relaxed) {
            last_report.store(done * 10 / count.max(1), Ordering::Relaxed);
            eprintln!("{done}/{count}");
        }
    };
    let start = std::time::Instant::now();
    let dataset = generate_dataset(count, seed, Some(&progress))?;
    let elapsed = start.elapsed();
    println!(
        "{count} patients in {elapsed:.2?} on {} threads ({} + {} rejected draws)",
        rayon::current_num_threads(),
        dataset.rejected_without_steady_state,
        dataset.rejected_non_physiologic
    );
    std::fs::create_dir_all(&out_dir)?;
    write_csv_file(&dataset.records, out_dir.join("wbc-dataset.csv"))?;
    std::fs::write(out_dir.join("wbc-dataset-card.md"), data_card(&dataset))?;
    println!("wrote {}", out_dir.display());
    Ok(())
}
