//! Optimizers, written as state-passing updates over planar tensors.

use serde::{Deserialize, Serialize};

use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// An optimizer and its hyper-parameters. JSON:
/// `{"type": "sgd", "learning_rate": 0.05, "momentum": 0.9}` or
/// `{"type": "adam", "learning_rate": 0.001}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// SGD with (heavy-ball) momentum: `v ← μ·v + g`, `w ← w − η·v`.
    Sgd {
        /// Learning rate `η > 0`.
        #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0.0))]
        learning_rate: f64,
        /// Momentum `μ ∈ [0, 1)` (default 0).
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(minimum = 0.0, exclusive_maximum = 1.0))]
        momentum: f64,
    },
    /// Adam (Kingma & Ba, ICLR 2015, Algorithm 1): `m ← β1·m + (1−β1)·g`,
    /// `v ← β2·v + (1−β2)·g²`, `w ← w − η·m̂/(√v̂ + ε)` with bias-corrected `m̂, v̂`. The square root
    /// and the division are exact matrix functions on ciphertexts.
    Adam {
        /// Learning rate `η > 0`.
        #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0.0))]
        learning_rate: f64,
        /// First-moment decay (default 0.9).
        #[serde(default = "beta1")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0.0, exclusive_maximum = 1.0))]
        beta1: f64,
        /// Second-moment decay (default 0.999).
        #[serde(default = "beta2")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0.0, exclusive_maximum = 1.0))]
        beta2: f64,
        /// Denominator offset (default 1e-8).
        #[serde(default = "adam_epsilon")]
        #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0.0))]
        epsilon: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_epsilon() -> f64 {
    1e-8
}

impl OptimizerSpec {
    /// Checks the hyper-parameters' ranges; returns a message for the first bad one.
    pub fn check(&self) -> std::result::Result<(), String> {
        let ok = match *self {
            OptimizerSpec::Sgd {
                learning_rate,
                momentum,
            } => learning_rate > 0.0 && learning_rate.is_finite() && (0.0..1.0).contains(&momentum),
            OptimizerSpec::Adam {
                learning_rate,
                beta1,
                beta2,
                epsilon,
            } => {
                learning_rate > 0.0
                    && learning_rate.is_finite()
                    && (0.0..1.0).contains(&beta1)
                    && (0.0..1.0).contains(&beta2)
                    && epsilon > 0.0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("optimizer hyper-parameters out of range: {self:?}"))
        }
    }

    /// Number of state tensors per parameter (momentum: 1, Adam: 2).
    pub fn slots(&self) -> usize {
        match self {
            OptimizerSpec::Sgd { .. } => 1,
            OptimizerSpec::Adam { .. } => 2,
        }
    }

    /// One update of `param` with gradient `grad` at step `t ≥ 1`; `state` holds
    /// [`OptimizerSpec::slots`] tensors of the parameter's shape.
    ///
    /// # Errors
    /// Shape or basis mismatch.
    pub fn update<F: Float, R: Representation<F>>(
        &self,
        t: u64,
        param: &PlanarTensor<F, R>,
        grad: &PlanarTensor<F, R>,
        state: &mut [PlanarTensor<F, R>],
    ) -> Result<PlanarTensor<F, R>> {
        match *self {
            OptimizerSpec::Sgd {
                learning_rate,
                momentum,
            } => {
                state[0] = state[0].scale(F::of_f64(momentum)).add(grad)?;
                param.sub(&state[0].scale(F::of_f64(learning_rate)))
            }
            OptimizerSpec::Adam {
                learning_rate,
                beta1,
                beta2,
                epsilon,
            } => {
                state[0] = state[0]
                    .scale(F::of_f64(beta1))
                    .add(&grad.scale(F::of_f64(1.0 - beta1)))?;
                state[1] = state[1]
                    .scale(F::of_f64(beta2))
                    .add(&grad.square().scale(F::of_f64(1.0 - beta2)))?;
                let m_hat = state[0].scale(F::of_f64(1.0 / (1.0 - beta1.powi(t as i32))));
                let v_hat = state[1].scale(F::of_f64(1.0 / (1.0 - beta2.powi(t as i32))));
                let step = m_hat.div(&v_hat.sqrt().add_scalar(F::of_f64(epsilon)))?;
                param.sub(&step.scale(F::of_f64(learning_rate)))
            }
        }
    }
}
