//! The exact integer reference computation.
use super::linear::Step;
use super::QuantizedModel;
use crate::SecureError;

impl QuantizedModel {
    /// Runs the model on `samples` quantized samples in plaintext, exactly: `inputs` is
    /// `samples × input_len` row-major; returns `samples × output_len` row-major. Arithmetic is
    /// in i128; errors if the model is invalid, the input length is wrong, or a value leaves the
    /// i64 range. This is the reference that decrypted secure outputs must equal.
    pub fn forward_plaintext(
        &self,
        inputs: &[i64],
        samples: usize,
    ) -> Result<Vec<i64>, SecureError> {
        let steps = self.steps()?;
        let n = self.input_len();
        if samples.checked_mul(n) != Some(inputs.len()) {
            return Err(SecureError::Invalid(format!(
                "{} input values for {samples} samples of {n}",
                inputs.len()
            )));
        }
        let mut out = Vec::with_capacity(samples * self.output_len());
        for sample in inputs.chunks(n.max(1)).take(samples) {
            let mut x: Vec<i128> = sample.iter().map(|&v| v as i128).collect();
            for step in &steps {
                x = match step {
                    Step::Linear(map) => map
                        .rows
                        .iter()
                        .zip(&map.bias)
                        .map(|(row, &b)| {
                            row.iter().fold(b as i128, |acc, &(i, w)| {
                                acc.saturating_add((w as i128).saturating_mul(x[i as usize]))
                            })
                        })
                        .collect(),
                    Step::Square => x.iter().map(|v| v.saturating_mul(*v)).collect(),
                };
            }
            for v in x {
                out.push(i64::try_from(v).map_err(|_| {
                    SecureError::Invalid("an output exceeds the 64-bit integer range".into())
                })?);
            }
        }
        Ok(out)
    }
}
