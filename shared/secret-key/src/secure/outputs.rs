//! Decrypted outputs of a secure prediction.

/// The decrypted answer to one encrypted batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptedOutputs {
    /// Samples in the batch.
    pub samples: usize,
    /// Outputs per sample (the model's `output_len`).
    pub outputs: usize,
    /// `samples × outputs`, row-major: the model's output integers, centred modulo t (equal to
    /// the quantized model's plaintext integers).
    pub values: Vec<i64>,
    /// The least noise budget left over the output ciphertexts, in bits: how far the noise was
    /// from corrupting a decryption (0 means a decryption may already be wrong).
    pub noise_budget_bits: u32,
}

impl DecryptedOutputs {
    /// Index of the largest output per sample (the predicted class; the first on ties).
    pub fn argmax(&self) -> Vec<usize> {
        self.values
            .chunks(self.outputs.max(1))
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold(
                        (0, i64::MIN),
                        |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                    )
                    .0
            })
            .collect()
    }

    /// The logits: every value times the model's `output_scale`, `samples × outputs`.
    pub fn logits(&self, output_scale: f64) -> Vec<f64> {
        self.values
            .iter()
            .map(|&v| v as f64 * output_scale)
            .collect()
    }
}
