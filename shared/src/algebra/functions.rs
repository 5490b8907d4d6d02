//! Exact matrix functions of one ciphertext value, from ring operations and closed 2x2 forms.
//!
//! For a ciphertext `C = S·diag(x, r)·S⁻¹` and a function `f`, `f(C) = S·diag(f(x), f(r))·S⁻¹`,
//! so `f(C)` decrypts to `f(x)`. None of these functions computes eigenvalues or eigenvectors:
//! they use the trace, the determinant, products and inverses only (ARCHITECTURE.md, "Non-linear
//! functions without approximation"). They assume real eigenvalues, which every
//! MORE ciphertext has.
//!
//! The shadow `r` goes through the same function: `exp` of a large shadow overflows, `log` and
//! `sqrt` of a negative shadow are undefined. The engine keeps shadows bounded (see `shadow`).

use super::Elem2;
use crate::Float;

/// `|C|`, the principal square root of `C²`, in closed form:
/// `|C| = (C² + |det C|·I) / sqrt(tr(C²) + 2·|det C|)`: `C²` has eigenvalues `x²`, `r²` and
/// `|det C| = |x·r|`, so the root is `|x| + |r|` and `|C|` has eigenvalues `|x|`, `|r|`. Exact at
/// `x = 0`; returns `0` for the zero matrix.
#[inline(always)]
pub fn abs<F: Float, E: Elem2<F>>(c: E) -> E {
    let sq = c.square();
    let abs_det = c.det().abs();
    let denom = (sq.trace() + abs_det + abs_det).sqrt();
    if denom == F::zero() {
        return c.scalar(F::zero());
    }
    sq.add_scalar(abs_det).scale(F::one() / denom)
}

/// `sign(C)` in closed form from the trace `t` and determinant `d` (eigenvalues `x`, `r`):
/// - `d > 0` (same signs): `sign(t)·I`;
/// - `d < 0` (opposite signs): `(C − (t/2)·I)/√((t/2)² − d)`, which maps each eigenvalue to ±1
///   (`√((t/2)² − d) = |x − r|/2`, a sum of two positive terms: no cancellation);
/// - `d ≈ 0` (one eigenvalue below the rounding level `resolution·‖C‖`): `C/|t|`, 0 for that
///   eigenvalue, so `sign(0) = 0` as in plaintext.
///
/// `noise` is the absolute rounding level of `C` (e.g. `64·ε` of the storage type times `‖C‖`, or
/// times the norms of the operands `C` was computed from). When the eigenvalue gap `|x − r|` is
/// below it, `C` is a multiple of `I` up to rounding and its off-diagonal rounding noise is not
/// amplified: the result is `sign(t)·I`, or `0` when `|t|` is also below that level.
///
/// Unlike `C·|C|⁻¹` it never inverts a near-singular matrix, so a value near 0 in one slot does not
/// spoil the other slot. A slot within rounding error of 0 gets a sign decided by that rounding.
#[inline(always)]
pub fn sign<F: Float, E: Elem2<F>>(c: E, noise: F) -> E {
    let (t, d) = (c.trace(), c.det());
    let two = F::one() + F::one();
    let half_gap_squared = t * t / (two * two) - d;
    if half_gap_squared <= noise * noise {
        return if t.abs() / two <= noise {
            c.scalar(F::zero())
        } else {
            c.scalar(t.signum())
        };
    }
    if d.abs() <= noise * t.abs() {
        // One eigenvalue (|d/t|) is below the rounding level: it is 0, and C/|t| maps the other
        // to its sign and this one to 0.
        c.scale(F::one() / t.abs())
    } else if d > F::zero() {
        c.scalar(t.signum())
    } else {
        let s = t / two;
        c.add_scalar(-s).scale(F::one() / (s * s - d).sqrt())
    }
}

/// `relu(C) = (C + |C|)/2`, exact including `x = 0`.
#[inline(always)]
pub fn relu<F: Float, E: Elem2<F>>(c: E) -> E {
    c.add(abs(c)).scale(half())
}

