//! The fast decoder against fhe.rs's `Ciphertext::from_bytes` (+ the wire checks): the same
//! polynomials and level for real and randomized seeded frames, the same verdict for
//! unreduced, truncated and non-canonical frames.
use super::{decode_seeded, expand, unpack, Layout, SEED_BYTES};
use crate::params::bfv_parameters;
use crate::wire::{check_poly, decode_for_evaluation as decode_ciphertext};
use crate::SecureError;
use fhe::bfv::{Ciphertext, Encoding, Plaintext, SecretKey};
use fhe_math::rq::{Poly, Representation};
use fhe_traits::{DeserializeParametrized, FheEncoder, FheEncrypter, Serialize};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The decoder before the fast path: fhe.rs, then the wire checks.
fn reference(bytes: &[u8]) -> Result<Ciphertext, SecureError> {
    let ct = Ciphertext::from_bytes(bytes, bfv_parameters())
        .map_err(|e| SecureError::Wire(e.to_string()))?;
    if ct.len() != 2 {
        return Err(SecureError::Wire("parts".into()));
    }
    for p in ct.iter() {
        check_poly(p)?;
    }
    Ok(ct)
}

/// Equal polynomials (coefficients, representation, flags, context) and level. (fhe.rs's
/// `==` also compares the seed it keeps for re-serialization, which the node never uses.)
fn assert_same(fast: &Ciphertext, slow: &Ciphertext) {
    assert_eq!(fast.len(), slow.len());
    // The level (no public accessor): the Debug form prints it, with the seed fhe.rs keeps.
    let level = |c: &Ciphertext| {
        let d = format!("{c:?}");
        d[d.rfind("level: ").expect("level")..].to_string()
    };
    assert_eq!(level(fast), level(slow));
    for (a, b) in fast.iter().zip(slow.iter()) {
        assert!(a == b, "a polynomial differs");
    }
}

fn assert_same_verdict(bytes: &[u8]) {
    match (decode_ciphertext(bytes), reference(bytes)) {
        (Ok(fast), Ok(slow)) => assert_same(&fast, &slow),
        (Err(SecureError::Wire(_)), Err(_)) => {}
        (fast, slow) => panic!("verdicts differ: {:?} vs {:?}", fast.is_ok(), slow.is_ok()),
    }
}

/// Real seeded frames from fhe.rs (4 keys), each with 15 variants: a random seed and random
/// reduced c0 coefficients in the same canonical layout.
fn frames() -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let par = bfv_parameters();
    let ctx = par.context_at_level(0).unwrap();
    let layout = Layout::new(ctx, par.degree());
    let mut out = Vec::new();
    for _ in 0..4 {
        let sk = SecretKey::random(par, &mut rng);
        let values: Vec<i64> = (0..64).map(|_| rng.random_range(-1000..1000)).collect();
        let pt = Plaintext::try_encode(&values, Encoding::simd(), par).unwrap();
        let ct: Ciphertext = sk.try_encrypt(&pt, &mut rng).unwrap();
        let frame = ct.to_bytes();
        assert_eq!(frame.len(), layout.frame_bytes());
        out.push(frame.clone());
        for _ in 0..15 {
            let mut f = frame.clone();
            let mut packed = Vec::new();
            for &q in ctx.moduli() {
                let c: Vec<u64> = (0..par.degree()).map(|_| rng.random_range(0..q)).collect();
                packed.extend(fhe_util::transcode_to_bytes(&c, super::bits(q)));
            }
            f[layout.prefix.len()..layout.prefix.len() + packed.len()].copy_from_slice(&packed);
            let n = f.len();
            rng.fill_bytes(&mut f[n - SEED_BYTES..]);
            out.push(f);
        }
    }
    out
}

#[test]
fn seeded_frames_decode_exactly_like_fhe() {
    let frames = frames();
    assert_eq!(frames.len(), 64);
    for frame in &frames {
        let fast = decode_seeded(frame).expect("canonical layout").unwrap();
        let slow = reference(frame).unwrap();
        assert_same(&fast, &slow);
        assert_same(&decode_ciphertext(frame).unwrap(), &slow);
    }
}

#[test]
fn the_seed_expands_like_fhe_math() {
    let par = bfv_parameters();
    let ctx = par.context_at_level(0).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for _ in 0..8 {
        let mut seed = [0u8; SEED_BYTES];
        rng.fill_bytes(&mut seed);
        let p = Poly::random_from_seed(ctx, Representation::Ntt, seed);
        let expected: Vec<u64> = p.coefficients().iter().copied().collect();
        assert_eq!(expand(ctx, par.degree(), seed), expected);
    }
}

#[test]
fn unpacking_matches_fhe_util() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    for nbits in [1, 7, 8, 13, 33, 61, 62, 63, 64] {
        let count = 64;
        let mut packed = vec![0u8; count * nbits / 8];
        rng.fill_bytes(&mut packed);
        let mut out = Vec::new();
        unpack(&packed, nbits, count, &mut out);
        assert_eq!(
            out,
            fhe_util::transcode_from_bytes(&packed, nbits),
            "{nbits} bits"
        );
    }
}

#[test]
fn odd_frames_get_the_same_verdict_as_fhe() {
    let par = bfv_parameters();
    let ctx = par.context_at_level(0).unwrap();
    let layout = Layout::new(ctx, par.degree());
    let frame = frames().swap_remove(0);
    // An unreduced c0 coefficient (q_0 itself) in the canonical layout: fast path, same verdict.
    let mut f = frame.clone();
    let q0 = ctx.moduli()[0];
    let mut c = vec![0u64; par.degree()];
    c[5] = q0;
    let packed = fhe_util::transcode_to_bytes(&c, super::bits(q0));
    f[layout.prefix.len()..layout.prefix.len() + packed.len()].copy_from_slice(&packed);
    assert!(decode_seeded(&f).is_some());
    assert_same_verdict(&f);
    // The largest packed value in every coefficient of every modulus.
    let mut f = frame.clone();
    let end = f.len() - SEED_BYTES - layout.middle.len();
    f[layout.prefix.len()..end].fill(0xff);
    assert!(decode_seeded(&f).is_some());
    assert_same_verdict(&f);
    // Not the canonical layout: fhe.rs decides (level 1 appended, a short seed, truncated).
    let mut f = frame.clone();
    f.extend_from_slice(&[0x18, 1]);
    assert!(decode_seeded(&f).is_none());
    assert_same_verdict(&f);
    let mut f = frame.clone();
    let n = f.len();
    f[n - SEED_BYTES - 1] = (SEED_BYTES - 1) as u8;
    f.pop();
    assert!(decode_seeded(&f).is_none());
    assert!(decode_ciphertext(&f).is_err());
    for cut in [1, 40, frame.len() / 2, frame.len() - 1] {
        assert!(decode_seeded(&frame[..cut]).is_none());
        assert_same_verdict(&frame[..cut]);
    }
}
