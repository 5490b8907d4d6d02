//! 2-D convolution by a transposed im2col and one (planar) GEMM per product.
//!
//! # Shapes
//! `x: (n, c, h, w)`, kernel `W: (c·k·k, filters)`, `b: (1, filters)`, `y: (n, filters, oh, ow)`
//! with `oh = (h + 2p − k)/s + 1`. The columns are kept transposed, `(c·k·k, n·oh·ow)`, so that
//! `Wᵀ·cols` gives the output filter-major and each image's `(filters, oh·ow)` block is a
//! contiguous copy away from `y` (no strided permutation). im2col is a gather (linear,
//! plane-wise); its adjoint is a scatter-add, so the backward pass is exact on ciphertexts too.

use std::borrow::Cow;

use ndarray::{Array2, ArrayD, ArrayView2, Axis, Ix2, IxDyn};

use super::Gradients;
use crate::tensor::{parallel, PlanarTensor, Representation};
use crate::{Float, MoreError, Result};

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
    /// For each `(c, ky, kx)` and each output position (that order): the input index in
    /// `c·h·w`, or `c·h·w` for padding (a zero).
    gather: Vec<usize>,
}

/// A plane's values in row-major order (borrowed when it is already contiguous).
fn row_major<F: Float>(p: &ArrayD<F>) -> Cow<'_, [F]> {
    match p.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(p.iter().copied().collect()),
    }
}

