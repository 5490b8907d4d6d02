//! Train/test splits and deterministic subsets.
//!
//! Two documented rules:
//! - [`per_class_split`]: within each class, in file order, the first `⌊fraction·count⌋` samples
//!   are training samples and the rest test samples (no randomness; the MNIST default, 80 %).
//! - [`seeded_split`]: a ChaCha8 shuffle seeded with `seed`, then the first `⌈test_fraction·n⌉`
//!   shuffled samples are the test set (CSV tables and generated data sets).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset, Task};

/// A training set, a test set, and the rule that made them.
#[derive(Clone, Debug)]
pub struct Split {
    /// Training samples.
    pub train: Dataset,
    /// Test samples.
    pub test: Dataset,
    /// The rule, in words (for reports).
    pub rule: String,
}

/// Per class, the first `train_fraction` of the samples (file order) train, the rest test.
///
/// # Errors
/// [`DataError::Invalid`] for a regression data set or a fraction outside `(0, 1)`.
pub fn per_class_split(ds: &Dataset, train_fraction: f64) -> Result<Split, DataError> {
    if ds.task != Task::Classification || !(train_fraction > 0.0 && train_fraction < 1.0) {
        return Err(DataError::Invalid(format!(
            "per-class split needs a classification set and a fraction in (0, 1), got {train_fraction}"
        )));
    }
    let counts = ds.class_counts();
    let quota: Vec<usize> = counts
        .iter()
        .map(|&c| (c as f64 * train_fraction).floor() as usize)
        .collect();
    let mut seen = vec![0; counts.len()];
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, &l) in ds.labels.iter().enumerate() {
        if seen[l] < quota[l] {
            train.push(i);
        } else {
            test.push(i);
        }
        seen[l] += 1;
    }
    Ok(Split {
        train: ds.subset(&train),
        test: ds.subset(&test),
        rule: format!(
            "per class, in file order: first {:.0} % train, rest test (no shuffling)",
            train_fraction * 100.0
        ),
    })
}

/// A seeded shuffle; the first `⌈test_fraction·n⌉` samples are the test set.
///
/// # Errors
/// [`DataError::Invalid`] when either side would be empty.
pub fn seeded_split(ds: &Dataset, test_fraction: f64, seed: u64) -> Result<Split, DataError> {
    let n = ds.len();
    let n_test = (n as f64 * test_fraction).ceil() as usize;
    if n_test == 0 || n_test >= n {
        return Err(DataError::Invalid(format!(
            "cannot split {n} samples with test fraction {test_fraction}: one side would be empty"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    Ok(Split {
        train: ds.subset(&order[n_test..]),
        test: ds.subset(&order[..n_test]),
        rule: format!(
            "ChaCha8 shuffle with seed {seed}; first {:.0} % test, rest train",
            test_fraction * 100.0
        ),
    })
}

/// The first `n` samples taken round-robin over the classes (class 0's first, class 1's first,
/// …, class 0's second, …): a balanced, deterministic subset. Regression sets: the first `n`.
pub fn stratified_head(ds: &Dataset, n: usize) -> Dataset {
    if n >= ds.len() {
        return ds.clone();
    }
    if ds.task == Task::Regression {
        return ds.subset(&(0..n).collect::<Vec<_>>());
    }
    let mut per_class: Vec<std::collections::VecDeque<usize>> =
        vec![Default::default(); ds.class_names.len()];
    for (i, &l) in ds.labels.iter().enumerate() {
        per_class[l].push_back(i);
    }
    let mut picked = Vec::with_capacity(n);
    while picked.len() < n {
        for q in per_class.iter_mut() {
            if picked.len() < n {
                if let Some(i) = q.pop_front() {
                    picked.push(i);
                }
            }
        }
    }
    picked.sort_unstable();
    ds.subset(&picked)
}
