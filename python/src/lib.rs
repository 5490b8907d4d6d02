//! Python bindings of the MORE data-owner client (`more_client._native`, PyO3, abi3).
//!
//! A thin layer over the data owner's library `more-data-owner` (the key crate re-exported,
//! key files, the data rules, encryption and decrypt-any, the one REST client and its steps), so
//! Python reads, encrypts, decrypts and talks to the node exactly as the page and the command
//! line do. The GIL is released while reading, encrypting, decrypting and waiting on the network.
//! Errors are the exceptions of the `errors` module, mapped from `more_data_owner::CliError`.
#![deny(missing_docs)]

mod ciphertext;
mod data;
mod errors;
mod evaluate;
mod key;
mod model;
mod node;
mod pacs;
mod secure;

use pyo3::prelude::*;

pub(crate) use errors::{to_py, DataError, DecryptionError, MoreError};

/// The "matched" feature shadow of float32 `x` `(samples, ...)` as JSON text
/// (`more_data_owner::crypto::moment_matched`).
#[pyfunction]
fn moment_matched_shadow(x: &Bound<'_, numpy::PyArrayDyn<f32>>) -> PyResult<String> {
    use numpy::PyArrayMethods;
    let view = x.readonly();
    let view = view.as_array();
    let rows = view.shape().first().copied().unwrap_or(0);
    let values: Vec<f32> = view.iter().copied().collect();
    let width = values.len().checked_div(rows).unwrap_or(0);
    let shadow = more_data_owner::crypto::moment_matched(&values, width);
    serde_json::to_string(&shadow).map_err(|e| DataError::new_err(e.to_string()))
}

/// The compiled half of the `more_client` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<key::SecretKey>()?;
    m.add_class::<ciphertext::Ciphertext>()?;
    m.add_class::<node::NodeClient>()?;
    m.add_class::<node::JobWatch>()?;
    m.add_class::<secure::BfvSecretKey>()?;
    m.add_class::<secure::SecureOutputs>()?;
    m.add_function(wrap_pyfunction!(model::forward_plain, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_data, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate::classification_report_json, m)?)?;
    m.add_function(wrap_pyfunction!(moment_matched_shadow, m)?)?;
    m.add_function(wrap_pyfunction!(pacs::dicomweb_studies, m)?)?;
    m.add_function(wrap_pyfunction!(pacs::dicomweb_load, m)?)?;
    m.add_function(wrap_pyfunction!(pacs::fhir_bundle, m)?)?;
    m.add("PacsError", py.get_type::<pacs::PacsError>())?;
    m.add("MoreError", py.get_type::<MoreError>())?;
    m.add("KeyFileError", py.get_type::<errors::KeyFileError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("NodeUnreachable", py.get_type::<errors::NodeUnreachable>())?;
    m.add("NodeError", py.get_type::<errors::NodeError>())?;
    m.add("JobFailed", py.get_type::<errors::JobFailed>())?;
    m.add("DecryptionError", py.get_type::<DecryptionError>())?;
    Ok(())
}
