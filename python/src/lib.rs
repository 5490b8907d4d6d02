//! Python bindings of the MORE data-owner client (`more_client._native`, PyO3, abi3).
//!
//! A thin layer over `more-secret-key` (the key), `more-core` (tensors, wire format, engine) and
//! `more-cli` (the page's key files, encryption and REST calls), so Python encrypts, decrypts and
//! talks to the node exactly as the page and the command line do. The GIL is released while
//! encrypting, decrypting and waiting on the network. Errors are the exceptions below, mapped
//! from `more_data_owner::CliError`.
#![deny(missing_docs)]

mod secure;

use more_data_owner::crypto::{self, Decrypted};
use more_data_owner::node::Node;
use more_data_owner::{keyfile, CliError};
use more_secret_key::{wrap, SecretKey, ShadowDistribution};
use more_core::nn::{Model, ModelSpec};
use more_core::tensor::{Plain, PlanarTensor, RepresentationKind};
use more_core::wire::{self, decode_header};
use more_core::Dtype;
use ndarray::ArrayD;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

create_exception!(
    more_client,
    MoreError,
    PyException,
    "Base class of every error of more_client."
);
create_exception!(
    more_client,
    KeyFileError,
    MoreError,
    "Wrong passphrase, damaged or foreign key file, or a key file that already exists."
);
create_exception!(
    more_client,
    DataError,
    MoreError,
    "The data cannot be encrypted or read (shape, dtype, shadow, file format)."
);
create_exception!(
    more_client,
    NodeUnreachable,
    MoreError,
    "The compute node could not be reached."
);
create_exception!(more_client, NodeError, MoreError, "The compute node refused a request; `status` (HTTP) and `code` (API error code) are attributes.");
create_exception!(
    more_client,
    JobFailed,
    MoreError,
    "A training job ended failed, cancelled or interrupted."
);
create_exception!(more_client, DecryptionError, MoreError, "A tensor could not be decrypted: plaintext where a ciphertext belongs, another key's data, or malformed bytes.");

/// Maps the client library's error to the Python exception of the same meaning.
fn to_py(py: Python<'_>, e: CliError) -> PyErr {
    let msg = e.to_string();
    match e {
        CliError::Io(_) => pyo3::exceptions::PyOSError::new_err(msg),
        CliError::Data(_) => DataError::new_err(msg),
        CliError::Key(_) => KeyFileError::new_err(msg),
        CliError::Unreachable(_) => NodeUnreachable::new_err(msg),
        CliError::Rejected { status, code, .. } => {
            let err = NodeError::new_err(msg);
            let v = err.value(py);
            let _ = v.setattr("status", status);
            let _ = v.setattr("code", code);
            err
        }
        CliError::Job(_) => JobFailed::new_err(msg),
        CliError::Decrypt(_) => DecryptionError::new_err(msg),
    }
}

/// A secret key. Never printed, never pickled; saved only wrapped under a passphrase.
#[pyclass(module = "more_client", frozen)]
struct Key(SecretKey);

/// A tensor in the binary wire format (`shared/WIRE_FORMAT.md`): the bytes the node takes.
#[pyclass(module = "more_client", frozen)]
struct Ciphertext {
    bytes: Vec<u8>,
    shape: Vec<usize>,
    dtype: &'static str,
    representation: &'static str,
}

impl Ciphertext {
    fn from_vec(bytes: Vec<u8>) -> PyResult<Self> {
        let h = decode_header(&bytes)
            .map_err(|e| DecryptionError::new_err(format!("not a wire tensor: {e}")))?;
        Ok(Ciphertext {
            shape: h.shape.clone(),
            dtype: match h.dtype {
                Dtype::F32 => "float32",
                Dtype::F64 => "float64",
            },
            representation: match h.kind {
                RepresentationKind::Plain => "plain",
                RepresentationKind::Compact => "compact",
                RepresentationKind::Matrix => "matrix",
            },
            bytes,
        })
    }
}

#[pymethods]
impl Ciphertext {
    /// Wraps wire-format bytes (checks the header).
    #[staticmethod]
    fn from_bytes(data: Vec<u8>) -> PyResult<Self> {
        Self::from_vec(data)
    }

