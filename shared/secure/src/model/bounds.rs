//! Worst-case value bounds by interval arithmetic over the input range: the check that a model
//! cannot wrap around the plaintext modulus.
use super::linear::Step;
use super::QuantizedModel;
use crate::SecureError;
use serde::{Deserialize, Serialize};

/// The range every value of one layer's output can take, over all inputs in the quantizer's
/// `[min, max]` (saturating at the i128 range).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBound {
    /// Index into `layers`.
    pub layer: usize,
    /// Smallest possible value of any output of the layer.
    pub min: i128,
    /// Largest possible value of any output of the layer.
    pub max: i128,
}

impl LayerBound {
    /// Largest absolute value the layer can produce.
    pub fn magnitude(&self) -> u128 {
        self.min.unsigned_abs().max(self.max.unsigned_abs())
    }

    /// Bits needed for that magnitude (0 for a layer that is always 0).
    pub fn bits(&self) -> u32 {
        128 - self.magnitude().leading_zeros()
    }
}

fn square(lo: i128, hi: i128) -> (i128, i128) {
    let (a, b) = (lo.saturating_mul(lo), hi.saturating_mul(hi));
    if lo >= 0 {
        (a, b)
    } else if hi <= 0 {
        (b, a)
    } else {
        (0, a.max(b))
    }
}

/// Most total bits of the linear layers' largest row ℓ1 norms (Σ over layers of
/// bits(max_o Σ_i |w_oi|)). Each linear layer multiplies the noise by at most its largest ℓ1 norm,
/// and the x² multiplies it by about t·N whatever the weights, so the noise left at the output
/// falls about one bit per bit of this total: measured 57 bits of budget left at a total of 22
/// bits (784-64-x²-10, |w| = 7) and 23 bits left at 57 (|w| = 2^20, inputs fixed at 0, so the
/// value bounds do not limit the weights); 64 keeps a margin of about 15 bits.
pub const MAX_NORM_BITS: u32 = 64;

impl QuantizedModel {
    /// Σ over linear layers of bits(largest row ℓ1 norm): the noise growth in bits
    /// (see [`MAX_NORM_BITS`]); 0 for a model that does not validate.
    pub fn weight_norm_bits(&self) -> u32 {
        self.steps()
            .map(|steps| {
                steps
                    .iter()
                    .map(|s| match s {
                        Step::Linear(map) => 64 - map.max_row_l1().leading_zeros(),
                        Step::Square => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Per layer, the interval that contains every output value for every input within the
    /// quantizer's range (per-value intervals propagated through each layer; a weight w maps
    /// [lo, hi] to [w·lo, w·hi] or [w·hi, w·lo]). Empty for a model that does not validate.
    pub fn worst_case_bounds(&self) -> Vec<LayerBound> {
        let Ok(steps) = self.steps() else {
            return Vec::new();
        };
        let mut x = vec![(self.input.min as i128, self.input.max as i128); self.input_len()];
        let mut bounds = Vec::with_capacity(steps.len());
        for (layer, step) in steps.iter().enumerate() {
            x = match step {
                Step::Linear(map) => map
                    .rows
                    .iter()
                    .zip(&map.bias)
                    .map(|(row, &b)| {
                        row.iter()
                            .fold((b as i128, b as i128), |(lo, hi), &(i, w)| {
                                let (a, c) = x[i as usize];
                                let (wa, wc) =
                                    ((w as i128).saturating_mul(a), (w as i128).saturating_mul(c));
                                (lo.saturating_add(wa.min(wc)), hi.saturating_add(wa.max(wc)))
                            })
                    })
                    .collect(),
                Step::Square => x.iter().map(|&(lo, hi)| square(lo, hi)).collect(),
            };
            let min = x.iter().map(|v| v.0).min().unwrap_or(0);
            let max = x.iter().map(|v| v.1).max().unwrap_or(0);
            bounds.push(LayerBound { layer, min, max });
        }
        bounds
    }

    /// Validates the model and checks that no layer's worst-case |value| exceeds
    /// (t − 1)/2 for plaintext modulus t, so every decrypted value equals the integer
    /// computation. Returns the bounds, or [`SecureError::MayOverflow`] naming the first layer
    /// that could overflow, or [`SecureError::Invalid`] when the weight norms exceed the noise
    /// budget ([`MAX_NORM_BITS`]).
    pub fn check_fits(&self, plaintext_modulus: u64) -> Result<Vec<LayerBound>, SecureError> {
        self.validate()?;
        let norm_bits = self.weight_norm_bits();
        if norm_bits > MAX_NORM_BITS {
            return Err(SecureError::Invalid(format!(
                "noise: the layers' largest weight ℓ1 norms total {norm_bits} bits, more than the \
                 {MAX_NORM_BITS} the parameters' noise budget allows"
            )));
        }
        let limit = plaintext_modulus.saturating_sub(1) / 2;
        let bounds = self.worst_case_bounds();
        if let Some(b) = bounds.iter().find(|b| b.magnitude() > limit as u128) {
            return Err(SecureError::MayOverflow {
                layer: b.layer,
                bound: b.magnitude(),
                limit,
            });
        }
        Ok(bounds)
    }
}
