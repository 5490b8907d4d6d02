//! How a tensor's values are stored as real planes, and the per-value arithmetic of each storage.
//!
//! Linear operations (add, scale, reshape, transpose, sums, gathers, products with plaintext
//! matrices) act plane by plane and are the same for every representation; only the product of
//! two values, the matrix product and the matrix functions depend on it.

use ndarray::{Array2, ArrayD, ArrayView2};

use crate::algebra::{functions as fun, CompactElem, Elem2, Mat2};
use crate::tensor::gemm::gemm;
use crate::tensor::value_map::zip_map;
use crate::tensor::{parallel, CompactBasis, PublicKey};
use crate::Float;

/// A unary element-wise function, evaluated exactly on every representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    /// `|x|`.
    Abs,
    /// `sign(x)`, with `sign(0) = 0`.
    Sign,
    /// `max(x, 0)`.
    Relu,
    /// `relu'(x)`: 1, 0, and ½ at 0.
    ReluDerivative,
    /// `e^x`.
    Exp,
    /// Natural logarithm (`x > 0`).
    Log,
    /// Square root (`x ≥ 0`).
    Sqrt,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function `1/(1 + e^{−x})`.
    Sigmoid,
    /// `1/x`.
    Recip,
}

/// Which representation a tensor uses (for messages and the wire format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepresentationKind {
    /// Plaintext: one plane.
    Plain,
    /// Compact ciphertext `a·I + b·C0`: two planes plus the public basis `C0`.
    Compact,
    /// Matrix-form ciphertext: four planes `c00, c01, c10, c11`.
    Matrix,
}

/// A storage of tensor values as real planes, with its per-value arithmetic.
///
/// Implemented by [`Plain`] (the plaintext reference), [`Compact`] (the fast path) and
/// [`MatrixForm`] (the reference ciphertext form of the papers).
pub trait Representation<F: Float>:
    Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// Number of real planes per logical value.
    const PLANES: usize;
    /// The kind tag.
    const KIND: RepresentationKind;
    /// Plane coefficients of the identity `I` (so `c·I` is `c` times these).
    fn identity(&self) -> &'static [f64];
    /// Element-wise unary function. All planes have one shape, in standard layout.
    fn unary(&self, f: Unary, planes: &[ArrayD<F>]) -> Vec<ArrayD<F>>;
    /// Element-wise product of two tensors of one shape.
    fn mul(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>>;
    /// Element-wise maximum of two tensors of one shape.
    fn max(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>>;
    /// Element-wise `sign(a − b)` of two tensors of one shape, with ties (equal up to the rounding
    /// of `a` and `b`) giving 0.
    fn sign_of_difference(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>>;
    /// `g ⊙ relu'(x)` of two tensors of one shape in one pass (ReLU's backward pass; `relu'` as
    /// [`Unary::ReluDerivative`]).
    fn relu_backward(&self, x: &[ArrayD<F>], g: &[ArrayD<F>]) -> Vec<ArrayD<F>>;
    /// Matrix product of logical `(m, k)·(k, n)` given as planes.
    fn matmul(&self, a: &[ArrayView2<F>], b: &[ArrayView2<F>]) -> Vec<Array2<F>>;
    /// The public key the values are encrypted under, where the storage names one: `Some` for
    /// [`Compact`] (its basis `C0`), `None` for plaintext and the matrix form.
    fn public_key(&self) -> Option<PublicKey> {
        None
    }
}

/// Plaintext values: one plane, ordinary real arithmetic. The reference the encrypted runs must
/// reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Plain;

/// Compact ciphertexts `a·I + b·C0` (ARCHITECTURE.md, "Compact form"): two planes, 3 GEMMs per
/// matrix product.
#[derive(Clone, Debug, PartialEq)]
pub struct Compact {
    /// The public basis matrix `C0`.
    pub basis: CompactBasis,
}

/// Matrix-form ciphertexts: four planes `c00, c01, c10, c11`, 8 GEMMs per matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct MatrixForm;

fn plain_unary<F: Float>(f: Unary, x: F) -> F {
    let half = F::of_f64(0.5);
    match f {
        Unary::Abs => x.abs(),
        Unary::Sign => {
            if x == F::zero() {
                F::zero()
            } else {
                x.signum()
            }
        }
        Unary::Relu => x.max(F::zero()),
        Unary::ReluDerivative => {
            if x == F::zero() {
                half
            } else if x > F::zero() {
                F::one()
            } else {
                F::zero()
            }
        }
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Sqrt => x.sqrt(),
        Unary::Tanh => x.tanh(),
        Unary::Sigmoid => half * ((x * half).tanh() + F::one()),
        Unary::Recip => x.recip(),
    }
}

/// `$body` with `$h` bound to the per-value function of `$f` on `$elem` values, one arm per
/// function, so that each arm's loop inlines its own function (`$resolution`: the relative
/// rounding level of the storage type, see [`fun::sign`]).
macro_rules! with_elem_unary {
    ($f:expr, $resolution:expr, $elem:ty, |$h:ident| $body:expr) => {{
        let resolution = $resolution;
        match $f {
            Unary::Abs => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::abs(c)
                };
                $body
            }
            Unary::Sign => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::sign(c, resolution * c.spectral_bound())
                };
                $body
            }
            Unary::Relu => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::relu(c)
                };
                $body
            }
            Unary::ReluDerivative => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::relu_derivative(c, resolution * c.spectral_bound())
                };
                $body
            }
            Unary::Exp => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::exp(c)
                };
                $body
            }
            Unary::Log => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::log(c)
                };
                $body
            }
            Unary::Sqrt => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::sqrt(c)
                };
                $body
            }
            Unary::Tanh => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::tanh(c)
                };
                $body
            }
            Unary::Sigmoid => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| fun::sigmoid(c)
                };
                $body
            }
            Unary::Recip => {
                let $h = {
                    #[inline(always)]
                    move |c: $elem| c.inv()
                };
                $body
            }
        }
    }};
}

