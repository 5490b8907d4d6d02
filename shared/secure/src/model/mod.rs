//! Quantized integer networks served in secure mode: dense and 2-d convolution layers with
//! integer weights and the x² activation, the CryptoNets family (Gilad-Bachrach et al. 2016,
//! "CryptoNets: Applying Neural Networks to Encrypted Data with High Throughput and Accuracy").
//!
//! The model is public to the node (its owner publishes it in plaintext); only the samples and
//! the outputs are encrypted. [`QuantizedModel::forward_plaintext`] is the exact integer
//! reference that decrypted outputs must equal; [`QuantizedModel::check_fits`] refuses a model
//! whose worst-case values could wrap around the plaintext modulus.
mod bounds;
mod forward;
pub(crate) mod linear;
mod validate;

use crate::SecureError;
use serde::{Deserialize, Serialize};

pub use bounds::{LayerBound, MAX_NORM_BITS};
pub use validate::{MAX_ABS_BIAS, MAX_ABS_INPUT, MAX_ABS_WEIGHT, MAX_LAYERS, MAX_WIDTH};

/// A quantized integer network: the model an owner publishes for secure prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantizedModel {
    /// Shape of one sample, e.g. `[1, 28, 28]` (channels, height, width) or `[30]`; values are
    /// flattened in C order.
    pub input_shape: Vec<usize>,
    /// How a float sample becomes integers.
    pub input: InputQuantizer,
    /// The layers, applied in order.
    pub layers: Vec<QuantizedLayer>,
    /// Logits ≈ output integer × `output_scale`.
    pub output_scale: f64,
    /// Optional names of the outputs (classes), in output order.
    #[serde(default)]
    pub class_names: Vec<String>,
}

/// Maps a float sample to integers: per input value i,
/// `q = clamp(round((x - offset[i]) / scale[i]), min, max)`; `offset` and `scale` have length
/// `input_len` or 1 (the same for every value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputQuantizer {
    /// Subtracted before scaling (per value or one for all).
    pub offset: Vec<f32>,
    /// Divides after the offset; positive and finite (per value or one for all).
    pub scale: Vec<f32>,
    /// Smallest quantized value.
    pub min: i64,
    /// Largest quantized value.
    pub max: i64,
}

/// One layer of a [`QuantizedModel`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantizedLayer {
    /// `y[o] = bias[o] + Σ_i weights[o * inputs + i] · x[i]` over the flattened input.
    Dense {
        /// Input length (the flattened previous shape).
        inputs: usize,
        /// Output length.
        outputs: usize,
        /// `outputs × inputs`, row-major.
        weights: Vec<i64>,
        /// One per output.
        bias: Vec<i64>,
    },
    /// A 2-d cross-correlation over an input of shape `[in_channels, H, W]` with zero padding;
    /// output shape `[out_channels, (H + 2·ph − kh)/sh + 1, (W + 2·pw − kw)/sw + 1]`.
    Conv2d {
        /// Input channels (the previous shape's first dimension).
        in_channels: usize,
        /// Output channels (feature maps).
        out_channels: usize,
        /// Kernel height and width.
        kernel: [usize; 2],
        /// Stride along height and width.
        stride: [usize; 2],
        /// Zero padding along height and width.
        padding: [usize; 2],
        /// `[out][in][kh][kw]`, row-major.
        weights: Vec<i64>,
        /// One per output channel.
        bias: Vec<i64>,
    },
    /// Element-wise x² (the CryptoNets activation: one ciphertext multiplication).
    Square,
}

impl QuantizedModel {
    /// Number of integers in one sample (the product of `input_shape`).
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of integers the model outputs per sample (0 for a model that does not validate).
    pub fn output_len(&self) -> usize {
        self.shapes()
            .ok()
            .and_then(|s| s.last().map(|s| s.iter().product()))
            .unwrap_or(0)
    }

    /// Quantizes one float sample (`input_len` values, C order) with the model's
    /// [`InputQuantizer`]. Errors on a wrong length or a non-finite value.
    pub fn quantize_input(&self, sample: &[f32]) -> Result<Vec<i64>, SecureError> {
        let n = self.input_len();
        if sample.len() != n {
            return Err(SecureError::Invalid(format!(
                "sample has {} values, the model takes {n}",
                sample.len()
            )));
        }
        self.input.check(n)?;
        let q = &self.input;
        let pick = |v: &[f32], i: usize| if v.len() == 1 { v[0] } else { v[i] };
        sample
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if !x.is_finite() {
                    return Err(SecureError::Invalid(format!(
                        "sample value {i} is not finite"
                    )));
                }
                let v = ((x - pick(&q.offset, i)) / pick(&q.scale, i)).round() as f64;
                Ok((v.clamp(q.min as f64, q.max as f64)) as i64)
            })
            .collect()
    }
}
