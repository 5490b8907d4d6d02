//! Optimizers: in-place updates of the parameters and their state, over planar tensors.

use serde::{Deserialize, Serialize};

use super::limits::{MAX_EPSILON, MAX_LEARNING_RATE};
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
    /// Checks the hyper-parameters' ranges (learning rate in `(0, 1e9]`, momentum and betas in
    /// `[0, 1)`, epsilon in `(0, 1]`; NaN fails every test); returns a message naming the ranges.
    pub fn check(&self) -> std::result::Result<(), String> {
        let ok = match *self {
            OptimizerSpec::Sgd {
                learning_rate,
                momentum,
            } => {
                learning_rate > 0.0
                    && learning_rate <= MAX_LEARNING_RATE
                    && (0.0..1.0).contains(&momentum)
            }
            OptimizerSpec::Adam {
                learning_rate,
                beta1,
                beta2,
                epsilon,
            } => {
                learning_rate > 0.0
                    && learning_rate <= MAX_LEARNING_RATE
                    && (0.0..1.0).contains(&beta1)
                    && (0.0..1.0).contains(&beta2)
                    && epsilon > 0.0
                    && epsilon <= MAX_EPSILON
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "optimizer hyper-parameters out of range: {self:?} (learning_rate in (0, \
                 {MAX_LEARNING_RATE}], momentum and betas in [0, 1), epsilon in (0, {MAX_EPSILON}])"
            ))
        }
    }

    /// Number of state tensors per parameter (momentum: 1, Adam: 2).
    pub fn slots(&self) -> usize {
        match self {
            OptimizerSpec::Sgd { .. } => 1,
            OptimizerSpec::Adam { .. } => 2,
        }
    }

    /// One update, in place, of `param` with gradient `grad` at step `t ≥ 1`; `state` holds
    /// [`OptimizerSpec::slots`] tensors of the parameter's shape, also updated in place.
    ///
    /// # Errors
    /// Shape or basis mismatch; `param` and `state` are then unchanged.
    pub fn update<F: Float, R: Representation<F>>(
        &self,
        t: u64,
        param: &mut PlanarTensor<F, R>,
        grad: &PlanarTensor<F, R>,
        state: &mut [PlanarTensor<F, R>],
    ) -> Result<()> {
        check_shapes(param, grad, state)?;
        match *self {
            OptimizerSpec::Sgd {
                learning_rate,
                momentum,
            } => {
                state[0].scale_add_assign(F::of_f64(momentum), F::one(), grad)?;
                param.scale_add_assign(F::one(), -F::of_f64(learning_rate), &state[0])
            }
            OptimizerSpec::Adam {
                learning_rate,
                beta1,
                beta2,
                epsilon,
            } => {
                let (b1, b2) = (F::of_f64(beta1), F::of_f64(beta2));
                state[0].scale_add_assign(b1, F::of_f64(1.0 - beta1), grad)?;
                state[1].scale_add_assign(b2, F::of_f64(1.0 - beta2), &grad.square())?;
                let m_hat = state[0].scale(F::of_f64(1.0 / (1.0 - beta1.powi(t as i32))));
                let v_hat = state[1].scale(F::of_f64(1.0 / (1.0 - beta2.powi(t as i32))));
                let step = m_hat.div(&v_hat.sqrt().add_scalar(F::of_f64(epsilon)))?;
                param.scale_add_assign(F::one(), -F::of_f64(learning_rate), &step)
            }
        }
    }
}

