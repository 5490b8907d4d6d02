//! The data of `experiment secure`: the official MNIST split or the breast cancer table, and the
//! input quantizer the owner picks for it.

use anyhow::Context as _;

use more_secure::quantize::{self, Standardization};
use more_secure::InputQuantizer;

use super::secure::{SecureArch, SecureArgs, SecureDataChoice};
use crate::data::{
    load_breast_cancer, load_official_mnist, resolve_breast_cancer, resolve_official_mnist_dir,
    seeded_split, stratified_head, Dataset, Split, Standardizer,
};

/// Levels of an MNIST pixel (4 bits: 0..=15).
pub const PIXEL_LEVELS: i64 = 15;
/// Bits of a standardized table feature (signed: −31..=31).
pub const TABLE_INPUT_BITS: u32 = 6;
/// Fraction of the standardized training values the table quantizer leaves unclipped.
pub const TABLE_COVERAGE: f64 = 0.999;

/// Raw samples (row-major, `input_shape` each), the quantizer, and what describes them.
pub struct SecureData {
    /// Training split.
    pub train: Dataset,
    /// Test split.
    pub test: Dataset,
    /// The owner's input quantizer (reads raw values).
    pub quantizer: InputQuantizer,
    /// The standardization the float model reads after (tables), or none (pixels).
    pub standardization: Option<Standardization>,
    /// For the report.
    pub description: serde_json::Value,
}

/// Loads and splits the data set, applies `--train-limit`/`--test-limit` and picks the quantizer.
///
/// # Errors
/// Missing or malformed files; a CNN on the table.
pub fn prepare(args: &SecureArgs) -> anyhow::Result<SecureData> {
    let (split, source) = match args.data {
        SecureDataChoice::Mnist => {
            let dir = resolve_official_mnist_dir(args.data_path.as_deref());
            let split = load_official_mnist(&dir)?;
            (split, dir.display().to_string())
        }
        SecureDataChoice::Table => {
            if args.arch == SecureArch::Cnn {
                anyhow::bail!("--arch cnn needs images: use --data mnist");
            }
            let path = resolve_breast_cancer(args.data_path.as_deref());
            let ds = load_breast_cancer(&path)?;
            (
                seeded_split(&ds, 0.2, args.seed)?,
                path.display().to_string(),
            )
        }
    };
    let Split { train, test, rule } = split;
    let train = match args.train_limit {
        Some(n) => stratified_head(&train, n),
        None => train,
    };
    let test = match args.test_limit {
        Some(n) => stratified_head(&test, n),
        None => test,
    };
    let (quantizer, standardization, rule_q) = match args.data {
        SecureDataChoice::Mnist => (
            quantize::unit_interval(PIXEL_LEVELS)?,
            None,
            format!("pixel x in [0, 1] -> round(x * {PIXEL_LEVELS}), 0..={PIXEL_LEVELS} (4 bits)"),
        ),
        SecureDataChoice::Table => {
            let s = Standardizer::fit(&train.features);
            let st = Standardization {
                mean: s.mean.clone(),
                std: s.std.clone(),
            };
            let z = s.apply(&train.features);
            let q = quantize::calibrated_standardized(
                &st,
                z.as_slice().context("contiguous features")?,
                TABLE_INPUT_BITS,
                TABLE_COVERAGE,
            )?;
            let rule = format!(
                "raw feature -> round((x - mean) / (std * step)), clamped to ±{} ({TABLE_INPUT_BITS} \
                 bits signed); mean, std of the training split; step = the {:.1} % quantile of \
                 |z| over the training values / {}",
                q.max,
                TABLE_COVERAGE * 100.0,
                q.max
            );
            (q, Some(st), rule)
        }
    };
    let name = match args.data {
        SecureDataChoice::Mnist => "MNIST, official split".to_string(),
        SecureDataChoice::Table => train.name.clone(),
    };
    let description = serde_json::json!({
        "name": name,
        "source": source,
        "split": rule,
        "train_samples": train.len(),
        "test_samples": test.len(),
        "classes": train.class_names,
        "input_shape": train.feature_shape,
        "input_quantizer": rule_q,
    });
    Ok(SecureData {
        train,
        test,
        quantizer,
        standardization,
        description,
    })
}

impl SecureData {
    /// What the float model reads for a split: every raw value quantized and mapped back.
    ///
    /// # Errors
    /// A non-finite value.
    pub fn model_inputs(&self, ds: &Dataset) -> anyhow::Result<Vec<f32>> {
        let len = ds.features.ncols();
        let raw = ds.features.as_slice().context("contiguous features")?;
        Ok(quantize::fake_quantize(
            &self.quantizer,
            self.standardization.as_ref(),
            len,
            raw,
        )?)
    }
}
