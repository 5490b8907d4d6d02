//! A fraction with its counts, so a report says "45 of 50" beside "90 %".

use serde::Serialize;

/// `numerator / denominator`, with the counts; `value` is `None` when the denominator is 0
/// (e.g. the PPV of a model that never predicts the positive class).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Ratio {
    /// The fraction in [0, 1], or `None` for 0/0.
    pub value: Option<f64>,
    /// Count above the line.
    pub numerator: usize,
    /// Count below the line.
    pub denominator: usize,
}

impl Ratio {
    /// `numerator / denominator` (`value` `None` when `denominator` is 0).
    pub fn new(numerator: usize, denominator: usize) -> Self {
        Ratio {
            value: (denominator > 0).then(|| numerator as f64 / denominator as f64),
            numerator,
            denominator,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_denominator_has_no_value() {
        assert_eq!(Ratio::new(3, 4).value, Some(0.75));
        assert_eq!(Ratio::new(0, 0).value, None);
    }
}
