//! Decrypt any wire tensor of a key, refusing plaintext: the one copy the page (through the wasm
//! client), the command line and Python use.
//!
//! A tensor from the node is decoded ([`more_core::wire`]) and decrypted whatever its
//! representation (compact or matrix) and element type (f32 or f64). A *plaintext* tensor is an
//! error, never "decrypted": it was never encrypted, so passing it on as a decryption result would
//! hide that the node (or someone between) sent data no key protects. Model bundles
//! (`GET /v1/models/{id}/weights`) decrypt into a plaintext [`Model`] or into safetensors.

use more_core::nn::Model;
use more_core::tensor::{Plain, PlanarTensor};
use more_core::wire::{self, AnyTensor, DecodeLimits};
use more_secret_key::SecretKey;
use ndarray::ArrayD;

use crate::{CliError, Result};

/// The message of the refusal to decrypt a plaintext tensor.
pub const PLAINTEXT_REFUSED: &str = "the node sent a plaintext tensor where a ciphertext was \
     expected: it was never encrypted, so nothing was decrypted";

/// A decrypted tensor in its element type.
#[derive(Clone, Debug, PartialEq)]
pub enum Decrypted {
    /// From an f32 ciphertext.
    F32(ArrayD<f32>),
    /// From an f64 ciphertext.
    F64(ArrayD<f64>),
}

impl Decrypted {
    /// The values as f32 (f64 values rounded).
    pub fn into_f32(self) -> ArrayD<f32> {
        match self {
            Decrypted::F32(a) => a,
            Decrypted::F64(a) => a.mapv(|v| v as f32),
        }
    }
}

fn refused(e: impl std::fmt::Display) -> CliError {
    CliError::Decrypt(e.to_string())
}

/// Decrypts a decoded tensor of any ciphertext representation and element type.
///
/// # Errors
/// [`CliError::Decrypt`] for a plaintext tensor (it was never encrypted, so nothing is
/// decrypted: [`PLAINTEXT_REFUSED`]) or a tensor under another key's basis.
pub fn decrypt_any(key: &SecretKey, t: AnyTensor) -> Result<Decrypted> {
    Ok(match t {
        AnyTensor::PlainF32(_) | AnyTensor::PlainF64(_) => return Err(refused(PLAINTEXT_REFUSED)),
        AnyTensor::CompactF32(t) => Decrypted::F32(key.decrypt(&t).map_err(refused)?),
        AnyTensor::CompactF64(t) => Decrypted::F64(key.decrypt(&t).map_err(refused)?),
        AnyTensor::MatrixF32(t) => Decrypted::F32(key.decrypt(&t).map_err(refused)?),
        AnyTensor::MatrixF64(t) => Decrypted::F64(key.decrypt(&t).map_err(refused)?),
    })
}

/// Decodes and decrypts one wire tensor (a loss history, a prediction).
///
/// # Errors
/// [`CliError::Decrypt`] for malformed bytes and the errors of [`decrypt_any`].
pub fn decrypt_wire(key: &SecretKey, bytes: &[u8]) -> Result<Decrypted> {
    let t = wire::decode(bytes, &DecodeLimits::default())
        .map_err(|e| refused(format!("malformed tensor: {e}")))?;
    decrypt_any(key, t)
}

/// Decrypts a model bundle (`GET /v1/models/{id}/weights`) into the plaintext model of its spec
/// (the page's private prediction runs it).
///
/// # Errors
/// [`CliError::Decrypt`] for a malformed bundle, a missing `spec`, plaintext weights (an untrained
/// model: nothing encrypted to decrypt) or weights under another key.
pub fn decrypt_model_plain(key: &SecretKey, bundle: &[u8]) -> Result<Model<f32, Plain>> {
    let bundle = wire::decode_bundle(bundle, &DecodeLimits::default())
        .map_err(|e| refused(format!("malformed model bundle: {e}")))?;
    let spec = bundle
        .metadata
        .get("spec")
        .ok_or_else(|| refused("the model bundle has no \"spec\" in its metadata"))?;
    let spec = serde_json::from_value(spec.clone()).map_err(refused)?;
    let mut named = Vec::with_capacity(bundle.tensors.len());
    for (name, t) in bundle.tensors {
        named.push((name, PlanarTensor::plain(decrypt_any(key, t)?.into_f32())));
    }
    Model::<f32, Plain>::from_parameters(&spec, Plain, named).map_err(refused)
}

/// Decrypts a model bundle into a safetensors file (`layers.{i}.weight|bias`, f32, the spec in
/// the metadata), as the page's download does.
///
/// # Errors
/// Those of [`decrypt_model_plain`].
pub fn decrypt_model(key: &SecretKey, bundle: &[u8]) -> Result<Vec<u8>> {
    Ok(decrypt_model_plain(key, bundle)?.to_safetensors())
}

#[cfg(test)]
mod tests {
    use super::*;
    use more_secret_key::ShadowDistribution;
    use ndarray::{ArrayD, IxDyn};

    fn key() -> SecretKey {
        SecretKey::generate().expect("key")
    }

    #[test]
    fn every_ciphertext_kind_decrypts() {
        let k = key();
        let mut rng = SecretKey::shadow_rng().expect("rng");
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0f64, -2.0, 0.5, 3.0, 4.0, -1.5])
            .expect("shape");
        let shadow = ShadowDistribution::default();
        let compact = wire::encode(&k.encrypt_compact(&x, &shadow, &mut rng).expect("enc"));
        let matrix = wire::encode(&k.encrypt_matrix(&x, &shadow, &mut rng).expect("enc"));
        for bytes in [compact, matrix] {
            let Decrypted::F64(y) = decrypt_wire(&k, &bytes).expect("decrypt") else {
                panic!("f64 in, f64 out");
            };
            assert!(y.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-9), "{y}");
        }
        let x32 = x.mapv(|v| v as f32);
        let c = wire::encode(&k.encrypt_compact(&x32, &shadow, &mut rng).expect("enc"));
        let y = decrypt_wire(&k, &c).expect("decrypt").into_f32();
        assert!(y.iter().zip(&x32).all(|(a, b)| (a - b).abs() < 1e-4), "{y}");
    }

    #[test]
    fn plaintext_and_garbage_are_refused() {
        let k = key();
        let plain = wire::encode(&PlanarTensor::plain(ArrayD::<f32>::zeros(IxDyn(&[3]))));
        let e = decrypt_wire(&k, &plain).expect_err("plaintext must be refused");
        assert!(e.to_string().contains("plaintext tensor"), "{e}");
        assert!(matches!(e, CliError::Decrypt(_)));
        let e = decrypt_wire(&k, b"not a tensor").expect_err("garbage");
        assert!(e.to_string().contains("malformed tensor"), "{e}");
    }
}
