//! The validation split of a training part: a fraction of each class (stratified), the rest for
//! training, deterministic from a seed. The test part is split off before (`crate::data::split`)
//! and never seen by tuning.

use crate::data::split::permutation;

/// Validation samples of `n` for `fraction`: `round(fraction·n)`, at least 1 and at most `n − 1`
/// (both parts non-empty) when `n ≥ 2` and `fraction > 0`.
pub fn validation_count(n: usize, fraction: f64) -> usize {
    if n < 2 || fraction.is_nan() || fraction <= 0.0 {
        return 0;
    }
    ((n as f64 * fraction.min(1.0)).round() as usize).clamp(1, n - 1)
}

/// `(train, validation)` indices into `0..n`, each in increasing order.
///
/// With `labels` (a class per sample, `labels.len() == n`), each class is split on its own with
/// [`validation_count`] (a class of one sample stays in training), so the class shares of both
/// parts match the data's; without, the samples are split as one group. Within a group the
/// validation samples are the first of the page's seeded shuffle ([`permutation`]) of the group,
/// its seed `seed + class`: the same split in the page, the command line and Python.
///
/// # Errors
/// A message when `labels` does not have `n` entries.
pub fn validation_split(
    n: usize,
    labels: Option<&[usize]>,
    fraction: f64,
    seed: u32,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    let groups: Vec<Vec<usize>> = match labels {
        None => vec![(0..n).collect()],
        Some(l) if l.len() != n => {
            return Err(format!("{} labels for {n} samples", l.len()));
        }
        Some(l) => {
            let classes = l.iter().copied().max().map_or(0, |m| m + 1);
            let mut g = vec![Vec::new(); classes];
            for (i, &c) in l.iter().enumerate() {
                g[c].push(i);
            }
            g
        }
    };
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (class, members) in groups.iter().enumerate() {
        let order = permutation(members.len(), seed.wrapping_add(class as u32));
        let k = validation_count(members.len(), fraction);
        validation.extend(order[..k].iter().map(|&j| members[j]));
        train.extend(order[k..].iter().map(|&j| members[j]));
    }
    train.sort_unstable();
    validation.sort_unstable();
    Ok((train, validation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_keep_both_parts_non_empty() {
        assert_eq!(validation_count(0, 0.2), 0);
        assert_eq!(validation_count(1, 0.2), 0);
        assert_eq!(validation_count(2, 0.2), 1);
        assert_eq!(validation_count(10, 0.2), 2);
        assert_eq!(validation_count(10, 0.99), 9);
        assert_eq!(validation_count(10, 0.0), 0);
    }

    #[test]
    fn the_split_is_stratified_and_a_partition() {
        // 90 of class 0, 10 of class 1: 18 + 2 validate.
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i % 10 == 3)).collect();
        // Every seed: exactly 2 of class 1 (an unstratified draw of 20 varies from seed to seed).
        for seed in 0..20 {
            let (_, val) = validation_split(100, Some(&labels), 0.2, seed).unwrap();
            assert_eq!(
                val.iter().filter(|&&i| labels[i] == 1).count(),
                2,
                "seed {seed}"
            );
        }
        let (train, val) = validation_split(100, Some(&labels), 0.2, 7).unwrap();
        assert_eq!(val.len(), 20);
        let mut all = [train.clone(), val.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert!(train.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_split_is_deterministic_and_depends_on_the_seed() {
        let a = validation_split(50, None, 0.2, 1).unwrap();
        assert_eq!(a, validation_split(50, None, 0.2, 1).unwrap());
        assert_ne!(a.1, validation_split(50, None, 0.2, 2).unwrap().1);
        assert_eq!(a.1.len(), 10);
    }

    #[test]
    fn a_single_sample_class_stays_in_training_and_bad_labels_are_refused() {
        let labels = [0, 0, 0, 0, 1];
        let (train, val) = validation_split(5, Some(&labels), 0.5, 0).unwrap();
        assert!(train.contains(&4) && !val.contains(&4));
        assert!(validation_split(4, Some(&labels), 0.2, 0).is_err());
    }
}
