//! The fast linear layer: Σ_i w_i · ct_i with integer scalars, computed directly on the
//! ciphertexts' RNS coefficients.
//!
//! A weight that is the same integer in every slot is a scalar, so in NTT form a linear layer is
//! the integer matrix product `W · X` modulo each prime q_m, where row i of `X` holds the NTT
//! coefficients of input ciphertext i (per part and prime). No plaintext encoding and no NTT
//! are needed (nGraph-HE2, Boemer et al. 2019, §"plaintext-ciphertext multiplication by
//! scalars"). The product is computed exactly in f64: each coefficient (< 2^62) is split into
//! limbs of `b` bits such that `max_row_l1 · 2^b < 2^53`, every limb product-sum is an exact
//! integer, and the limbs are recombined modulo q_m afterwards (one modular reduction per
//! output coefficient instead of one per multiply-add). Dense layers run as blocked GEMMs
//! (`gemm` crate), convolutions as sparse row sums; blocks run on rayon's threads.
//!
//! The result is the same ring element fhe.rs's `dot_product_scalar` computes with the weights
//! as integers modulo q, so decryptions are identical (tested against the plain path).
use super::map_range;
use crate::model::linear::LinearMap;
use crate::params::{bfv_parameters, DEGREE};
use crate::SecureError;
use fhe::bfv::Ciphertext;
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use fhe_math::zq::Modulus;
use ndarray17::Array2;

/// Coefficients per block and per limb (columns of one GEMM are `limbs × BLOCK`).
const BLOCK: usize = 256;
/// Exact integers in f64.
const F64_EXACT_BITS: u32 = 53;
/// Widest limb: [`exact_f64`] converts integers below 2^52.
const MAX_LIMB_BITS: u32 = 52;
/// Coefficients are below 2^62 (the primes are 62 bits).
const COEFF_BITS: u32 = 62;

/// A linear layer prepared for the fast path.
#[derive(Debug)]
pub(crate) struct FastLinear {
    outputs: usize,
    inputs: usize,
    /// `outputs × inputs` row-major weights, for dense layers (most entries non-zero).
    dense: Option<Vec<f64>>,
    /// Per output: (input, weight), for sparse layers (convolutions).
    rows: Vec<Vec<(u32, f64)>>,
    limb_bits: u32,
    limbs: usize,
}

impl FastLinear {
    pub fn new(map: &LinearMap) -> Self {
        let (outputs, inputs) = (map.outputs(), map.inputs);
        let nnz: usize = map.rows.iter().map(Vec::len).sum();
        let dense = (nnz * 4 >= outputs * inputs).then(|| {
            let mut w = vec![0.0; outputs * inputs];
            for (o, row) in map.rows.iter().enumerate() {
                for &(i, v) in row {
                    w[o * inputs + i as usize] = v as f64;
                }
            }
            w
        });
        let rows = map
            .rows
            .iter()
            .map(|r| r.iter().map(|&(i, w)| (i, w as f64)).collect())
            .collect();
        // Σ|w| · (2^b − 1) < 2^53 for every row: b = 53 − bits(max ℓ1).
        let l1_bits = 64 - map.max_row_l1().leading_zeros();
        let limb_bits = F64_EXACT_BITS
            .saturating_sub(l1_bits)
            .clamp(1, MAX_LIMB_BITS);
        let limbs = COEFF_BITS.div_ceil(limb_bits) as usize;
        Self {
            outputs,
            inputs,
            dense,
            rows,
            limb_bits,
            limbs,
        }
    }

    /// `W · x` on ciphertexts with any (equal) number of parts at one level; biases are added by
    /// the caller.
    pub fn apply(&self, x: &[Ciphertext]) -> Result<Vec<Ciphertext>, SecureError> {
        let parts = x[0].len();
        if x.len() != self.inputs
            || x.iter()
                .any(|c| c.len() != parts || c[0].ctx() != x[0][0].ctx())
        {
            return Err(SecureError::Invalid(
                "ciphertexts of one layer must match in count, parts and level".into(),
            ));
        }
        let ctx = x[0][0].ctx().clone();
        let moduli = ctx.moduli_operators().to_vec();
        let degree = DEGREE;
        let blocks = degree.div_ceil(BLOCK);
        let tasks = parts * moduli.len() * blocks;
        let results = map_range(tasks, |task| {
            let (p, rest) = (
                task / (moduli.len() * blocks),
                task % (moduli.len() * blocks),
            );
            let (m, b) = (rest / blocks, rest % blocks);
            let start = b * BLOCK;
            let width = BLOCK.min(degree - start);
            Ok(self.block(x, p, m, start, width, &moduli[m]))
        })?;
        let par = bfv_parameters();
        map_range(self.outputs, |o| {
            let polys = (0..parts)
                .map(|p| {
                    let mut a = Array2::<u64>::zeros((moduli.len(), degree));
                    for m in 0..moduli.len() {
                        for b in 0..blocks {
                            let start = b * BLOCK;
                            let width = BLOCK.min(degree - start);
                            let r = &results[(p * moduli.len() + m) * blocks + b];
                            a.row_mut(m).as_slice_mut().expect("standard layout")
                                [start..start + width]
                                .copy_from_slice(&r[o * width..(o + 1) * width]);
                        }
                    }
                    // Variable-time NTTs for the products that follow: the node holds no secret,
                    // and every value it handles is public to it.
                    Ok(Poly::try_convert_from(a, &ctx, true, Representation::Ntt)?)
                })
                .collect::<Result<Vec<Poly>, SecureError>>()?;
            Ok(Ciphertext::new(polys, par)?)
        })
    }

