//! Property tests: every operation on ciphertexts decrypts to the same operation on plaintexts,
//! for both representations (compact and matrix form) and both element types.
//!
//! # Tolerances
//! Each check asserts `|decrypt(op(enc a, enc b)) − op(a, b)| ≤ rtol · (1 + S)` element-wise,
//! where the reference `op(a, b)` runs on `f64` plaintexts (the `f32` inputs widened exactly) and
//! `S` is the operation's error scale, derived from its conditioning:
//! - Encryption rounds each plane to `F`; decryption multiplies by `S` and `S⁻¹`. Both eigen-slots
//!   (message and shadow) share every rounding, so one rounding costs about
//!   `ε_F · cond(S)² · max(|x|, |r|)` in the message slot, with `cond(S) ≤ 5`
//!   ([`SecretKey::MAX_CONDITION`]), i.e. `cond(S)² ≤ 25`. Shadows here are `O(1)`, hence the `1`.
//! - `ε_f64 = 1.1e-16`: `25 · ε · (a few dozen operations, scale-and-square steps, sums of 12)`
//!   stays below `1e-12`; we take `rtol = 1e-9` (margin for the matrix functions' iterations).
//! - `ε_f32 = 6e-8`: `25 · ε ≈ 1.5e-6` per rounding, a handful of roundings per value (encrypt,
//!   operate, re-round planes) gives `≈ 1e-5`; we take `rtol = 5e-5`. Matrix functions are
//!   evaluated in `f64` from the `f32` planes, so they add no `f32` error of their own.
//! - `S` carries the operation's conditioning: linear operations and reductions scale with the
//!   inputs' magnitudes (times the number of summed terms); products with `(1 + |a|)(1 + |b|)`
//!   (times the inner dimension for `matmul`); `1/x` with `1/x²`; `log` with `1/x`; `√x` with
//!   `1/√x`; `exp` with `e^{max x}`; `sign`/`relu'` are exact away from 0 (inputs kept at
//!   `|x| ≥ 0.01`, while f32 encryption noise is `≈ 1e-6`).
//!
//! Inputs mix uniform draws with edge values (0, ±1e-6, ±1e3, negative), restricted to each
//! function's domain: `log`/`sqrt`/`1/x` get plaintexts away from 0 **and** shadows drawn from
//! `MomentMatched { mean: 1, std: 0.1 }` (so they are positive too); `exp` gets `x ∈ [−20, 5]`.

use more_core::tensor::{Compact, MatrixForm, Plain, PlainTensor, PlanarTensor, Representation};
use more_core::{Float, MoreError};
use more_secret_key::{Decrypt, SecretKey, ShadowDistribution};
use ndarray::{Array2, ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const CASES: u32 = 32;
const SHAPE: [usize; 2] = [3, 4];

#[derive(Clone, Copy, Debug)]
enum Domain {
    /// Uniform in [−10, 10] and 0, ±1e-6, ±1e3.
    Any,
    /// `|x| ∈ [0.01, 10]` and ±1e3 (for `sign`, `relu'`).
    AwayFromZero,
    /// `|x| ∈ [0.1, 10]` and ±1e3, with positive shadows (for `1/x`, division).
    NonZero,
    /// `x ∈ [0.1, 10]`, 1e-3 and 1e3, with positive shadows (for `log`, `sqrt`).
    Positive,
    /// `x ∈ [−5, 5]`, 0, 1e-6, −20 (for `exp`: `e^{1e3}` overflows).
    ExpRange,
}

fn elem(dom: Domain) -> BoxedStrategy<f64> {
    match dom {
        Domain::Any => prop_oneof![
            6 => -10.0..10.0f64,
            1 => Just(0.0),
            1 => Just(1e-6),
            1 => Just(-1e-6),
            1 => Just(1e3),
            1 => Just(-1e3),
        ]
        .boxed(),
        Domain::AwayFromZero => prop_oneof![
            6 => (0.01..10.0f64, any::<bool>()).prop_map(|(v, s)| if s { v } else { -v }),
            1 => Just(1e3),
            1 => Just(-1e3),
        ]
        .boxed(),
        Domain::NonZero => prop_oneof![
            6 => (0.1..10.0f64, any::<bool>()).prop_map(|(v, s)| if s { v } else { -v }),
            1 => Just(1e3),
            1 => Just(-1e3),
        ]
        .boxed(),
        Domain::Positive => prop_oneof![
            6 => 0.1..10.0f64,
            1 => Just(1e-3),
            1 => Just(1e3),
        ]
        .boxed(),
        Domain::ExpRange => prop_oneof![
            6 => -5.0..5.0f64,
            1 => Just(0.0),
            1 => Just(1e-6),
            1 => Just(-20.0),
        ]
        .boxed(),
    }
}

fn values(dom: Domain) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(elem(dom), SHAPE[0] * SHAPE[1])
}

