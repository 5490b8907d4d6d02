//! Float layers of a `more-core` model → integer layers at a running scale.
//!
//! Every value between layers is an integer `a` standing for the real `a · scale`. A linear layer
//! with real weights `W` (quantized as `Wq · s_w`) maps it to `Wq·a` at `scale · s_w`, and its bias
//! is rounded at that scale; x² maps `scale` to `scale²` (times the polynomial's coefficient).
//! The first linear layer also absorbs the input's dequantization `z = q·slope + intercept`.

use more_core::nn::{LayerSpec, Model};
use more_core::tensor::Plain;
use more_core::Float;

use super::input::Dequantization;
use crate::{QuantizedLayer, SecureError};

/// A float linear layer in the integer model's layout: `weights[o][i]` (`i` over the flattened
/// input, or over `[in][kh][kw]` for a convolution) and one bias per output.
pub(crate) struct FloatLinear {
    pub kind: Linear,
    pub inputs: usize,
    pub outputs: usize,
    /// `outputs × inputs` row-major (for a convolution, `inputs = in_channels·kh·kw`).
    pub weights: Vec<f64>,
    pub bias: Vec<f64>,
}

/// Geometry of a linear layer.
#[derive(Clone, Copy)]
pub(crate) enum Linear {
    Dense,
    Conv2d {
        in_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
}

/// One step of the float model that survives into the integer model.
pub(crate) enum FloatStep {
    Linear(FloatLinear),
    /// `c · x²`.
    Square(f64),
}

fn unsupported(i: usize, kind: &str) -> SecureError {
    SecureError::Invalid(format!(
        "layers.{i} ({kind}): secure mode runs dense and conv2d layers with x² activations \
         (square or polynomial [0, 0, c] with c > 0), flatten and dropout only"
    ))
}

/// The model's layers as [`FloatStep`]s (flatten and dropout dropped: the integer layers flatten
/// implicitly and dropout is the identity at inference).
pub(crate) fn float_steps<F: Float>(
    model: &Model<F, Plain>,
) -> Result<Vec<FloatStep>, SecureError> {
    let spec = model.spec();
    let shapes = spec
        .shapes()
        .map_err(|e| SecureError::Invalid(e.to_string()))?;
    let params: std::collections::HashMap<String, Vec<f64>> = model
        .parameters()
        .into_iter()
        .map(|(name, t)| (name, t.values().iter().map(|v| v.as_f64()).collect()))
        .collect();
    let take = |i: usize, what: &str| {
        params
            .get(&format!("layers.{i}.{what}"))
            .cloned()
            .ok_or_else(|| SecureError::Invalid(format!("layers.{i} has no {what}")))
    };
    let mut steps = Vec::new();
    for (i, (layer, shape)) in spec.layers.iter().zip(&shapes).enumerate() {
        match *layer {
            LayerSpec::Dense { units } => {
                let inputs = shape[0];
                let w = take(i, "weight")?; // (inputs, units)
                steps.push(FloatStep::Linear(FloatLinear {
                    kind: Linear::Dense,
                    inputs,
                    outputs: units,
                    weights: transpose(&w, inputs, units),
                    bias: take(i, "bias")?,
                }));
            }
            LayerSpec::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => {
                // more-core's kernel is (c·k·k, filters) with rows in (c, ky, kx) order.
                let rows = shape[0] * kernel * kernel;
                let w = take(i, "weight")?;
                steps.push(FloatStep::Linear(FloatLinear {
                    kind: Linear::Conv2d {
                        in_channels: shape[0],
                        kernel,
                        stride,
                        padding,
                    },
                    inputs: rows,
                    outputs: filters,
                    weights: transpose(&w, rows, filters),
                    bias: take(i, "bias")?,
                }));
            }
            LayerSpec::Square => steps.push(FloatStep::Square(1.0)),
            LayerSpec::Polynomial { ref coefficients } => {
                let mut c = coefficients.clone();
                while c.len() > 3 && c.last() == Some(&0.0) {
                    c.pop();
                }
                match c[..] {
                    [0.0, 0.0, a] if a > 0.0 => steps.push(FloatStep::Square(a)),
                    _ => return Err(unsupported(i, "polynomial other than c·x²")),
                }
            }
            LayerSpec::Flatten | LayerSpec::Dropout { .. } => {}
            ref other => return Err(unsupported(i, other.kind())),
        }
    }
    Ok(steps)
}

/// `(rows, cols)` row-major → `(cols, rows)` row-major.
fn transpose(w: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

/// Folds the input's dequantization into the first linear layer: afterwards that layer reads the
/// quantized integers themselves (scale 1).
pub(crate) fn absorb_input(
    first: &mut FloatLinear,
    map: &Dequantization,
) -> Result<(), SecureError> {
    match first.kind {
        Linear::Dense => {
            for o in 0..first.outputs {
                let row = &mut first.weights[o * first.inputs..(o + 1) * first.inputs];
                for (i, w) in row.iter_mut().enumerate() {
                    let (slope, intercept) = map.at(i);
                    first.bias[o] += *w * intercept;
                    *w *= slope;
                }
            }
            Ok(())
        }
        Linear::Conv2d { padding, .. } => {
            // Shared kernels need one map for every pixel; a zero-padded border is the real 0
            // only when the intercept is 0.
            let Some((slope, intercept)) = map.uniform() else {
                return Err(SecureError::Invalid(
                    "a convolution first needs one input scale and offset for every value".into(),
                ));
            };
            if intercept != 0.0 && padding > 0 {
                return Err(SecureError::Invalid(
                    "a padded convolution first needs inputs whose 0 is the real 0".into(),
                ));
            }
            for o in 0..first.outputs {
                let row = &mut first.weights[o * first.inputs..(o + 1) * first.inputs];
                first.bias[o] += intercept * row.iter().sum::<f64>();
                row.iter_mut().for_each(|w| *w *= slope);
            }
            Ok(())
        }
    }
}

/// Symmetric `bits`-bit quantization of a layer's weights with one scale per layer (the largest
/// |w| maps to `2^(bits−1) − 1`); the bias is rounded at `input_scale · s_w`. Returns the integer
/// layer and its output scale.
pub(crate) fn quantize_linear(
    layer: &FloatLinear,
    input_scale: f64,
    bits: u32,
) -> Result<(QuantizedLayer, f64), SecureError> {
    let qmax = ((1i64 << (bits - 1)) - 1) as f64;
    let largest = layer.weights.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    if !largest.is_finite() || layer.bias.iter().any(|b| !b.is_finite()) {
        return Err(SecureError::Invalid(
            "a weight or bias is not finite".into(),
        ));
    }
    let s_w = if largest > 0.0 { largest / qmax } else { 1.0 };
    let scale = input_scale * s_w;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(SecureError::Invalid(format!(
            "the accumulated scale {scale:e} left the f64 range"
        )));
    }
    let weights = layer
        .weights
        .iter()
        .map(|w| (w / s_w).round() as i64)
        .collect();
    let bias = layer
        .bias
        .iter()
        .map(|b| {
            let q = (b / scale).round();
            if q.abs() >= i64::MAX as f64 {
                return Err(SecureError::Invalid(format!(
                    "a bias is {q:e} units of the scale {scale:e}: too large for an integer"
                )));
            }
            Ok(q as i64)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quantized = match layer.kind {
        Linear::Dense => QuantizedLayer::Dense {
            inputs: layer.inputs,
            outputs: layer.outputs,
            weights,
            bias,
        },
        Linear::Conv2d {
            in_channels,
            kernel,
            stride,
            padding,
        } => QuantizedLayer::Conv2d {
            in_channels,
            out_channels: layer.outputs,
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [padding; 2],
            weights,
            bias,
        },
    };
    Ok((quantized, scale))
}
