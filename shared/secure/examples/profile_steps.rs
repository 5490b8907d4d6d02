//! Per-step node time of secure prediction on one thread and on rayon's threads (noisy on a
//! shared machine): one squaring, one relinearization, one mod switch, and the full MLP batch.
//! `cargo run --release -p more-secure --example profile_steps`
mod common;
use common::time;
use fhe::bfv::{Ciphertext, Encoding, Plaintext, RelinearizationKey, SecretKey};
use fhe_traits::{FheEncoder, FheEncrypter};
use more_secure::{
    bfv_parameters, slots, Evaluator, InputQuantizer, QuantizedLayer, QuantizedModel,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let par = bfv_parameters();
    let sk = SecretKey::random(par, &mut rng);
    let rk = RelinearizationKey::new(&sk, &mut rng).unwrap();
    let v: Vec<i64> = (0..slots()).map(|_| rng.random_range(0..16)).collect();
    let pt = Plaintext::try_encode(&v, Encoding::simd(), par).unwrap();
    let ct: Ciphertext = time("encrypt", 10, || sk.try_encrypt(&pt, &mut rng).unwrap());
    let frame = fhe_traits::Serialize::to_bytes(&ct);
    time("decode seeded frame", 10, || {
        more_secure::wire::decode_ciphertext(&frame).unwrap()
    });
    let sq = time("square (no relin)", 10, || &ct * &ct);
    time("relinearize", 10, || {
        let mut c = sq.clone();
        rk.relinearizes(&mut c).unwrap();
        c
    });
    time("clone 3-part", 10, || sq.clone());
    time("switch down", 10, || {
        let mut c = ct.clone();
        c.switch_down().unwrap();
        c
    });
    let w = |n: usize, rng: &mut ChaCha20Rng| {
        (0..n)
            .map(|_| rng.random_range(-7..=7))
            .collect::<Vec<i64>>()
    };
    let dense1 = QuantizedLayer::Dense {
        inputs: 784,
        outputs: 64,
        weights: w(784 * 64, &mut rng),
        bias: vec![0; 64],
    };
    let dense2 = QuantizedLayer::Dense {
        inputs: 64,
        outputs: 10,
        weights: w(640, &mut rng),
        bias: vec![0; 10],
    };
    let model = |layers| QuantizedModel {
        input_shape: vec![784],
        input: InputQuantizer {
            offset: vec![0.0],
            scale: vec![1.0],
            min: 0,
            max: 15,
        },
        layers,
        output_scale: 1.0,
        class_names: vec![],
    };
    let inputs: Vec<Ciphertext> = (0..784)
        .map(|i| {
            if i == 0 {
                ct.clone()
            } else {
                sk.try_encrypt(&pt, &mut rng).unwrap()
            }
        })
        .collect();
    for (label, layers) in [
        ("dense 784-64 (full batch)", vec![dense1.clone()]),
        (
            "mlp 784-64-x2-10 (full batch)",
            vec![dense1, QuantizedLayer::Square, dense2],
        ),
    ] {
        let eval = Evaluator::new(&model(layers)).unwrap();
        time(label, 3, || eval.evaluate(&rk, inputs.clone()).unwrap());
    }
}
