//! Times the generation of 4,000 images at 64×64 (LCA vs RCA task).
//! Run: `cargo run --release -p more-angiography --example timing`.
use more_angiography::{generate_with, GeneratorConfig, Task};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 4000;
    let t = Instant::now();
    let ds = generate_with(
        &GeneratorConfig::default(),
        n,
        64,
        Task::ArteryTree,
        7,
        None,
    )?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "{n} images 64x64 in {s:.2} s ({:.2} ms/image) on {} rayon threads; counts {:?}",
        1000.0 * s / n as f64,
        rayon::current_num_threads(),
        ds.class_counts()
    );
    Ok(())
}