impl<F: Float> Representation<F> for Plain {
    const PLANES: usize = 1;
    const KIND: RepresentationKind = RepresentationKind::Plain;
    fn identity(&self) -> &'static [f64] {
        &[1.0]
    }
    fn unary(&self, f: Unary, planes: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        vec![planes[0].mapv(|x| plain_unary(f, x))]
    }
    fn mul(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        vec![&a[0] * &b[0]]
    }
    fn max(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        let mut out = a[0].clone();
        out.zip_mut_with(&b[0], |x, &y| *x = x.max(y));
        vec![out]
    }
    fn sign_of_difference(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        let mut out = a[0].clone();
        out.zip_mut_with(&b[0], |x, &y| *x = plain_unary(Unary::Sign, *x - y));
        vec![out]
    }
    fn relu_backward(&self, x: &[ArrayD<F>], g: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        let mut out = x[0].clone();
        out.zip_mut_with(&g[0], |x, &g| {
            *x = g * plain_unary(Unary::ReluDerivative, *x)
        });
        vec![out]
    }
    fn matmul(&self, a: &[ArrayView2<F>], b: &[ArrayView2<F>]) -> Vec<Array2<F>> {
        vec![gemm(&a[0], &b[0])]
    }
}

/// `f64` copies of `f32` values: matrix functions are evaluated in `f64`, since both eigen-slots
/// share each rounding error.
fn wide<F: Float, const N: usize>(v: &[F]) -> [f64; N] {
    std::array::from_fn(|i| v[i].as_f64())
}

/// Relative rounding level of values stored in `F`: 64 ulps.
fn resolution<F: Float>() -> f64 {
    64.0 * F::epsilon().as_f64()
}

fn narrow<F: Float>(v: [f64; 4]) -> [F; 4] {
    v.map(F::of_f64)
}

