//! 2-D convolution by im2col and one (planar) GEMM.
//!
//! # Shapes
//! `x: (n, c, h, w)`, kernel `W: (c·k·k, filters)`, `b: (1, filters)`, `y: (n, filters, oh, ow)`
//! with `oh = (h + 2p − k)/s + 1`. im2col is a gather (linear, plane-wise); its adjoint is a
//! scatter-add, so the backward pass is exact on ciphertexts too.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::tensor::{PlanarTensor, Representation};
use crate::{Float, Result};

/// Static geometry of one convolution.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConvGeometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub out_h: usize,
    pub out_w: usize,
    /// For each output position and each `(c, ky, kx)`: the input index in `c·h·w`, or `c·h·w`
    /// (the appended zero) for padding.
    pub gather: Vec<usize>,
}

impl ConvGeometry {
    pub fn new(
        input: &[usize],
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        let (c, h, w) = (input[0], input[1], input[2]);
        let out_h = (h + 2 * padding - kernel) / stride + 1;
        let out_w = (w + 2 * padding - kernel) / stride + 1;
        let pad = c * h * w;
        let mut gather = Vec::with_capacity(out_h * out_w * c * kernel * kernel);
        for oy in 0..out_h {
            for ox in 0..out_w {
                for ci in 0..c {
                    for ky in 0..kernel {
                        for kx in 0..kernel {
                            let iy = (oy * stride + ky) as isize - padding as isize;
                            let ix = (ox * stride + kx) as isize - padding as isize;
                            let inside =
                                iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w;
                            gather.push(if inside {
                                ci * h * w + iy as usize * w + ix as usize
                            } else {
                                pad
                            });
                        }
                    }
                }
            }
        }
        ConvGeometry {
            channels: c,
            height: h,
            width: w,
            filters,
            kernel,
            stride,
            padding,
            out_h,
            out_w,
            gather,
        }
    }

    fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// `(n, c, h, w) → (n·oh·ow, c·k·k)`.
    pub fn im2col<F: Float, R: Representation<F>>(
        &self,
        x: &PlanarTensor<F, R>,
    ) -> Result<PlanarTensor<F, R>> {
        let n = x.shape()[0];
        let flat = x.reshape(&[n, self.channels * self.height * self.width])?;
        let zero = PlanarTensor::full(x.representation().clone(), &[n, 1], F::zero());
        let padded = PlanarTensor::concatenate(1, &[flat, zero])?;
        padded
            .select(1, &self.gather)?
            .reshape(&[n * self.out_h * self.out_w, self.patch()])
    }

    /// Adjoint of [`Self::im2col`]: `(n·oh·ow, c·k·k) → (n, c, h, w)` by scatter-add.
    pub fn col2im<F: Float, R: Representation<F>>(
        &self,
        cols: &PlanarTensor<F, R>,
        n: usize,
    ) -> Result<PlanarTensor<F, R>> {
        let cols = cols.reshape(&[n, self.gather.len()])?;
        let len = self.channels * self.height * self.width;
        let planes = cols
            .planes()
            .iter()
            .map(|p| {
                let mut out = ArrayD::<F>::zeros(IxDyn(&[n, len + 1]));
                for (mut out_row, in_row) in out.axis_iter_mut(Axis(0)).zip(p.axis_iter(Axis(0))) {
                    for (&j, &v) in self.gather.iter().zip(in_row.iter()) {
                        out_row[j] += v;
                    }
                }
                out.slice_axis(Axis(1), ndarray::Slice::from(0..len))
                    .to_owned()
            })
            .collect();
        PlanarTensor::from_planes(cols.representation().clone(), planes)?.reshape(&[
            n,
            self.channels,
            self.height,
            self.width,
        ])
    }

    /// Forward pass; returns `y` and the im2col columns (kept for the backward pass).
    pub fn forward<F: Float, R: Representation<F>>(
        &self,
        x: &PlanarTensor<F, R>,
        w: &PlanarTensor<F, R>,
        b: &PlanarTensor<F, R>,
    ) -> Result<(PlanarTensor<F, R>, PlanarTensor<F, R>)> {
        let n = x.shape()[0];
        let cols = self.im2col(x)?;
        let y = cols
            .matmul(w)?
            .add(b)?
            .reshape(&[n, self.out_h, self.out_w, self.filters])?
            .permute(&[0, 3, 1, 2])?;
        Ok((y, cols))
    }

    /// `(dx, dW, db)` from the columns and `dy: (n, filters, oh, ow)`.
    pub fn backward<F: Float, R: Representation<F>>(
        &self,
        cols: &PlanarTensor<F, R>,
        w: &PlanarTensor<F, R>,
        dy: &PlanarTensor<F, R>,
    ) -> Result<(PlanarTensor<F, R>, PlanarTensor<F, R>, PlanarTensor<F, R>)> {
        let n = dy.shape()[0];
        let dy = dy
            .permute(&[0, 2, 3, 1])?
            .reshape(&[n * self.out_h * self.out_w, self.filters])?;
        let dw = cols.transpose()?.matmul(&dy)?;
        let db = dy.sum_axis(0)?;
        let dx = self.col2im(&dy.matmul(&w.transpose()?)?, n)?;
        Ok((dx, dw, db))
    }
}
