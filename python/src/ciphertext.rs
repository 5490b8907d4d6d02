//! `Ciphertext`: wire-format bytes with their header's shape, dtype and representation.

use more_core::tensor::RepresentationKind;
use more_core::wire::decode_header;
use more_core::Dtype;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::DecryptionError;

/// A tensor in the binary wire format (`shared/WIRE_FORMAT.md`): the bytes the node takes.
#[pyclass(module = "more_client", frozen)]
pub(crate) struct Ciphertext {
    pub(crate) bytes: Vec<u8>,
    shape: Vec<usize>,
    dtype: &'static str,
    representation: &'static str,
}

impl Ciphertext {
    pub(crate) fn from_vec(bytes: Vec<u8>) -> PyResult<Self> {
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

/// The wire bytes of a `Ciphertext` or of a bytes-like object.
pub(crate) fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(c) = obj.downcast::<Ciphertext>() {
        return Ok(c.get().bytes.clone());
    }
    obj.extract::<Vec<u8>>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err("expected a Ciphertext or bytes in the wire format")
    })
}
