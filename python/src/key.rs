//! `SecretKey`: MORE's secret key from Python (generate, key files, encrypt, decrypt).

use more_core::wire;
use more_data_owner::decrypt::{self, Decrypted};
use more_data_owner::{crypto, keyfile, CliError};
use more_secret_key::{wrap, ShadowDistribution};
use ndarray::ArrayD;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::ciphertext::{bytes_of, Ciphertext};
use crate::errors::{to_py, DataError};

/// A secret key. Never printed, never pickled; saved only wrapped under a passphrase.
#[pyclass(module = "more_client", frozen)]
pub(crate) struct SecretKey(pub(crate) more_secret_key::SecretKey);

/// The shadow distribution from `None` (N(0, 0.1²)), a name (`"gaussian"`, `"simplex"`) or a
/// dict as the page passes it (`{"kind": "moment_matched", "mean": [...], "std": [...]}`).
pub(crate) fn shadow_of(
    py: Python<'_>,
    shadow: Option<&Bound<'_, PyAny>>,
) -> PyResult<ShadowDistribution> {
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
    key: &more_secret_key::SecretKey,
    x: ArrayD<F>,
    matrix: bool,
    shadow: &ShadowDistribution,
) -> Result<Vec<u8>, CliError> {
    if matrix {
        let mut rng =
            more_secret_key::SecretKey::shadow_rng().map_err(|e| CliError::Key(e.to_string()))?;
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

#[pymethods]
impl SecretKey {
    /// A fresh key from the operating system's random source.
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<Self> {
        more_secret_key::SecretKey::generate()
            .map(SecretKey)
            .map_err(|e| to_py(py, CliError::Key(e.to_string())))
    }

    /// Reads a key file (`.morekey`) made by the page, the command line or `SecretKey.save`.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf, passphrase: &str) -> PyResult<Self> {
        let pass = passphrase.to_string();
        py.allow_threads(move || keyfile::load(&path, &pass))
            .map(SecretKey)
            .map_err(|e| to_py(py, e))
    }

    /// Reads key-file bytes (the page's format).
    #[staticmethod]
    fn from_wrapped(py: Python<'_>, data: Vec<u8>, passphrase: &str) -> PyResult<Self> {
        let raw =
            wrap::unwrap(&data, passphrase).map_err(|e| to_py(py, CliError::Key(e.to_string())))?;
        more_secret_key::SecretKey::import_bytes(&raw)
            .map(SecretKey)
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
            .allow_threads(|| decrypt::decrypt_wire(key, &bytes))
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
            .allow_threads(|| decrypt::decrypt_model(key, &bundle))
            .map_err(|e| to_py(py, e))?;
        Ok(PyBytes::new(py, &st))
    }

    fn __repr__(&self) -> String {
        format!("SecretKey(fingerprint={:?})", self.0.fingerprint())
    }
}
