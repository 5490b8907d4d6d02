//! Synthetic data shared by the attack tests (no downloads).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Side of the synthetic images.
pub const SIDE: usize = 28;
/// Pixels per synthetic image.
pub const PIXELS: usize = SIDE * SIDE;

/// `n` 28x28 digit-like blobs (an elliptic ring of 8-bit-quantised intensities in [0.2, 1]), about
/// 80 % exact zeros; row-major `(n, 784)`.
pub fn images(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n * PIXELS);
    for _ in 0..n {
        let (cy, cx) = (rng.random_range(11.0..17.0), rng.random_range(11.0..17.0));
        let (ry, rx) = (rng.random_range(7.0..10.0), rng.random_range(4.0..7.0));
        for y in 0..SIDE {
            for x in 0..SIDE {
                let d = ((y as f64 - cy) / ry).powi(2) + ((x as f64 - cx) / rx).powi(2);
                out.push(if (0.25..=1.0).contains(&d) {
                    (rng.random_range(0.2f64..1.0) * 255.0).round() / 255.0
                } else {
                    0.0
                });
            }
        }
    }
    out
}
