//! Input quantizers (float sample → integers) and the map from the integers back to the float
//! model's input, which the first linear layer absorbs.

use crate::{InputQuantizer, SecureError};

/// Pixels in `[0, 1]` as the integers `0..=levels`: `q = round(x · levels)` (offset 0, scale
/// `1/levels`). MNIST uses `levels = 15` (4-bit pixels).
///
/// # Errors
/// [`SecureError::Invalid`] unless `1 <= levels <= 2^20`.
pub fn unit_interval(levels: i64) -> Result<InputQuantizer, SecureError> {
    if !(1..=1 << 20).contains(&levels) {
        return Err(SecureError::Invalid(format!(
            "levels must be 1 to 2^20, got {levels}"
        )));
    }
    Ok(InputQuantizer {
        offset: vec![0.0],
        scale: vec![1.0 / levels as f32],
        min: 0,
        max: levels,
    })
}

/// A standardization the owner applied before training: the float model reads
/// `z_i = (x_i − mean_i) / std_i` of the raw sample `x` (one value per input, or one for all).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardization {
    /// Per input value (or one for all).
    pub mean: Vec<f32>,
    /// Per input value (or one for all); positive.
    pub std: Vec<f32>,
}

/// Signed `bits`-bit integers for standardized features, calibrated on training data: the step
/// is the `coverage` quantile of `|z|` over every standardized training value (`z_train`)
/// divided by `2^(bits−1) − 1`, so that fraction of the values is not clipped. The quantizer
/// reads RAW values (`offset = mean`, `scale = std · step`): the client needs no separate
/// standardization. `q = clamp(round((x − mean) / (std · step)), −qmax, qmax)`.
///
/// # Errors
/// [`SecureError::Invalid`] for bits outside 2..=20, a coverage outside (0, 1], an empty or
/// non-finite `z_train`, a standardization whose lengths differ or whose `std` is not positive.
pub fn calibrated_standardized(
    standardization: &Standardization,
    z_train: &[f32],
    bits: u32,
    coverage: f64,
) -> Result<InputQuantizer, SecureError> {
    if !((2..=20).contains(&bits) && coverage > 0.0 && coverage <= 1.0) {
        return Err(SecureError::Invalid(format!(
            "bits {bits} must be 2 to 20 and coverage {coverage} in (0, 1]"
        )));
    }
    let s = standardization;
    if s.mean.len() != s.std.len() || s.std.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(SecureError::Invalid(
            "standardization: mean and std of one length, std positive".into(),
        ));
    }
    let mut abs: Vec<f32> = z_train.iter().map(|v| v.abs()).collect();
    if abs.is_empty() || abs.iter().any(|v| !v.is_finite()) {
        return Err(SecureError::Invalid(
            "calibration values must be finite and non-empty".into(),
        ));
    }
    abs.sort_by(f32::total_cmp);
    let at = ((abs.len() as f64 * coverage).ceil() as usize).clamp(1, abs.len()) - 1;
    let qmax = (1i64 << (bits - 1)) - 1;
    let step = (abs[at].max(f32::MIN_POSITIVE)) / qmax as f32;
    Ok(InputQuantizer {
        offset: s.mean.clone(),
        scale: s.std.iter().map(|sd| sd * step).collect(),
        min: -qmax,
        max: qmax,
    })
}

/// The float model's input for a quantized value: per input value `i`,
/// `z_i = q_i · slope[i] + intercept[i]` (vectors of length 1 broadcast).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Dequantization {
    pub slope: Vec<f64>,
    pub intercept: Vec<f64>,
}

impl Dequantization {
    /// The map for a quantizer whose raw values the float model reads after `standardization`
    /// (or as they are): `x = q·scale + offset`, `z = (x − mean)/std`.
    pub fn new(
        input: &InputQuantizer,
        standardization: Option<&Standardization>,
        input_len: usize,
    ) -> Result<Self, SecureError> {
        input.check(input_len)?;
        let pick = |v: &[f32], i: usize| f64::from(if v.len() == 1 { v[0] } else { v[i] });
        let (mean, std): (&[f32], &[f32]) = match standardization {
            Some(s) => {
                for v in [&s.mean, &s.std] {
                    if v.len() != 1 && v.len() != input_len {
                        return Err(SecureError::Invalid(format!(
                            "standardization has {} values for {input_len} inputs",
                            v.len()
                        )));
                    }
                }
                if s.std.iter().any(|v| !(v.is_finite() && *v > 0.0))
                    || s.mean.iter().any(|v| !v.is_finite())
                {
                    return Err(SecureError::Invalid(
                        "standardization: finite means, positive stds".into(),
                    ));
                }
                (&s.mean, &s.std)
            }
            None => (&[0.0], &[1.0]),
        };
        let n = if [input.scale.len(), input.offset.len(), mean.len(), std.len()]
            .iter()
            .all(|&l| l == 1)
        {
            1
        } else {
            input_len
        };
        let slope = (0..n)
            .map(|i| pick(&input.scale, i) / pick(std, i))
            .collect();
        let intercept = (0..n)
            .map(|i| (pick(&input.offset, i) - pick(mean, i)) / pick(std, i))
            .collect();
        Ok(Dequantization { slope, intercept })
    }

    /// The slope and intercept when they are the same for every input value.
    pub fn uniform(&self) -> Option<(f64, f64)> {
        let same = |v: &[f64]| v.iter().all(|&x| x == v[0]);
        (same(&self.slope) && same(&self.intercept)).then(|| (self.slope[0], self.intercept[0]))
    }

    pub fn at(&self, i: usize) -> (f64, f64) {
        let pick = |v: &[f64]| if v.len() == 1 { v[0] } else { v[i] };
        (pick(&self.slope), pick(&self.intercept))
    }
}

/// What the float model sees for a sample after quantization: every value quantized with the
/// model's quantizer and mapped back (`z = q·slope + intercept`). Training the float model on
/// these values (input-quantization-aware training) makes its input exactly the integer
/// model's.
///
/// # Errors
/// [`SecureError::Invalid`] for a sample whose length is not a multiple of `input_len`, a
/// non-finite value, or a quantizer or standardization that does not fit `input_len`.
pub fn fake_quantize(
    input: &InputQuantizer,
    standardization: Option<&Standardization>,
    input_len: usize,
    samples: &[f32],
) -> Result<Vec<f32>, SecureError> {
    let map = Dequantization::new(input, standardization, input_len)?;
    if input_len == 0 || !samples.len().is_multiple_of(input_len) {
        return Err(SecureError::Invalid(format!(
            "{} values are not whole samples of {input_len}",
            samples.len()
        )));
    }
    let pick = |v: &[f32], i: usize| if v.len() == 1 { v[0] } else { v[i] };
    samples
        .iter()
        .enumerate()
        .map(|(k, &x)| {
            let i = k % input_len;
            if !x.is_finite() {
                return Err(SecureError::Invalid(format!("value {k} is not finite")));
            }
            let q = ((x - pick(&input.offset, i)) / pick(&input.scale, i))
                .round()
                .clamp(input.min as f32, input.max as f32);
            let (a, c) = map.at(i);
            Ok((q as f64 * a + c) as f32)
        })
        .collect()
}
