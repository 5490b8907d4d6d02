//! The attack suite on freshly generated keys: the proof, on every CI run, that the claims in
//! SECURITY.md hold. Image-like and tabular data, Gaussian and moment-matched shadows, f32 and f64,
//! matrix and compact form. Run with `--nocapture` to see the measured numbers.

use more_attacks::known_plaintext::known_pairs;
use more_attacks::{
    ciphertext_only_attack, detect_zeros, extract_compact_model, extract_model,
    known_plaintext_attack, markdown_table, run_all, zero_attack, AttackError, DataPrior,
};
use more_core::tensor::{MatrixCiphertext, MatrixForm, PlanarTensor};
use more_core::Float;
use more_secret_key::{SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;

mod common;

use common::{images, PIXELS, SIDE};

const TAB_FEATURES: usize = 6;
const TAB_MEAN: [f64; TAB_FEATURES] = [55.0, 128.0, 80.0, 1.1, 36.9, 5.4];
const TAB_STD: [f64; TAB_FEATURES] = [12.0, 16.0, 9.0, 0.25, 0.5, 1.1];

/// `n` rows of Gaussian features (vital-sign-like means and spreads); with `loading > 0` the
/// features share a latent factor (pairwise correlation `loading²`).
fn tabular(n: usize, seed: u64, loading: f64) -> Vec<f64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let own = (1.0 - loading * loading).sqrt();
    let mut out = Vec::with_capacity(n * TAB_FEATURES);
    for _ in 0..n {
        let z: f64 = rng.sample(StandardNormal);
        for j in 0..TAB_FEATURES {
            let e: f64 = rng.sample(StandardNormal);
            out.push(TAB_MEAN[j] + TAB_STD[j] * (loading * z + own * e));
        }
    }
    out
}

fn shadows(data: &[f64], features: usize) -> Vec<ShadowDistribution> {
    vec![
        ShadowDistribution::Gaussian { std: 0.1 },
        ShadowDistribution::matched_to(data, features).unwrap(),
    ]
}

fn keys() -> Vec<SecretKey> {
    let mut k = vec![SecretKey::generate().unwrap()];
    k.extend([1u64, 7, 42].map(SecretKey::from_seed));
    k
}

/// The victim's ciphertexts in matrix form; `compact` encrypts compactly and converts (public).
fn encrypt<F: Float>(
    key: &SecretKey,
    data: &[f64],
    shape: &[usize],
    shadow: &ShadowDistribution,
    compact: bool,
    seed: u64,
) -> (ArrayD<F>, MatrixCiphertext<F>) {
    let x =
        ArrayD::from_shape_vec(IxDyn(shape), data.iter().map(|&v| F::of_f64(v)).collect()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let ct = if compact {
        key.encrypt_compact(&x, shadow, &mut rng)
            .unwrap()
            .to_matrix_form()
    } else {
        key.encrypt_matrix(&x, shadow, &mut rng).unwrap()
    };
    (x, ct)
}

/// Absolute tolerance: f32 `max(1e-3, 1e-5·max|x|)`, f64 `max(1e-9, 1e-12·max|x|)`.
fn tol<F: Float>(x: &ArrayD<F>) -> f64 {
    let scale = x.iter().fold(0f64, |m, v| m.max(v.as_f64().abs()));
    if F::epsilon().as_f64() > 1e-10 {
        (1e-5 * scale).max(1e-3)
    } else {
        (1e-12 * scale).max(1e-9)
    }
}

/// Fraction within `tol` and max abs error.
fn recovered<F: Float>(got: &ArrayD<F>, want: &ArrayD<F>, tol: f64) -> (f64, f64) {
    assert_eq!(got.shape(), want.shape());
    let mut ok = 0;
    let mut max = 0f64;
    for (g, w) in got.iter().zip(want) {
        let e = (g.as_f64() - w.as_f64()).abs();
        ok += usize::from(e <= tol);
        max = max.max(if e.is_nan() { f64::INFINITY } else { e });
    }
    (ok as f64 / want.len() as f64, max)
}

struct Case {
    name: &'static str,
    data: Vec<f64>,
    shape: Vec<usize>,
    features: usize,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "image",
            data: images(12, 3),
            shape: vec![12, SIDE, SIDE],
            features: PIXELS,
        },
        Case {
            name: "tabular",
            data: tabular(300, 4, 0.7),
            shape: vec![300, TAB_FEATURES],
            features: TAB_FEATURES,
        },
    ]
}

