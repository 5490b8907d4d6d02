//! Browser client: keys, encryption and decryption, and the data rules, as a thin `wasm-bindgen`
//! layer over `more-secret-key` (the key), `more-core` (tensors, wire format, engine) and the data
//! owner's library `more-data-owner` (data rules in `data.rs`, decrypt-any).
//!
//! Every method is a few lines that convert JS values and call those crates; the MORE math and
//! the data rules live there. Errors become JS exceptions carrying the crate error's message.
//!
//! The secret key leaves a [`SecretKey`] only through [`SecretKey::export_wrapped`] (encrypted
//! with a passphrase, format in `more_secret_key::wrap`). The raw export for the browser tests' leak
//! search exists only when built with the `test-export` feature (the test package
//! `target/web-pkg-test`, .ci/build-web-tests.sh), never in the page's release package `web/pkg`.
//!
//! Secure mode (BFV, `secure.rs`): [`BfvSecretKey`] over `more_secret_key::secure`; its secret never
//! leaves wasm memory (the same `test-export` rule holds for its raw export).
#![deny(missing_docs)]

mod data;
pub use data::{profile_table, read_idx, read_image_folder, read_table};
mod dicom;
pub use dicom::{decode_dicom, DicomFrames};
mod evaluate;
pub use evaluate::{evaluate_classification, evaluate_regression, score_images, score_table};
mod passphrase;
pub use passphrase::{passphrase_strength, PassphraseStrength};
mod tune;
pub use tune::{tune_choose, tune_early_stop, tune_plan, tune_split, tune_suggest};
mod shards;
pub use shards::shard_bundle;
mod secure;
pub use secure::{bfv_moduli, bfv_parameter_set, bfv_slots, BfvSecretKey, SecureOutputs};

use js_sys::{Array, Float32Array, Uint8Array};
use more_core::nn::Model;
use more_core::tensor::{CompactCiphertext, Plain, PlanarTensor};
use more_core::wire::{self, DecodeLimits};
use more_data_owner::decrypt;
use more_secret_key::{wrap, ShadowDistribution};
use ndarray::{ArrayD, IxDyn};
use wasm_bindgen::prelude::*;

/// Installs the panic hook once, when the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The secret key of one data owner. Never serialized in the clear, never shown.
#[wasm_bindgen]
pub struct SecretKey(more_secret_key::SecretKey);

/// A decrypted tensor: row-major values and the logical shape.
#[wasm_bindgen(getter_with_clone)]
pub struct DecryptedTensor {
    /// Row-major plaintext values.
    pub data: Float32Array,
    /// Logical shape.
    pub shape: Vec<usize>,
}

#[wasm_bindgen]
impl SecretKey {
    /// A fresh key from `crypto.getRandomValues`.
    pub fn generate() -> Result<SecretKey, JsError> {
        Ok(SecretKey(more_secret_key::SecretKey::generate()?))
    }