fn shadow_for(dom: Domain) -> ShadowDistribution {
    match dom {
        Domain::NonZero | Domain::Positive => ShadowDistribution::MomentMatched {
            mean: vec![1.0],
            std: vec![0.1],
        },
        _ => ShadowDistribution::Gaussian { std: 0.1 },
    }
}

/// Magnitudes of the inputs, for the error scale `S`.
struct Stats {
    amax: f64,
    bmax: f64,
    amin: f64,
    bmin: f64,
}

fn rtol<F: Float>() -> f64 {
    match F::DTYPE {
        more_core::Dtype::F32 => 5e-5,
        more_core::Dtype::F64 => 1e-9,
    }
}

type Op<F, R> =
    fn(&PlanarTensor<F, R>, &PlanarTensor<F, R>) -> Result<PlanarTensor<F, R>, MoreError>;

fn array<F: Float>(v: &[f64]) -> ArrayD<F> {
    ArrayD::from_shape_vec(IxDyn(&SHAPE), v.iter().map(|&x| F::of_f64(x)).collect()).unwrap()
}

fn compare<F: Float>(
    what: &str,
    got: &ArrayD<F>,
    want: &ArrayD<f64>,
    tol: f64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape(), "{}: shape", what);
    for (g, w) in got.iter().zip(want.iter()) {
        let err = (g.as_f64() - w).abs();
        prop_assert!(
            err <= tol,
            "{}: got {} want {} (err {:e} > tol {:e})",
            what,
            g,
            w,
            err,
            tol
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check<F: Float>(
    name: &str,
    seed: u64,
    xa: &[f64],
    xb: &[f64],
    dom: Domain,
    scale: fn(&Stats) -> f64,
    op_c: Op<F, Compact>,
    op_m: Op<F, MatrixForm>,
    op_ref: Op<f64, Plain>,
) -> Result<(), TestCaseError> {
    let (a, b) = (array::<F>(xa), array::<F>(xb));
    // The reference runs in f64 on exactly the values that were encrypted.
    let wide = |x: &ArrayD<F>| PlainTensor::plain(x.mapv(|v| v.as_f64()));
    let want = op_ref(&wide(&a), &wide(&b)).unwrap().values().clone();
    let mag = |x: &ArrayD<F>, f: fn(f64, f64) -> f64, init| {
        x.iter().fold(init, |m, v| f(m, v.as_f64().abs()))
    };
    let stats = Stats {
        amax: mag(&a, f64::max, 0.0),
        bmax: mag(&b, f64::max, 0.0),
        amin: mag(&a, f64::min, f64::INFINITY),
        bmin: mag(&b, f64::min, f64::INFINITY),
    };
    let tol = rtol::<F>() * (1.0 + scale(&stats));
    let key = SecretKey::from_seed(seed);
    let mut rng = ChaCha20Rng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(7));
    let shadow = shadow_for(dom);
    let (ca, cb) = (
        key.encrypt_compact(&a, &shadow, &mut rng).unwrap(),
        key.encrypt_compact(&b, &shadow, &mut rng).unwrap(),
    );
    let got = key.decrypt(&op_c(&ca, &cb).unwrap()).unwrap();
    compare(&format!("{name} compact {:?}", F::DTYPE), &got, &want, tol)?;
    let (ma, mb) = (
        key.encrypt_matrix(&a, &shadow, &mut rng).unwrap(),
        key.encrypt_matrix(&b, &shadow, &mut rng).unwrap(),
    );
    let got = key.decrypt(&op_m(&ma, &mb).unwrap()).unwrap();
    compare(&format!("{name} matrix {:?}", F::DTYPE), &got, &want, tol)?;
    Ok(())
}

/// A plaintext constant of the element type (public weights, offsets).
fn w<F: Float>(shape: &[usize]) -> ArrayD<F> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|i| F::of_f64(0.5 - 0.3 * i as f64)).collect(),
    )
    .unwrap()
}

