//! Running the attacks as a victim-and-attacker experiment, and reporting the results.
//!
//! [`run_all`] plays both sides on one data set: the **victim** encrypts the data with its
//! `SecretKey` (compact form, f32, as the system ships it); the **attacker** receives only the
//! ciphertexts (converted to matrix form, which is public arithmetic); the key is used once more,
//! only to score the attacks against the true plaintexts. The attack functions never receive it.

/// The measured outcome of one attack on one data set under one shadow distribution.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttackReport {
    /// The attack.
    pub name: String,
    /// The data set's name.
    pub dataset: String,
    /// The shadow distribution, in words.
    pub shadow: String,
    /// Number of values attacked.
    pub values: usize,
    /// Fraction of the values recovered within the tolerance given in `notes`.
    pub recovered_fraction: f64,
    /// Largest absolute error of the recovered values.
    pub max_abs_error: f64,
    /// Wall time of the attack (attacker side only), seconds.
    pub seconds: f64,
    /// Whether at least 99 % of the values were recovered.
    pub success: bool,
    /// Details: tolerance, swap decision, zeros flagged, …
    pub notes: String,
}

/// A Markdown table of reports (one row each), for SECURITY.md and the CLI.
pub fn markdown_table(reports: &[AttackReport]) -> String {
    let mut s = String::from(
        "| attack | data | shadow | values | recovered | max abs error | time (s) | success | notes |\n\
         | --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for r in reports {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} % | {:.1e} | {:.3} | {} | {} |\n",
            r.name,
            r.dataset,
            r.shadow,
            r.values,
            100.0 * r.recovered_fraction,
            r.max_abs_error,
            r.seconds,
            if r.success { "yes" } else { "no" },
            r.notes.replace('|', "/")
        ));
    }
    s
}

/// `(fraction within tol, max abs error)` of `got` against `want`; NaN counts as a miss.
pub(crate) fn compare(got: &[f64], want: &[f64], tol: f64) -> (f64, f64) {
    if want.is_empty() || got.len() != want.len() {
        return (0.0, f64::INFINITY);
    }
    let mut ok = 0usize;
    let mut max = 0f64;
    for (g, w) in got.iter().zip(want) {
        let e = (g - w).abs();
        if e <= tol {
            ok += 1;
        }
        max = if e.is_nan() {
            f64::INFINITY
        } else {
            max.max(e)
        };
    }
    (ok as f64 / want.len() as f64, max)
}

/// A short description of a shadow distribution (moment-matched lists are summarised).
pub fn describe_shadow(s: &more_secret_key::ShadowDistribution) -> String {
    use more_secret_key::ShadowDistribution as S;
    match s {
        S::Gaussian { std } => format!("Gaussian N(0, {std}²)"),
        S::MomentMatched { mean, std } => {
            let n = mean.len().max(1) as f64;
            format!(
                "moment-matched ({} features, mean of means {:.3}, mean std {:.3})",
                mean.len(),
                mean.iter().sum::<f64>() / n,
                std.iter().sum::<f64>() / n
            )
        }
        S::Simplex => "random probability vectors (softmax of N(0, 1))".to_string(),
    }
}

pub use run::run_all;

mod run {
    use std::time::Instant;

    use ndarray::{Array2, ArrayD, IxDyn};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use rand_distr::StandardNormal;

    use super::{compare, describe_shadow, AttackReport};
    use crate::basis_eigenvalue::{basis_candidates, BasisRule};
    use crate::known_plaintext::{known_pairs, known_plaintext_attack};
    use crate::AttackError;
    use crate::{ciphertext_only_attack, eigen2, extract_model, matrices, zero_attack, DataPrior};
    use more_secret_key::{SecretKey, ShadowDistribution};

    fn flat(a: &ArrayD<f32>) -> Vec<f64> {
        a.iter().map(|&v| v as f64).collect()
    }

