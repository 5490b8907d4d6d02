//! Losses and their gradients with respect to the model's outputs.

use serde::{Deserialize, Serialize};

use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// A training loss. JSON: `"mse"` or `"cross_entropy"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean squared error `L = (1/(n·k)) Σ (ŷ − y)²` over a batch of `n` samples and `k` outputs;
    /// `∂L/∂ŷ = 2(ŷ − y)/(n·k)`. For regression.
    Mse,
    /// Softmax cross-entropy on logits `z`: `L = −(1/n) Σ y ⊙ log softmax(z)`;
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
        if output.shape() != target.shape() {
            return Err(crate::MoreError::ShapeMismatch {
                op: "loss",
                lhs: output.shape().to_vec(),
                rhs: target.shape().to_vec(),
            });
        }
        let n = F::from_usize(output.shape()[0].max(1)).unwrap();
        match self {
            LossKind::Mse => {
                let count = F::from_usize(output.len().max(1)).unwrap();
                let diff = output.sub(target)?;
                let loss = diff.square().sum_all().scale(F::one() / count);
                Ok((loss, diff.scale(F::of_f64(2.0) / count)))
            }
            LossKind::CrossEntropy => {
                let p = output.softmax()?;
                let loss = target.mul(&p.log())?.sum_all().scale(-F::one() / n);
                Ok((loss, p.sub(target)?.scale(F::one() / n)))
            }
        }
    }
}
