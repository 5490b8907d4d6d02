//! Secure mode (issue #30), the caller's side: predict with a model another tenant published,
//! on BFV-encrypted samples the node cannot read.
//!
//! [`predict`] does what the page's secure card does: it fetches the model (for its input
//! quantizer and shapes), makes a fresh [`BfvSecretKey`] that lives only in this process (never
//! written anywhere, dropped — and zeroized by fhe.rs — at the end), uploads the evaluation
//! (relinearization) key, quantizes and encrypts the samples in full batches of at most
//! [`more_secure::slots`] (slot j of ciphertext i holds input value i of sample j), sends each
//! batch to `POST /v1/secure/models/{id}/predict`, and decrypts the encrypted outputs. Nothing
//! decrypted is ever sent back to the node.

use std::time::Instant;

use more_secret_key::secure::BfvSecretKey;
use more_secure::{slots, QuantizedModel, SecureError, PARAMETER_SET};
use serde_json::Value;

use crate::rest::{id_of, Node};
use crate::{CliError, DataError, Result};

/// A secure model as the node serves it to its owner and to granted tenants.
pub struct SecureModel {
    /// Its id.
    pub id: String,
    /// The node's summary (`name`, `owner_tenant`, `grants`, `bound_bits`, ...).
    pub summary: Value,
    /// The quantized model (input quantizer, layers, output scale, class names).
    pub model: QuantizedModel,
}

/// A step of [`predict`], for progress bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The key is made and the evaluation key uploaded (`bytes` of evaluation key).
    KeyUploaded {
        /// Size of the evaluation key.
        bytes: usize,
    },
    /// Batch `batch` (0-based) of `batches` is being encrypted: `done` of its `ciphertexts`.
    Encrypting {
        /// The batch.
        batch: usize,
        /// All batches.
        batches: usize,
        /// Ciphertexts of this batch encrypted so far.
        done: usize,
        /// Ciphertexts of this batch (the model's input length).
        ciphertexts: usize,
    },
    /// `sent` of `total` bytes of the current batch are on their way to the node.
    Sending {
        /// Bytes sent.
        sent: u64,
        /// The batch's bytes.
        total: u64,
    },
    /// `done` of `total` samples are predicted and decrypted.
    Decrypted {
        /// Samples done.
        done: usize,
        /// All samples.
        total: usize,
    },
}

/// The decrypted answer of a secure prediction, over all batches.
#[derive(Clone, Debug)]
pub struct Prediction {
    /// Samples predicted.
    pub samples: usize,
    /// Outputs per sample.
    pub outputs: usize,
    /// `samples × outputs`, row-major: the model's output integers (exactly its plaintext
    /// integer forward).
    pub values: Vec<i64>,
    /// The least noise budget left in any output ciphertext, bits.
    pub noise_budget_bits: u32,
    /// Bytes of the evaluation key uploaded.
    pub evaluation_key_bytes: usize,
    /// Bytes of encrypted batches sent.
    pub upload_bytes: u64,
    /// Bytes of encrypted outputs received.
    pub download_bytes: u64,
    /// Seconds spent encrypting (here).
    pub encrypt_seconds: f64,
    /// Seconds from sending a batch to holding its answer (the node's evaluation and the
    /// transfers).
    pub node_seconds: f64,
    /// Seconds spent decrypting (here).
    pub decrypt_seconds: f64,
}

impl Prediction {
    /// The index of the largest output of each sample (the first on ties).
    pub fn argmax(&self) -> Vec<usize> {
        self.values
            .chunks(self.outputs.max(1))
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold(0, |b, (j, v)| if *v > row[b] { j } else { b })
            })
            .collect()
    }
}

fn secure_err(e: SecureError) -> CliError {
    CliError::Data(DataError(e.to_string()))
}

/// Ids go into URL paths: letters, digits, `-` and `_` only.
fn checked_id<'a>(what: &str, id: &'a str) -> Result<&'a str> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(CliError::Data(DataError(format!(
            "{what} {id:?} is not an id (letters, digits, - and _)"
        ))));
    }
    Ok(id)
}

/// Fetches a secure model (`GET /v1/secure/models/{id}`) and checks that its parameter set is
/// the one this client encrypts for.
///
/// # Errors
/// [`CliError::Rejected`] (404 when the model is not the caller's nor granted to it, or a
/// parameter set this client does not speak), [`CliError::Unreachable`].
pub fn fetch_model(node: &Node, id: &str) -> Result<SecureModel> {
    let v = node.secure_model(checked_id("model id", id)?)?;
    let invalid = |message: String| CliError::Rejected {
        status: 200,
        code: "invalid_response".into(),
        message,
    };
    let set = v["parameter_set"].as_str().unwrap_or_default();
    if set != PARAMETER_SET {
        return Err(invalid(format!(
            "secure model {id} uses the parameter set {set:?}; this client encrypts for {PARAMETER_SET:?}"
        )));
    }
    let model: QuantizedModel = serde_json::from_value(v["model"].clone()).map_err(|e| {
        invalid(format!(
            "secure model {id}: the node's model is not readable: {e}"
        ))
    })?;
    let mut summary = v;
    if let Some(o) = summary.as_object_mut() {
        o.remove("model");
    }
    Ok(SecureModel {
        id: id.to_string(),
        summary,
        model,
    })
}

