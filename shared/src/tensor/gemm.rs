//! The real matrix product under every representation's `matmul`: the `gemm` crate (faer's
//! kernels; any strides, so transposed views need no copy), spread over threads by size.

use ndarray::{Array2, ArrayView2};

use crate::Float;

/// Multiply-adds from which a product runs on rayon's threads: below it, the threads' start-up
/// cost more than they saved (measured on 2 cores: batch-64 products such as 64×784×128 ran
/// faster on one thread, also cut in two halves, one per thread; 256×784×128 1.6x faster on
/// two; BENCHMARKS.md).
#[cfg(feature = "parallel")]
const THREADED_GEMM_WORK: usize = 1 << 24;

/// `a·b` for `a: (m, k)`, `b: (k, n)`, as a new row-major `(m, n)` array.
pub(crate) fn gemm<F: Float>(a: &ArrayView2<F>, b: &ArrayView2<F>) -> Array2<F> {
    debug_assert_eq!(a.ncols(), b.nrows(), "checked by the callers");
    let mut c = Array2::<F>::zeros((a.nrows(), b.ncols()));
    let ((m, k), n) = (a.dim(), b.ncols());
    if m == 0 || n == 0 || k == 0 {
        return c;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    // SAFETY: `c` is a fresh row-major m×n array (row stride n, column stride 1); `a` and `b`
    // are valid views of m×k and k×n values with the strides passed; `F` is f32 or f64, the
    // types gemm dispatches on; with `read_dst` false, `c` is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            F::zero(),
            F::one(),
            false,
            false,
            false,
            threads(m * n * k),
        );
    }
    c
}

/// How a product of `work` multiply-adds is spread over threads.
fn threads(work: usize) -> gemm::Parallelism {
    #[cfg(feature = "parallel")]
    if work >= THREADED_GEMM_WORK {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = work;
    gemm::Parallelism::None
}

#[cfg(test)]
mod tests {
    use super::gemm;

    /// The `gemm` crate against ndarray's own product (f64: any difference beyond summation
    /// order, 1e-12 relative, is a wrong stride or shape), on one thread and on several, with
    /// contiguous and transposed operands.
    #[test]
    fn gemm_matches_ndarray_on_every_layout() {
        let matrix = |r: usize, c: usize, seed: usize| {
            ndarray::Array2::from_shape_fn((r, c), |(i, j)| {
                ((i * 31 + j * 17 + seed) % 23) as f64 / 7.0 - 1.5
            })
        };
        for (m, k, n) in [
            (3, 5, 4),
            (64, 784, 128),
            (784, 64, 128),
            (17, 300, 509),
            (300, 300, 200),
        ] {
            let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
            let (a_t, b_t) = (matrix(k, m, 3), matrix(n, k, 4));
            for (lhs, rhs) in [
                (a.view(), b.view()),
                (a_t.t(), b.view()),
                (a.view(), b_t.t()),
                (a_t.t(), b_t.t()),
            ] {
                let (ours, reference) = (gemm(&lhs, &rhs), lhs.dot(&rhs));
                let scale = reference.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let worst = (&ours - &reference)
                    .iter()
                    .fold(0.0f64, |m, v| m.max(v.abs()));
                assert!(worst <= 1e-12 * scale, "{m}x{k}x{n}: {worst:e}");
            }
        }
    }
}