fn prior(case: &Case) -> DataPrior {
    if case.name == "image" {
        DataPrior::image(case.features)
    } else {
        DataPrior::from_data(&case.data, case.features)
    }
}

fn ciphertext_only_for<F: Float>() {
    // (case, worst fraction, largest error) over keys, shadows and forms.
    let mut summary: Vec<(&str, f64, f64)> = Vec::new();
    for (ki, key) in keys().iter().enumerate() {
        for case in cases() {
            for (si, shadow) in shadows(&case.data, case.features).iter().enumerate() {
                for compact in [false, true] {
                    let seed = (ki * 100 + si * 10 + usize::from(compact)) as u64;
                    let (x, ct) = encrypt::<F>(key, &case.data, &case.shape, shadow, compact, seed);
                    let r = ciphertext_only_attack(&ct, &prior(&case)).unwrap();
                    let t = tol(&x);
                    let (frac, max) = recovered(&r.plaintext, &x, t);
                    let what = format!(
                        "{} {:?} shadow {si} compact {compact} key {ki}: {frac} within {t:e}, max {max:e}, scores {:?}",
                        case.name,
                        F::DTYPE,
                        r.scores
                    );
                    assert!(frac >= 0.99, "{what}");
                    note(&mut summary, case.name, frac, max);
                    // The other slot holds the shadows exactly.
                    let shadow_true = key.decrypt_shadow(&ct).unwrap();
                    assert!(
                        recovered(&r.other_slot, &shadow_true, t).0 >= 0.99,
                        "{what}"
                    );
                    // The recovered key decrypts a fresh, unrelated ciphertext of the same key.
                    let (y, ct2) = encrypt::<F>(
                        key,
                        &[0.25, -3.5, 7.0],
                        &[3],
                        shadow_for_vector(),
                        compact,
                        seed + 1,
                    );
                    assert!(
                        recovered(&r.key.decrypt_matrix(&ct2), &y, t).0 == 1.0,
                        "{what}"
                    );
                }
            }
        }
    }
    print_summary("ciphertext-only", F::DTYPE, &summary);
}

/// Keeps the worst fraction and the largest error per case.
fn note<'a>(summary: &mut Vec<(&'a str, f64, f64)>, case: &'a str, frac: f64, max: f64) {
    match summary.iter_mut().find(|s| s.0 == case) {
        Some(s) => {
            s.1 = s.1.min(frac);
            s.2 = s.2.max(max);
        }
        None => summary.push((case, frac, max)),
    }
}

fn print_summary(attack: &str, dtype: impl std::fmt::Debug, summary: &[(&str, f64, f64)]) {
    for (case, frac, max) in summary {
        println!(
            "{attack} {dtype:?} {case}: worst {:.2} % recovered, max abs error {max:.1e}",
            100.0 * frac
        );
    }
}

fn shadow_for_vector() -> &'static ShadowDistribution {
    static S: ShadowDistribution = ShadowDistribution::Gaussian { std: 0.1 };
    &S
}

#[test]
fn ciphertext_only_recovers_everything_f32() {
    ciphertext_only_for::<f32>();
}

#[test]
fn ciphertext_only_recovers_everything_f64() {
    ciphertext_only_for::<f64>();
}

