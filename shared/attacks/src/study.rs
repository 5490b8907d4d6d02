//! Measurements over many keys and over the objects a compute node stores.
//!
//! * [`basis_study`]: the basis-eigenvalue attack ([`crate::basis_eigenvalue`]) on one data set
//!   under many keys of one [`KeyGeneration`], per rule, next to the matrix-form ciphertext-only
//!   attack on the same ciphertexts.
//! * [`attack_stored_objects`]: every attack on each stored object of a training job (features,
//!   targets, losses, weights, optimizer state), scored against the key holder's decryption.
//!
//! Both play the victim (the key encrypts, and afterwards scores) and the attacker (ciphertexts
//! only); the attack functions never receive the key.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::basis_eigenvalue::{basis_candidates, BasisRule};
use crate::report::{compare, describe_shadow, Plaintexts};
use crate::{ciphertext_only_attack, zero_attack, AttackError, DataPrior};
use more_core::tensor::CompactCiphertext;
use more_core::Float;
use more_secret_key::{KeyGeneration, SecretKey, ShadowDistribution};
use ndarray::ArrayD;

/// One rule's outcome over many keys ([`basis_study`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BasisStudyRow {
    /// The data set's name.
    pub dataset: String,
    /// The shadow distribution, in words.
    pub shadow: String,
    /// Key generation (1: `MOREKEY1`, signed basis; 2: `MOREKEY2`, symmetric basis).
    pub generation: u8,
    /// The rule ([`BasisRule::describe`]) or `"matrix-form ciphertext-only (comparison)"`.
    pub rule: String,
    /// Keys tested.
    pub keys: usize,
    /// Keys for which the rule gave an answer (fewer than `keys` only for the positive rule).
    pub keys_defined: usize,
    /// Keys for which at least 99 % of the values were recovered.
    pub keys_success: usize,
    /// `keys_success / keys`.
    pub success_rate: f64,
    /// Mean over keys of the fraction of values recovered (an undefined rule recovers 0).
    pub mean_recovered_fraction: f64,
    /// Values per key (the data set's size).
    pub values: usize,
    /// Attacker-side wall time summed over keys, seconds.
    pub seconds: f64,
}

/// Name of the comparison row of [`basis_study`].
pub const MATRIX_FORM_COMPARISON: &str = "matrix-form ciphertext-only (comparison)";

/// Runs the basis-eigenvalue attack under `keys` keys of `generation` on `data` (flat row-major,
/// logical `shape`, first axis samples), once per shadow distribution, and returns per shadow
/// four rows: the three [`BasisRule`]s and the matrix-form ciphertext-only attack on the same
/// ciphertexts (after the public conversion `a·I + b·C0`).
///
/// Reproducible: the keys are drawn from `ChaCha20Rng::seed_from_u64(seed)`
/// ([`SecretKey::generate_with`] for generation 2,
/// [`SecretKey::generate_legacy_for_attack_demo`] for generation 1), the shadows from
/// `ChaCha20Rng::seed_from_u64(seed + 1)`; the same keys serve every shadow distribution. The
/// victim encrypts in compact f32 form. The attacker's [`DataPrior`] is
/// `DataPrior::from_data` (best case), and a value counts as recovered within
/// `max(1e-3, 1e-5·max|x|)`, as in [`crate::run_all`].
///
/// # Errors
/// [`AttackError::Shape`] when `shape` does not match `data`, [`AttackError::Victim`] when
/// encryption fails.
pub fn basis_study(
    data: &[f32],
    shape: &[usize],
    dataset: &str,
    shadows: &[ShadowDistribution],
    generation: KeyGeneration,
    keys: usize,
    seed: u64,
) -> Result<Vec<BasisStudyRow>, AttackError> {
    let p = Plaintexts::new(data, shape)?;
    let prior = DataPrior::from_data(&p.truth, p.features);
    let key_list = study_keys(generation, keys, seed);
    let mut shadow_rng = ChaCha20Rng::seed_from_u64(seed.wrapping_add(1));
    let mut out = Vec::new();
    for shadow in shadows {
        // Per row: the three basis rules, then the matrix-form comparison.
        let mut tallies = [Tally::default(); 4];
        for key in &key_list {
            let compact = key.encrypt_compact(&p.x, shadow, &mut shadow_rng)?;
            attack_one_key(&compact, &p, &prior, &mut tallies)?;
        }
        let names = BasisRule::ALL
            .map(|r| r.describe().to_string())
            .into_iter()
            .chain([MATRIX_FORM_COMPARISON.to_string()]);
        for (name, t) in names.zip(tallies) {
            out.push(BasisStudyRow {
                dataset: dataset.into(),
                shadow: describe_shadow(shadow),
                generation: generation.number(),
                rule: name,
                keys,
                keys_defined: t.defined,
                keys_success: t.success,
                success_rate: t.success as f64 / keys.max(1) as f64,
                mean_recovered_fraction: t.fractions / keys.max(1) as f64,
                values: data.len(),
                seconds: t.seconds,
            });
        }
    }
    Ok(out)
}