    /// The wire-format bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    /// Logical shape of the plaintext.
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.shape.clone()
    }

    /// `"float32"` or `"float64"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype
    }

    /// `"compact"`, `"matrix"` or `"plain"`.
    #[getter]
    fn representation(&self) -> &'static str {
        self.representation
    }

    /// Size in bytes.
    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Ciphertext(shape={:?}, dtype={}, representation={}, {} bytes)",
            self.shape,
            self.dtype,
            self.representation,
            self.bytes.len()
        )
    }
}

/// The shadow distribution from `None` (N(0, 0.1²)), a name (`"gaussian"`, `"simplex"`) or a
/// dict as the page passes it (`{"kind": "moment_matched", "mean": [...], "std": [...]}`).
fn shadow_of(py: Python<'_>, shadow: Option<&Bound<'_, PyAny>>) -> PyResult<ShadowDistribution> {
    let Some(s) = shadow.filter(|s| !s.is_none()) else {
        return Ok(ShadowDistribution::default());
    };
    if let Ok(name) = s.extract::<String>() {
        return match name.as_str() {
            "gaussian" => Ok(ShadowDistribution::default()),
            "simplex" => Ok(ShadowDistribution::Simplex),
            other => Err(DataError::new_err(format!(
                "unknown shadow {other:?}: use \"gaussian\", \"simplex\" or a dict"
            ))),
        };
    }
    let text: String = py.import("json")?.call_method1("dumps", (s,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| DataError::new_err(format!("shadow: {e}")))
}

fn encrypt_typed<F: more_core::Float>(
    key: &SecretKey,
    x: ArrayD<F>,
    matrix: bool,
    shadow: &ShadowDistribution,
) -> Result<Vec<u8>, CliError> {
    if matrix {
        let mut rng = SecretKey::shadow_rng().map_err(|e| CliError::Key(e.to_string()))?;
        let c = key
            .encrypt_matrix(&x, shadow, &mut rng)
            .map_err(|e| CliError::Data(more_data_owner::DataError(e.to_string())))?;
        Ok(wire::encode(&c))
    } else {
        let shape = x.shape().to_vec();
        // `x` is a fresh standard-layout copy of the NumPy array: its buffer is the row-major data.
        match x.as_slice() {
            Some(values) => crypto::encrypt_rows(key, values, &shape, shadow, |_, _| {}),
            None => {
                let values: Vec<F> = x.iter().copied().collect();
                crypto::encrypt_rows(key, &values, &shape, shadow, |_, _| {})
            }
        }
    }
}

fn decrypted_to_py(py: Python<'_>, d: Decrypted) -> PyObject {
    match d {
        Decrypted::F32(a) => a.into_pyarray(py).into_any().unbind(),
        Decrypted::F64(a) => a.into_pyarray(py).into_any().unbind(),
    }
}

fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(c) = obj.downcast::<Ciphertext>() {
        return Ok(c.get().bytes.clone());
    }
    obj.extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("expected a Ciphertext or bytes in the wire format"))
}

#[pymethods]
impl Key {
    /// A fresh key from the operating system's random source.
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<Self> {
        SecretKey::generate()
            .map(Key)
            .map_err(|e| to_py(py, CliError::Key(e.to_string())))
    }