fn w2<F: Float>(rows: usize, cols: usize) -> Array2<F> {
    w::<F>(&[rows, cols]).into_dimensionality().unwrap()
}

macro_rules! cases {
    ($($name:ident: $dom:expr, $scale:expr, |$a:ident, $b:ident| $body:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]
            $(
                #[test]
                fn $name(seed in any::<u64>(), xa in values($dom), xb in values($dom)) {
                    #[allow(unused_variables)]
                    fn op<F: Float, R: Representation<F>>(
                        $a: &PlanarTensor<F, R>,
                        $b: &PlanarTensor<F, R>,
                    ) -> Result<PlanarTensor<F, R>, MoreError> {
                        $body
                    }
                    let scale: fn(&Stats) -> f64 = $scale;
                    check::<f64>(stringify!($name), seed, &xa, &xb, $dom, scale,
                        op::<f64, Compact>, op::<f64, MatrixForm>, op::<f64, Plain>)?;
                    check::<f32>(stringify!($name), seed, &xa, &xb, $dom, scale,
                        op::<f32, Compact>, op::<f32, MatrixForm>, op::<f64, Plain>)?;
                }
            )*
        }
    };
}

use Domain::*;

cases! {
    add: Any, |s| s.amax + s.bmax, |a, b| a.add(b);
    add_broadcast: Any, |s| s.amax + s.bmax, |a, b| a.add(&b.slice_axis(0, 1, 2)?);
    sub: Any, |s| s.amax + s.bmax, |a, b| a.sub(b);
    neg: Any, |s| s.amax, |a, b| Ok(a.neg());
    scale: Any, |s| 3.0 * s.amax, |a, b| Ok(a.scale(F::of_f64(-2.5)));
    add_scalar: Any, |s| s.amax + 1.0, |a, b| Ok(a.add_scalar(F::of_f64(0.75)));
    mul_plain: Any, |s| 2.0 * s.amax, |a, b| a.mul_plain(&w::<F>(&[4]));
    add_plain: Any, |s| s.amax + 2.0, |a, b| a.add_plain(&w::<F>(&[3, 1]));
    mul: Any, |s| 4.0 * (1.0 + s.amax) * (1.0 + s.bmax), |a, b| a.mul(b);
    square: Any, |s| 4.0 * (1.0 + s.amax).powi(2), |a, b| Ok(a.square());
    div: NonZero, |s| 4.0 * (1.0 + s.amax) * (1.0 + s.bmax) / (s.bmin * s.bmin), |a, b| a.div(b);
    recip: NonZero, |s| 4.0 * (1.0 + s.amax) / (s.amin * s.amin), |a, b| Ok(a.recip());
    matmul: Any, |s| 16.0 * (1.0 + s.amax) * (1.0 + s.bmax), |a, b| a.matmul(&b.transpose()?);
    matmul_t: Any, |s| 16.0 * (1.0 + s.amax) * (1.0 + s.bmax), |a, b| a.matmul_t(b);
    t_matmul: Any, |s| 16.0 * (1.0 + s.amax) * (1.0 + s.bmax), |a, b| a.t_matmul(b);
    matmul_plain: Any, |s| 8.0 * (1.0 + s.amax), |a, b| a.matmul_plain(&w2::<F>(4, 2));
    transpose: Any, |s| s.amax, |a, b| a.transpose();
    permute: Any, |s| s.amax, |a, b| a.reshape(&[3, 2, 2])?.permute(&[2, 0, 1]);
    reshape: Any, |s| s.amax, |a, b| a.reshape(&[2, 6]);
    broadcast_to: Any, |s| s.amax, |a, b| a.slice_axis(0, 2, 3)?.broadcast_to(&[2, 3, 4]);
    sum_axis_0: Any, |s| 4.0 * s.amax, |a, b| a.sum_axis(0);
    sum_axis_1: Any, |s| 4.0 * s.amax, |a, b| a.sum_axis(1);
    mean_axis: Any, |s| 4.0 * s.amax, |a, b| a.mean_axis(1);
    sum_all: Any, |s| 12.0 * s.amax, |a, b| Ok(a.sum_all());
    max_axis: Any, |s| 4.0 * (1.0 + s.amax), |a, b| a.max_axis(1);
    select: Any, |s| s.amax, |a, b| a.select(1, &[3, 0, 0, 2]);
    slice_axis: Any, |s| s.amax, |a, b| a.slice_axis(1, 1, 3);
    concatenate: Any, |s| s.amax + s.bmax, |a, b| PlanarTensor::concatenate(0, &[a.clone(), b.clone()]);
    maximum: Any, |s| 4.0 * (1.0 + s.amax + s.bmax), |a, b| a.maximum(b);
    abs: Any, |s| 4.0 * (1.0 + s.amax), |a, b| Ok(a.abs());
    relu: Any, |s| 4.0 * (1.0 + s.amax), |a, b| Ok(a.relu());
    relu_derivative: AwayFromZero, |s| 4.0 * (1.0 + s.amax) / s.amin, |a, b| Ok(a.relu_derivative());
    relu_backward: AwayFromZero, |s| 4.0 * (1.0 + s.amax) * (1.0 + s.bmax) / s.amin, |a, b| a.relu_backward(b);
    sign: AwayFromZero, |s| 4.0 * (1.0 + s.amax) / s.amin, |a, b| Ok(a.sign());
    exp: ExpRange, |s| 4.0 * (1.0 + s.amax) * s.amax.exp(), |a, b| Ok(a.exp());
    log: Positive, |s| 4.0 * (1.0 + s.amax) / s.amin, |a, b| Ok(a.log());
    sqrt: Positive, |s| 4.0 * (1.0 + s.amax) / s.amin.sqrt(), |a, b| Ok(a.sqrt());
    sigmoid: Any, |s| 4.0 * (1.0 + s.amax), |a, b| Ok(a.sigmoid());
    tanh: Any, |s| 4.0 * (1.0 + s.amax), |a, b| Ok(a.tanh());
    softmax: Any, |s| 8.0 * (1.0 + s.amax), |a, b| a.softmax();
}