/// `relu'(C) = (I + sign(C))/2`: 1 for `x > 0`, 0 for `x < 0`, ½ at `x = 0` (see [`sign`] for
/// `noise`).
#[inline(always)]
pub fn relu_derivative<F: Float, E: Elem2<F>>(c: E, noise: F) -> E {
    sign(c, noise).add_scalar(F::one()).scale(half())
}

/// `max(A, B) = (A + B + |A − B|)/2`.
#[inline(always)]
pub fn max<F: Float, E: Elem2<F>>(a: E, b: E) -> E {
    a.add(b).add(abs(a.sub(b))).scale(half())
}

/// `exp(C)` by scaling and squaring: `exp(C) = exp(C/2^k)^(2^k)` with `‖C/2^k‖ ≤ ¼` and a degree-12
/// Taylor polynomial (Higham, "The scaling and squaring method for the matrix exponential
/// revisited", SIAM J. Matrix Anal. Appl. 26(4), 2005, for the method; the Taylor remainder at
/// ¼ is below 1e-16 relative).
pub fn exp<F: Float, E: Elem2<F>>(c: E) -> E {
    let bound = c.spectral_bound().as_f64();
    let mut k = 0;
    if bound > 0.25 {
        k = (bound / 0.25).log2().ceil() as i32;
    }
    let x = c.scale(F::of_f64(0.5f64.powi(k)));
    // Horner: 1 + x(1 + x/2(1 + x/3(...))).
    let mut p = c.scalar(F::one());
    for j in (1..=12).rev() {
        p = x
            .mul(p)
            .scale(F::of_f64(1.0 / j as f64))
            .add_scalar(F::one());
    }
    for _ in 0..k {
        p = p.square();
    }
    p
}

/// `sqrt(C)` for eigenvalues `x, r ≥ 0`, closed form `(C + sqrt(det C)·I) / sqrt(tr C + 2·sqrt(det C))`.
/// NaN where an eigenvalue is negative; `0` for the zero matrix.
pub fn sqrt<F: Float, E: Elem2<F>>(c: E) -> E {
    // A determinant a rounding error below 0 means an eigenvalue at 0.
    let root_det = c.det().max(F::zero()).sqrt();
    let denom = (c.trace() + root_det + root_det).sqrt();
    if denom == F::zero() {
        return c.scalar(F::zero());
    }
    c.add_scalar(root_det).scale(F::one() / denom)
}

/// `log(C)` for eigenvalues `x, r > 0`: inverse scaling and squaring (square roots until the
/// value is near `I`, then `log X = 2·atanh((X − I)(X + I)⁻¹)` as a series, times `2^k`).
/// NaN where an eigenvalue is not positive.
pub fn log<F: Float, E: Elem2<F>>(c: E) -> E {
    let mut x = c;
    let mut k = 0;
    loop {
        let z = x.add_scalar(-F::one()).mul(x.add_scalar(F::one()).inv());
        if z.spectral_bound().as_f64() <= 0.2 || k >= 60 {
            // 2·(z + z³/3 + z⁵/5 + ...), 10 terms: remainder below 0.2^21 ≈ 2e-15.
            let z2 = z.square();
            let mut s = z.scalar(F::zero());
            for j in (0..10).rev() {
                s = s.mul(z2).add_scalar(F::of_f64(1.0 / (2 * j + 1) as f64));
            }
            return z.mul(s).scale(F::of_f64(2f64.powi(k + 1)));
        }
        if !x.det().is_finite() || x.det() <= F::zero() || x.trace() <= F::zero() {
            return x.scalar(F::nan());
        }
        x = sqrt(x);
        k += 1;
    }
}

