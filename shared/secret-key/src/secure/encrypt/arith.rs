//! Modular arithmetic modulo primes below 2^62 with Shoup's precomputed quotients (Harvey 2014,
//! "Faster arithmetic for number-theoretic transforms", Algorithm 2), and the inverse negacyclic
//! NTT built on it.
//!
//! Written for wasm32 as much as for x86-64: wasm has a native 64×64→64-bit multiply but no
//! high half, and Rust lowers a `u128` product there to a call of compiler-rt's `__multi3`
//! (a full 128×128 product, 40 % of fhe.rs's encryption time in the page). [`Split::mul_hi`] takes the
//! high half from four 32×32→64 products instead; natively it is one `u128` multiply.
//!
//! Every function here is branch-free in its operands (masks, no data-dependent `if`), so its
//! timing does not depend on secret values.

/// A 64-bit constant factor (a Shoup quotient `⌊w · 2^64 / p⌋`, or a modulus) stored as two
/// 32-bit halves, for the high half of its products.
///
/// Stored split on purpose: LLVM recognizes the high half of a product computed from 32-bit
/// halves of two 64-bit registers and turns it back into a 128-bit multiply (on wasm32 a call of
/// `__multi3`, measured: it undid the limb arithmetic). Halves loaded from memory are not
/// recognizable as halves of one value, so the four 32×32 products stay four `i64.mul`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Split {
    lo: u32,
    hi: u32,
}

/// Zeroized like an integer (the key's quotients are as secret as the key).
impl zeroize::DefaultIsZeroes for Split {}

impl Split {
    /// `v` in halves.
    pub(super) fn new(v: u64) -> Self {
        Self {
            lo: v as u32,
            hi: (v >> 32) as u32,
        }
    }

    /// The Shoup quotient `⌊w · 2^64 / p⌋` of `w < p` modulo `p < 2^62`.
    pub(super) fn shoup(w: u64, p: u64) -> Self {
        debug_assert!(w < p && p < 1 << 62);
        Self::new(((u128::from(w) << 64) / u128::from(p)) as u64)
    }

    /// The constant as one number.
    #[cfg(test)]
    pub(super) fn value(self) -> u64 {
        (u64::from(self.hi) << 32) | u64::from(self.lo)
    }

    /// High 64 bits of `a · constant`.
    #[inline(always)]
    pub(super) fn mul_hi(self, a: u64) -> u64 {
        #[cfg(target_pointer_width = "64")]
        {
            let q = (u64::from(self.hi) << 32) | u64::from(self.lo);
            ((u128::from(a) * u128::from(q)) >> 64) as u64
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            mul_hi_limbs(a, self.lo, self.hi)
        }
    }
}

/// High 64 bits of `a · (b_hi · 2^32 + b_lo)` from 32-bit limbs: four 64-bit products, no
/// 128-bit arithmetic.
#[inline(always)]
#[cfg_attr(target_pointer_width = "64", allow(dead_code))] // wasm32's path; tested natively
pub(super) fn mul_hi_limbs(a: u64, b_lo: u32, b_hi: u32) -> u64 {
    const LOW: u64 = 0xffff_ffff;
    let (a0, a1) = (a & LOW, a >> 32);
    let (b0, b1) = (u64::from(b_lo), u64::from(b_hi));
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // < 3 · 2^32: no overflow.
    let mid = (p00 >> 32) + (p01 & LOW) + (p10 & LOW);
    p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32)
}

/// `x − m` if `x ≥ m`, else `x`; requires `x < 2m` and `m < 2^63`.
#[inline(always)]
pub(super) fn reduce_once(x: u64, m: u64) -> u64 {
    let y = x.wrapping_sub(m);
    y.wrapping_add(m & 0u64.wrapping_sub(y >> 63))
}

/// A constant factor `w < p` with its Shoup quotient `⌊w · 2^64 / p⌋`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shoup {
    w: u64,
    w_shoup: Split,
}

impl Shoup {
    /// Precomputes `w` modulo `p` (`w < p < 2^62`).
    pub(super) fn new(w: u64, p: u64) -> Self {
        Self {
            w,
            w_shoup: Split::shoup(w, p),
        }
    }

    /// `a · w mod p`, lazily: a value in `[0, 2p)` congruent to it, for any `a < 2^64`.
    #[inline(always)]
    pub(super) fn mul_lazy(self, a: u64, p: u64) -> u64 {
        mul_shoup_lazy(a, self.w, self.w_shoup, p)
    }
}

