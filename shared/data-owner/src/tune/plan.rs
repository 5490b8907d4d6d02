//! The learning-rate range test's plan: which rates, how many epochs, on how many samples.
//!
//! Smith's range test (Smith 2017, §3.3) trains briefly while the rate grows and reads where the
//! loss starts to fall and where it turns ragged. Encrypted jobs are independent runs, so the
//! test here is one short job per rate on a log grid (each with the same seed, subset and
//! validation set), compared by their decrypted validation losses ([`super::choose`]).

use serde::{Deserialize, Serialize};

/// Smallest rate of the default grid.
pub const DEFAULT_LOW: f64 = 1e-3;
/// Largest rate of the default grid (with momentum 0.9 the effective step is ten times larger).
pub const DEFAULT_HIGH: f64 = 0.3;
/// Grid points per decade of the default grid (1e-3, 3.2e-3, 1e-2, ...).
pub const DEFAULT_PER_DECADE: usize = 2;
/// Most training samples a trial job trains on (the range test costs a few short jobs, not a
/// few full runs).
pub const DEFAULT_BUDGET_SAMPLES: usize = 2000;
/// Samples a trial should see in all (so tiny tables still take a few hundred steps' worth of
/// signal): the epochs are `⌈SAMPLES_SEEN / train_samples⌉`, 1 to [`MAX_TRIAL_EPOCHS`].
pub const SAMPLES_SEEN: usize = 1000;
/// Most epochs of a trial job.
pub const MAX_TRIAL_EPOCHS: usize = 3;
/// The validation fraction of the training part.
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;
/// Largest default mini-batch (Bengio 2012, "Practical recommendations for gradient-based
/// training of deep architectures", §3.1: 32 is a good default).
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// Smallest default mini-batch.
pub const MIN_BATCH_SIZE: usize = 8;
/// Optimizer steps an epoch should take at least: below `DEFAULT_BATCH_SIZE ×` this many samples
/// the default batch shrinks (down to [`MIN_BATCH_SIZE`]). SGD's progress goes with its steps, not
/// its epochs: on NCCTG lung's 146 fitting rows a batch of 32 makes 5 steps an epoch, and 100
/// epochs left the linear model short of the logistic regression's optimum along the features'
/// flattest direction (NumPy SGD with the page's schedule, 8 seeds: test probabilities 0.005 from
/// the optimum's at batch 32, 0.003 at batch 8; 40 epochs: 0.018 and 0.006). Small batches train
/// as well or better (Masters, Luschi 2018, "Revisiting Small Batch Training for Deep Neural
/// Networks").
pub const MIN_STEPS_PER_EPOCH: usize = 16;

/// What the plan is for. JSON: `{"samples": 1600, "classes": 2}` (the rest optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// Samples of the training part (the test part is not touched by tuning).
    pub samples: usize,
    /// Classes of a classification (`None`: regression); informs nothing but the check that
    /// each class can reach the validation set.
    #[serde(default)]
    pub classes: Option<usize>,
    /// Most training samples per trial (default [`DEFAULT_BUDGET_SAMPLES`]).
    #[serde(default)]
    pub budget_samples: Option<usize>,
    /// Smallest and largest rate (default [`DEFAULT_LOW`], [`DEFAULT_HIGH`]).
    #[serde(default)]
    pub low: Option<f64>,
    /// See `low`.
    #[serde(default)]
    pub high: Option<f64>,
    /// Grid points per decade (default [`DEFAULT_PER_DECADE`]).
    #[serde(default)]
    pub per_decade: Option<usize>,
    /// Mini-batch size of the trials (default [`default_batch_size`] of the trial's samples).
    #[serde(default)]
    pub batch_size: Option<usize>,
}

/// The range test to run: one job per rate, each `epochs` epochs over `train_samples` samples of
/// the training part, validated on `validation_samples` others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Candidate learning rates, increasing.
    pub rates: Vec<f64>,
    /// Epochs of each trial job.
    pub epochs: usize,
    /// Training samples of each trial (the first of the split's training indices).
    pub train_samples: usize,
    /// Validation samples (from [`super::validation_split`] of the training part).
    pub validation_samples: usize,
    /// The validation fraction used for the split.
    pub validation_fraction: f64,
    /// Mini-batch size of the trials.
    pub batch_size: usize,
}

