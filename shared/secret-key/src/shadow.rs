//! The distribution of the shadow values `r`.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use more_core::{MoreError, Result};

/// How the random second eigenvalue `r` of each ciphertext ("the shadow") is drawn.
///
/// The shadows go through the whole computation as a second, independent training run. If they are
/// badly scaled that run diverges, and its NaN/∞ destroys the real channel too: measured with a
/// numpy prototype while the engine was designed (not in the repository), `r ~ U[0,1]` on MNIST
/// inputs diverged, while zero-mean small noise or noise matched to the data's per-feature mean and
/// standard deviation trained fine (ARCHITECTURE.md, "The shadow channel must stay bounded").
/// Shadows matched to the data also make the shadow slot harder to tell from the message slot by
/// its statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShadowDistribution {
    /// `r ~ N(0, std²)` for every value.
    Gaussian {
        /// Standard deviation, `> 0`.
        std: f64,
    },
    /// `r ~ N(mean_j, std_j²)` for feature `j`, where the features are the values of one sample
    /// (all axes but the first, flattened); a list of length 1 applies to every feature.
    MomentMatched {
        /// Per-feature means.
        mean: Vec<f64>,
        /// Per-feature standard deviations, `≥ 0`.
        std: Vec<f64>,
    },
    /// Each sample's shadows form a random probability vector: `r = softmax(z)` with
    /// `z ~ N(0, 1)` per value. For one-hot classification targets under cross-entropy: the shadow
    /// run then solves a well-posed cross-entropy problem of its own. With shadows that are not a
    /// probability vector the shadow loss `−Σ r·log p` is unbounded below and the shadow channel
    /// diverges (measured: `N(0, 0.1²)` target shadows on 600 MNIST digits, SGD 0.1, overflowed in
    /// epoch 3; with this distribution 8 epochs trained cleanly).
    Simplex,
}

impl Default for ShadowDistribution {
    /// `N(0, 0.1²)`, the feature shadows of every run in README.md's results table (MNIST, WBC,
    /// angiography: every prediction equal to the plaintext run's).
    fn default() -> Self {
        ShadowDistribution::Gaussian { std: 0.1 }
    }
}

impl ShadowDistribution {
    /// Moment-matched shadows from the per-feature mean and standard deviation of `data`, a
    /// row-major `(samples, features)` buffer.
    ///
    /// # Errors
    /// [`MoreError::InvalidParameter`] if `features` is 0 or does not divide the length.
    pub fn matched_to(data: &[f64], features: usize) -> Result<Self> {
        if features == 0 || !data.len().is_multiple_of(features) || data.is_empty() {
            return Err(MoreError::InvalidParameter(format!(
                "moment matching: {} values do not form rows of {features} features",
                data.len()
            )));
        }
        let n = (data.len() / features) as f64;
        let mut mean = vec![0.0; features];
        let mut sq = vec![0.0; features];
        for row in data.chunks(features) {
            for (j, &v) in row.iter().enumerate() {
                mean[j] += v / n;
                sq[j] += v * v / n;
            }
        }
        let std = mean
            .iter()
            .zip(&sq)
            .map(|(m, s)| (s - m * m).max(0.0).sqrt())
            .collect();
        Ok(ShadowDistribution::MomentMatched { mean, std })
    }

    /// Checks the parameters and that they fit `features` values per sample.
    ///
    /// # Errors
    /// [`MoreError::InvalidParameter`] for a non-positive or non-finite deviation, or lists whose
    /// length is neither 1 nor `features`.
    pub fn validate(&self, features: usize) -> Result<()> {
        match self {
            ShadowDistribution::Gaussian { std } => {
                if !(std.is_finite() && *std > 0.0) {
                    return Err(MoreError::InvalidParameter(format!(
                        "shadow std must be finite and > 0, got {std}"
                    )));
                }
            }
            ShadowDistribution::MomentMatched { mean, std } => {
                if mean.len() != std.len() || !(mean.len() == 1 || mean.len() == features) {
                    return Err(MoreError::InvalidParameter(format!(
                        "moment-matched shadow has {} means and {} deviations for {features} features",
                        mean.len(),
                        std.len()
                    )));
                }
                if mean.iter().chain(std).any(|v| !v.is_finite()) || std.iter().any(|&s| s < 0.0) {
                    return Err(MoreError::InvalidParameter(
                        "moment-matched shadow needs finite means and deviations ≥ 0".into(),
                    ));
                }
            }
            ShadowDistribution::Simplex => {}
        }
        Ok(())
    }

    /// Draws one shadow per value for `len` values laid out as samples of `features` values.
    pub(crate) fn sample(&self, rng: &mut impl Rng, len: usize, features: usize) -> Vec<f64> {
        match self {
            ShadowDistribution::Gaussian { std } => {
                let normal = Normal::new(0.0, *std).expect("validated");
                (0..len).map(|_| normal.sample(rng)).collect()
            }
            ShadowDistribution::MomentMatched { mean, std } => (0..len)
                .map(|i| {
                    let j = if mean.len() == 1 { 0 } else { i % features };
                    mean[j] + std[j] * rng.sample::<f64, _>(rand_distr::StandardNormal)
                })
                .collect(),
            ShadowDistribution::Simplex => {
                let mut r: Vec<f64> = (0..len)
                    .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal).exp())
                    .collect();
                for row in r.chunks_mut(features.max(1)) {
                    let total: f64 = row.iter().sum();
                    row.iter_mut().for_each(|v| *v /= total);
                }
                r
            }
        }
    }
}
