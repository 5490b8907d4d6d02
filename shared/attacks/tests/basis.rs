//! The basis-eigenvalue attack (SECURITY.md, "The compact basis"): generation-1 keys leak every
//! value through the public basis `C0`; with generation-2 keys its eigenvalues name the message slot
//! for half of the keys, and the plausibility rule does exactly what the matrix-form ciphertext-only
//! attack does. Synthetic data only (no downloads); keys from seeded ChaCha20. Run with
//! `--nocapture` to see the measured numbers.

use more_attacks::{
    attack_stored_objects, basis_candidates, basis_eigenvalue_attack, basis_eigenvalues,
    basis_markdown_table, basis_study, decrypt_with_eigenvalue, objects_markdown_table,
    AttackError, BasisRule, BasisStudyRow, DataPrior, StoredObject,
};
use more_core::tensor::{Compact, CompactBasis, PlanarTensor};
use more_secret_key::{KeyGeneration, SecretKey, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

mod common;

use common::PIXELS;

/// The shared synthetic digits in f32, as the victim encrypts them.
fn images(n: usize, seed: u64) -> Vec<f32> {
    common::images(n, seed)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

const KEYS: usize = 200;

fn row(rows: &[BasisStudyRow], shadow: usize, rule: usize) -> &BasisStudyRow {
    // basis_study returns 4 rows per shadow: positive, larger, plausibility, matrix-form.
    &rows[shadow * 4 + rule]
}

fn study(generation: KeyGeneration, seed: u64) -> Vec<BasisStudyRow> {
    let data = images(3, 1);
    let d64: Vec<f64> = data.iter().map(|&v| v as f64).collect();
    let shadows = [
        ShadowDistribution::Gaussian { std: 0.1 },
        ShadowDistribution::matched_to(&d64, PIXELS).unwrap(),
    ];
    let rows = basis_study(
        &data,
        &[3, PIXELS],
        "synthetic digits (3 x 28x28)",
        &shadows,
        generation,
        KEYS,
        seed,
    )
    .unwrap();
    assert_eq!(rows.len(), 8);
    println!("{}", basis_markdown_table(&rows));
    rows
}

/// Generation 1: the positive (= larger) eigenvalue of the public basis is the message for every
/// key, so every value is recovered from public data alone.
#[test]
fn generation_1_basis_reveals_every_value() {
    let rows = study(KeyGeneration::V1SignedBasis, 11);
    for shadow in 0..2 {
        for rule in 0..4 {
            let r = row(&rows, shadow, rule);
            assert_eq!(r.keys_defined, KEYS, "{r:?}");
            assert_eq!(r.keys_success, KEYS, "{r:?}");
            assert!(r.mean_recovered_fraction >= 0.99, "{r:?}");
        }
    }
    // And key by key, directly.
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let data = images(1, 2);
    let x = ArrayD::from_shape_vec(IxDyn(&[1, PIXELS]), data).unwrap();
    for _ in 0..50 {
        let key = SecretKey::generate_legacy_for_attack_demo(&mut rng);
        assert_eq!(key.generation(), KeyGeneration::V1SignedBasis);
        let ct = key
            .encrypt_compact(&x, &ShadowDistribution::default(), &mut rng)
            .unwrap();
        let [l1, l2] = basis_eigenvalues(ct.basis()).unwrap();
        assert!(l1 > 0.0 && l2 < 0.0);
        let r =
            basis_eigenvalue_attack(&ct, BasisRule::Positive, &DataPrior::image(PIXELS)).unwrap();
        let got = r.plaintext.unwrap();
        let worst = got
            .iter()
            .zip(&x)
            .map(|(g, w)| (g - w).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "max error {worst:e}");
    }
}

/// Generation 2: the sign and order rules are right for about half of the keys (200 keys:
/// binomial standard deviation 3.5 %, bound 12 %); the plausibility rule is right exactly when the
/// matrix-form ciphertext-only attack is (here: always), so the basis adds nothing to one
/// matrix-form ciphertext, and takes nothing away.
#[test]
fn generation_2_basis_names_the_slot_for_half_of_the_keys() {
    let rows = study(KeyGeneration::V2Symmetric, 21);
    for shadow in 0..2 {
        let (pos, larger, plaus, matrix) = (
            row(&rows, shadow, 0),
            row(&rows, shadow, 1),
            row(&rows, shadow, 2),
            row(&rows, shadow, 3),
        );
        assert!((larger.success_rate - 0.5).abs() < 0.12, "{larger:?}");
        assert_eq!(larger.keys_defined, KEYS);
        // The positive rule is defined for mixed-sign pairs only, and right for half of them.
        assert!(
            pos.keys_defined < KEYS && pos.keys_defined > KEYS / 3,
            "{pos:?}"
        );
        let rate = pos.keys_success as f64 / pos.keys_defined as f64;
        assert!((rate - 0.5).abs() < 0.12, "{pos:?}");
        // No better and no worse than the matrix-form attack.
        assert_eq!(
            plaus.keys_success, matrix.keys_success,
            "{plaus:?} {matrix:?}"
        );
        assert_eq!(plaus.keys_success, KEYS, "{plaus:?}");
    }
    // One of the two candidates is always the data exactly.
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let data = images(1, 3);
    let x = ArrayD::from_shape_vec(IxDyn(&[1, PIXELS]), data).unwrap();
    let mut larger_right = 0;
    for _ in 0..100 {
        let key = SecretKey::generate_with(&mut rng);
        let ct = key
            .encrypt_compact(&x, &ShadowDistribution::default(), &mut rng)
            .unwrap();
        let c = basis_candidates(&ct, &DataPrior::image(PIXELS)).unwrap();
        let ok: Vec<bool> = c
            .candidates
            .iter()
            .map(|cand| cand.iter().zip(&x).all(|(g, w)| (g - w).abs() < 1e-5))
            .collect();
        assert!(ok[0] ^ ok[1]);
        larger_right += usize::from(ok[0]);
        assert!(ok[c.choice(BasisRule::Plausibility).unwrap()]);
        let lambda = c.eigenvalues[usize::from(ok[1])];
        assert_eq!(
            decrypt_with_eigenvalue(&ct, lambda),
            c.candidates[usize::from(ok[1])]
        );
    }
    assert!((30..=70).contains(&larger_right), "{larger_right}/100");
}

#[test]
fn invalid_basis_gives_errors_not_panics() {
    let planes = vec![ArrayD::<f32>::zeros(IxDyn(&[2])); 2];
    for (c0, err) in [
        ([1.0, 0.0, 0.0, 1.0], AttackError::ScalarCiphertext),
        ([0.0, 1.0, -1.0, 0.0], AttackError::ComplexEigenvalues),
        ([f64::NAN, 1.0, 0.0, 0.0], AttackError::NonFinite),
    ] {
        let ct = PlanarTensor::from_planes(
            Compact {
                basis: CompactBasis { c0 },
            },
            planes.clone(),
        )
        .unwrap();
        assert_eq!(
            basis_eigenvalue_attack(&ct, BasisRule::Larger, &DataPrior::image(2)).unwrap_err(),
            err
        );
    }
    let empty = PlanarTensor::from_planes(
        Compact {
            basis: SecretKey::from_seed(1).compact_basis(),
        },
        vec![ArrayD::<f32>::zeros(IxDyn(&[0])); 2],
    )
    .unwrap();
    let r = basis_eigenvalue_attack(&empty, BasisRule::Larger, &DataPrior::image(1)).unwrap();
    assert_eq!(r.plaintext.unwrap().len(), 0);
    // Equal scores: the plausibility rule gives no answer.
    let r = basis_eigenvalue_attack(&empty, BasisRule::Plausibility, &DataPrior::image(1)).unwrap();
    assert!(r.plaintext.is_none() && r.message_eigenvalue.is_none());
}

/// Every object of one key falls to the key recovered from the features.
#[test]
fn stored_objects_fall_to_the_key_from_the_features() {
    let key = SecretKey::from_seed(5);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let x = ArrayD::from_shape_vec(IxDyn(&[4, PIXELS]), images(4, 7)).unwrap();
    let y = ArrayD::from_shape_fn(IxDyn(&[4, 10]), |i| f32::from(i[1] == i[0] % 10));
    let w = ArrayD::from_shape_fn(IxDyn(&[64]), |i| (i[0] as f32 - 32.0) / 300.0);
    let enc = |v: &ArrayD<f32>, s: &ShadowDistribution, rng: &mut ChaCha20Rng| {
        key.encrypt_compact(v, s, rng).unwrap()
    };
    let g = ShadowDistribution::Gaussian { std: 0.1 };
    let objects = vec![
        StoredObject {
            name: "features".into(),
            ciphertext: enc(&x, &g, &mut rng),
            features: PIXELS,
        },
        StoredObject {
            name: "targets".into(),
            ciphertext: enc(&y, &ShadowDistribution::Simplex, &mut rng),
            features: 10,
        },
        StoredObject {
            name: "weights".into(),
            ciphertext: enc(&w, &g, &mut rng),
            features: 1,
        },
    ];
    let reports = attack_stored_objects(&key, &objects, 0).unwrap();
    println!("{}", objects_markdown_table(&reports));
    for r in &reports {
        assert_eq!(r.key_from_reference, 1.0, "{r:?}");
    }
    // One-hot targets are mostly zeros: zero detection alone recovers them.
    assert_eq!(reports[1].zero_detection, 1.0, "{:?}", reports[1]);
    assert!(attack_stored_objects(&key, &objects, 3).is_err());
}