/// `sigmoid(C) = e^{C−R}·(e^{−R} + e^{C−R})⁻¹` with `R = relu(C)`: both exponents are never
/// positive in either slot and the inverted matrix has eigenvalues in `[1, 2]`, so it neither
/// overflows nor loses precision for any `x` or shadow.
pub fn sigmoid<F: Float, E: Elem2<F>>(c: E) -> E {
    let r = relu(c);
    let e1 = exp(c.sub(r));
    let e0 = exp(r.scale(-F::one()));
    e1.mul(e0.add(e1).inv())
}

/// `tanh(C) = 2·sigmoid(2C) − I`, overflow-free.
pub fn tanh<F: Float, E: Elem2<F>>(c: E) -> E {
    let two = F::one() + F::one();
    sigmoid(c.scale(two)).scale(two).add_scalar(-F::one())
}

fn half<F: Float>() -> F {
    F::of_f64(0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::Mat2;

    /// `S·diag(x, r)·S⁻¹` for a fixed well-conditioned `S`.
    fn enc(x: f64, r: f64) -> Mat2<f64> {
        let s = Mat2([1.3, -0.4, 0.7, 0.9]);
        let det = 1.3 * 0.9 + 0.4 * 0.7;
        let s_inv = Mat2([0.9 / det, 0.4 / det, -0.7 / det, 1.3 / det]);
        s.matmul(Mat2([x, 0.0, 0.0, r])).matmul(s_inv)
    }

    fn dec(c: Mat2<f64>) -> (f64, f64) {
        let s = Mat2([1.3, -0.4, 0.7, 0.9]);
        let det = 1.3 * 0.9 + 0.4 * 0.7;
        let s_inv = Mat2([0.9 / det, 0.4 / det, -0.7 / det, 1.3 / det]);
        let d = s_inv.matmul(c).matmul(s);
        (d.0[0], d.0[3])
    }

    #[test]
    fn functions_act_on_both_slots() {
        let cases: [(&str, fn(Mat2<f64>) -> Mat2<f64>, fn(f64) -> f64); 7] = [
            ("abs", abs, f64::abs),
            ("relu", relu, |v| v.max(0.0)),
            ("exp", exp, f64::exp),
            ("tanh", tanh, f64::tanh),
            ("sigmoid", sigmoid, |v| 1.0 / (1.0 + (-v).exp())),
            ("sqrt", |c| sqrt(abs(c)), |v| v.abs().sqrt()),
            ("log", |c| log(exp(c)), |v| v),
        ];
        for (name, f, g) in cases {
            for &(x, r) in &[
                (0.3, -1.7),
                (-2.5, 0.01),
                (0.0, 0.4),
                (7.0, -3.0),
                (1e-6, 2.0),
            ] {
                let (fx, fr) = dec(f(enc(x, r)));
                assert!(
                    (fx - g(x)).abs() < 1e-9 * (1.0 + g(x).abs()),
                    "{name}({x}) = {fx}"
                );
                assert!(
                    (fr - g(r)).abs() < 1e-9 * (1.0 + g(r).abs()),
                    "{name} shadow {r}"
                );
            }
        }
    }

    #[test]
    fn sign_is_zero_at_zero_and_exact_elsewhere() {
        // x = 0: sign 0 (below the resolution); the shadow slot stays exact.
        let (s0, sr) = dec(sign(enc(0.0, -3.0), 1e-13));
        assert!(s0.abs() <= 1e-12, "sign(0) = {s0}");
        assert!((sr + 1.0).abs() < 1e-12, "shadow slot kept: {sr}");
        // Shadow at 0 (e.g. a ReLU'd shadow): the x-slot stays exact.
        let (sx, _) = dec(sign(enc(2.5, 0.0), 1e-13));
        assert!((sx - 1.0).abs() < 1e-12, "x slot kept: {sx}");
        let (z, zr) = dec(sign(Mat2([0.0; 4]), 0.0));
        assert_eq!((z, zr), (0.0, 0.0));
        let (s1, _) = dec(sign(enc(-1e-3, 5.0), 1e-13));
        assert!((s1 + 1.0).abs() < 1e-12);
    }
}
