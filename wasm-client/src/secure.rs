//! Secure mode in the page: the JS-facing face of `more_secret_key::secure` (BFV, lattice
//! encryption; issue #30). The page's Worker makes a [`BfvSecretKey`], hands the node only the
//! evaluation key (a relinearization key: public), encrypts a batch with the published model's
//! input quantizer and decrypts the node's encrypted outputs.
//!
//! The secret key stays in wasm memory: no method returns it, it is never serialized, and it is
//! zeroized when the JS object is freed (`more_secret_key::secure::BfvSecretKey` zeroizes on drop).
//! The raw export for the browser tests' leak search exists only when built with the
//! `test-export` feature (the test package), as for the MORE key in `lib.rs`.

use js_sys::{Float64Array, Function, Uint32Array, Uint8Array};
use more_secret_key::secure::BfvSecretKey as Key;
use more_secure::QuantizedModel;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

/// A fresh ChaCha20 CSPRNG seeded with 32 bytes of `crypto.getRandomValues` (getrandom's
/// `wasm_js` backend), for key generation and encryption.
fn browser_rng() -> Result<ChaCha20Rng, JsError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut())
        .map_err(|e| JsError::new(&format!("no randomness from the browser: {e}")))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}

/// Reads a published model (`GET /v1/secure/models/{id}`'s `"model"`, as JSON text) and checks it.
fn parse_model(model_json: &str) -> Result<QuantizedModel, JsError> {
    let model: QuantizedModel = serde_json::from_str(model_json)
        .map_err(|e| JsError::new(&format!("the secure model is not readable: {e}")))?;
    model.validate()?;
    Ok(model)
}

/// A BFV secret key, made in the page from the browser's CSPRNG. It never leaves wasm memory.
#[wasm_bindgen]
pub struct BfvSecretKey(Key);

/// Decrypted outputs of one batch.
#[wasm_bindgen(getter_with_clone)]
pub struct SecureOutputs {
    /// Number of samples in the batch.
    pub samples: u32,
    /// Output values per sample (e.g. 10 logits for MNIST).
    pub outputs: u32,
    /// `samples × outputs` integers, row-major, centred modulo the plaintext modulus (exact in
    /// f64: the plaintext modulus is below 2^53). Logits ≈ value × the model's `output_scale`.
    pub values: Float64Array,
    /// The least noise budget left over the output ciphertexts, in bits (0: not decryptable).
    #[wasm_bindgen(js_name = noiseBudgetBits)]
    pub noise_budget_bits: u32,
    /// Index of the largest output of each sample (the predicted class).
    pub predictions: Uint32Array,
}

#[wasm_bindgen]
impl BfvSecretKey {
    /// A fresh key from `crypto.getRandomValues`.
    pub fn generate() -> Result<BfvSecretKey, JsError> {
        Ok(BfvSecretKey(Key::generate(&mut browser_rng()?)))
    }

    /// The evaluation key (relinearization key bytes) to upload to the node
    /// (`POST /v1/secure/evaluation-keys`). Public: it lets the node multiply ciphertexts, not
    /// decrypt them.
    #[wasm_bindgen(js_name = evaluationKey)]
    pub fn evaluation_key(&self) -> Result<Uint8Array, JsError> {
        Ok(self
            .0
            .evaluation_key(&mut browser_rng()?)?
            .as_slice()
            .into())
    }

    /// Quantizes `values` (`samples × input_len` floats, row-major, as the model's `input_shape`
    /// flattened) with the model's input quantizer and encrypts them into an encrypted batch
    /// (wire format of `more_secure::wire`: one ciphertext per input value, sample j in slot j).
    /// `progress(done, total)` is called after each ciphertext when given.
    #[wasm_bindgen(js_name = encryptBatch)]
    pub fn encrypt_batch(
        &self,
        model_json: &str,
        values: &[f32],
        samples: u32,
        progress: Option<Function>,
    ) -> Result<Uint8Array, JsError> {
        let model = parse_model(model_json)?;
        let samples = samples as usize;
        let width = model.input_len();
        if values.len() != samples * width {
            return Err(JsError::new(&format!(
                "{} values for {samples} samples of {width} inputs each",
                values.len()
            )));
        }
        let mut quantized = Zeroizing::new(Vec::with_capacity(values.len()));
        for sample in values.chunks_exact(width.max(1)) {
            quantized.extend(model.quantize_input(sample)?);
        }
        let mut report = |done: usize, total: usize| {
            if let Some(f) = &progress {
                // A throwing callback only loses a progress report.
                let _ = f.call2(
                    &JsValue::NULL,
                    &(done as u32).into(),
                    &(total as u32).into(),
                );
            }
        };
        let batch = self.0.encrypt_batch_with_progress(
            &model,
            &quantized,
            samples,
            &mut browser_rng()?,
            &mut report,
        )?;
        Ok(batch.as_slice().into())
    }

    /// Decrypts the node's encrypted outputs (`POST /v1/secure/models/{id}/predict`'s answer).
    #[wasm_bindgen(js_name = decryptOutputs)]
    pub fn decrypt_outputs(
        &self,
        model_json: &str,
        bytes: &[u8],
    ) -> Result<SecureOutputs, JsError> {
        let model = parse_model(model_json)?;
        let out = self.0.decrypt_outputs(&model, bytes)?;
        let predictions: Vec<u32> = out.argmax().into_iter().map(|k| k as u32).collect();
        let values: Vec<f64> = out.values.iter().map(|&v| v as f64).collect();
        Ok(SecureOutputs {
            samples: out.samples as u32,
            outputs: out.outputs as u32,
            values: values.as_slice().into(),
            noise_budget_bits: out.noise_budget_bits,
            predictions: predictions.as_slice().into(),
        })
    }

    /// The raw secret key (fhe's serialization) for the browser tests that search every request
    /// for it. Only in the test build (`test-export` feature).
    #[cfg(feature = "test-export")]
    pub fn export_raw_for_tests(&self) -> Uint8Array {
        self.0.export_raw_for_tests().as_slice().into()
    }
}

/// The parameter set's name (`more_secure::PARAMETER_SET`), shown in the page.
#[wasm_bindgen(js_name = bfvParameterSet)]
pub fn bfv_parameter_set() -> String {
    more_secure::PARAMETER_SET.to_string()
}

/// The most samples one encrypted batch holds (`more_secure::slots()`).
#[wasm_bindgen(js_name = bfvSlots)]
pub fn bfv_slots() -> u32 {
    more_secure::slots() as u32
}

/// The ciphertext moduli q_i of the parameter set (public), for the tests' leak search.
#[wasm_bindgen(js_name = bfvModuli)]
pub fn bfv_moduli() -> Vec<u64> {
    more_secure::bfv_parameters().moduli().to_vec()
}