impl Compact {
    /// An element-wise function of two compact tensors of one shape, evaluated in `f64`.
    fn binary<F: Float>(
        &self,
        a: &[ArrayD<F>],
        b: &[ArrayD<F>],
        f: impl Fn(CompactElem<f64>, CompactElem<f64>) -> CompactElem<f64> + Sync + Send,
    ) -> Vec<ArrayD<F>> {
        let base = self.elem::<f64>();
        let value = {
            #[inline(always)]
            move |a: F, b: F| CompactElem {
                a: a.as_f64(),
                b: b.as_f64(),
                ..base
            }
        };
        zip_map(
            a[0].shape(),
            [&a[0], &a[1], &b[0], &b[1]],
            #[inline(always)]
            move |[a0, b0, a1, b1]| {
                let r = f(value(a0, b0), value(a1, b1));
                [F::of_f64(r.a), F::of_f64(r.b)]
            },
        )
    }

    fn elem<F: Float>(&self) -> CompactElem<F> {
        let c0 = self.basis.c0;
        CompactElem {
            a: F::zero(),
            b: F::zero(),
            t: F::of_f64(c0[0] + c0[3]),
            d: F::of_f64(c0[0] * c0[3] - c0[1] * c0[2]),
            c0_norm: F::of_f64(c0.iter().map(|v| v * v).sum::<f64>().sqrt()),
        }
    }
}

impl<F: Float> Representation<F> for Compact {
    const PLANES: usize = 2;
    const KIND: RepresentationKind = RepresentationKind::Compact;
    fn public_key(&self) -> Option<PublicKey> {
        Some(PublicKey::new(self.basis))
    }
    fn identity(&self) -> &'static [f64] {
        &[1.0, 0.0]
    }
    fn unary(&self, f: Unary, planes: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        let base = self.elem::<f64>();
        with_elem_unary!(f, resolution::<F>(), CompactElem<f64>, |h| {
            zip_map(
                planes[0].shape(),
                [&planes[0], &planes[1]],
                #[inline(always)]
                move |[a, b]| {
                    let r = h(CompactElem {
                        a: a.as_f64(),
                        b: b.as_f64(),
                        ..base
                    });
                    [F::of_f64(r.a), F::of_f64(r.b)]
                },
            )
        })
    }
    fn mul(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        // (a1 + b1·C0)(a2 + b2·C0) = (a1a2 − d·b1b2) + (a1b2 + a2b1 + t·b1b2)·C0, in one pass.
        let e = self.elem::<F>();
        let mut out_a = ArrayD::zeros(a[0].raw_dim());
        let mut out_b = ArrayD::zeros(a[0].raw_dim());
        ndarray::Zip::from(&mut out_a)
            .and(&mut out_b)
            .and(&a[0])
            .and(&a[1])
            .and(&b[0])
            .and(&b[1])
            .for_each(|oa, ob, &a1, &b1, &a2, &b2| {
                let bb = b1 * b2;
                *oa = a1 * a2 - e.d * bb;
                *ob = a1 * b2 + a2 * b1 + e.t * bb;
            });
        vec![out_a, out_b]
    }
    fn max(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        self.binary(a, b, fun::max)
    }
    fn sign_of_difference(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        self.binary(
            a,
            b,
            #[inline(always)]
            |x, y| {
                let noise = resolution::<F>() * (x.spectral_bound() + y.spectral_bound());
                fun::sign(x.sub(y), noise)
            },
        )
    }
    fn relu_backward(&self, x: &[ArrayD<F>], g: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        self.binary(
            x,
            g,
            #[inline(always)]
            |x, g| fun::relu_derivative(x, resolution::<F>() * x.spectral_bound()).mul(g),
        )
    }
    /// Karatsuba: `P1 = Aa·Ba`, `P2 = Ab·Bb`, `P3 = (Aa+Ab)(Ba+Bb)`;
    /// `a = P1 − d·P2`, `b = P3 − P1 + (t − 1)·P2` (ARCHITECTURE.md, "Compact form").
    fn matmul(&self, a: &[ArrayView2<F>], b: &[ArrayView2<F>]) -> Vec<Array2<F>> {
        let e = self.elem::<F>();
        // The three products are independent: on two threads when there are and they are large.
        let work = a[0].len() * b[0].ncols();
        let ((mut p1, p2), mut p3) = parallel::join_products(
            work,
            || parallel::join_products(work, || gemm(&a[0], &b[0]), || gemm(&a[1], &b[1])),
            || gemm(&(&a[0] + &a[1]).view(), &(&b[0] + &b[1]).view()),
        );
        let (minus_d, t_minus_1) = (-e.d, e.t - F::one());
        ndarray::Zip::from(&mut p1)
            .and(&mut p3)
            .and(&p2)
            .for_each(|x1, x3, &x2| {
                *x3 = (*x3 - *x1) + t_minus_1 * x2;
                *x1 += minus_d * x2;
            });
        vec![p1, p3]
    }
}