    /// The public fingerprint (16 hex digits) that identifies the key without revealing it.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint()
    }

    /// The key encrypted under `passphrase` (Argon2id + XChaCha20-Poly1305; see `wrap.rs`).
    pub fn export_wrapped(&self, passphrase: &str) -> Result<Uint8Array, JsError> {
        Ok(wrap::wrap(&self.0.export_bytes(), passphrase)?
            .as_slice()
            .into())
    }

    /// Reads a key file made by [`SecretKey::export_wrapped`].
    pub fn import_wrapped(bytes: &[u8], passphrase: &str) -> Result<SecretKey, JsError> {
        Ok(SecretKey(more_secret_key::SecretKey::import_bytes(
            &wrap::unwrap(bytes, passphrase)?,
        )?))
    }

    /// The raw exported key bytes, for the browser tests that search every request for the key.
    /// Only in the test build (`test-export` feature).
    #[cfg(feature = "test-export")]
    pub fn export_raw_for_tests(&self) -> Uint8Array {
        self.0.export_bytes().as_slice().into()
    }

    /// The key generation (1 or 2, see `more_secret_key::KeyGeneration`). Keys of generation 1 (made
    /// before 2026-12-01) still decrypt, but their public basis reveals every value they encrypt.
    pub fn generation(&self) -> u8 {
        self.0.generation().number()
    }

    /// The public compact basis `C0` as JSON (row-major 2x2).
    pub fn compact_basis_json(&self) -> Result<String, JsError> {
        Ok(serde_json::to_string(&self.0.compact_basis())?)
    }

    /// Encrypts `data` of logical `shape` into a compact-form f32 wire tensor. `shadow` is a
    /// `ShadowDistribution` (`{"kind":"gaussian","std":0.1}` or
    /// `{"kind":"moment_matched","mean":[..],"std":[..]}`); `undefined` means `N(0, 0.1²)`.
    pub fn encrypt(
        &self,
        data: Vec<f32>,
        shape: Vec<usize>,
        shadow: JsValue,
    ) -> Result<Uint8Array, JsError> {
        let x = ArrayD::from_shape_vec(IxDyn(&shape), data)?;
        let shadow: ShadowDistribution = if shadow.is_undefined() || shadow.is_null() {
            ShadowDistribution::default()
        } else {
            serde_wasm_bindgen::from_value(shadow)?
        };
        let c =
            self.0
                .encrypt_compact(&x, &shadow, &mut more_secret_key::SecretKey::shadow_rng()?)?;
        Ok(wire::encode(&c).as_slice().into())
    }

    /// Decrypts a wire tensor of any representation and element type
    /// (`more_data_owner::decrypt::decrypt_wire`; a plaintext tensor is refused).
    pub fn decrypt(&self, bytes: &[u8]) -> Result<DecryptedTensor, JsError> {
        let x = decrypt::decrypt_wire(&self.0, bytes)
            .map_err(js)?
            .into_f32();
        Ok(DecryptedTensor {
            shape: x.shape().to_vec(),
            data: x.iter().copied().collect::<Vec<f32>>().as_slice().into(),
        })
    }

    /// Decrypts the per-epoch losses (`GET /v1/jobs/{id}/losses`) into a flat array.
    pub fn decrypt_losses(&self, bytes: &[u8]) -> Result<Float32Array, JsError> {
        Ok(self.decrypt(bytes)?.data)
    }

    /// Decrypts a model bundle (`GET /v1/models/{id}/weights`: metadata `spec`, tensors
    /// `layers.{i}.weight|bias`) into a safetensors file.
    pub fn decrypt_model(&self, bundle: &[u8]) -> Result<Uint8Array, JsError> {
        Ok(decrypt::decrypt_model(&self.0, bundle)
            .map_err(js)?
            .as_slice()
            .into())
    }

    /// Decrypts a model bundle (as [`SecretKey::decrypt_model`]) into a [`LocalModel`] that
    /// predicts in the page: nothing is sent anywhere.
    pub fn decrypt_local_model(&self, bundle: &[u8]) -> Result<LocalModel, JsError> {
        Ok(LocalModel(
            decrypt::decrypt_model_plain(&self.0, bundle).map_err(js)?,
        ))
    }
}

/// A decrypted (plaintext) model held in the page, for private prediction: inputs and outputs
/// never leave the page.
#[wasm_bindgen]
pub struct LocalModel(Model<f32, Plain>);

#[wasm_bindgen]
impl LocalModel {
    /// Outputs (logits for classification) for `data` of shape `(n, input_shape...)`, computed
    /// by `more_core::nn::Model::forward` on plaintext, as the node computes on ciphertexts.
    pub fn forward(&self, data: Vec<f32>, shape: Vec<usize>) -> Result<DecryptedTensor, JsError> {
        let x = ArrayD::from_shape_vec(IxDyn(&shape), data)?;
        let y = self.0.forward(&PlanarTensor::plain(x))?;
        Ok(DecryptedTensor {
            shape: y.shape().to_vec(),
            data: y
                .values()
                .iter()
                .copied()
                .collect::<Vec<f32>>()
                .as_slice()
                .into(),
        })
    }

    /// Shape of one input sample.
    pub fn input_shape(&self) -> Vec<usize> {
        self.0.spec().input_shape.clone()
    }

    /// The model description (`ModelSpec`) as JSON.
    pub fn spec_json(&self) -> Result<String, JsError> {
        Ok(serde_json::to_string(self.0.spec())?)
    }
}

/// A library error as a JS exception with its message.
fn js(e: more_data_owner::CliError) -> JsError {
    JsError::new(&e.to_string())
}

/// Joins compact f32 wire tensors (from [`SecretKey::encrypt`] on consecutive row blocks) along
/// the first axis, so the Worker can encrypt in chunks and report progress.
#[wasm_bindgen]
pub fn concat_rows(parts: Array) -> Result<Uint8Array, JsError> {
    let limits = DecodeLimits::default();
    let mut tensors: Vec<CompactCiphertext<f32>> = Vec::with_capacity(parts.length() as usize);
    for part in parts.iter() {
        let bytes = part
            .dyn_into::<Uint8Array>()
            .map_err(|_| JsError::new("not a Uint8Array"))?;
        tensors.push(wire::decode_as(&bytes.to_vec(), &limits)?);
    }
    Ok(wire::encode(&PlanarTensor::concatenate(0, &tensors)?)
        .as_slice()
        .into())
}