    /// Reads a key file (`.morekey`) made by the page, the command line or `Key.save`.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf, passphrase: &str) -> PyResult<Self> {
        let pass = passphrase.to_string();
        py.allow_threads(move || keyfile::load(&path, &pass))
            .map(Key)
            .map_err(|e| to_py(py, e))
    }

    /// Reads key-file bytes (the page's format).
    #[staticmethod]
    fn from_wrapped(py: Python<'_>, data: Vec<u8>, passphrase: &str) -> PyResult<Self> {
        let raw =
            wrap::unwrap(&data, passphrase).map_err(|e| to_py(py, CliError::Key(e.to_string())))?;
        SecretKey::import_bytes(&raw)
            .map(Key)
            .map_err(|e| to_py(py, CliError::Key(e.to_string())))
    }

    /// Writes the key wrapped under `passphrase` (Argon2id + XChaCha20-Poly1305, the page's
    /// key-file format, mode 0600); an existing file only with `overwrite=True`.
    #[pyo3(signature = (path, passphrase, overwrite = false))]
    fn save(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        passphrase: &str,
        overwrite: bool,
    ) -> PyResult<()> {
        keyfile::save(&self.0, &path, passphrase, overwrite).map_err(|e| to_py(py, e))
    }

    /// The key-file bytes wrapped under `passphrase`.
    fn wrap<'py>(&self, py: Python<'py>, passphrase: &str) -> PyResult<Bound<'py, PyBytes>> {
        let b = keyfile::wrap_key(&self.0, passphrase).map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &b))
    }

    /// The public fingerprint (16 hex digits), the same the page shows.
    #[getter]
    fn fingerprint(&self) -> String {
        self.0.fingerprint()
    }

    /// The key generation (2 for keys made now).
    #[getter]
    fn generation(&self) -> u8 {
        self.0.generation().number()
    }

    /// Encrypts a float32 or float64 array of any shape (0-d included).
    #[pyo3(signature = (array, representation = "compact", shadow = None))]
    fn encrypt(
        &self,
        py: Python<'_>,
        array: &Bound<'_, PyAny>,
        representation: &str,
        shadow: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Ciphertext> {
        let matrix = match representation {
            "compact" => false,
            "matrix" => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "representation must be \"compact\" or \"matrix\", not {other:?}"
                )))
            }
        };
        let shadow = shadow_of(py, shadow)?;
        let key = &self.0;
        // NumPy scalars (0-d values such as `np.float32(1.5)`) become 0-d arrays.
        let converted;
        let array =
            if array.downcast::<numpy::PyUntypedArray>().is_err() && array.hasattr("dtype")? {
                converted = py.import("numpy")?.call_method1("asarray", (array,))?;
                &converted
            } else {
                array
            };
        let bytes = if let Ok(a) = array.downcast::<PyArrayDyn<f32>>() {
            let x = a.readonly().as_array().to_owned();
            py.allow_threads(|| encrypt_typed(key, x, matrix, &shadow))
        } else if let Ok(a) = array.downcast::<PyArrayDyn<f64>>() {
            let x = a.readonly().as_array().to_owned();
            py.allow_threads(|| encrypt_typed(key, x, matrix, &shadow))
        } else {
            let dtype = array
                .getattr("dtype")
                .map(|d| d.to_string())
                .unwrap_or_else(|_| array.get_type().to_string());
            return Err(DataError::new_err(format!(
                "encrypt takes a numpy.ndarray of float32 or float64, not {dtype}"
            )));
        }
        .map_err(|e| to_py(py, e))?;
        Ciphertext::from_vec(bytes)
    }

    /// Decrypts a `Ciphertext` (or wire bytes) into an array of its shape and dtype.
    fn decrypt(&self, py: Python<'_>, ciphertext: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let bytes = bytes_of(ciphertext)?;
        let key = &self.0;
        let d = py
            .allow_threads(|| crypto::decrypt_wire(key, &bytes))
            .map_err(|e| to_py(py, e))?;
        Ok(decrypted_to_py(py, d))
    }

    /// Decrypts a model bundle (`GET /v1/models/{id}/weights`) into safetensors bytes.
    fn decrypt_model<'py>(
        &self,
        py: Python<'py>,
        bundle: Vec<u8>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let key = &self.0;
        let st = py
            .allow_threads(|| crypto::decrypt_model(key, &bundle))
            .map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &st))
    }

    fn __repr__(&self) -> String {
        format!("Key(fingerprint={:?})", self.0.fingerprint())
    }
}