/// A 2-D view of a plane.
fn matrix<F: Float>(p: &ArrayD<F>) -> Result<ArrayView2<'_, F>> {
    p.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| MoreError::BadRank {
            op: "conv2d",
            expected: "a 2-D tensor",
            shape: p.shape().to_vec(),
        })
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
        for ci in 0..c {
            for ky in 0..kernel {
                for kx in 0..kernel {
                    for oy in 0..out_h {
                        for ox in 0..out_w {
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

    /// `c·k·k`: the rows of the columns.
    fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// `oh·ow`: output positions per image.
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// `c·h·w`: input values per image.
    fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// One plane of `x: (n, c, h, w)` → its columns `(c·k·k, n·oh·ow)`.
    fn im2col_plane<F: Float>(&self, x: &ArrayD<F>, n: usize) -> ArrayD<F> {
        let (positions, len) = (self.positions(), self.image_len());
        let x = row_major(x);
        let mut cols = Array2::<F>::zeros((self.patch(), n * positions));
        let width = n * positions;
        let out = cols.as_slice_mut().expect("a fresh array is contiguous");
        // Each image with one zero appended (the padding index `len`): a gather without branches.
        let mut padded = vec![F::zero(); len + 1];
        for (image_index, image) in x.chunks_exact(len).enumerate() {
            padded[..len].copy_from_slice(image);
            for (row, taps) in self.gather.chunks_exact(positions).enumerate() {
                let start = row * width + image_index * positions;
                for (o, &j) in out[start..start + positions].iter_mut().zip(taps) {
                    *o = padded[j];
                }
            }
        }
        cols.into_dyn()
    }

    /// Adjoint of [`Self::im2col_plane`]: columns `(c·k·k, n·oh·ow)` → `(n, c, h, w)` by
    /// scatter-add.
    fn col2im_plane<F: Float>(&self, cols: &ArrayView2<F>, n: usize) -> ArrayD<F> {
        let (positions, len) = (self.positions(), self.image_len());
        let mut x = vec![F::zero(); n * len];
        for (row, taps) in cols
            .rows()
            .into_iter()
            .zip(self.gather.chunks_exact(positions))
        {
            let row = match row.as_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(row.to_vec()),
            };
            for (values, image) in row.chunks_exact(positions).zip(x.chunks_exact_mut(len)) {
                for (&v, &j) in values.iter().zip(taps) {
                    if j < len {
                        image[j] += v;
                    }
                }
            }
        }
        let shape = [n, self.channels, self.height, self.width];
        ArrayD::from_shape_vec(IxDyn(&shape), x).expect("n·c·h·w values")
    }

    /// `(filters, n·oh·ow)` plus the bias `b: (1, filters)` → `(n, filters, oh, ow)`.
    fn filter_major_to_nchw<F: Float>(&self, y: &Array2<F>, b: &ArrayD<F>, n: usize) -> ArrayD<F> {
        let positions = self.positions();
        let y = y.as_slice().expect("a GEMM result is contiguous");
        let b = row_major(b);
        let mut out = vec![F::zero(); n * self.filters * positions];
        for (image, block) in out.chunks_exact_mut(self.filters * positions).enumerate() {
            for (f, dst) in block.chunks_exact_mut(positions).enumerate() {
                let start = (f * n + image) * positions;
                for (d, &s) in dst.iter_mut().zip(&y[start..start + positions]) {
                    *d = s + b[f];
                }
            }
        }
        let shape = [n, self.filters, self.out_h, self.out_w];
        ArrayD::from_shape_vec(IxDyn(&shape), out).expect("n·filters·oh·ow values")
    }

    /// `dy: (n, filters, oh, ow)` → `(filters, n·oh·ow)`.
    fn nchw_to_filter_major<F: Float>(&self, dy: &ArrayD<F>, n: usize) -> Array2<F> {
        let positions = self.positions();
        let dy = row_major(dy);
        let mut out = Array2::<F>::zeros((self.filters, n * positions));
        let flat = out.as_slice_mut().expect("a fresh array is contiguous");
        for (image, block) in dy.chunks_exact(self.filters * positions).enumerate() {
            for (f, src) in block.chunks_exact(positions).enumerate() {
                let start = (f * n + image) * positions;
                flat[start..start + positions].copy_from_slice(src);
            }
        }
        out
    }

    /// Forward pass; returns `y: (n, filters, oh, ow)` and the columns `(c·k·k, n·oh·ow)`
    /// (kept for the backward pass).
    ///
    /// # Errors
    /// [`MoreError::BasisMismatch`] for compact tensors of different bases;
    /// [`MoreError::BadRank`] for a kernel that is not 2-D.
    pub fn forward<F: Float, R: Representation<F>>(
        &self,
        x: &PlanarTensor<F, R>,
        w: &PlanarTensor<F, R>,
        b: &PlanarTensor<F, R>,
    ) -> Result<(PlanarTensor<F, R>, PlanarTensor<F, R>)> {
        x.check_same_rep(w, "conv2d")?;
        x.check_same_rep(b, "conv2d")?;
        let n = x.shape()[0];
        let cols = x.with_planes(parallel::map(&x.planes, |p| self.im2col_plane(p, n)));
        let w_t = (w.planes.iter())
            .map(|p| Ok(matrix(p)?.reversed_axes()))
            .collect::<Result<Vec<_>>>()?;
        let c = (cols.planes.iter())
            .map(matrix)
            .collect::<Result<Vec<_>>>()?;
        let y = x.rep.matmul(&w_t, &c);
        let planes = (y.iter().zip(&b.planes))
            .map(|(y, b)| self.filter_major_to_nchw(y, b, n))
            .collect();
        Ok((x.with_planes(planes), cols))
    }

    /// `(dx, dW, db)` from the columns `(c·k·k, n·oh·ow)` and `dy: (n, filters, oh, ow)`; `dx`
    /// only when `input_gradient`.
    ///
    /// # Errors
    /// As [`Self::forward`].
    pub fn backward<F: Float, R: Representation<F>>(
        &self,
        cols: &PlanarTensor<F, R>,
        w: &PlanarTensor<F, R>,
        dy: &PlanarTensor<F, R>,
        input_gradient: bool,
    ) -> Result<Gradients<F, R>> {
        cols.check_same_rep(w, "conv2d")?;
        cols.check_same_rep(dy, "conv2d")?;
        let n = dy.shape()[0];
        let dy_t = parallel::map(&dy.planes, |p| self.nchw_to_filter_major(p, n));
        let dy_t_views: Vec<_> = dy_t.iter().map(Array2::view).collect();
        let dy_views: Vec<_> = dy_t.iter().map(|p| p.view().reversed_axes()).collect();
        let c = (cols.planes.iter())
            .map(matrix)
            .collect::<Result<Vec<_>>>()?;
        let wv = (w.planes.iter()).map(matrix).collect::<Result<Vec<_>>>()?;
        let db = dy_t
            .iter()
            .map(|p| p.sum_axis(Axis(1)).insert_axis(Axis(0)));
        // dW and dx are independent: on two threads when there are.
        let (dw, dx) = parallel::join(
            || cols.rep.matmul(&c, &dy_views),
            || {
                input_gradient.then(|| {
                    let dcols = cols.rep.matmul(&wv, &dy_t_views);
                    cols.with_planes(parallel::map(&dcols, |p| self.col2im_plane(&p.view(), n)))
                })
            },
        );
        Ok((
            dx,
            cols.with_planes(dw.into_iter().map(Array2::into_dyn).collect()),
            cols.with_planes(db.map(|p| p.into_dyn()).collect()),
        ))
    }
}
