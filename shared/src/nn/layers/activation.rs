//! Element-wise activations and their derivatives, exact on ciphertexts.

use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// An activation function.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Activation {
    Relu,
    Sigmoid,
    Tanh,
    Square,
    Polynomial(Vec<f64>),
}

fn polynomial<F: Float, R: Representation<F>>(
    x: &PlanarTensor<F, R>,
    c: &[f64],
) -> Result<PlanarTensor<F, R>> {
    // Horner: (((c_n)x + c_{n-1})x + ...) + c_0.
    let mut acc = PlanarTensor::full(
        x.representation().clone(),
        x.shape(),
        F::of_f64(c[c.len() - 1]),
    );
    for &ck in c[..c.len() - 1].iter().rev() {
        acc = acc.mul(x)?.add_scalar(F::of_f64(ck));
    }
    Ok(acc)
}

impl Activation {
    pub fn forward<F: Float, R: Representation<F>>(
        &self,
        x: &PlanarTensor<F, R>,
    ) -> Result<PlanarTensor<F, R>> {
        Ok(match self {
            Activation::Relu => x.relu(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Square => x.square(),
            Activation::Polynomial(c) => polynomial(x, c)?,
        })
    }

    /// Whether [`Self::backward`] reads the output `y` (sigmoid, tanh) rather than the input `x`.
    pub fn backward_reads_output(&self) -> bool {
        matches!(self, Activation::Sigmoid | Activation::Tanh)
    }

    /// `dx = dy ⊙ f'(x)`, from `saved`: the output `y` where [`Self::backward_reads_output`],
    /// else the input `x`.
    pub fn backward<F: Float, R: Representation<F>>(
        &self,
        saved: &PlanarTensor<F, R>,
        dy: &PlanarTensor<F, R>,
    ) -> Result<PlanarTensor<F, R>> {
        let (x, y) = (saved, saved);
        let derivative = match self {
            Activation::Relu => return x.relu_backward(dy),
            // σ' = σ(1 − σ)
            Activation::Sigmoid => y.mul(&y.neg().add_scalar(F::one()))?,
            // tanh' = 1 − tanh²
            Activation::Tanh => y.square().neg().add_scalar(F::one()),
            Activation::Square => x.scale(F::of_f64(2.0)),
            Activation::Polynomial(c) => {
                let dc: Vec<f64> = c
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(k, ck)| k as f64 * ck)
                    .collect();
                if dc.is_empty() {
                    PlanarTensor::full(x.representation().clone(), x.shape(), F::zero())
                } else {
                    polynomial(x, &dc)?
                }
            }
        };
        dy.mul(&derivative)
    }
}
