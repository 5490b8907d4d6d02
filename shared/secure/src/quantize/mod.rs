//! The owner's side: a float model of our engine (`more-core`, trained in plaintext) becomes a
//! [`QuantizedModel`] by calibrated post-training quantization.
//!
//! - Input: the owner picks an [`InputQuantizer`] ([`unit_interval`] for pixels,
//!   [`calibrated_standardized`] for table features, calibrated on the training data) and trains
//!   the float model on [`fake_quantize`]d samples, so the float model's input is exactly what
//!   the integer model reads.
//! - Weights: symmetric, one scale per layer (largest |w| ↦ `2^(bits−1) − 1`; Jacob et al., CVPR
//!   2018, "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
//!   Inference", without the zero point). No rescaling between layers (BFV has no exact
//!   division): each layer's integers stand for reals at the product of the scales before it,
//!   biases are rounded at that accumulated scale, x² squares it, and
//!   [`QuantizedModel::output_scale`] is the last one (logits ≈ integer × output_scale).
//! - Fit: [`quantize_to_fit`] takes the widest weights (up to a maximum) whose worst-case values
//!   ([`QuantizedModel::check_fits`], interval arithmetic over the whole input range) stay below
//!   half the plaintext modulus.
//!
//! Supported float layers: dense, conv2d (square kernels), x² (`square`, or `polynomial`
//! `[0, 0, c]` with `c > 0`: the coefficient joins the scale), flatten and dropout (identity at
//! inference). Anything else (ReLU, pooling, …) is refused: it has no exact integer form here.

mod input;
mod layers;
#[cfg(test)]
mod tests;

use more_core::nn::Model;
use more_core::tensor::Plain;
use more_core::Float;

pub use input::{calibrated_standardized, fake_quantize, unit_interval, Standardization};

use crate::{InputQuantizer, LayerBound, QuantizedModel, SecureError};
use input::Dequantization;
use layers::{absorb_input, float_steps, quantize_linear, FloatStep};

/// Narrowest weights [`quantize_to_fit`] tries.
pub const MIN_WEIGHT_BITS: u32 = 2;
/// Widest weights a layer may have (the model's validation bounds |w| by 2^20).
pub const MAX_WEIGHT_BITS: u32 = 16;

/// A quantized model and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// The integer model.
    pub model: QuantizedModel,
    /// Bits of every layer's weights (signed, symmetric).
    pub weight_bits: u32,
    /// Per linear layer (in order), the real value of one integer weight step.
    pub weight_scales: Vec<f64>,
}

/// Quantizes `model` with `bits`-bit weights and the owner's input quantizer. `standardization`
/// says how the float model read the quantizer's raw input (`None`: as it is).
///
/// # Errors
/// [`SecureError::Invalid`] for an unsupported layer, bits outside
/// [`MIN_WEIGHT_BITS`]..=[`MAX_WEIGHT_BITS`], a model without a linear layer first, a quantizer
/// that does not fit the input, non-finite parameters, or a model that does not validate.
pub fn quantize<F: Float>(
    model: &Model<F, Plain>,
    input: &InputQuantizer,
    standardization: Option<&Standardization>,
    bits: u32,
    class_names: Vec<String>,
) -> Result<Quantized, SecureError> {
    if !(MIN_WEIGHT_BITS..=MAX_WEIGHT_BITS).contains(&bits) {
        return Err(SecureError::Invalid(format!(
            "weight bits must be {MIN_WEIGHT_BITS} to {MAX_WEIGHT_BITS}, got {bits}"
        )));
    }
    let input_shape = model.spec().input_shape.clone();
    let input_len = input_shape.iter().product();
    let map = Dequantization::new(input, standardization, input_len)?;
    let mut steps = float_steps(model)?;
    match steps.first_mut() {
        Some(FloatStep::Linear(first)) => absorb_input(first, &map)?,
        _ => {
            return Err(SecureError::Invalid(
                "the first layer must be dense or conv2d".into(),
            ))
        }
    }
    let (mut scale, mut layers, mut weight_scales) = (1.0f64, Vec::new(), Vec::new());
    for step in &steps {
        match step {
            FloatStep::Linear(l) => {
                let (q, out) = quantize_linear(l, scale, bits)?;
                weight_scales.push(out / scale);
                layers.push(q);
                scale = out;
            }
            FloatStep::Square(c) => {
                layers.push(crate::QuantizedLayer::Square);
                scale = scale * scale * c;
            }
        }
    }
    let quantized = QuantizedModel {
        input_shape,
        input: input.clone(),
        layers,
        output_scale: scale,
        class_names,
    };
    quantized.validate()?;
    Ok(Quantized {
        model: quantized,
        weight_bits: bits,
        weight_scales,
    })
}

/// [`quantize`] with the widest weights, from `max_bits` down to [`MIN_WEIGHT_BITS`], whose
/// model fits `plaintext_modulus` ([`QuantizedModel::check_fits`]); returns it with its bounds.
///
/// # Errors
/// As [`quantize`], and the narrowest attempt's [`SecureError::MayOverflow`] when no width fits.
pub fn quantize_to_fit<F: Float>(
    model: &Model<F, Plain>,
    input: &InputQuantizer,
    standardization: Option<&Standardization>,
    max_bits: u32,
    class_names: Vec<String>,
    plaintext_modulus: u64,
) -> Result<(Quantized, Vec<LayerBound>), SecureError> {
    let mut last = None;
    for bits in (MIN_WEIGHT_BITS..=max_bits.min(MAX_WEIGHT_BITS)).rev() {
        let q = quantize(model, input, standardization, bits, class_names.clone())?;
        match q.model.check_fits(plaintext_modulus) {
            Ok(bounds) => return Ok((q, bounds)),
            Err(e @ SecureError::MayOverflow { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        SecureError::Invalid(format!(
            "max_bits {max_bits} is below the narrowest weights ({MIN_WEIGHT_BITS} bits)"
        ))
    }))
}
