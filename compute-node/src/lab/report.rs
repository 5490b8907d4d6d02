//! The experiment report: JSON (compute-node/docs/EXPERIMENT_JSON.md), Markdown and the stdout
//! table.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use more_core::nn::{ModelSpec, TrainConfig};

/// Per-output regression metrics in the target's original units.
#[derive(Clone, Debug, Serialize)]
pub struct OutputMetrics {
    /// Column name.
    pub name: String,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean square error.
    pub rmse: f64,
    /// Mean of |error| / |true value|.
    pub relative_error: f64,
    /// Coefficient of determination on the test set.
    pub r2: f64,
}

/// Quality and timing of one run (plaintext or encrypted).
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// Test accuracy (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Test RMSE over all outputs in standardized units (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Mean R² over the outputs (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Per-output metrics (regression).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_output: Option<Vec<OutputMetrics>>,
    /// Training wall time, seconds.
    pub train_seconds: f64,
    /// Test-set inference wall time (forward passes only), seconds.
    pub inference_seconds: f64,
    /// Encryption of train and test data by the data owner (encrypted run only), seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypt_seconds: Option<f64>,
    /// Last epoch's mean training loss (decrypted for the encrypted run).
    pub final_loss: Option<f64>,
}

/// One test prediction on which the runs differ.
#[derive(Clone, Debug, Serialize)]
pub struct Differing {
    /// Test-set index.
    pub index: usize,
    /// Plaintext prediction (class, or the regression value in standardized units).
    pub plaintext: f64,
    /// Encrypted prediction, decrypted.
    pub encrypted: f64,
    /// Classification: the plaintext logit margin top1 − top2. Regression: |difference|.
    pub margin: f64,
    /// Regression: the output column with the largest difference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<usize>,
}

/// Per-epoch mean training losses.
#[derive(Clone, Debug, Serialize)]
pub struct Losses {
    /// Plaintext run.
    pub plaintext: Vec<f64>,
    /// Encrypted run, decrypted by the key holder.
    pub encrypted_decrypted: Vec<f64>,
}

/// One architecture's comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ArchitectureResult {
    /// Preset name.
    pub name: String,
    /// The layers.
    pub spec: ModelSpec,
    /// Trainable parameters.
    pub parameter_count: usize,
    /// Training samples used.
    pub train_samples: usize,
    /// The configuration used for both runs.
    pub train_config: TrainConfig,
    /// Plaintext run.
    pub plaintext: Metrics,
    /// Encrypted run.
    pub encrypted: Metrics,
    /// Fraction of test predictions equal (regression: within 1e-3 relative).
    pub agreement: f64,
    /// Encrypted / plaintext training time.
    pub time_ratio: f64,
    /// Encrypted / plaintext inference time.
    pub inference_time_ratio: f64,
    /// Wire-format bytes of the encrypted training features and targets.
    pub ciphertext_bytes: usize,
    /// Largest |plaintext weight − decrypted encrypted weight| over all parameters.
    pub max_weight_difference: f64,
    /// Number of differing predictions.
    pub differing_count: usize,
    /// How many of them have a margin < 1e-3 (near-ties).
    pub near_ties: usize,
    /// The differing predictions (at most 200 listed).
    pub differing_predictions: Vec<Differing>,
    /// Loss curves.
    pub losses: Losses,
    /// `{"plaintext": [[..]], "encrypted": [[..]]}`, rows = true class (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion_matrix: Option<serde_json::Value>,
    /// Decrypted test outputs `(plaintext, encrypted)`: logits or standardized predictions (not
    /// serialized; for plots).
    #[serde(skip)]
    pub test_outputs: (ndarray::Array2<f32>, ndarray::Array2<f32>),
}

/// A whole experiment.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentReport {
    /// `mnist`, `csv`, `idx`, `wbc`, `angio`.
    pub experiment: String,
    /// Data set description (name, sizes, split rule, classes, preprocessing).
    pub dataset: serde_json::Value,
    /// Key, shadow, representation, seed, quick flag.
    pub settings: serde_json::Value,
    /// Per architecture.
    pub architectures: Vec<ArchitectureResult>,
    /// Flattened from the first architecture.
    pub plaintext: Metrics,
    /// Flattened from the first architecture.
    pub encrypted: Metrics,
    /// Flattened from the first architecture.
    pub agreement: f64,
    /// What the seed papers publish for this experiment.
    pub study: serde_json::Value,
    /// CPU model and core count.
    pub machine: String,
    /// UTC date and time of the run (ISO 8601).
    pub date: String,
    /// Wall time of the whole command, seconds.
    pub wall_seconds: f64,
    /// Files written besides the JSON.
    pub files: Vec<String>,
}

/// What the study's papers say (Vizitiu et al. 2019 and 2020; only their abstracts were available):
/// no numbers.
pub fn study(experiment: &str) -> serde_json::Value {
    let claim = match experiment {
        "mnist" | "idx" => "P1/P3: MNIST accuracy on MORE-encrypted data equals the unencrypted accuracy (\"performance does not decrease\", \"without compromising the accuracy\"); no table retrievable",
        "wbc" => "P3: a model trained on encrypted data estimates the WBC hemodynamic model's outputs with results \"equivalent to those achieved by unencrypted models\"; no numbers retrievable",
        "angio" => "P2/P3: coronary view classification on encrypted angiograms, results \"indistinguishable\" from unencrypted, run time increases \"only marginally\"; no numbers retrievable",
        _ => "no experiment of the study on this data",
    };
    serde_json::json!({
        "accuracy": null,
        "rmse": null,
        "time_ratio": null,
        "claim": claim,
        "note": "the published tables (architectures, accuracies, times, hardware) were not retrievable: only the abstracts of Vizitiu et al. 2019 (EMBC, MeMeA) and 2020 (CMMM 3910250) were available",
    })
}

