//! Secure mode from Python (issue #30): the BFV secret key of `more_secret_key::secure` and the
//! node's secure prediction (`more_data_owner::secure::predict`). The key has no way out of this
//! process: no export, no pickling, no bytes of it in any request.

use more_data_owner::rest::Node;
use more_data_owner::{secure, CliError, DataError as CliDataError};
use more_secret_key::secure::{BfvSecretKey as Inner, DecryptedOutputs};
use more_secure::QuantizedModel;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{to_py, DataError, DecryptionError};

/// A model given as a dict (the JSON object) or as JSON text.
fn model_of(py: Python<'_>, model: &Bound<'_, PyAny>) -> PyResult<QuantizedModel> {
    let text: String = match model.extract::<String>() {
        Ok(s) => s,
        Err(_) => py
            .import("json")?
            .call_method1("dumps", (model,))?
            .extract()?,
    };
    serde_json::from_str(&text)
        .map_err(|e| DataError::new_err(format!("not a quantized model: {e}")))
}

/// The quantized inputs of `values`: a float32 array of `(samples, *input_shape)` (or
/// `(samples, input_len)`) quantized with the model's input quantizer, or an int64 array of
/// already quantized values taken as they are.
fn quantized_of(model: &QuantizedModel, values: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if let Ok(a) = values.downcast::<PyArrayDyn<f32>>() {
        let x: Vec<f32> = a.readonly().as_array().iter().copied().collect();
        return secure::quantize(model, &x).map_err(|e| DataError::new_err(e.to_string()));
    }
    if let Ok(a) = values.downcast::<PyArrayDyn<i64>>() {
        let q: Vec<i64> = a.readonly().as_array().iter().copied().collect();
        let n = model.input_len();
        if n == 0 || q.is_empty() || !q.len().is_multiple_of(n) {
            return Err(DataError::new_err(format!(
                "{} values are not whole samples of {n}",
                q.len()
            )));
        }
        return Ok(q);
    }
    let dtype = values
        .getattr("dtype")
        .map(|d| d.to_string())
        .unwrap_or_else(|_| values.get_type().to_string());
    Err(DataError::new_err(format!(
        "values must be a numpy.ndarray of float32 (quantized here) or int64 (quantized), not {dtype}"
    )))
}

/// Decrypted outputs of a secure prediction.
#[pyclass(module = "more_client", frozen)]
pub struct SecureOutputs {
    samples: usize,
    outputs: usize,
    values: Vec<i64>,
    noise_budget_bits: u32,
    output_scale: f64,
    class_names: Vec<String>,
}

impl SecureOutputs {
    fn new(d: DecryptedOutputs, model: &QuantizedModel) -> Self {
        SecureOutputs {
            samples: d.samples,
            outputs: d.outputs,
            values: d.values,
            noise_budget_bits: d.noise_budget_bits,
            output_scale: model.output_scale,
            class_names: model.class_names.clone(),
        }
    }

    fn argmax(&self) -> Vec<i64> {
        self.values
            .chunks(self.outputs.max(1))
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold(0, |b, (j, v)| if *v > row[b] { j } else { b }) as i64
            })
            .collect()
    }
}

