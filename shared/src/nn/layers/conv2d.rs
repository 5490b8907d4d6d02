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
use crate::tensor::{alloc, parallel, PlanarTensor, Representation};
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
    /// For each `(c, ky, kx)` and each output row `oy` (that order): which inputs one output row
    /// of the columns reads.
    runs: Vec<Run>,
}

/// One output row `oy` of one column row `(c, ky, kx)`: `before` zeros (padding), then `count`
/// inputs from index `src` of the image (`c·h·w` layout) on, `stride` apart, then `after` zeros;
/// `before + count + after = ow`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    src: usize,
    before: usize,
    count: usize,
    after: usize,
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
    /// The geometry of a convolution of `filters` square `kernel`s at `stride` with `padding`
    /// over per-sample inputs `(c, h, w)`: output sizes and the column runs, in checked
    /// arithmetic, with the run table's memory reserved fallibly.
    ///
    /// # Errors
    /// [`MoreError::BadRank`] for an input that is not `(c, h, w)`;
    /// [`MoreError::InvalidParameter`] for a zero kernel or stride, a padding not below the
    /// kernel, a kernel larger than the padded input or sizes past `usize`;
    /// [`MoreError::Allocation`] when the run table cannot be allocated.
    pub fn new(
        input: &[usize],
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let &[c, h, w] = input else {
            return Err(MoreError::BadRank {
                op: "conv2d",
                expected: "a (channels, height, width) input",
                shape: input.to_vec(),
            });
        };
        let bad = |why: String| MoreError::InvalidParameter(format!("conv2d: {why}"));
        if kernel == 0 || stride == 0 || padding >= kernel {
            return Err(bad(format!(
                "kernel {kernel} and stride {stride} must be > 0 and padding {padding} below the kernel"
            )));
        }
        let out = |size: usize| {
            size.checked_add(padding.checked_mul(2)?)?
                .checked_sub(kernel)
                .map(|span| span / stride + 1)
        };
        let (out_h, out_w) = out(h).zip(out(w)).ok_or_else(|| {
            bad(format!(
                "kernel {kernel} larger than the padded input {input:?}"
            ))
        })?;
        let rows = alloc::count(&[c, kernel, kernel, out_h], "conv2d geometry")?;
        alloc::count(&[c, h, w], "conv2d geometry")?;
        // Input coordinate of output coordinate `o` at kernel offset `k`, if inside the image
        // (o·stride + k < padded size, which fits in usize).
        let input = |o: usize, k: usize, size: usize| {
            (o * stride + k).checked_sub(padding).filter(|&i| i < size)
        };
        let mut runs = alloc::with_capacity(rows, "conv2d geometry")?;
        for ci in 0..c {
            for ky in 0..kernel {
                for kx in 0..kernel {
                    // The inputs of one output row are the same for every oy: counted once.
                    let mut inside = (0..out_w).filter_map(|ox| Some((ox, input(ox, kx, w)?)));
                    let first = inside.next();
                    let count = first.map_or(0, |_| 1 + inside.count());
                    for oy in 0..out_h {
                        runs.push(match (input(oy, ky, h), first) {
                            (Some(iy), Some((first, ix))) => Run {
                                src: ci * h * w + iy * w + ix,
                                before: first,
                                count,
                                after: out_w - first - count,
                            },
                            _ => Run {
                                src: 0,
                                before: out_w,
                                count: 0,
                                after: 0,
                            },
                        });
                    }
                }
            }
        }
        Ok(ConvGeometry {
            channels: c,
            height: h,
            width: w,
            filters,
            kernel,
            stride,
            padding,
            out_h,
            out_w,
            runs,
        })
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

    /// One plane of `x: (n, c, h, w)` → its columns `(c·k·k, n·oh·ow)`, written in order, one
    /// run of inputs per output row (a slice copy at stride 1).
    fn im2col_plane<F: Float>(&self, x: &ArrayD<F>, n: usize) -> Result<ArrayD<F>> {
        let x = row_major(x);
        let len = alloc::count(&[self.patch(), n, self.positions()], "conv2d columns")?;
        let mut cols = alloc::with_capacity(len, "conv2d columns")?;
        for row_runs in self.runs.chunks_exact(self.out_h) {
            for image in x.chunks_exact(self.image_len()) {
                for run in row_runs {
                    cols.resize(cols.len() + run.before, F::zero());
                    let inputs = &image[run.src..];
                    if self.stride == 1 {
                        cols.extend_from_slice(&inputs[..run.count]);
                    } else {
                        cols.extend((0..run.count).map(|i| inputs[i * self.stride]));
                    }
                    cols.resize(cols.len() + run.after, F::zero());
                }
            }
        }
        Ok(
            Array2::from_shape_vec((self.patch(), n * self.positions()), cols)
                .expect("c·k·k·n·oh·ow values")
                .into_dyn(),
        )
    }

    /// Adjoint of [`Self::im2col_plane`]: columns `(c·k·k, n·oh·ow)` → `(n, c, h, w)` by
    /// scatter-add.
    fn col2im_plane<F: Float>(&self, cols: &ArrayView2<F>, n: usize) -> Result<ArrayD<F>> {
        let (ow, len) = (self.out_w, self.image_len());
        let mut x = alloc::zeros(
            alloc::count(&[n, len], "conv2d input gradient")?,
            "conv2d input gradient",
        )?;
        for (row, row_runs) in cols
            .rows()
            .into_iter()
            .zip(self.runs.chunks_exact(self.out_h))
        {
            let row = match row.as_slice() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(row.to_vec()),
            };
            let per_image = row.chunks_exact(self.positions());
            for (values, image) in per_image.zip(x.chunks_exact_mut(len)) {
                for (run, values) in row_runs.iter().zip(values.chunks_exact(ow)) {
                    let values = &values[run.before..run.before + run.count];
                    if self.stride == 1 {
                        let inputs = &mut image[run.src..run.src + run.count];
                        for (x, &v) in inputs.iter_mut().zip(values) {
                            *x += v;
                        }
                    } else {
                        for (i, &v) in values.iter().enumerate() {
                            image[run.src + i * self.stride] += v;
                        }
                    }
                }
            }
        }
        let shape = [n, self.channels, self.height, self.width];
        Ok(ArrayD::from_shape_vec(IxDyn(&shape), x).expect("n·c·h·w values"))
    }

    /// `(filters, n·oh·ow)` plus the bias `b: (1, filters)` → `(n, filters, oh, ow)`.
    fn filter_major_to_nchw<F: Float>(
        &self,
        y: &Array2<F>,
        b: &ArrayD<F>,
        n: usize,
    ) -> Result<ArrayD<F>> {
        let positions = self.positions();
        let y = y.as_slice().expect("a GEMM result is contiguous");
        let b = row_major(b);
        let len = alloc::count(&[n, self.filters, positions], "conv2d output")?;
        let mut out = alloc::zeros(len, "conv2d output")?;
        for (image, block) in out.chunks_exact_mut(self.filters * positions).enumerate() {
            for (f, dst) in block.chunks_exact_mut(positions).enumerate() {
                let start = (f * n + image) * positions;
                for (d, &s) in dst.iter_mut().zip(&y[start..start + positions]) {
                    *d = s + b[f];
                }
            }
        }
        let shape = [n, self.filters, self.out_h, self.out_w];
        Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("n·filters·oh·ow values"))
    }

    /// `dy: (n, filters, oh, ow)` → `(filters, n·oh·ow)`.
    fn nchw_to_filter_major<F: Float>(&self, dy: &ArrayD<F>, n: usize) -> Result<Array2<F>> {
        let positions = self.positions();
        let dy = row_major(dy);
        let len = alloc::count(&[self.filters, n, positions], "conv2d output gradient")?;
        let zeros = alloc::zeros(len, "conv2d output gradient")?;
        let mut out = Array2::from_shape_vec((self.filters, n * positions), zeros)
            .expect("filters·n·oh·ow values");
        let flat = out.as_slice_mut().expect("a fresh array is contiguous");
        for (image, block) in dy.chunks_exact(self.filters * positions).enumerate() {
            for (f, src) in block.chunks_exact(positions).enumerate() {
                let start = (f * n + image) * positions;
                flat[start..start + positions].copy_from_slice(src);
            }
        }
        Ok(out)
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
        let cols = x.with_planes(
            parallel::map(&x.planes, |p| self.im2col_plane(p, n))
                .into_iter()
                .collect::<Result<_>>()?,
        );
        let w_t = (w.planes.iter())
            .map(|p| Ok(matrix(p)?.reversed_axes()))
            .collect::<Result<Vec<_>>>()?;
        let c = (cols.planes.iter())
            .map(matrix)
            .collect::<Result<Vec<_>>>()?;
        let y = x.rep.matmul(&w_t, &c);
        let planes = (y.iter().zip(&b.planes))
            .map(|(y, b)| self.filter_major_to_nchw(y, b, n))
            .collect::<Result<_>>()?;
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
        let dy_t = parallel::map(&dy.planes, |p| self.nchw_to_filter_major(p, n))
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
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
                    let planes = parallel::map(&dcols, |p| self.col2im_plane(&p.view(), n));
                    Ok(cols.with_planes(planes.into_iter().collect::<Result<_>>()?))
                })
            },
        );
        Ok((
            dx.transpose()?,
            cols.with_planes(dw.into_iter().map(Array2::into_dyn).collect()),
            cols.with_planes(db.map(|p| p.into_dyn()).collect()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, ArrayD, IxDyn};

    use super::ConvGeometry;

    /// The columns by their definition: row `(c, ky, kx)`, column `(image, oy, ox)` holds
    /// `x[image, c, oy·s + ky − p, ox·s + kx − p]`, or 0 outside the image.
    fn columns_by_definition(g: &ConvGeometry, x: &ArrayD<f64>, n: usize) -> Array2<f64> {
        let (k, s, p) = (g.kernel as isize, g.stride as isize, g.padding as isize);
        Array2::from_shape_fn((g.patch(), n * g.positions()), |(row, col)| {
            let (c, ky, kx) = (
                row as isize / (k * k),
                (row as isize / k) % k,
                row as isize % k,
            );
            let (image, position) = (col / g.positions(), col % g.positions());
            let (oy, ox) = ((position / g.out_w) as isize, (position % g.out_w) as isize);
            let (iy, ix) = (oy * s + ky - p, ox * s + kx - p);
            let inside =
                (0..g.height as isize).contains(&iy) && (0..g.width as isize).contains(&ix);
            if inside {
                x[[image, c as usize, iy as usize, ix as usize]]
            } else {
                0.0
            }
        })
    }

    /// Geometry from sizes no memory holds, or relations the spec refuses, is an error, never an
    /// abort or an overflow (the padding of 1e9 asked for 64 GB here).
    #[test]
    fn impossible_geometry_is_an_error() {
        for (input, kernel, padding) in [
            (vec![1, 1, 1], 1, 1_000_000_000),
            (vec![1, 1, 1], 3, usize::MAX / 2),
            (vec![1, 4, 4], 9, 2),
            (vec![1, 1 << 40, 1], 1, 0),
            (vec![usize::MAX, 2, 2], 2, 0),
            (vec![4, 4], 1, 0),
        ] {
            let g = ConvGeometry::new(&input, 1, kernel, 1, padding);
            assert!(g.is_err(), "{input:?} k{kernel} p{padding}: {g:?}");
        }
    }

    /// im2col against its definition, and col2im as its adjoint (`⟨im2col x, c⟩ = ⟨x, col2im c⟩`,
    /// 1e-12 relative: one summation order against another), on strides 1 to 3, paddings 0 to 2,
    /// odd and even kernels, non-square images.
    #[test]
    fn columns_match_their_definition_and_col2im_is_the_adjoint() {
        let n = 3;
        for (input, kernel, stride, padding) in [
            ([1, 6, 6], 3, 1, 1),
            ([2, 5, 7], 2, 1, 0),
            ([1, 28, 28], 5, 2, 2),
            ([3, 9, 8], 3, 2, 1),
            ([2, 7, 10], 3, 3, 2),
            ([1, 4, 4], 5, 1, 2),
        ] {
            let g = ConvGeometry::new(&input, 4, kernel, stride, padding).unwrap();
            let shape = [n, input[0], input[1], input[2]];
            let x = ArrayD::from_shape_fn(IxDyn(&shape), |i| {
                (i[0] * 131 + i[1] * 37 + i[2] * 11 + i[3] * 3) as f64 % 17.0 - 8.0
            });
            let cols = g.im2col_plane(&x, n).unwrap();
            let expected = columns_by_definition(&g, &x, n).into_dyn();
            assert_eq!(cols, expected, "{input:?} k{kernel} s{stride} p{padding}");

            let c = Array2::from_shape_fn((g.patch(), n * g.positions()), |(r, j)| {
                ((r * 7 + j * 5) % 13) as f64 - 6.0
            });
            let back = g.col2im_plane(&c.view(), n).unwrap();
            let lhs: f64 = (&cols * &c.view().into_dyn()).sum();
            let rhs: f64 = (&x * &back).sum();
            assert!(
                (lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0),
                "{input:?} k{kernel} s{stride} p{padding}: {lhs} vs {rhs}"
            );
        }
    }
}