/// Reads a `QuantizedModel` JSON file as it will be published (checked locally only for being
/// a readable model; the node validates and bounds it).
///
/// # Errors
/// [`CliError::Io`] for an unreadable file, [`CliError::Data`] for JSON that is not a model.
pub fn read_model_file(path: &std::path::Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| DataError(format!("{}: not JSON: {e}", path.display())))?;
    serde_json::from_value::<QuantizedModel>(v.clone())
        .map_err(|e| DataError(format!("{}: not a quantized model: {e}", path.display())))?;
    Ok(v)
}

/// Quantizes `x` (`samples × input_len` floats, C order per sample) with the model's input
/// quantizer.
///
/// # Errors
/// [`CliError::Data`] for a length that is not a multiple of the model's input length or a
/// non-finite value.
pub fn quantize(model: &QuantizedModel, x: &[f32]) -> Result<Vec<i64>> {
    let n = model.input_len();
    if n == 0 || !x.len().is_multiple_of(n) {
        return Err(CliError::Data(DataError(format!(
            "{} values are not whole samples of {n} (the model's input shape {:?})",
            x.len(),
            model.input_shape
        ))));
    }
    let mut q = Vec::with_capacity(x.len());
    for (i, sample) in x.chunks(n).enumerate() {
        let row = model
            .quantize_input(sample)
            .map_err(|e| CliError::Data(DataError(format!("sample {i}: {e}"))))?;
        q.extend(row);
    }
    Ok(q)
}

/// Batch sizes for `samples` samples: full batches of [`slots`] and the rest.
pub fn batch_sizes(samples: usize) -> Vec<usize> {
    let s = slots();
    (0..samples.div_ceil(s))
        .map(|b| s.min(samples - b * s))
        .collect()
}

/// Predicts `quantized` (`samples × input_len` integers in the model's input range) with the
/// secure model: a fresh key, its evaluation key uploaded, encrypted batches, decrypted outputs.
///
/// # Errors
/// [`CliError::Data`] for inputs the model does not take, [`CliError::Rejected`] (404 without a
/// grant), [`CliError::Unreachable`], [`CliError::Decrypt`] for an answer that does not decrypt.
pub fn predict(
    node: &Node,
    model: &SecureModel,
    quantized: &[i64],
    progress: &mut dyn FnMut(Progress),
) -> Result<Prediction> {
    let m = &model.model;
    let n = m.input_len();
    if n == 0 || quantized.is_empty() || !quantized.len().is_multiple_of(n) {
        return Err(CliError::Data(DataError(format!(
            "{} quantized values are not whole samples of {n}",
            quantized.len()
        ))));
    }
    let samples = quantized.len() / n;
    let mut rng = rand::rng();
    let key = BfvSecretKey::generate(&mut rng);
    let eval_key = key
        .evaluation_key(&mut rng)
        .map_err(|e| CliError::Key(e.to_string()))?;
    let key_id = id_of(&node.upload_evaluation_key(&eval_key)?)?;
    let key_id = checked_id("evaluation key id", &key_id)?.to_string();
    progress(Progress::KeyUploaded {
        bytes: eval_key.len(),
    });
    let sizes = batch_sizes(samples);
    let mut out = Prediction {
        samples,
        outputs: m.output_len(),
        values: Vec::with_capacity(samples * m.output_len()),
        noise_budget_bits: u32::MAX,
        evaluation_key_bytes: eval_key.len(),
        upload_bytes: 0,
        download_bytes: 0,
        encrypt_seconds: 0.0,
        node_seconds: 0.0,
        decrypt_seconds: 0.0,
    };
    let mut start = 0;
    for (b, &size) in sizes.iter().enumerate() {
        let t = Instant::now();
        let batch = key
            .encrypt_batch_with_progress(
                m,
                &quantized[start * n..(start + size) * n],
                size,
                &mut rng,
                &mut |done, ciphertexts| {
                    progress(Progress::Encrypting {
                        batch: b,
                        batches: sizes.len(),
                        done,
                        ciphertexts,
                    })
                },
            )
            .map_err(secure_err)?;
        out.encrypt_seconds += t.elapsed().as_secs_f64();
        let total = batch.len() as u64;
        let t = Instant::now();
        let answer = node.secure_predict(&model.id, &key_id, &batch, &mut |sent| {
            progress(Progress::Sending { sent, total })
        })?;
        out.node_seconds += t.elapsed().as_secs_f64();
        out.upload_bytes += total;
        out.download_bytes += answer.len() as u64;
        drop(batch);
        let t = Instant::now();
        let d = key
            .decrypt_outputs(m, &answer)
            .map_err(|e| CliError::Decrypt(e.to_string()))?;
        out.decrypt_seconds += t.elapsed().as_secs_f64();
        if d.samples != size || d.outputs != out.outputs {
            return Err(CliError::Decrypt(format!(
                "the node answered {} samples x {} outputs for a batch of {size} x {}",
                d.samples, d.outputs, out.outputs
            )));
        }
        out.noise_budget_bits = out.noise_budget_bits.min(d.noise_budget_bits);
        out.values.extend_from_slice(&d.values);
        start += size;
        progress(Progress::Decrypted {
            done: start,
            total: samples,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_full_but_the_last() {
        let s = slots();
        assert_eq!(batch_sizes(1), vec![1]);
        assert_eq!(batch_sizes(s), vec![s]);
        assert_eq!(batch_sizes(10_000), vec![s, 10_000 - s]);
        assert_eq!(batch_sizes(2 * s + 1), vec![s, s, 1]);
    }

    #[test]
    fn ids_cannot_change_the_path() {
        assert!(checked_id("id", "0123abcdef").is_ok());
        for bad in ["", "../models", "a/b", "a?evaluation_key=x", "a b"] {
            assert!(checked_id("id", bad).is_err(), "{bad}");
        }
    }
}
