//! The BFV secret key of secure mode and what it does: the evaluation key, encryption of a
//! batch, decryption of the outputs.
use super::encrypt::Encryptor;
use super::DecryptedOutputs;
use fhe::bfv::{Ciphertext, Encoding, RelinearizationKey, SecretKey};
use fhe_traits::{FheDecoder, FheDecrypter, Serialize};
use more_secure::{bfv_parameters, plaintext_modulus, slots, wire, QuantizedModel, SecureError};
use rand::{CryptoRng, RngCore};

/// A BFV secret key (fhe.rs; coefficients from a centred binomial distribution of variance 10).
/// fhe.rs zeroizes the coefficients on drop; the type implements neither `Serialize` nor
/// `Clone`, so it cannot travel in a request.
pub struct BfvSecretKey {
    sk: SecretKey,
    /// Fast encryption under `sk` (NTT(s), zeroized on drop), prepared on first use.
    enc: std::sync::OnceLock<Encryptor>,
}

impl std::fmt::Debug for BfvSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BfvSecretKey(..)")
    }
}

fn fhe_err(e: fhe::Error) -> SecureError {
    SecureError::Fhe(e.to_string())
}

impl BfvSecretKey {
    /// Draws a fresh secret key at the secure-mode parameters.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self {
            sk: SecretKey::random(bfv_parameters(), rng),
            enc: std::sync::OnceLock::new(),
        }
    }

    /// The evaluation key to upload to the node: the relinearization key's bytes (about 0.6 MB,
    /// seeded). It lets the node relinearize products; it does not decrypt.
    pub fn evaluation_key<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
    ) -> Result<Vec<u8>, SecureError> {
        Ok(RelinearizationKey::new(&self.sk, rng)
            .map_err(fhe_err)?
            .to_bytes())
    }

    /// Encrypts `samples` quantized samples (`quantized`: `samples × input_len`, row-major,
    /// each value within the model's input range) as an encrypted batch: one seeded symmetric
    /// ciphertext per input value, slot j of ciphertext i = input value i of sample j.
    /// `samples` is 1..=8192.
    pub fn encrypt_batch<R: RngCore + CryptoRng>(
        &self,
        model: &QuantizedModel,
        quantized: &[i64],
        samples: usize,
        rng: &mut R,
    ) -> Result<Vec<u8>, SecureError> {
        self.encrypt_batch_with_progress(model, quantized, samples, rng, &mut |_, _| {})
    }

    /// [`encrypt_batch`](Self::encrypt_batch), calling `progress(done, total)` after each
    /// ciphertext (`total` = `input_len`; with the `parallel` feature, after each group of
    /// ciphertexts encrypted in parallel).
    pub fn encrypt_batch_with_progress<R: RngCore + CryptoRng>(
        &self,
        model: &QuantizedModel,
        quantized: &[i64],
        samples: usize,
        rng: &mut R,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<u8>, SecureError> {
        model.validate()?;
        let n = model.input_len();
        if samples == 0 || samples > slots() || samples.checked_mul(n) != Some(quantized.len()) {
            return Err(SecureError::Invalid(format!(
                "{} values for {samples} samples of {n} (1..={} samples per batch)",
                quantized.len(),
                slots()
            )));
        }
        let (lo, hi) = (model.input.min, model.input.max);
        if let Some(v) = quantized.iter().find(|v| !(lo..=hi).contains(*v)) {
            return Err(SecureError::Invalid(format!(
                "quantized value {v} outside the model's input range [{lo}, {hi}]"
            )));
        }
        // Fast symmetric encryption (encrypt.rs): the same seeded ciphertexts as fhe.rs's
        // `try_encrypt`, byte format included.
        let enc = match self.enc.get() {
            Some(enc) => enc,
            None => {
                let enc = Encryptor::new(&self.sk)?;
                self.enc.get_or_init(|| enc)
            }
        };
        enc.encrypt_batch(quantized, samples, n, rng, progress)
    }

    /// The raw secret key bytes (fhe.rs `SecretKey::to_bytes()`), ONLY for the browser leak
    /// search, which looks for them in every request; never compiled into a release.
    #[cfg(feature = "test-export")]
    pub fn export_raw_for_tests(&self) -> Vec<u8> {
        self.sk.to_bytes()
    }

    /// Decrypts the node's answer (an encrypted batch of `output_len` ciphertexts) into the
    /// model's output integers per sample, and reports the least noise budget left.
    pub fn decrypt_outputs(
        &self,
        model: &QuantizedModel,
        batch: &[u8],
    ) -> Result<DecryptedOutputs, SecureError> {
        let (samples, cts) = wire::read_batch(batch)?;
        let outputs = model.output_len();
        if cts.len() != outputs || outputs == 0 {
            return Err(SecureError::Invalid(format!(
                "{} output ciphertexts, the model has {outputs} outputs",
                cts.len()
            )));
        }
        let mut values = vec![0i64; samples * outputs];
        let mut budget = u32::MAX;
        for (o, ct) in cts.iter().enumerate() {
            let pt = self.sk.try_decrypt(ct).map_err(fhe_err)?;
            let slots = Vec::<i64>::try_decode(&pt, Encoding::simd()).map_err(fhe_err)?;
            for j in 0..samples {
                values[j * outputs + o] = slots[j];
            }
            budget = budget.min(self.noise_budget(ct)?);
        }
        Ok(DecryptedOutputs {
            samples,
            outputs,
            values,
            noise_budget_bits: budget,
        })
    }

    /// Bits between the ciphertext's noise and the decryption threshold Δ/2 = q/(2t).
    fn noise_budget(&self, ct: &Ciphertext) -> Result<u32, SecureError> {
        // SAFETY: `measure_noise` is marked unsafe because it runs in variable time depending on
        // the noise; it runs here on the key owner's machine, on the owner's own answer.
        let noise = unsafe { self.sk.measure_noise(ct) }.map_err(fhe_err)? as u64;
        let q_bits = ct[0].ctx().modulus().bits();
        let t_bits = 64 - u64::from(plaintext_modulus().leading_zeros());
        Ok(q_bits.saturating_sub(t_bits + 1).saturating_sub(noise) as u32)
    }
}