/// `grad` and every state tensor have `param`'s shape and basis, so that an update either
/// applies whole or not at all.
fn check_shapes<F: Float, R: Representation<F>>(
    param: &PlanarTensor<F, R>,
    grad: &PlanarTensor<F, R>,
    state: &[PlanarTensor<F, R>],
) -> Result<()> {
    for other in std::iter::once(grad).chain(state) {
        if other.shape() != param.shape() {
            return Err(crate::MoreError::ShapeMismatch {
                op: "optimizer update",
                lhs: param.shape().to_vec(),
                rhs: other.shape().to_vec(),
            });
        }
        if other.representation() != param.representation() {
            return Err(crate::MoreError::BasisMismatch {
                op: "optimizer update",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use super::OptimizerSpec;
    use crate::tensor::{Compact, CompactBasis, PlanarTensor, Representation};
    use crate::MoreError;

    fn tensor<R: Representation<f64>>(rep: &R, seed: usize) -> PlanarTensor<f64, R> {
        let planes = (0..R::PLANES)
            .map(|p| {
                ArrayD::from_shape_fn(IxDyn(&[3, 5]), |ix| {
                    ((ix[0] * 7 + ix[1] * 3 + p * 5 + seed) % 11) as f64 / 4.0 - 1.2
                })
            })
            .collect();
        PlanarTensor::from_planes(rep.clone(), planes).unwrap()
    }

    /// The update as written in the papers, one new tensor per operation: SGD with momentum
    /// `v ← μ·v + g`, `w ← w − η·v`; Adam (Kingma and Ba, 2015, Algorithm 1).
    fn reference<R: Representation<f64>>(
        spec: &OptimizerSpec,
        t: u64,
        w: &PlanarTensor<f64, R>,
        g: &PlanarTensor<f64, R>,
        state: &mut [PlanarTensor<f64, R>],
    ) -> PlanarTensor<f64, R> {
        match *spec {
            OptimizerSpec::Sgd {
                learning_rate,
                momentum,
            } => {
                state[0] = state[0].scale(momentum).add(g).unwrap();
                w.sub(&state[0].scale(learning_rate)).unwrap()
            }
            OptimizerSpec::Adam {
                learning_rate,
                beta1,
                beta2,
                epsilon,
            } => {
                state[0] = state[0].scale(beta1).add(&g.scale(1.0 - beta1)).unwrap();
                let g2 = g.square().scale(1.0 - beta2);
                state[1] = state[1].scale(beta2).add(&g2).unwrap();
                let m_hat = state[0].scale(1.0 / (1.0 - beta1.powi(t as i32)));
                let v_hat = state[1].scale(1.0 / (1.0 - beta2.powi(t as i32)));
                let step = m_hat.div(&v_hat.sqrt().add_scalar(epsilon)).unwrap();
                w.sub(&step.scale(learning_rate)).unwrap()
            }
        }
    }

    /// Non-zero state whose values are all non-negative in both slots (Adam's second moment
    /// must be, for its square root).
    fn initial_state<R: Representation<f64>>(
        spec: &OptimizerSpec,
        rep: &R,
    ) -> Vec<PlanarTensor<f64, R>> {
        (0..spec.slots())
            .map(|s| tensor(rep, 9 + s).square())
            .collect()
    }

    fn specs() -> [OptimizerSpec; 2] {
        [
            OptimizerSpec::Sgd {
                learning_rate: 0.05,
                momentum: 0.9,
            },
            OptimizerSpec::Adam {
                learning_rate: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            },
        ]
    }

    /// Three in-place steps give the reference's parameters and state bit for bit, in compact
    /// form (Adam's square root and division included).
    #[test]
    fn in_place_updates_equal_the_reference_bit_for_bit() {
        let rep = Compact {
            basis: CompactBasis::new([0.7, 1.3, 0.4, 2.1]).unwrap(),
        };
        for spec in specs() {
            let (mut w, mut w_ref) = (tensor(&rep, 1), tensor(&rep, 1));
            let mut state = initial_state(&spec, &rep);
            let mut state_ref = state.clone();
            for t in 1..=3 {
                let g = tensor(&rep, 2 + t as usize);
                spec.update(t, &mut w, &g, &mut state).unwrap();
                w_ref = reference(&spec, t, &w_ref, &g, &mut state_ref);
                assert_eq!(w.planes(), w_ref.planes(), "{spec:?}, step {t}");
                for (s, s_ref) in state.iter().zip(&state_ref) {
                    assert_eq!(s.planes(), s_ref.planes(), "{spec:?} state, step {t}");
                }
            }
        }
    }

    /// A gradient of another shape or basis, or a parameter of another shape than its gradient
    /// and state, is refused before anything changes.
    #[test]
    fn a_mismatched_gradient_changes_nothing() {
        let rep = Compact {
            basis: CompactBasis::new([0.7, 1.3, 0.4, 2.1]).unwrap(),
        };
        let other = Compact {
            basis: CompactBasis::new([0.5, 1.1, 0.3, 1.9]).unwrap(),
        };
        let wrong_shape = tensor(&rep, 4).reshape(&[5, 3]).unwrap();
        for spec in specs() {
            let mut w = tensor(&rep, 1);
            let mut state = initial_state(&spec, &rep);
            let (w0, state0) = (w.clone(), state.clone());
            let shape_error = spec.update(1, &mut w, &wrong_shape, &mut state);
            assert!(matches!(shape_error, Err(MoreError::ShapeMismatch { .. })));
            let basis_error = spec.update(1, &mut w, &tensor(&other, 4), &mut state);
            assert!(matches!(basis_error, Err(MoreError::BasisMismatch { .. })));
            assert_eq!(w.planes(), w0.planes());
            assert_eq!(state, state0);
            let mut w_of_other_shape = wrong_shape.clone();
            let param_error = spec.update(1, &mut w_of_other_shape, &tensor(&rep, 4), &mut state);
            assert!(matches!(param_error, Err(MoreError::ShapeMismatch { .. })));
            assert_eq!(state, state0, "{spec:?}: state changed by a refused update");
        }
    }
}