/// The CPU model and logical core count.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{cpu}, {cores} cores available, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Now, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn quality(m: &Metrics) -> String {
    match (m.accuracy, m.rmse) {
        (Some(a), _) => format!("{:.2} %", a * 100.0),
        (_, Some(r)) => format!("{r:.4}"),
        _ => "-".into(),
    }
}

/// The per-architecture table (Markdown, also printed on stdout).
pub fn table(r: &ExperimentReport) -> String {
    let metric = if r
        .architectures
        .iter()
        .any(|a| a.plaintext.accuracy.is_some())
    {
        "accuracy"
    } else {
        "RMSE (std. units)"
    };
    let mut s = format!(
        "| architecture | {metric} plaintext | {metric} encrypted | agreement | differing (near-ties) | train s plain | train s enc | ratio | infer s plain | infer s enc | ratio | ciphertext bytes | max weight diff | study |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    );
    for a in &r.architectures {
        s.push_str(&format!(
            "| {} | {} | {} | {:.4} | {} ({}) | {:.2} | {:.2} | {:.2}x | {:.3} | {:.3} | {:.2}x | {} | {:.1e} | no number published; \"no loss of accuracy\" |\n",
            a.name,
            quality(&a.plaintext),
            quality(&a.encrypted),
            a.agreement,
            a.differing_count,
            a.near_ties,
            a.plaintext.train_seconds,
            a.encrypted.train_seconds,
            a.time_ratio,
            a.plaintext.inference_seconds,
            a.encrypted.inference_seconds,
            a.inference_time_ratio,
            a.ciphertext_bytes,
            a.max_weight_difference,
        ));
    }
    s
}

/// The per-output regression table, if any.
pub fn output_table(a: &ArchitectureResult) -> Option<String> {
    let (p, e) = (
        a.plaintext.per_output.as_ref()?,
        a.encrypted.per_output.as_ref()?,
    );
    let mut s = String::from(
        "| output | MAE plain | MAE enc | rel. error plain | rel. error enc | R² plain | R² enc |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for (p, e) in p.iter().zip(e) {
        s.push_str(&format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            p.name, p.mae, e.mae, p.relative_error, e.relative_error, p.r2, e.r2
        ));
    }
    Some(s)
}

/// The full Markdown report.
pub fn markdown(r: &ExperimentReport) -> String {
    let mut s = format!(
        "# Experiment `{}`: plaintext vs MORE-encrypted training\n\n",
        r.experiment
    );
    s.push_str(&format!(
        "* Date: {}; machine: {}; wall time of the command: {:.1} s.\n",
        r.date, r.machine, r.wall_seconds
    ));
    s.push_str(&format!("* Data: `{}`\n", r.dataset));
    s.push_str(&format!("* Settings: `{}`\n", r.settings));
    s.push_str(&format!(
        "* Study: {} (published numbers: none retrievable; {}).\n\n",
        r.study["claim"].as_str().unwrap_or(""),
        r.study["note"].as_str().unwrap_or("")
    ));
    s.push_str(&table(r));
    for a in &r.architectures {
        s.push_str(&format!(
            "\n## {}\n\n* {} parameters; training: `{}`\n* Final training loss: plaintext {:?}, encrypted (decrypted) {:?}\n* Encryption of the data by the owner: {:.2} s\n",
            a.name,
            a.parameter_count,
            serde_json::to_string(&a.train_config).unwrap_or_default(),
            a.plaintext.final_loss,
            a.encrypted.final_loss,
            a.encrypted.encrypt_seconds.unwrap_or(0.0)
        ));
        if a.differing_count == 0 {
            s.push_str("* Every test prediction is identical in the two runs.\n");
        } else {
            s.push_str(&format!(
                "* {} differing predictions, {} of them near-ties (plaintext margin < 1e-3); first: {}\n",
                a.differing_count,
                a.near_ties,
                a.differing_predictions
                    .iter()
                    .take(10)
                    .map(|d| format!("#{} {}→{} (margin {:.2e})", d.index, d.plaintext, d.encrypted, d.margin))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(t) = output_table(a) {
            s.push('\n');
            s.push_str(&t);
        }
    }
    if !r.files.is_empty() {
        s.push_str(&format!("\nFiles: {}\n", r.files.join(", ")));
    }
    s
}

/// Where generated data (CSV, data card, contact sheet) go: `--data-dir`, else the directory of
/// `--json`; created if missing. `None` when neither is given.
///
/// # Errors
/// The directory cannot be created.
pub fn data_dir(explicit: Option<&Path>, json: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let dir = explicit
        .map(Path::to_path_buf)
        .or_else(|| json.and_then(|p| p.parent().map(Path::to_path_buf)));
    if let Some(d) = &dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    Ok(dir)
}

/// `path` with its extension replaced by `suffix` (e.g. `-loss.png`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}{suffix}"))
}

/// Creates the parent directory of `path`.
pub fn ensure_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Writes `text` to `path`, creating parent directories.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    ensure_parent(path)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