fn known_plaintext_for<F: Float>() {
    let mut summary: Vec<(&str, f64, f64)> = Vec::new();
    for (ki, key) in keys().iter().enumerate() {
        for case in cases() {
            for shadow in shadows(&case.data, case.features) {
                for compact in [false, true] {
                    let (x, ct) =
                        encrypt::<F>(key, &case.data, &case.shape, &shadow, compact, ki as u64);
                    let flat: Vec<F> = x.iter().copied().collect();
                    // Known values at the first non-zero positions (image: the blob).
                    let idx: Vec<usize> = (0..flat.len())
                        .filter(|&i| flat[i] != F::zero())
                        .take(8)
                        .collect();
                    for k in [1, 2, 8] {
                        let pairs = known_pairs(&flat, &ct, &idx[..k]).unwrap();
                        let rk = known_plaintext_attack(&pairs).unwrap();
                        let t = tol(&x);
                        let (frac, max) = recovered(&rk.decrypt_matrix(&ct), &x, t);
                        note(
                            &mut summary,
                            [
                                "image k=1",
                                "image k=2",
                                "image k=8",
                                "tabular k=1",
                                "tabular k=2",
                                "tabular k=8",
                            ][usize::from(case.name != "image") * 3
                                + [1, 2, 8].iter().position(|&v| v == k).unwrap()],
                            frac,
                            max,
                        );
                        assert!(
                            frac >= 0.99,
                            "{} {:?} k={k} compact {compact} key {ki}: {frac}, max {max:e}",
                            case.name,
                            F::DTYPE
                        );
                    }
                }
            }
        }
    }
    print_summary("known plaintext", F::DTYPE, &summary);
}

#[test]
fn one_known_plaintext_suffices_f32() {
    known_plaintext_for::<f32>();
}

#[test]
fn one_known_plaintext_suffices_f64() {
    known_plaintext_for::<f64>();
}

fn zeros_for<F: Float>() {
    let mut summary: Vec<(&str, f64, f64)> = Vec::new();
    let (mut flagged_total, mut zeros_total, mut false_total) = (0, 0, 0);
    let data = images(12, 9);
    let shape = [12, SIDE, SIDE];
    let zeros = data.iter().filter(|&&v| v == 0.0).count();
    assert!(zeros as f64 / data.len() as f64 > 0.7);
    for (ki, key) in keys().iter().enumerate() {
        for shadow in shadows(&data, PIXELS) {
            for compact in [false, true] {
                let (x, ct) = encrypt::<F>(key, &data, &shape, &shadow, compact, 50 + ki as u64);
                let flags = detect_zeros(&ct);
                let hit = flags
                    .iter()
                    .zip(&data)
                    .filter(|(f, &v)| **f && v == 0.0)
                    .count();
                let false_pos = flags
                    .iter()
                    .zip(&data)
                    .filter(|(f, &v)| **f && v != 0.0)
                    .count();
                assert!(
                    hit as f64 >= 0.999 * zeros as f64,
                    "{hit}/{zeros} zeros flagged"
                );
                assert!(
                    false_pos * 1000 <= data.len() - zeros,
                    "{false_pos} false positives"
                );
                let r = zero_attack(&ct).unwrap();
                assert_eq!(
                    x.iter().copied().collect::<Vec<F>>()[r.reference_index],
                    F::zero()
                );
                let t = tol(&x);
                let (frac, max) = recovered(&r.plaintext, &x, t);
                assert!(frac >= 0.99, "{:?} key {ki}: {frac}, max {max:e}", F::DTYPE);
                note(&mut summary, "image", frac, max);
                flagged_total += hit;
                zeros_total += zeros;
                false_total += false_pos;
            }
        }
    }
    print_summary("zero detection", F::DTYPE, &summary);
    println!(
        "zero detection {:?}: {flagged_total}/{zeros_total} zeros flagged, {false_total} false positives (all keys, shadows, forms)",
        F::DTYPE
    );
}

#[test]
fn zeros_are_visible_and_decrypt_everything_f32() {
    zeros_for::<f32>();
}

