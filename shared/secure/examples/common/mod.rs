//! What the profiling examples share.
use std::time::Instant;

/// Runs `f` `reps` times, prints the mean milliseconds per run under `label`, returns the last
/// result.
pub fn time<T>(label: &str, reps: usize, mut f: impl FnMut() -> T) -> T {
    let t = Instant::now();
    let mut out = None;
    for _ in 0..reps {
        out = Some(f());
    }
    println!(
        "{label}: {:.3} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
    out.unwrap()
}
