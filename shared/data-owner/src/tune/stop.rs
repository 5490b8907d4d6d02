//! Early stopping on the decrypted validation losses: stop once `patience` epochs in a row have
//! not improved on the best loss by at least `min_delta` (relative), and keep the best epoch's
//! weights when the job can still give them (the node keeps the last completed epoch of a
//! cancelled job: `POST /v1/jobs/{id}/keep`).

use serde::{Deserialize, Serialize};

/// The rule. JSON: `{"patience": 3, "min_delta": 0.001}` (both optional).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (default 3).
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// Smallest relative improvement that counts: a loss improves on `best` when it is below
    /// `best·(1 − min_delta)` (default 0.001; the losses, MSE and cross-entropy, are ≥ 0).
    #[serde(default = "default_min_delta")]
    pub min_delta: f64,
}

fn default_patience() -> usize {
    3
}

fn default_min_delta() -> f64 {
    1e-3
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            patience: default_patience(),
            min_delta: default_min_delta(),
        }
    }
}

/// What to do after the epochs whose validation losses were given.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopDecision {
    /// Stop now (cancel the job and keep what was trained).
    pub stop: bool,
    /// The epoch (1-based) with the best validation loss so far; `None` before any finite loss.
    pub best_epoch: Option<usize>,
}

impl EarlyStopping {
    /// The decision after `losses` (the decrypted validation loss of epochs 1, 2, ...). A
    /// non-finite loss (the model diverged) stops at once.
    pub fn decide(&self, losses: &[f64]) -> StopDecision {
        let mut best: Option<(usize, f64)> = None;
        let mut since = 0;
        for (i, &loss) in losses.iter().enumerate() {
            if !loss.is_finite() {
                return StopDecision {
                    stop: true,
                    best_epoch: best.map(|(e, _)| e),
                };
            }
            match best {
                Some((_, b)) if loss >= b * (1.0 - self.min_delta) => since += 1,
                _ => {
                    best = Some((i + 1, loss));
                    since = 0;
                }
            }
        }
        StopDecision {
            stop: best.is_some() && since >= self.patience.max(1),
            best_epoch: best.map(|(e, _)| e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(patience: usize) -> EarlyStopping {
        EarlyStopping {
            patience,
            min_delta: 0.01,
        }
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let l = [1.0, 0.8, 0.7, 0.71, 0.705, 0.702];
        assert_eq!(
            rule(3).decide(&l[..5]),
            StopDecision {
                stop: false,
                best_epoch: Some(3)
            }
        );
        assert_eq!(
            rule(3).decide(&l),
            StopDecision {
                stop: true,
                best_epoch: Some(3)
            }
        );
        assert!(rule(2).decide(&l[..5]).stop);
    }

    #[test]
    fn an_improvement_below_min_delta_does_not_count() {
        // 0.695 is 0.7 % below 0.7: not 1 %.
        let l = [0.7, 0.695, 0.694];
        assert_eq!(
            rule(2).decide(&l),
            StopDecision {
                stop: true,
                best_epoch: Some(1)
            }
        );
        assert!(!rule(2).decide(&[0.7, 0.69, 0.68]).stop);
    }

    #[test]
    fn a_diverged_epoch_stops_at_once_and_nothing_stops_an_empty_run() {
        let d = rule(5).decide(&[0.9, f64::NAN]);
        assert_eq!(
            d,
            StopDecision {
                stop: true,
                best_epoch: Some(1)
            }
        );
        assert_eq!(
            rule(1).decide(&[]),
            StopDecision {
                stop: false,
                best_epoch: None
            }
        );
        let json: EarlyStopping = serde_json::from_str("{}").unwrap();
        assert_eq!(json, EarlyStopping::default());
    }
}
