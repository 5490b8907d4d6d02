//! Train/test splits of the lab's [`Dataset`]s, with the split rules of the data owner's library
//! ([`mod@more_data_owner::data::split`]):
//! - [`per_class_split`]: within each class, in file order, the first `⌊fraction·count⌋` samples
//!   train and the rest test (no randomness; the MNIST default, 80 %);
//! - [`seeded_split`]: a ChaCha8 shuffle seeded with `seed`, the first `⌈test_fraction·n⌉`
//!   shuffled samples test (generated data sets and the lab's tables).
//!
//! [`stratified_head`] picks a balanced deterministic subset (experiment limits).

use more_data_owner::data::split::{per_class_indices, seeded_indices};

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
    let (train, test) = per_class_indices(&ds.labels, ds.class_names.len(), train_fraction);
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
    let (train, test) = seeded_indices(n, test_fraction, seed).ok_or_else(|| {
        DataError::Invalid(format!(
            "cannot split {n} samples with test fraction {test_fraction}: one side would be empty"
        ))
    })?;
    Ok(Split {
        train: ds.subset(&train),
        test: ds.subset(&test),
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
