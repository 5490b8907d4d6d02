//! Structural checks of a [`QuantizedModel`]: shapes, sizes and limits that keep the node's
//! memory and the evaluator's exact arithmetic bounded.
use super::{InputQuantizer, QuantizedLayer, QuantizedModel};
use crate::{params::MAX_SQUARES, SecureError};

/// Most layers a model may have.
pub const MAX_LAYERS: usize = 32;
/// Most values (ciphertexts) of one sample at any point of the model, the input included.
pub const MAX_WIDTH: usize = 4096;
/// Largest absolute weight (integer).
pub const MAX_ABS_WEIGHT: i64 = 1 << 20;
/// Largest absolute bias (integer): a bias after x² lives at the output's scale, so it may be
/// much larger than a weight; it costs no noise (it is added as a plaintext), and
/// [`QuantizedModel::check_fits`] bounds the sum.
pub const MAX_ABS_BIAS: i64 = 1 << 46;
/// Largest absolute quantized input value.
pub const MAX_ABS_INPUT: i64 = 1 << 20;

fn invalid(msg: String) -> SecureError {
    SecureError::Invalid(msg)
}

impl InputQuantizer {
    /// Checks the quantizer for a sample of `input_len` values.
    pub(crate) fn check(&self, input_len: usize) -> Result<(), SecureError> {
        for (name, v) in [("offset", &self.offset), ("scale", &self.scale)] {
            if v.len() != 1 && v.len() != input_len {
                return Err(invalid(format!(
                    "input.{name} has {} values: 1 or {input_len} expected",
                    v.len()
                )));
            }
        }
        if self.offset.iter().any(|o| !o.is_finite()) {
            return Err(invalid("input.offset must be finite".into()));
        }
        if self.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(invalid("input.scale must be positive and finite".into()));
        }
        if self.min > self.max || self.min.abs() > MAX_ABS_INPUT || self.max.abs() > MAX_ABS_INPUT {
            return Err(invalid(format!(
                "input range [{}, {}] must be ordered and within ±{MAX_ABS_INPUT}",
                self.min, self.max
            )));
        }
        Ok(())
    }
}

fn check_params(
    i: usize,
    weights: &[i64],
    bias: &[i64],
    nw: usize,
    nb: usize,
) -> Result<(), SecureError> {
    if weights.len() != nw || bias.len() != nb {
        return Err(invalid(format!(
            "layer {i}: {} weights and {} biases, {nw} and {nb} expected",
            weights.len(),
            bias.len()
        )));
    }
    if weights.iter().any(|w| w.abs() > MAX_ABS_WEIGHT) {
        return Err(invalid(format!(
            "layer {i}: a weight exceeds ±{MAX_ABS_WEIGHT}"
        )));
    }
    if bias.iter().any(|b| b.abs() > MAX_ABS_BIAS) {
        return Err(invalid(format!(
            "layer {i}: a bias exceeds ±{MAX_ABS_BIAS}"
        )));
    }
    Ok(())
}

