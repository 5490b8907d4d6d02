//! Detector blur (Gaussian point-spread function) and quantum (Poisson) noise.

use rand::Rng;
use rand_distr::{Distribution, Normal, Poisson};

/// Separable Gaussian blur of a row-major `n × n` image with standard deviation `sigma_px` pixels
/// (kernel truncated at 3σ, edges clamped). `sigma_px <= 0` leaves the image unchanged.
pub fn gaussian_blur(img: &[f64], n: usize, sigma_px: f64) -> Vec<f64> {
    if sigma_px <= 0.0 || n == 0 {
        return img.to_vec();
    }
    let rad = (3.0 * sigma_px).ceil() as isize;
    let mut k: Vec<f64> = (-rad..=rad)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma_px * sigma_px)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    let clamp = |i: isize| i.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0.0; n * n];
    for r in 0..n {
        for c in 0..n {
            tmp[r * n + c] = k
                .iter()
                .enumerate()
                .map(|(j, w)| w * img[r * n + clamp(c as isize + j as isize - rad)])
                .sum();
        }
    }
    let mut out = vec![0.0; n * n];
    for r in 0..n {
        for c in 0..n {
            out[r * n + c] = k
                .iter()
                .enumerate()
                .map(|(j, w)| w * tmp[clamp(r as isize + j as isize - rad) * n + c])
                .sum();
        }
    }
    out
}

/// Mean of `f × f` blocks: a row-major `(n·f) × (n·f)` image to `n × n` (detector pixel integration
/// of supersampled intensities).
pub fn box_downsample(img: &[f64], n: usize, f: usize) -> Vec<f64> {
    let big = n * f;
    let mut out = vec![0.0; n * n];
    for r in 0..big {
        for c in 0..big {
            out[(r / f) * n + c / f] += img[r * big + c];
        }
    }
    let norm = 1.0 / (f * f) as f64;
    out.iter_mut().for_each(|v| *v *= norm);
    out
}

/// Replaces each expected photon count λ by a draw from Poisson(λ) (Gaussian N(λ, λ) above
/// λ = 1e4, where the two agree to better than 1 %). Negative or non-finite λ count as 0.
pub fn poisson_counts<R: Rng + ?Sized>(expected: &[f64], rng: &mut R) -> Vec<f64> {
    let std_normal = Normal::new(0.0, 1.0).ok();
    expected
        .iter()
        .map(|&lam| {
            if !lam.is_finite() || lam <= 0.0 {
                0.0
            } else if lam > 1e4 {
                let z: f64 = std_normal.map(|d| d.sample(rng)).unwrap_or(0.0);
                (lam + lam.sqrt() * z).max(0.0)
            } else {
                Poisson::new(lam).map(|d| d.sample(rng)).unwrap_or(lam)
            }
        })
        .collect()
}
