//! The exceptions of `more_client` and the mapping from the library's errors.

use more_data_owner::CliError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

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
pub(crate) fn to_py(py: Python<'_>, e: CliError) -> PyErr {
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
        CliError::Pacs(_) => crate::pacs::PacsError::new_err(msg),
    }
}