fn key_and_rng(seed: u64) -> (SecretKey, ChaCha20Rng) {
    (
        SecretKey::from_seed(seed),
        ChaCha20Rng::seed_from_u64(seed + 1),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Compact → matrix is exact (one multiply-add per plane); matrix → compact divides by
    /// `C0[0][1]`, which the basis keeps well-sized, so it is exact up to one rounding.
    #[test]
    fn compact_matrix_conversion(seed in any::<u64>(), xa in values(Domain::Any)) {
        let (key, mut rng) = key_and_rng(seed);
        let x = array::<f64>(&xa);
        let shadow = ShadowDistribution::default();
        let c = key.encrypt_compact(&x, &shadow, &mut rng).unwrap();
        let m = c.to_matrix_form();
        let back = m.to_compact_form(key.compact_basis());
        let amax = 1.0 + xa.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (p, q) in back.planes().iter().zip(c.planes()) {
            for (u, v) in p.iter().zip(q.iter()) {
                prop_assert!((u - v).abs() <= 1e-12 * amax);
            }
        }
        let (dc, dm) = (key.decrypt(&c).unwrap(), key.decrypt(&m).unwrap());
        for ((u, v), x) in dc.iter().zip(dm.iter()).zip(x.iter()) {
            prop_assert!((u - v).abs() <= 1e-12 * amax && (u - x).abs() <= 1e-12 * amax);
        }
        let (sc, sm) = (key.decrypt_shadow(&c).unwrap(), key.decrypt_shadow(&m).unwrap());
        for (u, v) in sc.iter().zip(sm.iter()) {
            prop_assert!((u - v).abs() <= 1e-12 * amax);
        }
        // A fresh matrix-form encryption converts to the key's compact form too.
        let m2 = key.encrypt_matrix(&x, &shadow, &mut rng).unwrap();
        let c2 = m2.to_compact_form(key.compact_basis());
        for (u, v) in key.decrypt(&c2).unwrap().iter().zip(x.iter()) {
            prop_assert!((u - v).abs() <= 1e-11 * amax);
        }
    }

    /// Plaintext tensors (the engine's reference) agree with ndarray's own arithmetic.
    #[test]
    fn plain_matches_ndarray(xa in values(Domain::Any), xb in values(Domain::NonZero)) {
        let (a, b) = (array::<f64>(&xa), array::<f64>(&xb));
        let (pa, pb) = (PlainTensor::plain(a.clone()), PlainTensor::plain(b.clone()));
        prop_assert_eq!(pa.add(&pb).unwrap().values().clone(), &a + &b);
        prop_assert_eq!(pa.sub(&pb).unwrap().values().clone(), &a - &b);
        prop_assert_eq!(pa.mul(&pb).unwrap().values().clone(), &a * &b);
        prop_assert_eq!(pa.scale(3.0).values().clone(), &a * 3.0);
        prop_assert_eq!(pa.transpose().unwrap().values().clone(), a.t().to_owned());
        prop_assert_eq!(pa.sum_axis(1).unwrap().values().clone(), a.sum_axis(Axis(1)).insert_axis(Axis(1)));
        prop_assert_eq!(pa.sum_all().values()[[0]], a.sum());
        prop_assert_eq!(pa.relu().values().clone(), a.mapv(|v| v.max(0.0)));
        prop_assert_eq!(pa.abs().values().clone(), a.mapv(f64::abs));
        prop_assert_eq!(pa.exp().values().clone(), a.mapv(f64::exp));
        let a2: Array2<f64> = a.clone().into_dimensionality().unwrap();
        let b2: Array2<f64> = b.clone().into_dimensionality().unwrap();
        let mm = pa.matmul(&pb.transpose().unwrap()).unwrap();
        let want = a2.dot(&b2.t()).into_dyn();
        for (u, v) in mm.values().iter().zip(want.iter()) {
            prop_assert!((u - v).abs() <= 1e-12 * (1.0 + v.abs()));
        }
        let q = pa.div(&pb).unwrap();
        for (u, v) in q.values().iter().zip((&a / &b).iter()) {
            prop_assert!((u - v).abs() <= 1e-15 * (1.0 + v.abs()));
        }
        let mx = pa.max_axis(1).unwrap();
        let want = a.map_axis(Axis(1), |r| r.fold(f64::NEG_INFINITY, |m, &v| m.max(v)));
        prop_assert_eq!(mx.values().clone(), want.insert_axis(Axis(1)));
        let sm = pa.softmax().unwrap();
        for row in sm.values().rows() {
            prop_assert!((row.sum() - 1.0).abs() < 1e-12);
        }
    }
}

/// At exactly 0 (f64): `sign` is 0, `relu'` is ½, `relu` and `abs` are 0, in both forms.
#[test]
fn functions_at_zero_f64() {
    let (key, mut rng) = key_and_rng(11);
    let x = ArrayD::from_elem(IxDyn(&[5]), 0.0f64);
    let shadow = ShadowDistribution::default();
    fn check_zero<R: Decrypt<f64>>(key: &SecretKey, c: &PlanarTensor<f64, R>) {
        for (name, t, want) in [
            ("sign", c.sign(), 0.0),
            ("relu'", c.relu_derivative(), 0.5),
            ("relu", c.relu(), 0.0),
            ("abs", c.abs(), 0.0),
            ("relu'·x", c.relu_backward(&c.add_scalar(3.0)).unwrap(), 1.5),
        ] {
            for v in key.decrypt(&t).unwrap() {
                assert!((v - want).abs() < 1e-6, "{name}(0) = {v}");
            }
        }
    }
    check_zero(&key, &key.encrypt_compact(&x, &shadow, &mut rng).unwrap());
    check_zero(&key, &key.encrypt_matrix(&x, &shadow, &mut rng).unwrap());
}

#[test]
fn shape_mismatch_is_a_typed_error() {
    let (key, mut rng) = key_and_rng(5);
    let shadow = ShadowDistribution::default();
    let a = key
        .encrypt_compact(&w::<f32>(&[3, 4]), &shadow, &mut rng)
        .unwrap();
    let b = key
        .encrypt_compact(&w::<f32>(&[2, 5]), &shadow, &mut rng)
        .unwrap();
    assert_eq!(
        a.add(&b).unwrap_err(),
        MoreError::ShapeMismatch {
            op: "add",
            lhs: vec![3, 4],
            rhs: vec![2, 5]
        }
    );
    assert!(matches!(
        a.mul(&b),
        Err(MoreError::ShapeMismatch { op: "mul", .. })
    ));
    assert!(matches!(
        a.matmul(&b),
        Err(MoreError::ShapeMismatch { op: "matmul", .. })
    ));
    assert!(matches!(
        a.matmul_plain(&w2(5, 2)),
        Err(MoreError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        a.broadcast_to(&[3, 5]),
        Err(MoreError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        PlanarTensor::concatenate(0, &[a.clone(), b.clone()]),
        Err(MoreError::ShapeMismatch {
            op: "concatenate",
            ..
        })
    ));
    assert!(matches!(
        a.reshape(&[5, 2]),
        Err(MoreError::BadReshape { .. })
    ));
    assert!(matches!(a.sum_axis(2), Err(MoreError::BadRank { .. })));
    assert!(matches!(
        a.reshape(&[12]).unwrap().transpose(),
        Err(MoreError::BadRank { .. })
    ));
    let m = key
        .encrypt_matrix(&w::<f64>(&[3, 4]), &shadow, &mut rng)
        .unwrap();
    let n = key
        .encrypt_matrix(&w::<f64>(&[3, 4]), &shadow, &mut rng)
        .unwrap();
    assert!(matches!(
        m.matmul(&n),
        Err(MoreError::ShapeMismatch { op: "matmul", .. })
    ));
}

#[test]
fn different_bases_give_basis_mismatch() {
    let (k1, mut rng) = key_and_rng(1);
    let k2 = SecretKey::from_seed(2);
    let shadow = ShadowDistribution::default();
    let a = k1
        .encrypt_compact(&w::<f64>(&[2, 2]), &shadow, &mut rng)
        .unwrap();
    let b = k2
        .encrypt_compact(&w::<f64>(&[2, 2]), &shadow, &mut rng)
        .unwrap();
    for r in [a.add(&b), a.sub(&b), a.mul(&b), a.maximum(&b), a.matmul(&b)] {
        assert!(matches!(r, Err(MoreError::BasisMismatch { .. })), "{r:?}");
    }
    assert!(matches!(
        PlanarTensor::concatenate(0, &[a.clone(), b.clone()]),
        Err(MoreError::BasisMismatch { .. })
    ));
    assert!(matches!(
        k2.decrypt(&a),
        Err(MoreError::BasisMismatch { op: "decrypt" })
    ));
}