    /// Outputs × `width` coefficients of part `p`, prime `m`, columns `start..start + width`.
    fn block(
        &self,
        x: &[Ciphertext],
        p: usize,
        m: usize,
        start: usize,
        width: usize,
        q: &Modulus,
    ) -> Vec<u64> {
        let cols = self.limbs * width;
        let mask = (1u64 << self.limb_bits) - 1;
        let mut limbs = vec![0f64; self.inputs * cols];
        for (i, ct) in x.iter().enumerate() {
            let coeffs = ct[p].coefficients();
            let row = coeffs.row(m);
            let src = &row.as_slice().expect("standard layout")[start..start + width];
            let dst = &mut limbs[i * cols..(i + 1) * cols];
            for l in 0..self.limbs {
                let shift = l as u32 * self.limb_bits;
                for (d, &v) in dst[l * width..(l + 1) * width].iter_mut().zip(src) {
                    *d = exact_f64((v >> shift) & mask);
                }
            }
        }
        let y = match &self.dense {
            Some(w) => gemm_rows(w, self.outputs, self.inputs, &limbs, cols),
            None => self.sparse(&limbs, cols),
        };
        self.recombine(&y, width, q)
    }

    fn sparse(&self, limbs: &[f64], cols: usize) -> Vec<f64> {
        let mut y = vec![0f64; self.outputs * cols];
        for (o, row) in self.rows.iter().enumerate() {
            let acc = &mut y[o * cols..(o + 1) * cols];
            for &(i, w) in row {
                let src = &limbs[i as usize * cols..(i as usize + 1) * cols];
                for (a, &s) in acc.iter_mut().zip(src) {
                    *a += w * s;
                }
            }
        }
        y
    }

    /// Σ_l limb_l · 2^(l·b) mod q for every output coefficient. Each limb sum is an exact
    /// integer of magnitude below 2^53 < q, so one conditional add makes it a residue.
    fn recombine(&self, y: &[f64], width: usize, q: &Modulus) -> Vec<u64> {
        let cols = self.limbs * width;
        let qv = **q;
        let pows: Vec<u64> = (0..self.limbs)
            .map(|l| q.pow(2, l as u64 * self.limb_bits as u64))
            .collect();
        let mut out = vec![0u64; self.outputs * width];
        for o in 0..self.outputs {
            let yo = &y[o * cols..(o + 1) * cols];
            for (c, r) in out[o * width..(o + 1) * width].iter_mut().enumerate() {
                let mut acc = 0u64;
                for (l, &pw) in pows.iter().enumerate() {
                    let v = yo[l * width + c] as i64;
                    let residue = if v < 0 {
                        (v + qv as i64) as u64
                    } else {
                        v as u64
                    };
                    acc = q.add(acc, if l == 0 { residue } else { q.mul(residue, pw) });
                }
                *r = acc;
            }
        }
        out
    }
}

/// `x` as f64 for `x < 2^52`, exactly: the bits of x under the exponent of 2^52, minus 2^52 (an OR
/// and a subtraction that vectorize, where `u64 as f64` needs AVX-512 or a scalar loop).
#[inline(always)]
fn exact_f64(x: u64) -> f64 {
    const TWO_52: u64 = 0x4330_0000_0000_0000;
    debug_assert!(x < 1 << 52);
    f64::from_bits(x | TWO_52) - f64::from_bits(TWO_52)
}

/// `w (m × k) · x (k × n)`, both row-major, on the calling thread.
fn gemm_rows(w: &[f64], m: usize, k: usize, x: &[f64], n: usize) -> Vec<f64> {
    let mut y = vec![0f64; m * n];
    // SAFETY: `y` is m×n row-major (row stride n, column stride 1), `w` m×k and `x` k×n
    // row-major with the strides passed; with `read_dst` false `y` is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n as isize,
            false,
            w.as_ptr(),
            1,
            k as isize,
            x.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    y
}
