//! Losses and their gradients with respect to the model's outputs.

use serde::{Deserialize, Serialize};

use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// A training loss. JSON: `"mse"` or `"cross_entropy"`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean squared error `L = (1/(n·k)) Σ (ŷ − y)²` over a batch of `n` samples and `k` outputs;
    /// `∂L/∂ŷ = 2(ŷ − y)/(n·k)`. For regression.
    Mse,
    /// Softmax cross-entropy on logits `z`: `L = −(1/n) Σ y ⊙ log softmax(z)` (log-softmax form);
    /// `∂L/∂z = (softmax(z) − y)/n`. Exact on ciphertexts (exp, max, log, inverse are exact
    /// matrix functions). For classification with one-hot targets.
    CrossEntropy,
}

impl LossKind {
    /// The batch loss (shape `[1]`) and its gradient with respect to `output` (shape of `output`).
    ///
    /// # Errors
    /// Shape or basis mismatch between `output` and `target` (`(n, k)` both).
    pub fn loss_and_gradient<F: Float, R: Representation<F>>(
        self,
        output: &PlanarTensor<F, R>,
        target: &PlanarTensor<F, R>,
    ) -> Result<(PlanarTensor<F, R>, PlanarTensor<F, R>)> {
        self.shard_loss_and_gradient(output, target, output.shape().first().copied().unwrap_or(0))
    }

    /// As [`LossKind::loss_and_gradient`] for a shard (`output`, `target`: `(m, k)`) of a batch of
    /// `batch` samples: both are normalised by the whole batch (`n = batch`), so the shards'
    /// losses and gradients add up to the batch's. With `batch = m` it is
    /// [`LossKind::loss_and_gradient`].
    ///
    /// # Errors
    /// Shape or basis mismatch between `output` and `target` (`(m, k)` both).
    pub fn shard_loss_and_gradient<F: Float, R: Representation<F>>(
        self,
        output: &PlanarTensor<F, R>,
        target: &PlanarTensor<F, R>,
        batch: usize,
    ) -> Result<(PlanarTensor<F, R>, PlanarTensor<F, R>)> {
        if output.shape() != target.shape() {
            return Err(crate::MoreError::ShapeMismatch {
                op: "loss",
                lhs: output.shape().to_vec(),
                rhs: target.shape().to_vec(),
            });
        }
        let n = F::from_usize(batch.max(1)).unwrap();
        match self {
            LossKind::Mse => {
                let per_sample: usize = output.shape().iter().skip(1).product();
                let count = F::from_usize((batch * per_sample).max(1)).unwrap();
                let diff = output.sub(target)?;
                let loss = diff.square().sum_all().scale(F::one() / count);
                Ok((loss, diff.scale(F::of_f64(2.0) / count)))
            }
            LossKind::CrossEntropy => {
                // log-softmax, stable in both slots: log p = (z − max z) − log Σ exp(z − max z),
                // where the sum is at least 1, so no log of an underflowed probability.
                let axis = output.shape().len() - 1;
                let shifted = output.sub(&output.max_axis(axis)?)?;
                let exps = shifted.exp();
                let sums = exps.sum_axis(axis)?;
                let p = exps.mul(&sums.recip())?;
                let log_p = shifted.sub(&sums.log())?;
                let loss = target.mul(&log_p)?.sum_all().scale(-F::one() / n);
                Ok((loss, p.sub(target)?.scale(F::one() / n)))
            }
        }
    }
}
