//! Dense and convolution layers lowered to one form: a sparse integer matrix plus a bias, over
//! the flattened (C-order) values. The plaintext reference, the interval bounds and the encrypted
//! evaluator all run this form, so they agree on what a layer computes.
use super::{QuantizedLayer, QuantizedModel};
use crate::SecureError;

/// `y[o] = bias[o] + Σ_(i, w) in rows[o] w · x[i]` (zero weights left out).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LinearMap {
    /// Number of input values.
    pub inputs: usize,
    /// Per output: (input index, non-zero weight).
    pub rows: Vec<Vec<(u32, i64)>>,
    /// One per output.
    pub bias: Vec<i64>,
}

/// One step of a model's computation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// A dense or convolution layer.
    Linear(LinearMap),
    /// Element-wise x².
    Square,
}

impl LinearMap {
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.rows.len()
    }

    /// Largest ℓ1 norm of a row (Σ |w|), the factor by which the layer can grow a value's size
    /// (and a ciphertext's noise).
    pub fn max_row_l1(&self) -> u64 {
        self.rows
            .iter()
            .map(|r| r.iter().map(|&(_, w)| w.unsigned_abs()).sum::<u64>())
            .max()
            .unwrap_or(0)
    }
}

fn dense(inputs: usize, outputs: usize, weights: &[i64], bias: &[i64]) -> LinearMap {
    let rows = (0..outputs)
        .map(|o| {
            weights[o * inputs..(o + 1) * inputs]
                .iter()
                .enumerate()
                .filter(|(_, &w)| w != 0)
                .map(|(i, &w)| (i as u32, w))
                .collect()
        })
        .collect();
    LinearMap {
        inputs,
        rows,
        bias: bias.to_vec(),
    }
}

struct Conv<'a> {
    shape: [usize; 3],
    out_channels: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    weights: &'a [i64],
    bias: &'a [i64],
}

impl Conv<'_> {
    fn out_size(&self, d: usize) -> usize {
        (self.shape[d + 1] + 2 * self.padding[d] - self.kernel[d]) / self.stride[d] + 1
    }

    /// Entries of output (c, oy, ox): the in-range input positions under the kernel.
    fn row(&self, c: usize, oy: usize, ox: usize) -> Vec<(u32, i64)> {
        let [cin, h, w] = self.shape;
        let [kh, kw] = self.kernel;
        let mut row = Vec::with_capacity(cin * kh * kw);
        for ci in 0..cin {
            for ky in 0..kh {
                let Some(y) = (oy * self.stride[0] + ky)
                    .checked_sub(self.padding[0])
                    .filter(|&y| y < h)
                else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(x) = (ox * self.stride[1] + kx)
                        .checked_sub(self.padding[1])
                        .filter(|&x| x < w)
                    else {
                        continue;
                    };
                    let wv = self.weights[((c * cin + ci) * kh + ky) * kw + kx];
                    if wv != 0 {
                        row.push((((ci * h + y) * w + x) as u32, wv));
                    }
                }
            }
        }
        row
    }

    fn lower(&self) -> LinearMap {
        let (oh, ow) = (self.out_size(0), self.out_size(1));
        let mut rows = Vec::with_capacity(self.out_channels * oh * ow);
        let mut bias = Vec::with_capacity(rows.capacity());
        for c in 0..self.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    rows.push(self.row(c, oy, ox));
                    bias.push(self.bias[c]);
                }
            }
        }
        LinearMap {
            inputs: self.shape.iter().product(),
            rows,
            bias,
        }
    }
}

impl QuantizedModel {
    /// Validates the model and lowers it to its steps.
    pub(crate) fn steps(&self) -> Result<Vec<Step>, SecureError> {
        self.validate()?;
        let shapes = self.shapes()?;
        Ok(self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(layer, shape)| match layer {
                QuantizedLayer::Dense {
                    inputs,
                    outputs,
                    weights,
                    bias,
                } => Step::Linear(dense(*inputs, *outputs, weights, bias)),
                QuantizedLayer::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    weights,
                    bias,
                    ..
                } => Step::Linear(
                    Conv {
                        shape: [shape[0], shape[1], shape[2]],
                        out_channels: *out_channels,
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                        weights,
                        bias,
                    }
                    .lower(),
                ),
                QuantizedLayer::Square => Step::Square,
            })
            .collect())
    }
}
