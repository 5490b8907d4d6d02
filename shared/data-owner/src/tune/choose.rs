//! The range test's choice: the rate whose trial ended with the lowest decrypted validation loss;
//! rates within [`TIE_TOLERANCE`] of the best count as tied and the smallest of them wins (the
//! safer step for the full run); trials that diverged (the job failed, or a loss is not finite)
//! are excluded.

use serde::{Deserialize, Serialize};

/// Relative distance to the best final validation loss within which trials are tied (1 %: less
/// than the epoch-to-epoch noise of a short run).
pub const TIE_TOLERANCE: f64 = 0.01;

/// One trial job of the range test, decrypted. JSON:
/// `{"learning_rate": 0.01, "validation_losses": [0.69, 0.52], "diverged": false}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Its learning rate.
    pub learning_rate: f64,
    /// The decrypted validation loss after each of its epochs.
    #[serde(default)]
    pub validation_losses: Vec<f64>,
    /// Whether the job failed by divergence (or any other way that left no usable loss).
    #[serde(default)]
    pub diverged: bool,
}

/// The choice and why, in words a clinician can read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The chosen rate; `None` when no trial is usable.
    pub learning_rate: Option<f64>,
    /// One sentence: what was chosen from what, or why nothing was.
    pub reason: String,
}

/// The final validation loss of a usable trial.
fn final_loss(t: &Trial) -> Option<f64> {
    let last = *t.validation_losses.last()?;
    let usable = !t.diverged
        && t.learning_rate.is_finite()
        && t.learning_rate > 0.0
        && t.validation_losses.iter().all(|l| l.is_finite());
    usable.then_some(last)
}

/// The choice among `trials` (any order).
pub fn choose_rate(trials: &[Trial]) -> Choice {
    let usable: Vec<(f64, f64)> = trials
        .iter()
        .filter_map(|t| final_loss(t).map(|l| (t.learning_rate, l)))
        .collect();
    let Some(best) = usable.iter().map(|&(_, l)| l).min_by(f64::total_cmp) else {
        return Choice {
            learning_rate: None,
            reason: format!(
                "all {} trial rates diverged or gave no loss: standardize the inputs, or try \
                 smaller rates",
                trials.len()
            ),
        };
    };
    let rate = usable
        .iter()
        .filter(|&&(_, l)| l <= best + TIE_TOLERANCE * best.abs())
        .map(|&(r, _)| r)
        .min_by(f64::total_cmp)
        .expect("the best trial is within tolerance of itself");
    let largest = usable.iter().map(|&(r, _)| r).max_by(f64::total_cmp);
    let edge = if Some(rate) == largest && usable.len() > 1 {
        " (the largest rate tried: a larger one may do better)"
    } else {
        ""
    };
    Choice {
        learning_rate: Some(rate),
        reason: format!(
            "learning rate {rate}: the lowest validation loss ({best:.4}) of {} usable trial(s) \
             out of {}{edge}",
            usable.len(),
            trials.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rate: f64, losses: &[f64], diverged: bool) -> Trial {
        Trial {
            learning_rate: rate,
            validation_losses: losses.to_vec(),
            diverged,
        }
    }

    #[test]
    fn the_lowest_final_validation_loss_wins() {
        let trials = [
            t(0.001, &[0.69, 0.68], false),
            t(0.01, &[0.6, 0.41], false),
            t(0.1, &[0.5, 0.55], false),
        ];
        assert_eq!(choose_rate(&trials).learning_rate, Some(0.01));
    }

    #[test]
    fn ties_go_to_the_smaller_rate_and_diverged_trials_are_excluded() {
        // 0.404 is within 1 % of 0.4: tied, the smaller rate wins.
        let trials = [
            t(0.1, &[0.4], false),
            t(0.03, &[0.404], false),
            t(0.3, &[0.01], true),
            t(1.0, &[0.2, f64::INFINITY], false),
        ];
        let c = choose_rate(&trials);
        assert_eq!(c.learning_rate, Some(0.03), "{}", c.reason);
        // Outside the tolerance the larger rate wins, and the reason says it is the edge.
        let c = choose_rate(&[t(0.1, &[0.4], false), t(0.03, &[0.5], false)]);
        assert_eq!(c.learning_rate, Some(0.1));
        assert!(c.reason.contains("largest rate tried"), "{}", c.reason);
    }

    #[test]
    fn nothing_usable_chooses_nothing_and_says_why() {
        let c = choose_rate(&[t(0.1, &[], true), t(0.3, &[], false)]);
        assert_eq!(c.learning_rate, None);
        assert!(c.reason.contains("diverged"), "{}", c.reason);
    }
}
