//! Repeated ciphertext squarings on one thread, for a profiler:
//! `perf record target/release/examples/profile_square`.
use fhe::bfv::{Ciphertext, Encoding, Plaintext, SecretKey};
use fhe_traits::{FheEncoder, FheEncrypter};
use more_secure::bfv_parameters;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let par = bfv_parameters();
    let sk = SecretKey::random(par, &mut rng);
    let pt = Plaintext::try_encode(&[1i64, 2, 3], Encoding::simd(), par).unwrap();
    let ct: Ciphertext = sk.try_encrypt(&pt, &mut rng).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..100 {
        std::hint::black_box(&ct * &ct);
    }
    println!("square: {:.2} ms", t.elapsed().as_secs_f64() * 10.0);
}