#[test]
fn zeros_are_visible_and_decrypt_everything_f64() {
    zeros_for::<f64>();
}

#[test]
fn model_weights_and_homomorphic_results_are_extracted() {
    let key = SecretKey::generate().unwrap();
    let data = images(8, 11);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let x = ArrayD::from_shape_vec(
        IxDyn(&[8, PIXELS]),
        data.iter().map(|&v| v as f32).collect(),
    )
    .unwrap();
    let shadow = ShadowDistribution::Gaussian { std: 0.1 };
    let enc_x = key.encrypt_compact(&x, &shadow, &mut rng).unwrap();
    let w = ArrayD::from_shape_fn(IxDyn(&[PIXELS, 10]), |i| {
        ((i[0] * 7 + i[1] * 3) % 11) as f32 / 50.0 - 0.1
    });
    let b = ArrayD::from_shape_fn(IxDyn(&[10]), |i| i[0] as f32 / 10.0);
    let enc_w = key.encrypt_compact(&w, &shadow, &mut rng).unwrap();
    let enc_b = key.encrypt_compact(&b, &shadow, &mut rng).unwrap();
    let logits = enc_x.matmul(&enc_w).unwrap();
    // The attacker sees only ciphertexts: the key comes from the data alone.
    let r = ciphertext_only_attack(&enc_x.to_matrix_form(), &DataPrior::image(PIXELS)).unwrap();
    let got = extract_compact_model(&r.key, &[enc_w.clone(), enc_b.clone(), logits.clone()]);
    let want_logits = key.decrypt(&logits).unwrap();
    for (g, want) in got.iter().zip([&w, &b, &want_logits]) {
        let (frac, max) = recovered(g, want, 1e-3);
        assert_eq!(frac, 1.0, "max error {max:e}");
    }
    let got_m = extract_model(&r.key, &[enc_w.to_matrix_form()]);
    assert!(recovered(&got_m[0], &w, 1e-3).0 == 1.0);
    // Public weights w·I decrypt to w as well.
    let public = PlanarTensor::embed(MatrixForm, w.clone());
    assert!(recovered(&extract_model(&r.key, &[public])[0], &w, 1e-6).0 == 1.0);
}

#[test]
fn odd_inputs_give_errors_not_panics() {
    let public = PlanarTensor::embed(MatrixForm, ArrayD::<f32>::ones(IxDyn(&[3, 3])));
    assert_eq!(
        ciphertext_only_attack(&public, &DataPrior::image(9)).unwrap_err(),
        AttackError::NoUsableCiphertext(9)
    );
    assert!(matches!(
        known_plaintext_attack(&[]),
        Err(AttackError::NotEnoughPairs { .. })
    ));
    assert!(matches!(
        known_plaintext_attack(&[(1.0, [1.0, 0.0, 0.0, 1.0])]),
        Err(AttackError::NotEnoughPairs { .. })
    ));
    let nan = PlanarTensor::from_planes(
        MatrixForm,
        vec![ArrayD::from_elem(IxDyn(&[2]), f64::NAN); 4],
    )
    .unwrap();
    assert!(ciphertext_only_attack(&nan, &DataPrior::image(2)).is_err());
    assert!(zero_attack(&nan).is_err());
    let empty = PlanarTensor::<f32, MatrixForm>::from_planes(
        MatrixForm,
        vec![ArrayD::zeros(IxDyn(&[0])); 4],
    )
    .unwrap();
    assert!(ciphertext_only_attack(&empty, &DataPrior::image(1)).is_err());
    // Tabular data has no zeros: the zero attack says so.
    let key = SecretKey::from_seed(2);
    let data = tabular(50, 1, 0.5);
    let (_, ct) = encrypt::<f32>(
        &key,
        &data,
        &[50, TAB_FEATURES],
        shadow_for_vector(),
        false,
        1,
    );
    assert_eq!(zero_attack(&ct).unwrap_err(), AttackError::NoZeros);
    // Shape errors in run_all.
    assert!(matches!(
        run_all(
            &[0.0; 5],
            &[2, 3],
            "bad",
            &key,
            &[ShadowDistribution::default()],
            0
        ),
        Err(AttackError::Shape(_))
    ));
}

