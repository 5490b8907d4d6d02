//! The one BFV parameter set of secure mode.
//!
//! - Ring degree N = 8192: 8192 SIMD slots, one sample per slot.
//! - Ciphertext modulus q: three NTT-friendly primes of 62 bits (log q = 186). The
//!   HomomorphicEncryption.org standard (Albrecht et al. 2018, "Homomorphic Encryption Security
//!   Standard", Table 1) gives 128-bit classical security for N = 8192 up to log q = 218 with a
//!   ternary secret; fhe.rs draws the secret from a centred binomial distribution of variance 10,
//!   at least as wide. Fewer primes than the 218-bit maximum means proportionally less work per
//!   operation; three is the fewest whose relinearization noise (one key-switching digit per
//!   prime, about log2(q_i) + log2(N) + 5 bits) still leaves room under Δ = q / t.
//! - Plaintext modulus t: the largest prime below 2^[`PLAINTEXT_BITS`] that is 1 mod 2N (needed
//!   for SIMD batching). A model is served only if every layer's worst-case value stays below t/2
//!   ([`crate::QuantizedModel::check_fits`]), so the decryption of the mod-t computation equals
//!   the integer computation.
//!
//! Noise budget (Fan–Vercauteren 2012, "Somewhat Practical Fully Homomorphic Encryption",
//! IACR ePrint 2012/144): a ciphertext decrypts correctly while its noise stays below
//! Δ/2 = q/(2t). A fresh symmetric ciphertext has a few bits of noise; a linear layer with integer
//! weights multiplies it by at most its largest row ℓ1 norm; the one x² (a ciphertext product)
//! multiplies it by about t·N whatever the weights; relinearization adds a term near
//! log2(q_i) + log2(N) bits, far below Δ at three primes (not at two: that is why three is the
//! fewest). The outputs are then switched down to two primes ([`crate::eval::OUTPUT_LEVEL`]).
//! Measured budget left at the output: 57 bits for a worst-case 784-64-x²-10 MLP (|w| = 7), 23
//! bits when the norms total 57 bits; [`crate::QuantizedModel::check_fits`] refuses norms above
//! [`crate::model::MAX_NORM_BITS`] and values that could reach t/2, and the client reports the
//! budget left on every answer (`noise_budget_bits`).
use fhe::bfv::{BfvParameters, BfvParametersBuilder};
use std::sync::{Arc, OnceLock};

/// Polynomial ring degree N (also the number of slots).
pub const DEGREE: usize = 8192;
/// Bit sizes of the ciphertext modulus primes (log q = their sum = 186 <= 218).
pub const MODULI_BITS: [usize; 3] = [62, 62, 62];
/// Bits of the plaintext modulus t (t < 2^PLAINTEXT_BITS).
pub const PLAINTEXT_BITS: usize = 48;
/// Name of the parameter set, stored beside published models and checked by clients.
pub const PARAMETER_SET: &str = "bfv-n8192-q3x62-t48-v1";
/// Most multiplicative depth (x² layers) a model may have at these parameters.
pub const MAX_SQUARES: usize = 1;

/// The parameter set, built once per process.
pub fn bfv_parameters() -> &'static Arc<BfvParameters> {
    static PARAMS: OnceLock<Arc<BfvParameters>> = OnceLock::new();
    PARAMS.get_or_init(|| {
        BfvParametersBuilder::new()
            .set_degree(DEGREE)
            .set_plaintext_modulus(plaintext_modulus())
            .set_moduli_sizes(&MODULI_BITS)
            .build_arc()
            .expect("the constant BFV parameter set is valid")
    })
}

/// The plaintext modulus t: a prime, 1 mod 2N, just below 2^[`PLAINTEXT_BITS`].
pub fn plaintext_modulus() -> u64 {
    static T: OnceLock<u64> = OnceLock::new();
    *T.get_or_init(|| {
        fhe_math::zq::primes::generate_prime(
            PLAINTEXT_BITS,
            2 * DEGREE as u64,
            1u64 << PLAINTEXT_BITS,
        )
        .expect("a prime 1 mod 2N exists below 2^PLAINTEXT_BITS")
    })
}

/// The most samples one batch holds (one per slot).
pub fn slots() -> usize {
    DEGREE
}

/// Largest absolute value that decodes exactly from a centred residue mod t: (t - 1) / 2.
pub fn plaintext_limit() -> u64 {
    (plaintext_modulus() - 1) / 2
}
