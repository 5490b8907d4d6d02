//! Running the attacks as a victim-and-attacker experiment, and reporting the results.
//!
//! [`run_all`] plays both sides on one data set: the **victim** encrypts the data with its
//! `SecretKey` (compact form, f32, as the system ships it); the **attacker** receives only the
//! ciphertexts (converted to matrix form, which is public arithmetic); the key is used once more,
//! only to score the attacks against the true plaintexts. The attack functions never receive it.

use crate::AttackError;

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

/// The victim's plaintexts as the attack runs need them: the tensor, the values per sample, the
/// values in f64 (the truth the attacks are scored against) and their scale.
pub(crate) struct Plaintexts {
    /// `data` in its logical shape.
    pub(crate) x: ndarray::ArrayD<f32>,
    /// Values per sample (the product of the shape past the first axis; all values for rank 1).
    pub(crate) features: usize,
    /// The values, in f64.
    pub(crate) truth: Vec<f64>,
    /// `max(1, max|x|)`.
    pub(crate) scale: f64,
}

impl Plaintexts {
    /// `data` (flat row-major) in the logical `shape`, whose first axis is samples.
    ///
    /// # Errors
    /// [`AttackError::Shape`] when `shape` does not match `data`.
    pub(crate) fn new(data: &[f32], shape: &[usize]) -> Result<Self, AttackError> {
        let x =
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), data.to_vec()).map_err(|e| {
                AttackError::Shape(format!("{} values for shape {shape:?}: {e}", data.len()))
            })?;
        let features = if shape.len() >= 2 {
            shape[1..].iter().product()
        } else {
            data.len().max(1)
        };
        let truth: Vec<f64> = data.iter().map(|&v| v as f64).collect();
        let scale = truth.iter().fold(1f64, |m, v| m.max(v.abs()));
        Ok(Plaintexts {
            x,
            features,
            truth,
            scale,
        })
    }

    /// A value counts as recovered within `max(1e-3, 1e-5·max|x|)`.
    pub(crate) fn tolerance(&self) -> f64 {
        (1e-5 * self.scale).max(1e-3)
    }
}

pub use run::run_all;

mod run {
    use std::time::Instant;

    use ndarray::{Array2, ArrayD};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use rand_distr::StandardNormal;