/// How often the swap score picks the right slot, over seeds, on data where it is hardest:
/// independent tabular features with moment-matched shadows (documented as a coin flip) versus
/// correlated features and image data (documented as reliable).
#[test]
fn swap_bit_success_rates() {
    let trials = 12;
    let rate = |name: &str, make: &dyn Fn(u64) -> (Vec<f64>, Vec<usize>, usize), matched: bool| {
        let mut right = 0;
        for s in 0..trials {
            let key = SecretKey::from_seed(1000 + s);
            let (data, shape, feats) = make(s);
            let shadow = if matched {
                ShadowDistribution::matched_to(&data, feats).unwrap()
            } else {
                ShadowDistribution::Gaussian { std: 0.1 }
            };
            let (x, ct) = encrypt::<f32>(&key, &data, &shape, &shadow, true, s);
            let p = if name.starts_with("image") {
                DataPrior::image(feats)
            } else {
                DataPrior::from_data(&data, feats)
            };
            let r = ciphertext_only_attack(&ct, &p).unwrap();
            // Up to the swap, the data is always recovered.
            let a = recovered(&r.plaintext, &x, tol(&x)).0;
            let b = recovered(&r.other_slot, &x, tol(&x)).0;
            assert!(a.max(b) >= 0.99, "{name}: neither slot is the data");
            right += usize::from(a >= b);
        }
        println!(
            "swap bit right: {name}, {} shadows: {right}/{trials}",
            if matched {
                "moment-matched"
            } else {
                "Gaussian"
            }
        );
        right
    };
    let img = |s: u64| (images(12, s), vec![12, SIDE, SIDE], PIXELS);
    let corr = |s: u64| (tabular(300, s, 0.7), vec![300, TAB_FEATURES], TAB_FEATURES);
    let indep = |s: u64| (tabular(300, s, 0.0), vec![300, TAB_FEATURES], TAB_FEATURES);
    assert_eq!(rate("image", &img, false), trials as usize);
    assert_eq!(rate("image", &img, true), trials as usize);
    assert_eq!(rate("tabular correlated", &corr, false), trials as usize);
    assert_eq!(rate("tabular correlated", &corr, true), trials as usize);
    assert_eq!(rate("tabular independent", &indep, false), trials as usize);
    // Independent features, matched marginals: no assertion on the rate (a coin flip by design).
    rate("tabular independent", &indep, true);
}

#[test]
fn run_all_reports_every_attack() {
    let key = SecretKey::generate().unwrap();
    for (name, data, shape, feats) in [
        (
            "synthetic digits (12 x 28x28)",
            images(12, 21),
            vec![12, SIDE, SIDE],
            PIXELS,
        ),
        (
            "synthetic vitals (300 x 6, correlated)",
            tabular(300, 22, 0.7),
            vec![300, TAB_FEATURES],
            TAB_FEATURES,
        ),
    ] {
        let data32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        let d64: Vec<f64> = data32.iter().map(|&v| v as f64).collect();
        let reports = run_all(&data32, &shape, name, &key, &shadows(&d64, feats), 7).unwrap();
        assert_eq!(reports.len(), 10);
        println!("{}", markdown_table(&reports));
        for r in &reports {
            if r.name.starts_with("zero") && name.contains("vitals") {
                assert!(!r.success, "{r:?}");
            } else {
                assert!(r.success, "{r:?}");
                assert!(r.recovered_fraction >= 0.99);
            }
            if r.name.starts_with("ciphertext-only") {
                assert!(r.notes.contains("swap bit right"), "{r:?}");
            }
        }
    }
}