#[pymethods]
impl SecureOutputs {
    /// The model's output integers, int64 of shape `(samples, outputs)`.
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self
            .values
            .clone()
            .into_pyarray(py)
            .reshape([self.samples, self.outputs])?
            .into_any())
    }

    /// The logits: the integers times the model's output scale, float64 `(samples, outputs)`.
    #[getter]
    fn logits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l: Vec<f64> = self
            .values
            .iter()
            .map(|&v| v as f64 * self.output_scale)
            .collect();
        Ok(l.into_pyarray(py)
            .reshape([self.samples, self.outputs])?
            .into_any())
    }

    /// The predicted class index of each sample (argmax; the first on ties), int64 `(samples,)`.
    #[getter]
    fn predictions<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.argmax().into_pyarray(py).into_any()
    }

    /// The predicted class names (the indices as text when the model names no classes).
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.argmax()
            .into_iter()
            .map(|b| {
                self.class_names
                    .get(b as usize)
                    .cloned()
                    .unwrap_or_else(|| b.to_string())
            })
            .collect()
    }

    /// The least noise budget left in any output ciphertext, bits (0: a decryption may be wrong).
    #[getter]
    fn noise_budget_bits(&self) -> u32 {
        self.noise_budget_bits
    }

    /// Samples.
    #[getter]
    fn samples(&self) -> usize {
        self.samples
    }

    /// Outputs per sample.
    #[getter]
    fn outputs(&self) -> usize {
        self.outputs
    }

    fn __repr__(&self) -> String {
        format!(
            "SecureOutputs(samples={}, outputs={}, noise_budget_bits={})",
            self.samples, self.outputs, self.noise_budget_bits
        )
    }
}

/// A BFV secret key of secure mode: made fresh, never saved, never sent.
#[pyclass(module = "more_client", frozen, name = "BfvSecretKey")]
pub struct BfvSecretKey(Inner);

#[pymethods]
impl BfvSecretKey {
    /// A fresh key from the operating system's random source.
    #[staticmethod]
    fn generate() -> Self {
        BfvSecretKey(Inner::generate(&mut rand::rng()))
    }

    /// The evaluation (relinearization) key to upload to the node: it lets the node multiply
    /// ciphertexts, not decrypt them.
    fn evaluation_key<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let key = &self.0;
        let b = py
            .allow_threads(|| key.evaluation_key(&mut rand::rng()))
            .map_err(|e| to_py(py, CliError::Key(e.to_string())))?;
        Ok(PyBytes::new(py, &b))
    }

    /// Encrypts one batch (at most 8192 samples) for `model` (a dict or JSON text): `values`
    /// float32 `(samples, ...)` (quantized with the model's input quantizer) or int64 already
    /// quantized. Returns the encrypted batch bytes (one ciphertext per input value).
    fn encrypt_batch<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let model = model_of(py, model)?;
        let q = quantized_of(&model, values)?;
        let samples = q.len() / model.input_len();
        let key = &self.0;
        let b = py
            .allow_threads(|| key.encrypt_batch(&model, &q, samples, &mut rand::rng()))
            .map_err(|e| to_py(py, CliError::Data(CliDataError(e.to_string()))))?;
        Ok(PyBytes::new(py, &b))
    }

    /// Decrypts the node's encrypted outputs batch for `model`.
    fn decrypt_outputs(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        data: Vec<u8>,
    ) -> PyResult<SecureOutputs> {
        let model = model_of(py, model)?;
        let key = &self.0;
        let d = py
            .allow_threads(|| key.decrypt_outputs(&model, &data))
            .map_err(|e| DecryptionError::new_err(e.to_string()))?;
        Ok(SecureOutputs::new(d, &model))
    }

    fn __repr__(&self) -> &'static str {
        "BfvSecretKey(..)"
    }
}

/// The whole secure prediction on the node behind `node`: fetch the model, a fresh key, its
/// evaluation key uploaded, encrypted batches, decrypted outputs (`more_data_owner::secure::predict`).
pub fn predict(
    py: Python<'_>,
    node: &Node,
    model_id: &str,
    values: &Bound<'_, PyAny>,
) -> PyResult<SecureOutputs> {
    let model = py
        .allow_threads(|| secure::fetch_model(node, model_id))
        .map_err(|e| to_py(py, e))?;
    let q = quantized_of(&model.model, values)?;
    let p = py
        .allow_threads(|| secure::predict(node, &model, &q, &mut |_| {}))
        .map_err(|e| to_py(py, e))?;
    Ok(SecureOutputs {
        samples: p.samples,
        outputs: p.outputs,
        values: p.values,
        noise_budget_bits: p.noise_budget_bits,
        output_scale: model.model.output_scale,
        class_names: model.model.class_names,
    })
}