/// The output shape of layer `i` given its input shape.
fn layer_shape(
    i: usize,
    layer: &QuantizedLayer,
    shape: &[usize],
) -> Result<Vec<usize>, SecureError> {
    let len: usize = shape.iter().product();
    match layer {
        QuantizedLayer::Dense {
            inputs,
            outputs,
            weights,
            bias,
        } => {
            if *inputs != len || *outputs == 0 {
                return Err(invalid(format!(
                    "layer {i}: dense takes {inputs} inputs to {outputs} outputs, the previous shape has {len} values"
                )));
            }
            check_params(i, weights, bias, inputs.saturating_mul(*outputs), *outputs)?;
            Ok(vec![*outputs])
        }
        QuantizedLayer::Conv2d {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            weights,
            bias,
        } => {
            let &[c, h, w] = shape else {
                return Err(invalid(format!(
                    "layer {i}: conv2d needs a [C, H, W] input, got {shape:?}"
                )));
            };
            if c != *in_channels || *out_channels == 0 || kernel.contains(&0) || stride.contains(&0)
            {
                return Err(invalid(format!(
                    "layer {i}: conv2d with {in_channels} input channels, kernel {kernel:?}, stride {stride:?} does not fit input {shape:?}"
                )));
            }
            let out = |n: usize, k: usize, s: usize, p: usize| {
                let padded = n.checked_add(p.checked_mul(2)?)?;
                (padded >= k).then(|| (padded - k) / s + 1)
            };
            let (Some(oh), Some(ow)) = (
                out(h, kernel[0], stride[0], padding[0]),
                out(w, kernel[1], stride[1], padding[1]),
            ) else {
                return Err(invalid(format!(
                    "layer {i}: kernel {kernel:?} larger than the padded input {shape:?}"
                )));
            };
            if padding[0] >= kernel[0] || padding[1] >= kernel[1] {
                return Err(invalid(format!(
                    "layer {i}: padding {padding:?} must be smaller than the kernel {kernel:?}"
                )));
            }
            let nw = out_channels
                .checked_mul(*in_channels)
                .and_then(|n| n.checked_mul(kernel[0]))
                .and_then(|n| n.checked_mul(kernel[1]))
                .ok_or_else(|| invalid(format!("layer {i}: conv2d too large")))?;
            check_params(i, weights, bias, nw, *out_channels)?;
            Ok(vec![*out_channels, oh, ow])
        }
        QuantizedLayer::Square => Ok(shape.to_vec()),
    }
}

impl QuantizedModel {
    /// Shapes of the input and after each layer (`layers.len() + 1` shapes).
    pub(crate) fn shapes(&self) -> Result<Vec<Vec<usize>>, SecureError> {
        let mut shapes = vec![self.input_shape.clone()];
        for (i, layer) in self.layers.iter().enumerate() {
            let next = layer_shape(i, layer, shapes.last().expect("starts non-empty"))?;
            let width = next.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if !matches!(width, Some(1..=MAX_WIDTH)) {
                return Err(invalid(format!(
                    "layer {i}: output shape {next:?} must hold 1..={MAX_WIDTH} values"
                )));
            }
            shapes.push(next);
        }
        Ok(shapes)
    }

    /// Checks shapes, sizes and limits: a non-empty input of at most [`MAX_WIDTH`] values, 1 to
    /// [`MAX_LAYERS`] layers whose weights and biases match their shapes and stay within
    /// ±[`MAX_ABS_WEIGHT`] and ±[`MAX_ABS_BIAS`], at most [`MAX_SQUARES`] x² layers (the
    /// multiplicative depth the parameters allow), a valid input quantizer, a finite
    /// `output_scale`, and `class_names` empty or one per output.
    pub fn validate(&self) -> Result<(), SecureError> {
        let width = self
            .input_shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        if self.input_shape.is_empty() || !matches!(width, Some(1..=MAX_WIDTH)) {
            return Err(invalid(format!(
                "input_shape {:?} must hold 1..={MAX_WIDTH} values",
                self.input_shape
            )));
        }
        if self.layers.is_empty() || self.layers.len() > MAX_LAYERS {
            return Err(invalid(format!(
                "a model has 1..={MAX_LAYERS} layers, got {}",
                self.layers.len()
            )));
        }
        let squares = self
            .layers
            .iter()
            .filter(|l| matches!(l, QuantizedLayer::Square))
            .count();
        if squares > MAX_SQUARES {
            return Err(invalid(format!(
                "{squares} x² layers: the parameters allow a multiplicative depth of {MAX_SQUARES}"
            )));
        }
        self.input.check(self.input_len())?;
        if !self.output_scale.is_finite() {
            return Err(invalid("output_scale must be finite".into()));
        }
        let shapes = self.shapes()?;
        let outputs: usize = shapes.last().expect("non-empty").iter().product();
        if !self.class_names.is_empty() && self.class_names.len() != outputs {
            return Err(invalid(format!(
                "{} class names for {outputs} outputs",
                self.class_names.len()
            )));
        }
        Ok(())
    }
}