/// Runs a decrypted model (safetensors from `decrypt_model`, its spec in the metadata) on
/// plaintext float32 `x` of shape `(batch, *input_shape)`: the engine's plaintext forward pass
/// (`Model<f32, Plain>::forward`), the reference the encrypted run reproduces.
#[pyfunction]
fn forward_plain(
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

/// The node's REST calls (`more_data_owner::node::Node`); JSON travels as text, tensors as bytes.
#[pyclass(module = "more_client", frozen)]
struct NodeClient(Node);

#[pymethods]
impl NodeClient {
    #[new]
    #[pyo3(signature = (url, token = None))]
    fn new(py: Python<'_>, url: &str, token: Option<String>) -> PyResult<Self> {
        Node::new(url, token)
            .map(NodeClient)
            .map_err(|e| to_py(py, e))
    }

    /// The base URL.
    #[getter]
    fn url(&self) -> String {
        self.0.url().to_string()
    }

    /// `GET /v1{path}` → JSON text.
    fn get_json(&self, py: Python<'_>, path: &str) -> PyResult<String> {
        let n = &self.0;
        py.allow_threads(|| n.get_json(path))
            .map(|v| v.to_string())
            .map_err(|e| to_py(py, e))
    }

    /// `GET /v1{path}` → bytes.
    fn get_bytes<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyBytes>> {
        let n = &self.0;
        let b = py
            .allow_threads(|| n.get_bytes(path))
            .map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &b))
    }

    /// `POST /v1{path}` with JSON text → JSON text.
    fn post_json(&self, py: Python<'_>, path: &str, body: &str) -> PyResult<String> {
        let body: serde_json::Value =
            serde_json::from_str(body).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let n = &self.0;
        py.allow_threads(|| n.post_json(path, &body))
            .map(|v| v.to_string())
            .map_err(|e| to_py(py, e))
    }

    /// `PUT /v1{path}` with JSON text → JSON text.
    fn put_json(&self, py: Python<'_>, path: &str, body: &str) -> PyResult<String> {
        let body: serde_json::Value =
            serde_json::from_str(body).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let n = &self.0;
        py.allow_threads(|| n.put_json(path, &body))
            .map(|v| v.to_string())
            .map_err(|e| to_py(py, e))
    }

    /// `DELETE /v1{path}`.
    fn delete(&self, py: Python<'_>, path: &str) -> PyResult<()> {
        let n = &self.0;
        py.allow_threads(|| n.delete(path))
            .map_err(|e| to_py(py, e))
    }

    /// Secure prediction with the secure model `model_id` on `values` (float32 samples,
    /// quantized with the model's input quantizer, or int64 quantized): a fresh BFV key, its
    /// evaluation key uploaded, encrypted batches of up to 8192 samples, decrypted outputs.
    fn secure_predict(
        &self,
        py: Python<'_>,
        model_id: &str,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<secure::SecureOutputs> {
        secure::predict(py, &self.0, model_id, values)
    }

    /// `PUT /v1{path}` with wire bytes → JSON text.
    fn put_bytes(&self, py: Python<'_>, path: &str, data: &Bound<'_, PyAny>) -> PyResult<String> {
        let data = bytes_of(data)?;
        let n = &self.0;
        py.allow_threads(|| n.put_tensor(path, &data, &mut |_| {}))
            .map(|v| v.to_string())
            .map_err(|e| to_py(py, e))
    }

    /// `POST /v1{path}` with wire bytes → bytes.
    fn post_bytes<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = bytes_of(data)?;
        let n = &self.0;
        let b = py
            .allow_threads(|| n.post_tensor(path, &data))
            .map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &b))
    }
}

/// The compiled half of the `more_client` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Key>()?;
    m.add_class::<Ciphertext>()?;
    m.add_class::<NodeClient>()?;
    m.add_class::<secure::BfvSecretKey>()?;
    m.add_class::<secure::SecureOutputs>()?;
    m.add_function(wrap_pyfunction!(forward_plain, m)?)?;
    m.add("MoreError", py.get_type::<MoreError>())?;
    m.add("KeyFileError", py.get_type::<KeyFileError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("NodeUnreachable", py.get_type::<NodeUnreachable>())?;
    m.add("NodeError", py.get_type::<NodeError>())?;
    m.add("JobFailed", py.get_type::<JobFailed>())?;
    m.add("DecryptionError", py.get_type::<DecryptionError>())?;
    Ok(())
}
