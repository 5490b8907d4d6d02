//! `forward_plain`: the engine's plaintext forward pass of a decrypted model.

use more_core::nn::{Model, ModelSpec};
use more_core::tensor::{Plain, PlanarTensor};
use ndarray::ArrayD;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;

use crate::errors::DataError;

/// Runs a decrypted model (safetensors from `decrypt_model`, its spec in the metadata) on
/// plaintext float32 `x` of shape `(batch, *input_shape)`: the engine's plaintext forward pass
/// (`Model<f32, Plain>::forward`), the reference the encrypted run reproduces.
#[pyfunction]
pub(crate) fn forward_plain(
    py: Python<'_>,
    safetensors: Vec<u8>,
    x: &Bound<'_, PyArrayDyn<f32>>,
) -> PyResult<PyObject> {
    let x = x.readonly().as_array().to_owned();
    let out = py.allow_threads(move || -> Result<ArrayD<f32>, String> {
        let (_, meta) = safetensors::SafeTensors::read_metadata(&safetensors)
            .map_err(|e| format!("not a safetensors file: {e}"))?;
        let spec = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("spec"))
            .ok_or("the safetensors file has no \"spec\" metadata")?;
        let spec: ModelSpec = serde_json::from_str(spec).map_err(|e| format!("spec: {e}"))?;
        let st = safetensors::SafeTensors::deserialize(&safetensors).map_err(|e| e.to_string())?;
        let mut named = Vec::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(format!("{name}: only F32 tensors are supported"));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let a =
                ArrayD::from_shape_vec(view.shape().to_vec(), values).map_err(|e| e.to_string())?;
            named.push((name, PlanarTensor::plain(a)));
        }
        let model =
            Model::<f32, Plain>::from_parameters(&spec, Plain, named).map_err(|e| e.to_string())?;
        let y = model
            .forward(&PlanarTensor::plain(x))
            .map_err(|e| e.to_string())?;
        Ok(y.values().to_owned())
    });
    let out = out.map_err(DataError::new_err)?;
    Ok(out.into_pyarray(py).into_any().unbind())
}