/// An element-wise function of two matrix-form tensors of one shape, evaluated in `f64`.
fn matrix_binary<F: Float>(
    a: &[ArrayD<F>],
    b: &[ArrayD<F>],
    f: impl Fn(Mat2<f64>, Mat2<f64>) -> Mat2<f64> + Sync + Send,
) -> Vec<ArrayD<F>> {
    let ins = [&a[0], &a[1], &a[2], &a[3], &b[0], &b[1], &b[2], &b[3]];
    zip_map(
        a[0].shape(),
        ins,
        #[inline(always)]
        move |v: [F; 8]| narrow(f(Mat2(wide(&v)), Mat2(wide(&v[4..]))).0),
    )
}

impl<F: Float> Representation<F> for MatrixForm {
    const PLANES: usize = 4;
    const KIND: RepresentationKind = RepresentationKind::Matrix;
    fn identity(&self) -> &'static [f64] {
        &[1.0, 0.0, 0.0, 1.0]
    }
    fn unary(&self, f: Unary, p: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        with_elem_unary!(f, resolution::<F>(), Mat2<f64>, |h| {
            zip_map(
                p[0].shape(),
                [&p[0], &p[1], &p[2], &p[3]],
                #[inline(always)]
                move |v| narrow(h(Mat2(wide(&v))).0),
            )
        })
    }
    fn mul(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        // c_ij = a_i0·b_0j + a_i1·b_1j: one fused pass per output plane.
        let entry = |i: usize, j: usize| {
            let mut out = ArrayD::zeros(a[0].raw_dim());
            ndarray::Zip::from(&mut out)
                .and(&a[2 * i])
                .and(&b[j])
                .and(&a[2 * i + 1])
                .and(&b[2 + j])
                .for_each(|o, &x0, &y0, &x1, &y1| *o = x0 * y0 + x1 * y1);
            out
        };
        vec![entry(0, 0), entry(0, 1), entry(1, 0), entry(1, 1)]
    }
    fn max(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        matrix_binary(a, b, fun::max)
    }
    fn sign_of_difference(&self, a: &[ArrayD<F>], b: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        matrix_binary(
            a,
            b,
            #[inline(always)]
            |x, y| {
                let noise = resolution::<F>() * (x.spectral_bound() + y.spectral_bound());
                fun::sign(x.sub(y), noise)
            },
        )
    }
    fn relu_backward(&self, x: &[ArrayD<F>], g: &[ArrayD<F>]) -> Vec<ArrayD<F>> {
        matrix_binary(
            x,
            g,
            #[inline(always)]
            |x, g| fun::relu_derivative(x, resolution::<F>() * x.spectral_bound()).mul(g),
        )
    }
    /// Block product with 8 real GEMMs: `C_ij = A_i0·B_0j + A_i1·B_1j`.
    fn matmul(&self, a: &[ArrayView2<F>], b: &[ArrayView2<F>]) -> Vec<Array2<F>> {
        let prod = |i: usize, j: usize, k: usize, l: usize| {
            let mut c = gemm(&a[i], &b[j]);
            c += &gemm(&a[k], &b[l]);
            c
        };
        parallel::map_products(
            2 * a[0].len() * b[0].ncols(),
            &[(0, 0, 1, 2), (0, 1, 1, 3), (2, 0, 3, 2), (2, 1, 3, 3)],
            |&(i, j, k, l)| prod(i, j, k, l),
        )
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use super::*;

    /// The compact form's functions over whole planes (vectorized, chunked over threads) give
    /// each value exactly, bit for bit, what the per-value closed form gives it, for every
    /// function, on f32 planes with zeros, ties and values of both signs and many magnitudes.
    #[test]
    fn compact_planes_equal_the_per_value_closed_forms_bit_for_bit() {
        let rep = Compact {
            basis: CompactBasis::new([0.7, 1.3, 0.4, 2.1]).unwrap(),
        };
        let n = 3 * super::super::value_map::CHUNK + 5;
        let value = |i: usize, seed: usize| {
            let k = (i * 7919 + seed * 104_729) % 1009;
            match k % 5 {
                0 => 0.0,
                _ => (k as f32 - 504.0) * 10f32.powi((k % 7) as i32 - 4),
            }
        };
        let plane = |seed| ArrayD::from_shape_fn(IxDyn(&[n]), |i| value(i[0], seed));
        let (x, y) = ([plane(1), plane(2)], [plane(3), plane(1)]);
        let base = rep.elem::<f64>();
        let elem = |p: &[ArrayD<f32>; 2], i: usize| CompactElem {
            a: p[0][[i]] as f64,
            b: p[1][[i]] as f64,
            ..base
        };
        let check = |name: &str,
                     planes: Vec<ArrayD<f32>>,
                     f: &dyn Fn(usize) -> CompactElem<f64>| {
            for i in 0..n {
                let expected = f(i);
                let got = [planes[0][[i]], planes[1][[i]]];
                let want = [expected.a as f32, expected.b as f32];
                assert!(
                    got[0].to_bits() == want[0].to_bits() && got[1].to_bits() == want[1].to_bits(),
                    "{name} at {i}: {got:?}, per value {want:?}"
                );
            }
        };
        let res = resolution::<f32>();
        for f in [
            Unary::Abs,
            Unary::Sign,
            Unary::Relu,
            Unary::ReluDerivative,
            Unary::Exp,
            Unary::Log,
            Unary::Sqrt,
            Unary::Tanh,
            Unary::Sigmoid,
            Unary::Recip,
        ] {
            let per_value = |i: usize| {
                let c = elem(&x, i);
                let noise = res * c.spectral_bound();
                match f {
                    Unary::Abs => fun::abs(c),
                    Unary::Sign => fun::sign(c, noise),
                    Unary::Relu => fun::relu(c),
                    Unary::ReluDerivative => fun::relu_derivative(c, noise),
                    Unary::Exp => fun::exp(c),
                    Unary::Log => fun::log(c),
                    Unary::Sqrt => fun::sqrt(c),
                    Unary::Tanh => fun::tanh(c),
                    Unary::Sigmoid => fun::sigmoid(c),
                    Unary::Recip => c.inv(),
                }
            };
            check(&format!("{f:?}"), rep.unary(f, &x), &per_value);
        }
        check("max", rep.max(&x, &y), &|i| {
            fun::max(elem(&x, i), elem(&y, i))
        });
        check("sign_of_difference", rep.sign_of_difference(&x, &y), &|i| {
            let (a, b) = (elem(&x, i), elem(&y, i));
            fun::sign(a.sub(b), res * (a.spectral_bound() + b.spectral_bound()))
        });
        check("relu_backward", rep.relu_backward(&x, &y), &|i| {
            let (a, g) = (elem(&x, i), elem(&y, i));
            fun::relu_derivative(a, res * a.spectral_bound()).mul(g)
        });
    }
}