/// `keys` keys of `generation` from `ChaCha20Rng::seed_from_u64(seed)`.
fn study_keys(generation: KeyGeneration, keys: usize, seed: u64) -> Vec<SecretKey> {
    let mut key_rng = ChaCha20Rng::seed_from_u64(seed);
    (0..keys)
        .map(|_| match generation {
            KeyGeneration::V1SignedBasis => {
                SecretKey::generate_legacy_for_attack_demo(&mut key_rng)
            }
            KeyGeneration::V2Symmetric => SecretKey::generate_with(&mut key_rng),
        })
        .collect()
}

/// One row's outcome summed over keys.
#[derive(Clone, Copy, Default)]
struct Tally {
    /// Keys for which the rule gave an answer.
    defined: usize,
    /// Keys with at least 99 % recovered.
    success: usize,
    /// Sum of the recovered fractions.
    fractions: f64,
    /// Attacker time, seconds.
    seconds: f64,
}

impl Tally {
    /// Adds one key: `fraction` recovered (`None`: the rule gave no answer) in `secs`.
    fn add(&mut self, fraction: Option<f64>, secs: f64) {
        self.seconds += secs;
        if let Some(f) = fraction {
            self.defined += 1;
            self.success += usize::from(f >= 0.99);
            self.fractions += f;
        }
    }
}

/// The basis rules and the matrix-form ciphertext-only attack on one key's ciphertexts, added to
/// `tallies` (the rules of [`BasisRule::ALL`] in order, then the comparison).
fn attack_one_key(
    compact: &CompactCiphertext<f32>,
    p: &Plaintexts,
    prior: &DataPrior,
    tallies: &mut [Tally; 4],
) -> Result<(), AttackError> {
    let tol = p.tolerance();
    let fraction = |a: &ArrayD<f32>| compare(&flat(a), &p.truth, tol).0;
    let t = Instant::now();
    let c = basis_candidates(compact, prior)?;
    let secs = t.elapsed().as_secs_f64();
    let fracs = [fraction(&c.candidates[0]), fraction(&c.candidates[1])];
    for (tally, rule) in tallies.iter_mut().zip(BasisRule::ALL) {
        tally.add(c.choice(rule).map(|i| fracs[i]), secs);
    }
    let t = Instant::now();
    let r = ciphertext_only_attack(&compact.to_matrix_form(), prior);
    let secs = t.elapsed().as_secs_f64();
    tallies[3].add(r.ok().map(|r| fraction(&r.plaintext)), secs);
    Ok(())
}

/// The values of `a` in f64.
fn flat(a: &ArrayD<f32>) -> Vec<f64> {
    a.iter().map(|&v| v as f64).collect()
}

/// A Markdown table of [`basis_study`] rows.
pub fn basis_markdown_table(rows: &[BasisStudyRow]) -> String {
    let mut s = String::from(
        "| key generation | data | shadow | rule | keys | rule defined | keys with ≥ 99 % recovered | mean recovered | attacker time (s, all keys) |\n\
         | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} ({:.1} %) | {:.2} % | {:.2} |\n",
            r.generation,
            r.dataset,
            r.shadow,
            r.rule,
            r.keys,
            r.keys_defined,
            r.keys_success,
            100.0 * r.success_rate,
            100.0 * r.mean_recovered_fraction,
            r.seconds
        ));
    }
    s
}

/// One object a compute node stores for a job: a compact ciphertext tensor (several tensors of one
/// kind, e.g. all weights, flattened and concatenated), with `features` values per row for the
/// plausibility score (1 for a flat list).
#[derive(Clone, Debug)]
pub struct StoredObject<F> {
    /// What the object is ("features", "trained weights", ...).
    pub name: String,
    /// Its ciphertexts, as stored.
    pub ciphertext: CompactCiphertext<F>,
    /// Values per row (`DataPrior::features`).
    pub features: usize,
}

/// What each attack recovers from one stored object ([`attack_stored_objects`]). Fractions are of
/// the object's values, recovered within `tolerance` of the key holder's decryption.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectReport {
    /// The object.
    pub object: String,
    /// Number of values.
    pub values: usize,
    /// Absolute tolerance: `1e-3·max(max|x|, max|r|)` over the object's values `x` and shadows `r`.
    pub tolerance: f64,
    /// Basis attack, positive-eigenvalue rule (`None`: undefined for this key).
    pub basis_positive: Option<f64>,
    /// Basis attack, larger-eigenvalue rule.
    pub basis_larger: f64,
    /// Basis attack, plausibility rule on this object alone (`None`: the two candidates scored
    /// the same).
    pub basis_plausibility: Option<f64>,
    /// Matrix-form ciphertext-only attack (eigenvectors + swap score) on this object alone.
    pub ciphertext_only: f64,
    /// Zero detection + known plaintext on this object alone (0 when no zero is detected).
    pub zero_detection: f64,
    /// The key recovered by the ciphertext-only attack on the reference object (the features),
    /// applied to this object.
    pub key_from_reference: f64,
    /// Details.
    pub notes: String,
}