/// The plan for `req`.
///
/// # Errors
/// A message when there are fewer than 2 samples (nothing to validate on), or the rate range is
/// not `0 < low ≤ high` finite, or `per_decade` is 0.
pub fn range_test_plan(req: &PlanRequest) -> Result<Plan, String> {
    let low = req.low.unwrap_or(DEFAULT_LOW);
    let high = req.high.unwrap_or(DEFAULT_HIGH);
    let per_decade = req.per_decade.unwrap_or(DEFAULT_PER_DECADE);
    if !(low.is_finite() && high.is_finite() && low > 0.0 && low <= high) || per_decade == 0 {
        return Err(format!(
            "the rate range must be 0 < low ≤ high with ≥ 1 point per decade (got {low}..{high}, \
             {per_decade} per decade)"
        ));
    }
    if req.samples < 2 {
        return Err(format!(
            "{} training samples: at least 2 are needed to hold some out for validation",
            req.samples
        ));
    }
    let validation = super::split::validation_count(req.samples, DEFAULT_VALIDATION_FRACTION);
    let budget = req.budget_samples.unwrap_or(DEFAULT_BUDGET_SAMPLES).max(1);
    let train_samples = (req.samples - validation).min(budget);
    Ok(Plan {
        rates: log_grid(low, high, per_decade),
        epochs: SAMPLES_SEEN
            .div_ceil(train_samples)
            .clamp(1, MAX_TRIAL_EPOCHS),
        train_samples,
        validation_samples: validation,
        validation_fraction: DEFAULT_VALIDATION_FRACTION,
        batch_size: req
            .batch_size
            .unwrap_or_else(|| default_batch_size(train_samples))
            .clamp(1, train_samples),
    })
}

/// The default mini-batch for `samples` training samples: [`DEFAULT_BATCH_SIZE`], smaller where
/// an epoch would otherwise take fewer than [`MIN_STEPS_PER_EPOCH`] steps, at least
/// [`MIN_BATCH_SIZE`] (and at most `samples`, at least 1).
pub fn default_batch_size(samples: usize) -> usize {
    (samples / MIN_STEPS_PER_EPOCH)
        .clamp(MIN_BATCH_SIZE, DEFAULT_BATCH_SIZE)
        .min(samples)
        .max(1)
}

/// `low·10^(k/per_decade)` for k = 0, 1, ... up to `high` (within rounding), rounded to 3
/// significant digits so the rates read as typed (0.00316, 0.01, ...).
pub fn log_grid(low: f64, high: f64, per_decade: usize) -> Vec<f64> {
    let steps = ((high / low).log10() * per_decade as f64 + 1e-9).floor() as usize;
    (0..=steps)
        .map(|k| round3(low * 10f64.powf(k as f64 / per_decade as f64)))
        .collect()
}

fn round3(v: f64) -> f64 {
    let scale = 10f64.powi(2 - v.log10().floor() as i32);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(samples: usize) -> PlanRequest {
        PlanRequest {
            samples,
            classes: Some(2),
            budget_samples: None,
            low: None,
            high: None,
            per_decade: None,
            batch_size: None,
        }
    }

    #[test]
    fn the_default_grid_is_half_decades_from_1e3_to_0_1() {
        let plan = range_test_plan(&req(1600)).unwrap();
        assert_eq!(plan.rates, vec![0.001, 0.00316, 0.01, 0.0316, 0.1]);
        assert_eq!(log_grid(0.01, 0.01, 3), vec![0.01]);
        assert_eq!(log_grid(1e-3, 1e-1, 1), vec![0.001, 0.01, 0.1]);
    }

    #[test]
    fn trials_are_bounded_in_samples_and_epochs() {
        // 1600 training samples: 320 validate, 1280 train, one epoch sees ≥ 1000.
        let p = range_test_plan(&req(1600)).unwrap();
        assert_eq!(
            (p.validation_samples, p.train_samples, p.epochs),
            (320, 1280, 1)
        );
        // 60,000: capped at the budget of 2000.
        let p = range_test_plan(&req(60_000)).unwrap();
        assert_eq!((p.train_samples, p.epochs), (2000, 1));
        // 300: 60 validate, 240 train, ⌈1000/240⌉ = 5 → at most 3 epochs.
        let p = range_test_plan(&req(300)).unwrap();
        assert_eq!(
            (p.validation_samples, p.train_samples, p.epochs),
            (60, 240, 3)
        );
        // 600: 120 validate, 480 train, ⌈1000/480⌉ = 3.
        let p = range_test_plan(&req(600)).unwrap();
        assert_eq!((p.train_samples, p.epochs, p.batch_size), (480, 3, 30));
    }

    #[test]
    fn small_tables_get_smaller_batches_so_an_epoch_takes_16_steps() {
        assert_eq!(default_batch_size(1280), 32);
        assert_eq!(default_batch_size(512), 32);
        // NCCTG lung's fitting part: 146 rows, 9 per batch, 17 steps an epoch (not 5).
        assert_eq!(default_batch_size(146), 9);
        assert_eq!(default_batch_size(100), 8);
        assert_eq!(default_batch_size(5), 5);
        assert_eq!(default_batch_size(0), 1);
        let p = range_test_plan(&req(182)).unwrap();
        assert_eq!((p.train_samples, p.batch_size), (146, 9));
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(range_test_plan(&req(1)).is_err());
        let mut r = req(100);
        r.low = Some(0.0);
        assert!(range_test_plan(&r).is_err());
        let mut r = req(100);
        r.low = Some(0.5);
        r.high = Some(0.1);
        assert!(range_test_plan(&r).is_err());
        let mut r = req(100);
        r.per_decade = Some(0);
        assert!(range_test_plan(&r).is_err());
    }
}