/// `a · w mod p` lazily in `[0, 2p)` from `w < p` and its quotient, for any `a < 2^64`.
#[inline(always)]
pub(super) fn mul_shoup_lazy(a: u64, w: u64, w_shoup: Split, p: u64) -> u64 {
    a.wrapping_mul(w)
        .wrapping_sub(w_shoup.mul_hi(a).wrapping_mul(p))
}

/// `a · b mod p` (table construction only: not on a hot path).
pub(super) fn mul_mod(a: u64, b: u64, p: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(p)) as u64
}

/// `a^e mod p` (table construction only).
pub(super) fn pow_mod(mut a: u64, mut e: u64, p: u64) -> u64 {
    let mut r = 1 % p;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, a, p);
        }
        a = mul_mod(a, a, p);
        e >>= 1;
    }
    r
}

/// The inverse negacyclic NTT of size n modulo a prime `p ≡ 1 (mod 2n)`, `p < 2^62`, in the
/// order of fhe-math's `NttOperator` (Gentleman–Sande butterflies over the bit-reversed powers of
/// a primitive 2n-th root ψ), WITHOUT the final factor 1/n: callers fold it into a constant
/// they multiply by anyway.
#[derive(Debug)]
pub(super) struct InverseNtt {
    p: u64,
    zetas: Vec<Shoup>,
}

impl InverseNtt {
    /// Tables for modulus `p` and the primitive 2n-th root of unity `psi` (ψ^n = −1).
    pub(super) fn new(p: u64, psi: u64, n: usize) -> Self {
        let psi_inv = pow_mod(psi, 2 * n as u64 - 1, p);
        let bits = n.trailing_zeros();
        let mut powers_inv = Vec::with_capacity(n);
        let mut x = psi_inv;
        for _ in 0..n {
            powers_inv.push(x);
            x = mul_mod(x, psi_inv, p);
        }
        let zetas = (0..n)
            .map(|i| {
                let j = (i as u64).reverse_bits() >> (64 - bits);
                Shoup::new(powers_inv[j as usize], p)
            })
            .collect();
        Self { p, zetas }
    }

    /// The modulus.
    pub(super) fn modulus(&self) -> u64 {
        self.p
    }

    /// In place: `a` (values `< 2p`, length n) becomes n · INTT(a), values `< 2p`.
    pub(super) fn backward_unscaled(&self, a: &mut [u64]) {
        debug_assert_eq!(a.len(), self.zetas.len());
        let p = self.p;
        let two_p = 2 * p;
        let mut k = 0;
        let mut l = 1;
        while l < a.len() {
            for chunk in a.chunks_exact_mut(2 * l) {
                let z = self.zetas[k];
                k += 1;
                let (left, right) = chunk.split_at_mut(l);
                for (x, y) in left.iter_mut().zip(right.iter_mut()) {
                    let (u, v) = (*x, *y);
                    *x = reduce_once(u + v, two_p);
                    *y = z.mul_lazy(two_p + u - v, p);
                }
            }
            l <<= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn mul_hi_limbs_equals_the_u128_product() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let edge = [0, 1, u32::MAX as u64, 1 << 32, u64::MAX - 1, u64::MAX];
        for &a in &edge {
            for &b in &edge {
                let (lo, hi) = (b as u32, (b >> 32) as u32);
                assert_eq!(
                    mul_hi_limbs(a, lo, hi),
                    ((a as u128 * b as u128) >> 64) as u64
                );
            }
        }
        for _ in 0..100_000 {
            let (a, b): (u64, u64) = (rng.random(), rng.random());
            let (lo, hi) = (b as u32, (b >> 32) as u32);
            let expected = ((a as u128 * b as u128) >> 64) as u64;
            assert_eq!(mul_hi_limbs(a, lo, hi), expected, "{a} {b}");
        }
    }

    #[test]
    fn shoup_products_are_lazy_residues() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let p = 4611686018326724609u64; // a 62-bit NTT prime
        for _ in 0..100_000 {
            let w = rng.random_range(0..p);
            let a: u64 = rng.random();
            let r = Shoup::new(w, p).mul_lazy(a, p);
            assert!(r < 2 * p);
            assert_eq!(r % p, mul_mod(a % p, w, p));
            let q = Split::shoup(w, p);
            assert_eq!(q.value(), (((w as u128) << 64) / p as u128) as u64);
            assert_eq!(q.mul_hi(a), ((a as u128 * q.value() as u128) >> 64) as u64);
        }
    }

    #[test]
    fn reduce_once_subtracts_exactly_when_needed() {
        let m = 3u64 << 61;
        for x in [0, 1, m - 1, m, m + 1, 2 * m - 1] {
            assert_eq!(reduce_once(x, m), if x >= m { x - m } else { x });
        }
    }
}