/// Attacks each stored object of one key: the basis rules, ciphertext-only and zero detection on
/// the object alone, and the ciphertext-only key of `objects[reference]` applied to it.
///
/// `key` is the victim's: it is used only to compute the truth (the key holder's decryption and
/// shadows) for scoring. The attacker's [`DataPrior`] per object is `DataPrior::from_data` of its
/// true values, with values within `1e3·ε_F·scale` of 0 taken as 0 (best case: the ranges of the
/// truth, and whether it has many zeros).
///
/// # Errors
/// [`AttackError::Shape`] for a `reference` out of range; [`AttackError::Victim`] when the key
/// cannot decrypt an object (another key's basis); the basis-eigenvalue errors.
pub fn attack_stored_objects<F: Float>(
    key: &SecretKey,
    objects: &[StoredObject<F>],
    reference: usize,
) -> Result<Vec<ObjectReport>, AttackError> {
    let flat = |a: &ArrayD<F>| a.iter().map(|v| v.as_f64()).collect::<Vec<f64>>();
    let truths: Vec<Vec<f64>> = objects
        .iter()
        .map(|o| Ok(flat(&key.decrypt(&o.ciphertext)?)))
        .collect::<Result<_, AttackError>>()?;
    let reference_obj = objects
        .get(reference)
        .ok_or_else(|| AttackError::Shape(format!("reference {reference} of {}", objects.len())))?;
    let ref_prior = DataPrior::from_data(&truths[reference], reference_obj.features);
    let ref_key = ciphertext_only_attack(&reference_obj.ciphertext.to_matrix_form(), &ref_prior)
        .ok()
        .map(|r| r.key);
    let mut out = Vec::new();
    for (o, truth) in objects.iter().zip(&truths) {
        let matrix = o.ciphertext.to_matrix_form();
        let shadow = flat(&key.decrypt_shadow(&matrix)?);
        let scale = truth
            .iter()
            .chain(&shadow)
            .fold(0f64, |m, v| m.max(v.abs()));
        let tol = 1e-3 * scale;
        let score = |got: &ArrayD<F>| compare(&flat(got), truth, tol).0;
        // The key holder's zeros carry rounding (≈ ε_F·cond(S)²·scale): snap them for the prior.
        let zero_tol = 1e3 * F::epsilon().as_f64() * scale;
        let snapped: Vec<f64> = truth
            .iter()
            .map(|&v| if v.abs() <= zero_tol { 0.0 } else { v })
            .collect();
        let zeros = snapped.iter().filter(|&&v| v == 0.0).count();
        let prior = DataPrior::from_data(&snapped, o.features);
        let c = basis_candidates(&o.ciphertext, &prior)?;
        let pick = |rule| c.choice(rule).map(|i| score(&c.candidates[i]));
        let co = ciphertext_only_attack(&matrix, &prior);
        let zero = zero_attack(&matrix);
        let basis_larger = pick(BasisRule::Larger).unwrap_or(0.0);
        out.push(ObjectReport {
            object: o.name.clone(),
            values: truth.len(),
            tolerance: tol,
            basis_positive: pick(BasisRule::Positive),
            basis_larger,
            basis_plausibility: pick(BasisRule::Plausibility),
            ciphertext_only: co.as_ref().map_or(0.0, |r| score(&r.plaintext)),
            zero_detection: zero.as_ref().map_or(0.0, |r| score(&r.plaintext)),
            key_from_reference: ref_key.map_or(0.0, |k| score(&k.decrypt_matrix(&matrix))),
            notes: format!(
                "{zeros} zeros (within {zero_tol:.0e}); basis scores {:.3} vs {:.3}; zero attack: {}; ciphertext-only: {}",
                c.scores[0].total,
                c.scores[1].total,
                match &zero {
                    Ok(r) => format!("{} flagged", r.flagged.iter().filter(|&&f| f).count()),
                    Err(e) => e.to_string(),
                },
                match &co {
                    Ok(r) => format!(
                        "scores {:.3} vs {:.3}",
                        r.scores[0].total, r.scores[1].total
                    ),
                    Err(e) => e.to_string(),
                }
            ),
        });
    }
    Ok(out)
}

/// A Markdown table of [`attack_stored_objects`] reports.
pub fn objects_markdown_table(reports: &[ObjectReport]) -> String {
    let pct = |f: f64| format!("{:.2} %", 100.0 * f);
    let mut s = String::from(
        "| stored object | values | basis: positive rule | basis: larger rule | basis: plausibility | ciphertext-only (object alone) | zero detection (object alone) | key from the features | notes |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for r in reports {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | tol {:.1e}; {} |\n",
            r.object,
            r.values,
            r.basis_positive.map_or("undefined".to_string(), pct),
            pct(r.basis_larger),
            r.basis_plausibility
                .map_or("undefined (tie)".to_string(), pct),
            pct(r.ciphertext_only),
            pct(r.zero_detection),
            pct(r.key_from_reference),
            r.tolerance,
            r.notes.replace('|', "/")
        ));
    }
    s
}