    /// Runs every attack on `data` (flat row-major, logical `shape`; the first axis is samples)
    /// once per shadow distribution, and returns one [`AttackReport`] per attack and shadow.
    ///
    /// The victim encrypts with `key` in compact f32 form (ChaCha20 shadows seeded by `seed`); the
    /// attacks get the ciphertexts converted to matrix form and a [`DataPrior`] built from the
    /// data (`DataPrior::from_data`: per-feature ranges and zero expectation — the attacker's
    /// side knowledge, best case). The key is used again only to check the swap bit. Attacks:
    /// ciphertext-only, basis eigenvalues (the compact planes and `C0`, plausibility rule; the
    /// notes say whether the positive and larger rules were right for this key), known plaintext (`k = 1`, the first non-scalar value), zero detection, and
    /// model extraction (a synthetic `(features, 10)` weight matrix and the homomorphic product
    /// `Enc(X)·Enc(W)` of the victim, decrypted with the ciphertext-only key). A value counts as
    /// recovered within `max(1e-3, 1e-5·max|x|)`. All values are attacked: pass a subset for large
    /// data sets (1,000 MNIST digits take well under a second per attack in release builds).
    ///
    /// # Errors
    /// [`AttackError::Shape`] when `shape` does not match `data`, [`AttackError::Victim`] when
    /// encryption fails (NaN data, a shadow distribution that does not fit the features).
    pub fn run_all(
        data: &[f32],
        shape: &[usize],
        dataset: &str,
        key: &SecretKey,
        shadows: &[ShadowDistribution],
        seed: u64,
    ) -> Result<Vec<AttackReport>, AttackError> {
        let x = ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).map_err(|e| {
            AttackError::Shape(format!("{} values for shape {shape:?}: {e}", data.len()))
        })?;
        let n = data.len();
        let features = if shape.len() >= 2 {
            shape[1..].iter().product()
        } else {
            n.max(1)
        };
        let truth: Vec<f64> = data.iter().map(|&v| v as f64).collect();
        let scale = truth.iter().fold(1f64, |m, v| m.max(v.abs()));
        let tol = (1e-5 * scale).max(1e-3);
        let prior = DataPrior::from_data(&truth, features);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for shadow in shadows {
            let shadow_name = describe_shadow(shadow);
            let report = |name: &str, got: &[f64], secs: f64, notes: String| {
                let (frac, max) = compare(got, &truth, tol);
                AttackReport {
                    name: name.into(),
                    dataset: dataset.into(),
                    shadow: shadow_name.clone(),
                    values: n,
                    recovered_fraction: frac,
                    max_abs_error: max,
                    seconds: secs,
                    success: frac >= 0.99,
                    notes,
                }
            };
            // Victim.
            let compact = key.encrypt_compact(&x, shadow, &mut rng)?;
            // Public conversion: what anyone holding the compact planes and C0 can do.
            let ct = compact.to_matrix_form();
            let true_shadow = flat(&key.decrypt_shadow(&ct)?);

            // 1. Ciphertext-only.
            let t = Instant::now();
            let r1 = ciphertext_only_attack(&ct, &prior);
            let secs = t.elapsed().as_secs_f64();
            let mut co_right = None;
            let key1 = match r1 {
                Ok(r) => {
                    let got = flat(&r.plaintext);
                    let (other_frac, _) = compare(&flat(&r.other_slot), &truth, tol);
                    let (shadow_frac, _) =
                        compare(&flat(&r.other_slot), &true_shadow, 1e-3 * scale.max(1.0));
                    let right = compare(&got, &truth, tol).0 >= other_frac;
                    co_right = Some(right);
                    let [a, b] = r.scores;
                    out.push(report(
                        "ciphertext-only (eigenvectors + swap score)",
                        &got,
                        secs,
                        format!(
                            "tol {tol:.0e}; swap bit {} (scores {:.3} vs {:.3}); other slot = shadows for {:.1} %; reference gap {:.2}",
                            if right { "right" } else { "WRONG" },
                            if r.key.swap { b.total } else { a.total },
                            if r.key.swap { a.total } else { b.total },
                            100.0 * shadow_frac,
                            r.reference_rel_gap
                        ),
                    ));
                    Some(r.key)
                }
                Err(e) => {
                    out.push(report(
                        "ciphertext-only (eigenvectors + swap score)",
                        &[],
                        secs,
                        e.to_string(),
                    ));
                    None
                }
            };

            // 1b. Basis eigenvalues: compact planes and the public basis only.
            let t = Instant::now();
            let r5 = basis_candidates(&compact, &prior);
            let secs = t.elapsed().as_secs_f64();
            match r5 {
                Ok(c) => {
                    let fracs = [
                        compare(&flat(&c.candidates[0]), &truth, tol).0,
                        compare(&flat(&c.candidates[1]), &truth, tol).0,
                    ];
                    let verdict = |rule: BasisRule| match c.choice(rule) {
                        None => "undefined",
                        Some(i) if fracs[i] >= 0.99 => "right",
                        Some(_) => "WRONG",
                    };
                    // A tie is no answer: nothing recovered.
                    let choice = c.choice(BasisRule::Plausibility);
                    let i = choice.unwrap_or(0);
                    let got = choice.map_or_else(Vec::new, |i| flat(&c.candidates[i]));
                    let agrees = co_right == Some(fracs[i] >= fracs[1 - i]);
                    out.push(report(
                        "basis eigenvalues + swap score (compact planes and C0 only)",
                        &got,
                        secs,
                        format!(
                            "tol {tol:.0e}; key generation {}; eigenvalues of C0 {:.3}, {:.3}; positive rule {}; larger rule {}; scores {:.3} vs {:.3}; {} the matrix-form ciphertext-only attack",
                            key.generation().number(),
                            c.eigenvalues[0],
                            c.eigenvalues[1],
                            verdict(BasisRule::Positive),
                            verdict(BasisRule::Larger),
                            c.scores[i].total,
                            c.scores[1 - i].total,
                            if agrees {
                                "same slot as"
                            } else {
                                "other slot than"
                            }
                        ),
                    ));
                }
                Err(e) => out.push(report(
                    "basis eigenvalues + swap score (compact planes and C0 only)",
                    &[],
                    secs,
                    e.to_string(),
                )),
            }

            // 2. Known plaintext, k = 1.
            let t = Instant::now();
            let mats = matrices(&ct);
            let first = mats.iter().position(|&c| eigen2(c).is_ok());
            let r2 = first
                .ok_or(AttackError::NotEnoughPairs { needed: 1, got: 0 })
                .and_then(|i| known_pairs(data, &ct, &[i]))
                .and_then(|p| known_plaintext_attack(&p))
                .map(|k| flat(&k.decrypt_matrix(&ct)));
            let secs = t.elapsed().as_secs_f64();
            match r2 {
                Ok(got) => out.push(report(
                    "known plaintext (k = 1)",
                    &got,
                    secs,
                    format!(
                        "tol {tol:.0e}; known value at flat index {}",
                        first.unwrap_or(0)
                    ),
                )),
                Err(e) => out.push(report("known plaintext (k = 1)", &[], secs, e.to_string())),
            }

            // 3. Zero detection + known plaintext.
            let t = Instant::now();
            let r3 = zero_attack(&ct);
            let secs = t.elapsed().as_secs_f64();
            let zeros = truth.iter().filter(|&&v| v == 0.0).count();
            match r3 {
                Ok(r) => {
                    let flagged_true = r
                        .flagged
                        .iter()
                        .zip(&truth)
                        .filter(|(f, &v)| **f && v == 0.0)
                        .count();
                    let false_pos = r
                        .flagged
                        .iter()
                        .zip(&truth)
                        .filter(|(f, &v)| **f && v != 0.0)
                        .count();
                    out.push(report(
                        "zero detection (det = 0) + known plaintext",
                        &flat(&r.plaintext),
                        secs,
                        format!(
                            "tol {tol:.0e}; zeros flagged {flagged_true}/{zeros} ({:.2} %); false positives {false_pos}",
                            100.0 * flagged_true as f64 / zeros.max(1) as f64
                        ),
                    ));
                }
                Err(e) => out.push(report(
                    "zero detection (det = 0) + known plaintext",
                    &[],
                    secs,
                    format!("{e} ({zeros} exact zeros in the data)"),
                )),
            }

            // 4. Model extraction: the victim's encrypted weights W and homomorphic logits X·W.
            let samples = n / features.max(1);
            let w = Array2::from_shape_fn((features, 10), |_| {
                0.05 * rng.sample::<f64, _>(StandardNormal) as f32 as f64
            })
            .mapv(|v| v as f32)
            .into_dyn();
            let w_shadow = ShadowDistribution::Gaussian { std: 0.05 };
            let enc_w = key.encrypt_compact(&w, &w_shadow, &mut rng)?;
            let x2 = compact.reshape(&[samples, features])?;
            let logits = x2.matmul(&enc_w)?;
            let plain_logits = x
                .view()
                .into_shape_with_order((samples, features))
                .map_err(|e| AttackError::Shape(e.to_string()))?
                .mapv(|v| v as f64)
                .dot(
                    &w.view()
                        .into_dimensionality::<ndarray::Ix2>()
                        .map_err(|e| AttackError::Shape(e.to_string()))?
                        .mapv(|v| v as f64),
                );
            let want: Vec<f64> = w
                .iter()
                .map(|&v| v as f64)
                .chain(plain_logits.iter().copied())
                .collect();
            let wscale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
            let t = Instant::now();
            let got: Option<Vec<f64>> = key1.map(|k| {
                extract_model(&k, &[enc_w.to_matrix_form(), logits.to_matrix_form()])
                    .iter()
                    .flat_map(flat)
                    .collect()
            });
            let secs = t.elapsed().as_secs_f64();
            let (frac, max) = got
                .as_deref()
                .map_or((0.0, f64::INFINITY), |g| compare(g, &want, 1e-3 * wscale));
            out.push(AttackReport {
                name: "model extraction (weights + logits, key from attack 1)".into(),
                dataset: dataset.into(),
                shadow: shadow_name.clone(),
                values: want.len(),
                recovered_fraction: frac,
                max_abs_error: max,
                seconds: secs,
                success: frac >= 0.99,
                notes: format!(
                    "synthetic ({features}, 10) weights N(0, 0.05²) and Enc(X)·Enc(W); tol {:.0e}",
                    1e-3 * wscale
                ),
            });
        }
        Ok(out)
    }
}