    use super::{compare, describe_shadow, AttackError, AttackReport, Plaintexts};
    use crate::basis_eigenvalue::{basis_candidates, BasisRule};
    use crate::known_plaintext::{known_pairs, known_plaintext_attack};
    use crate::RecoveredKey;
    use crate::{ciphertext_only_attack, eigen2, extract_model, matrices, zero_attack, DataPrior};
    use more_core::tensor::{CompactCiphertext, MatrixCiphertext};
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
        let p = Plaintexts::new(data, shape)?;
        let (x, features, truth, scale) = (&p.x, p.features, &p.truth, p.scale);
        let prior = DataPrior::from_data(truth, features);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for shadow in shadows {
            let scoring = Scoring {
                dataset,
                shadow: describe_shadow(shadow),
                truth,
                scale,
                tol: p.tolerance(),
            };
            // Victim.
            let compact = key.encrypt_compact(x, shadow, &mut rng)?;
            // Public conversion: what anyone holding the compact planes and C0 can do.
            let ct = compact.to_matrix_form();
            let true_shadow = flat(&key.decrypt_shadow(&ct)?);
            let (report, found) = ciphertext_only(&scoring, &ct, &prior, &true_shadow);
            out.push(report);
            let co_right = found.as_ref().map(|f| f.right);
            out.push(basis_eigenvalues(&scoring, &compact, &prior, key, co_right));
            out.push(known_plaintext(&scoring, data, &ct));
            out.push(zero_detection(&scoring, &ct));
            let victim = Victim {
                key,
                x,
                compact: &compact,
                features,
            };
            let attacker_key = found.map(|f| f.key);
            out.push(model_extraction(&scoring, &victim, attacker_key, &mut rng)?);
        }
        Ok(out)
    }

    /// How one shadow distribution's attacks are scored: against the true plaintexts, within
    /// `tol`.
    struct Scoring<'a> {
        dataset: &'a str,
        shadow: String,
        truth: &'a [f64],
        /// `max(1, max|x|)`.
        scale: f64,
        /// `max(1e-3, 1e-5·max|x|)`.
        tol: f64,
    }

    impl Scoring<'_> {
        /// The report of attack `name`, which recovered `got` (empty: nothing) in `secs`.
        fn report(&self, name: &str, got: &[f64], secs: f64, notes: String) -> AttackReport {
            let (frac, max) = compare(got, self.truth, self.tol);
            AttackReport {
                name: name.into(),
                dataset: self.dataset.into(),
                shadow: self.shadow.clone(),
                values: self.truth.len(),
                recovered_fraction: frac,
                max_abs_error: max,
                seconds: secs,
                success: frac >= 0.99,
                notes,
            }
        }

        /// Fraction of `got` within the tolerance of the true plaintexts.
        fn fraction(&self, got: &[f64]) -> f64 {
            compare(got, self.truth, self.tol).0
        }
    }

    /// The key the ciphertext-only attack found, and whether its swap bit was right.
    struct Found {
        key: RecoveredKey,
        right: bool,
    }

    /// `f()` and its wall time in seconds.
    fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
        let t = Instant::now();
        let r = f();
        (r, t.elapsed().as_secs_f64())
    }

    const CIPHERTEXT_ONLY: &str = "ciphertext-only (eigenvectors + swap score)";

    /// Attack 1, ciphertext-only: eigenvectors of the matrix-form ciphertexts and the swap score.
    fn ciphertext_only(
        s: &Scoring,
        ct: &MatrixCiphertext<f32>,
        prior: &DataPrior,
        true_shadow: &[f64],
    ) -> (AttackReport, Option<Found>) {
        let (r, secs) = timed(|| ciphertext_only_attack(ct, prior));
        let r = match r {
            Ok(r) => r,
            Err(e) => return (s.report(CIPHERTEXT_ONLY, &[], secs, e.to_string()), None),
        };
        let got = flat(&r.plaintext);
        let other = flat(&r.other_slot);
        let other_frac = s.fraction(&other);
        let (shadow_frac, _) = compare(&other, true_shadow, 1e-3 * s.scale.max(1.0));
        let right = s.fraction(&got) >= other_frac;
        let [a, b] = r.scores;
        let (mine, theirs) = if r.key.swap { (b, a) } else { (a, b) };
        let notes = format!(
            "tol {:.0e}; swap bit {} (scores {:.3} vs {:.3}); other slot = shadows for {:.1} %; reference gap {:.2}",
            s.tol,
            if right { "right" } else { "WRONG" },
            mine.total,
            theirs.total,
            100.0 * shadow_frac,
            r.reference_rel_gap
        );
        let report = s.report(CIPHERTEXT_ONLY, &got, secs, notes);
        (report, Some(Found { key: r.key, right }))
    }

    const BASIS: &str = "basis eigenvalues + swap score (compact planes and C0 only)";

    /// Attack 1b, basis eigenvalues: the compact planes and the public basis only. `co_right`: whether
    /// the ciphertext-only attack chose the right slot (`None`: it failed).
    fn basis_eigenvalues(
        s: &Scoring,
        compact: &CompactCiphertext<f32>,
        prior: &DataPrior,
        key: &SecretKey,
        co_right: Option<bool>,
    ) -> AttackReport {
        let (r, secs) = timed(|| basis_candidates(compact, prior));
        let c = match r {
            Ok(c) => c,
            Err(e) => return s.report(BASIS, &[], secs, e.to_string()),
        };
        let fracs = [
            s.fraction(&flat(&c.candidates[0])),
            s.fraction(&flat(&c.candidates[1])),
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
        let notes = format!(
            "tol {:.0e}; key generation {}; eigenvalues of C0 {:.3}, {:.3}; positive rule {}; larger rule {}; scores {:.3} vs {:.3}; {} the matrix-form ciphertext-only attack",
            s.tol,
            key.generation().number(),
            c.eigenvalues[0],
            c.eigenvalues[1],
            verdict(BasisRule::Positive),
            verdict(BasisRule::Larger),
            c.scores[i].total,
            c.scores[1 - i].total,
            if agrees { "same slot as" } else { "other slot than" }
        );
        s.report(BASIS, &got, secs, notes)
    }

    const KNOWN_PLAINTEXT: &str = "known plaintext (k = 1)";

    /// Attack 2, known plaintext with k = 1: the first value whose ciphertext has two distinct eigenvalues.
    fn known_plaintext(s: &Scoring, data: &[f32], ct: &MatrixCiphertext<f32>) -> AttackReport {
        let mut first = None;
        let (r, secs) = timed(|| {
            let mats = matrices(ct);
            first = mats.iter().position(|&c| eigen2(c).is_ok());
            first
                .ok_or(AttackError::NotEnoughPairs { needed: 1, got: 0 })
                .and_then(|i| known_pairs(data, ct, &[i]))
                .and_then(|p| known_plaintext_attack(&p))
                .map(|k| flat(&k.decrypt_matrix(ct)))
        });
        match r {
            Ok(got) => {
                let notes = format!(
                    "tol {:.0e}; known value at flat index {}",
                    s.tol,
                    first.unwrap_or(0)
                );
                s.report(KNOWN_PLAINTEXT, &got, secs, notes)
            }
            Err(e) => s.report(KNOWN_PLAINTEXT, &[], secs, e.to_string()),
        }
    }

    const ZERO_DETECTION: &str = "zero detection (det = 0) + known plaintext";

    /// Attack 3, zero detection (`det C = 0`) and known plaintext.
    fn zero_detection(s: &Scoring, ct: &MatrixCiphertext<f32>) -> AttackReport {
        let (r, secs) = timed(|| zero_attack(ct));
        let zeros = s.truth.iter().filter(|&&v| v == 0.0).count();
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                let notes = format!("{e} ({zeros} exact zeros in the data)");
                return s.report(ZERO_DETECTION, &[], secs, notes);
            }
        };
        let flagged = |zero: bool| {
            r.flagged
                .iter()
                .zip(s.truth)
                .filter(|(f, &v)| **f && (v == 0.0) == zero)
                .count()
        };
        let (flagged_true, false_pos) = (flagged(true), flagged(false));
        let notes = format!(
            "tol {:.0e}; zeros flagged {flagged_true}/{zeros} ({:.2} %); false positives {false_pos}",
            s.tol,
            100.0 * flagged_true as f64 / zeros.max(1) as f64
        );
        s.report(ZERO_DETECTION, &flat(&r.plaintext), secs, notes)
    }

    /// The victim's side of the model-extraction attack: its key, plaintexts and ciphertexts.
    struct Victim<'a> {
        key: &'a SecretKey,
        x: &'a ArrayD<f32>,
        compact: &'a CompactCiphertext<f32>,
        features: usize,
    }

    /// Attack 4, model extraction: the victim's encrypted weights `W` (synthetic, `(features, 10)`
    /// from N(0, 0.05²)) and homomorphic logits `X·W`, decrypted with the key of attack 1.
    fn model_extraction(
        s: &Scoring,
        v: &Victim,
        attacker_key: Option<RecoveredKey>,
        rng: &mut ChaCha20Rng,
    ) -> Result<AttackReport, AttackError> {
        let features = v.features;
        let samples = s.truth.len() / features.max(1);
        let w = Array2::from_shape_fn((features, 10), |_| {
            0.05 * rng.sample::<f64, _>(StandardNormal) as f32 as f64
        })
        .mapv(|v| v as f32)
        .into_dyn();
        let w_shadow = ShadowDistribution::Gaussian { std: 0.05 };
        let enc_w = v.key.encrypt_compact(&w, &w_shadow, rng)?;
        let logits = v.compact.reshape(&[samples, features])?.matmul(&enc_w)?;
        let want: Vec<f64> = w
            .iter()
            .map(|&v| v as f64)
            .chain(plain_logits(v.x, &w, samples, features)?)
            .collect();
        let wscale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
        let (got, secs) = timed(|| {
            attacker_key.map(|k| {
                extract_model(&k, &[enc_w.to_matrix_form(), logits.to_matrix_form()])
                    .iter()
                    .flat_map(flat)
                    .collect::<Vec<f64>>()
            })
        });
        let (frac, max) = got
            .as_deref()
            .map_or((0.0, f64::INFINITY), |g| compare(g, &want, 1e-3 * wscale));
        Ok(AttackReport {
            name: "model extraction (weights + logits, key from attack 1)".into(),
            dataset: s.dataset.into(),
            shadow: s.shadow.clone(),
            values: want.len(),
            recovered_fraction: frac,
            max_abs_error: max,
            seconds: secs,
            success: frac >= 0.99,
            notes: format!(
                "synthetic ({features}, 10) weights N(0, 0.05²) and Enc(X)·Enc(W); tol {:.0e}",
                1e-3 * wscale
            ),
        })
    }

    /// The plaintext logits `X·W` in f64, `X` as `(samples, features)`.
    fn plain_logits(
        x: &ArrayD<f32>,
        w: &ArrayD<f32>,
        samples: usize,
        features: usize,
    ) -> Result<Vec<f64>, AttackError> {
        let shape_error = |e: ndarray::ShapeError| AttackError::Shape(e.to_string());
        let x = x
            .view()
            .into_shape_with_order((samples, features))
            .map_err(shape_error)?
            .mapv(|v| v as f64);
        let w = w
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(shape_error)?
            .mapv(|v| v as f64);
        Ok(x.dot(&w).into_iter().collect())
    }
}
