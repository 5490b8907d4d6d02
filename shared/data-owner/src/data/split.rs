//! Splits. The data owner's rule (page, CLI, Python, lab folders and tables): the page's seeded
//! shuffle ([`permutation`], mulberry32 + Fisher-Yates, seed [`SPLIT_SEED`]), the last
//! [`TEST_FRACTION`] (at least one) are the test part; image folders split by *file* so the frames
//! of one DICOM run stay on one side. The lab's experiment designs use two further rules over
//! sample indices, kept here so that every split rule has one home: [`seeded_indices`] (a ChaCha8
//! shuffle, the first `⌈fraction·n⌉` test) and [`per_class_indices`] (per class, in file order).

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::part::{Part, Split};

/// The page's split seed.
pub const SPLIT_SEED: u32 = 42;
/// The page's test fraction.
pub const TEST_FRACTION: f64 = 0.2;

/// The page's deterministic shuffle (`permutation` in `web/formats.js`: mulberry32, then
/// Fisher-Yates from the end), so splits agree with the page bit for bit.
pub fn permutation(n: usize, seed: u32) -> Vec<usize> {
    let mut s = seed;
    let mut rand = move || {
        s = s.wrapping_add(0x6d2b_79f5);
        let mut t = s;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    };
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rand() * (i + 1) as f64).floor() as usize;
        p.swap(i, j);
    }
    p
}

/// The page's split of `n` items: `(train, test)` indices, the test part the last 20 % (rounded,
/// at least one) of [`permutation`]`(n, 42)`.
pub fn split_indices(n: usize) -> (Vec<usize>, Vec<usize>) {
    let order = permutation(n, SPLIT_SEED);
    let n_test = ((n as f64 * TEST_FRACTION).round() as usize).max(1).min(n);
    let (train, test) = order.split_at(n - n_test);
    (train.to_vec(), test.to_vec())
}

/// Splits into training and test parts with [`split_indices`].
pub fn split(part: Part) -> Split {
    let (train, test) = split_indices(part.rows());
    Split {
        train: part.select(&train),
        test: part.select(&test),
    }
}

/// Splits samples grouped by `group` (e.g. the file each frame came from, in first-seen order):
/// [`split_indices`] over the groups, every sample of a group on its group's side. Returns
/// `(train, test)` sample indices in sample order.
pub fn split_by_group(group: &[usize], groups: usize) -> (Vec<usize>, Vec<usize>) {
    let (_, test_groups) = split_indices(groups);
    let mut is_test = vec![false; groups];
    for g in test_groups {
        is_test[g] = true;
    }
    (0..group.len()).partition(|&i| !is_test[group[i]])
}

/// The lab's seeded split of `n` samples: a ChaCha8 shuffle seeded with `seed`, the first
/// `⌈test_fraction·n⌉` shuffled samples are the test set. Returns `(train, test)`, or `None` when
/// either side would be empty.
pub fn seeded_indices(n: usize, test_fraction: f64, seed: u64) -> Option<(Vec<usize>, Vec<usize>)> {
    let n_test = (n as f64 * test_fraction).ceil() as usize;
    if n_test == 0 || n_test >= n {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    Some((order[n_test..].to_vec(), order[..n_test].to_vec()))
}

/// The lab's per-class split: within each class, in sample order, the first
/// `⌊train_fraction·count⌋` samples train and the rest test. `labels` are class indices below
/// `classes`. Returns `(train, test)` in sample order.
pub fn per_class_indices(
    labels: &[usize],
    classes: usize,
    train_fraction: f64,
) -> (Vec<usize>, Vec<usize>) {
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l] += 1;
    }
    let quota: Vec<usize> = counts
        .iter()
        .map(|&c| (c as f64 * train_fraction).floor() as usize)
        .collect();
    let mut seen = vec![0usize; classes];
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, &l) in labels.iter().enumerate() {
        if seen[l] < quota[l] {
            train.push(i);
        } else {
            test.push(i);
        }
        seen[l] += 1;
    }
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_matches_the_page() {
        // web/formats.js permutation(10, 42) and permutation(12, 7), computed with node.
        assert_eq!(permutation(10, 42), [0, 7, 3, 5, 2, 1, 8, 9, 4, 6]);
        assert_eq!(permutation(12, 7), [7, 10, 3, 5, 1, 8, 2, 4, 6, 9, 11, 0]);
    }

    #[test]
    fn groups_stay_on_one_side() {
        // 5 files, two frames each: one file (2 frames) is the test part.
        let group: Vec<usize> = (0..10).map(|i| i / 2).collect();
        let (train, test) = split_by_group(&group, 5);
        assert_eq!((train.len(), test.len()), (8, 2));
        assert_eq!(group[test[0]], group[test[1]]);
        let (_, page_test) = split_indices(5);
        assert_eq!(group[test[0]], page_test[0]);
    }

    #[test]
    fn lab_rules() {
        let (train, test) = per_class_indices(&[0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2, 0.8);
        assert_eq!(train, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(test, [8, 9]);
        let (train, test) = seeded_indices(10, 0.2, 7).unwrap();
        assert_eq!((train.len(), test.len()), (8, 2));
        assert!(seeded_indices(3, 0.0, 7).is_none());
    }
}
