//! The key-independent constants of fast encryption at the secure-mode parameters, computed
//! once per process and checked against fhe.rs before first use.
use super::arith::{mul_mod, pow_mod, reduce_once, InverseNtt, Shoup};
use super::frame;
use super::uniform::{self, UniformMod};
use fhe_math::ntt::NttOperator;
use fhe_math::rq::{Context, Poly, Representation};
use fhe_math::zq::Modulus;
use fhe_traits::Serialize;
use more_secure::{bfv_parameters, SecureError};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, OnceLock};

/// Constants of one ciphertext modulus q_i.
#[derive(Debug)]
pub(super) struct CipherModulus {
    /// The prime q_i with its (unscaled) inverse NTT.
    pub ntt: InverseNtt,
    /// Δ_i = (−t)^{-1} mod q_i: fhe.rs scales a plaintext m as Δ_i · [q·m]_t, which equals
    /// ⌊q·m/t⌋ mod q_i (fhe-0.1.1 `Plaintext::to_poly`, `BfvParametersBuilder::build`).
    pub delta: Shoup,
    /// n^{-1} mod q_i, folded into the key's NTT(s).
    pub n_inv: u64,
    /// Constants of the uniform expansion of `a` modulo q_i.
    pub uniform: UniformMod,
}

/// The constants of the parameter set.
#[derive(Debug)]
pub(super) struct Tables {
    /// Ring degree n.
    pub degree: usize,
    /// Variance of the centred binomial error (fhe.rs: 10), read from the parameters.
    pub variance: usize,
    /// Slot j of a SIMD plaintext is coefficient `slot_index[j]` before the inverse NTT mod t
    /// (SEAL's batch encoder order, as fhe.rs's `matrix_reps_index_map`).
    pub slot_index: Vec<usize>,
    /// Plaintext modulus t with its (unscaled) inverse NTT.
    pub t_ntt: InverseNtt,
    /// (q mod t) · n^{-1} mod t: fhe.rs's [q·m]_t with the inverse NTT's 1/n folded in.
    pub t_scale: Shoup,
    /// Per ciphertext modulus, in the parameters' order.
    pub moduli: Vec<CipherModulus>,
    /// Bytes of c0's packed coefficients in a frame.
    pub coefficient_bytes: usize,
    /// Bytes of a whole ciphertext frame.
    pub frame_bytes: usize,
    /// The top-level polynomial context (what `Poly::random_from_seed` draws `a` in).
    pub ctx: Arc<Context>,
}

/// The tables, built and verified on first use.
pub(super) fn tables() -> Result<&'static Tables, SecureError> {
    static TABLES: OnceLock<Result<Tables, String>> = OnceLock::new();
    TABLES
        .get_or_init(build)
        .as_ref()
        .map_err(|e| SecureError::Fhe(format!("fast encryption tables: {e}")))
}

fn build() -> Result<Tables, String> {
    let par = bfv_parameters();
    let n = par.degree();
    let t = par.plaintext();
    let ctx = par.context_at_level(0).map_err(|e| e.to_string())?.clone();
    let proto = fhe::proto::bfv::Parameters::decode(par.to_bytes().as_slice())
        .map_err(|e| e.to_string())?;
    let t_ntt = inverse_ntt_like_fhe(t, n)?;
    let n_inv_t = pow_mod(n as u64 % t, t - 2, t);
    let q_mod_t = par
        .moduli()
        .iter()
        .fold(1 % t, |acc, &q| mul_mod(acc, q % t, t));
    let mut moduli = Vec::new();
    for &q in par.moduli() {
        moduli.push(CipherModulus {
            ntt: inverse_ntt_like_fhe(q, n)?,
            delta: Shoup::new(pow_mod(q - t, q - 2, q), q),
            n_inv: pow_mod(n as u64, q - 2, q),
            uniform: UniformMod::new(q),
        });
    }
    check_uniform_like_fhe(&moduli, &ctx, n)?;
    Ok(Tables {
        degree: n,
        variance: proto.variance as usize,
        slot_index: slot_index(n),
        t_ntt,
        t_scale: Shoup::new(mul_mod(q_mod_t, n_inv_t, t), t),
        moduli,
        coefficient_bytes: frame::coefficient_bytes(n, par.moduli()),
        frame_bytes: frame::frame_len(n, frame::coefficient_bytes(n, par.moduli())),
        ctx,
    })
}

/// SEAL's batch-encoder index map (generator 3), the order fhe.rs puts SIMD slots in.
fn slot_index(n: usize) -> Vec<usize> {
    let (row, m, bits) = (n / 2, 2 * n, n.trailing_zeros());
    let rev = |x: usize| ((x as u64).reverse_bits() >> (64 - bits)) as usize;
    let mut map = vec![0; n];
    let mut pos = 1;
    for i in 0..row {
        map[i] = rev((pos - 1) >> 1);
        map[row | i] = rev((m - pos - 1) >> 1);
        pos = (pos * 3) & (m - 1);
    }
    map
}

/// Our inverse NTT modulo `p` with fhe-math's root: ψ is read off fhe-math's forward transform
/// of the monomial x (its first value is ψ), and the result is checked to invert fhe-math's
/// forward transform exactly on random vectors, so a ciphertext is never built on a wrong NTT.
fn inverse_ntt_like_fhe(p: u64, n: usize) -> Result<InverseNtt, String> {
    let modulus = Modulus::new(p).map_err(|e| e.to_string())?;
    let op = NttOperator::new(&modulus, n).ok_or_else(|| format!("{p} has no NTT of size {n}"))?;
    let mut x = vec![0u64; n];
    x[1] = 1;
    op.forward(&mut x);
    let ours = InverseNtt::new(p, x[0], n);
    let n_inv = pow_mod(n as u64 % p, p - 2, p);
    let mut rng = ChaCha8Rng::seed_from_u64(p);
    for _ in 0..2 {
        let v: Vec<u64> = (0..n).map(|_| rng.random_range(0..p)).collect();
        let mut w = v.clone();
        op.forward(&mut w);
        ours.backward_unscaled(&mut w);
        let back = w.iter().map(|&c| reduce_once(mul_mod(c, n_inv, p), p));
        if !back.eq(v.iter().copied()) {
            return Err(format!(
                "the inverse NTT mod {p} does not invert fhe-math's NTT"
            ));
        }
    }
    Ok(ours)
}

/// Our expansion of `a` must be fhe-math's (the node expands the seed with it): checked on one
/// seed, so that a change of fhe-math or rand under us is an error here, never a ciphertext
/// that does not decrypt.
fn check_uniform_like_fhe(
    moduli: &[CipherModulus],
    ctx: &Arc<Context>,
    n: usize,
) -> Result<(), String> {
    let seed = [0x5a; 32];
    let theirs = Poly::random_from_seed(ctx, Representation::Ntt, seed);
    let mut stream = uniform::stream(seed);
    let mut ours = vec![0u64; n];
    for (row, m) in theirs.coefficients().outer_iter().zip(moduli) {
        uniform::fill(&mut stream, m.uniform, &mut ours);
        if row.iter().ne(ours.iter()) {
            return Err("the expansion of a seed differs from fhe-math's".into());
        }
    }
    Ok(())
}
