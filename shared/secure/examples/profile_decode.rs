//! Time per step of decoding one seeded ciphertext frame (noisy on a shared machine):
//! fhe.rs's `Ciphertext::from_bytes`, its parts (unpacking c0, c0's NTT, expanding c1 from
//! the seed), `more_secure::wire::decode_ciphertext` (fhe.rs) and `decode_for_evaluation` (fast).
//! `cargo run --release -p more-secure --example profile_decode`
mod common;
use common::time;
use fhe::bfv::{Ciphertext, Encoding, Plaintext, SecretKey};
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use fhe_traits::{DeserializeParametrized, FheEncoder, FheEncrypter, Serialize};
use more_secure::{bfv_parameters, slots};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let par = bfv_parameters();
    let sk = SecretKey::random(par, &mut rng);
    let v: Vec<i64> = (0..slots()).map(|_| rng.random_range(0..16)).collect();
    let pt = Plaintext::try_encode(&v, Encoding::simd(), par).unwrap();
    let ct: Ciphertext = sk.try_encrypt(&pt, &mut rng).unwrap();
    let frame = ct.to_bytes();
    let reps = 50;
    time("fhe Ciphertext::from_bytes", reps, || {
        Ciphertext::from_bytes(&frame, par).unwrap()
    });
    let ctx = par.context_at_level(0).unwrap();
    let moduli = ctx.moduli().to_vec();
    let n = par.degree();
    let packed = &frame[frame.len() - 36 - moduli.len() * n * 62 / 8 - 2..];
    let packed = &packed[..moduli.len() * n * 62 / 8];
    let coeffs = time("unpack c0 (fhe-util)", reps, || {
        packed
            .chunks(n * 62 / 8)
            .flat_map(|c| fhe_util::transcode_from_bytes(c, 62))
            .collect::<Vec<u64>>()
    });
    time("c0 to NTT (fhe-math)", reps, || {
        let mut p =
            Poly::try_convert_from(coeffs.clone(), ctx, true, Representation::PowerBasis).unwrap();
        p.change_representation(Representation::Ntt);
        p
    });
    time("c1 random_from_seed (fhe-math)", reps, || {
        Poly::random_from_seed(ctx, Representation::Ntt, [7u8; 32])
    });
    time(
        "more_secure::wire::decode_ciphertext (fhe.rs)",
        reps,
        || more_secure::wire::decode_ciphertext(&frame).unwrap(),
    );
    time(
        "more_secure::wire::decode_for_evaluation (fast)",
        reps,
        || more_secure::wire::decode_for_evaluation(&frame).unwrap(),
    );
}
