"""Type hints of the compiled half of more_client (PyO3)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

class MoreError(Exception):
    """Base class of every error of more_client."""

class KeyFileError(MoreError):
    """Wrong passphrase, damaged or foreign key file, a key file that exists (save without overwrite)."""

class DataError(MoreError):
    """The data cannot be encrypted (dtype, shape, shadow) or read."""

class NodeUnreachable(MoreError):
    """The compute node could not be reached."""

class NodeError(MoreError):
    """The compute node refused a request."""
    status: int  # HTTP status
    code: str  # API error code: bad_request, not_found, conflict, basis_mismatch, ...

class JobFailed(MoreError):
    """A training job ended failed, cancelled or interrupted."""

class DecryptionError(MoreError):
    """Plaintext where a ciphertext belongs, another key's data, or malformed bytes."""

class PacsError(MoreError):
    """The PACS (DICOMweb) could not be reached, refused, or answered something else than DICOM."""

class Ciphertext:
    """A tensor in the MORE wire format (the bytes the node takes)."""
    @staticmethod
    def from_bytes(data: bytes) -> Ciphertext:
        """Wraps wire bytes. Raises DecryptionError when the header is not a wire tensor's."""
    def to_bytes(self) -> bytes: ...
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...
    @property
    def shape(self) -> List[int]:
        """Logical shape of the plaintext."""
    @property
    def dtype(self) -> str:
        """"float32" or "float64"."""
    @property
    def representation(self) -> str:
        """"compact", "matrix" or "plain"."""

class SecretKey:
    """A MORE secret key; saved only wrapped under a passphrase (the page's .morekey format)."""
    @staticmethod
    def generate() -> SecretKey:
        """A fresh key from the OS random source. Raises KeyFileError if that fails."""
    @staticmethod
    def load(path: Union[str, PathLike[str]], passphrase: str) -> SecretKey:
        """Reads a key file made by the page, the CLI or save(). Raises OSError (unreadable),
        KeyFileError (wrong passphrase, damaged or foreign file)."""
    @staticmethod
    def from_wrapped(data: bytes, passphrase: str) -> SecretKey:
        """Reads key-file bytes. Raises KeyFileError."""
    def save(self, path: Union[str, PathLike[str]], passphrase: str, overwrite: bool = False) -> None:
        """Writes the wrapped key (mode 0600). Raises KeyFileError (exists, empty passphrase), OSError."""
    def wrap(self, passphrase: str) -> bytes:
        """The key-file bytes."""
    @property
    def fingerprint(self) -> str:
        """16 hex digits identifying the key (the page shows the same)."""
    @property
    def generation(self) -> int: ...
    def encrypt(self, array: np.ndarray, representation: str = "compact",
                shadow: Union[None, str, Dict[str, Any]] = None) -> Ciphertext:
        """Encrypts a float32 or float64 array of any shape (0-d included); the GIL is released.
        representation: "compact" (two planes, what the node trains on) or "matrix" (four).
        shadow: None or "gaussian" (N(0, 0.1²)), "simplex" (one-hot targets), or a dict such as
        {"kind": "moment_matched", "mean": [...], "std": [...]} (per feature = all axes but the
        first). Raises DataError (dtype, shadow width), ValueError (representation)."""
    def decrypt(self, ciphertext: Union[Ciphertext, bytes]) -> np.ndarray:
        """The plaintext with the ciphertext's shape and dtype; the GIL is released.
        Raises DecryptionError (plaintext tensor, another key's basis, malformed bytes)."""
    def decrypt_model(self, bundle: bytes) -> bytes:
        """A model bundle (GET /v1/models/{id}/weights) decrypted into safetensors bytes
        (layers.{i}.weight|bias, float32, spec in the metadata). Raises DecryptionError."""

def forward_plain(safetensors: bytes, x: np.ndarray) -> np.ndarray:
    """The decrypted model's plaintext forward pass on float32 x of shape (batch, *input_shape);
    returns (batch, outputs). Raises DataError for a file without spec or wrong shapes."""

def classification_report_json(outputs: np.ndarray, labels: List[int], class_names: List[str],
                               train_labels: List[int], positive: int) -> str:
    """The clinical report (more_data_owner::evaluate) of float32 outputs (samples, classes)
    against the test labels, as JSON text; more_client.classification_report wraps it. Raises
    DataError when the sizes do not fit or positive is not a class."""

def read_data(csv: Optional[Union[str, PathLike[str]]] = None, target: List[str] = [],
              task: Optional[str] = None, idx: List[Union[str, PathLike[str]]] = [],
              images: Optional[Union[str, PathLike[str]]] = None,
              labels: Optional[Union[str, PathLike[str]]] = None, size: int = 28,
              max_samples: int = 2000) -> Dict[str, Any]:
    """A data file read with the data owner's rules (the page's, the CLI's, the lab's): one of
    csv= (with target=, task= "classification" | "regression" | None for the guess), idx= (image
    and label files) or images= with labels= (a folder of PNG/JPEG/DICOM and its
    filename,label CSV; size= the side of the square images). Returns x_train, y_train,
    x_test, y_test (float32; y one-hot for classification), task, name, class_names,
    feature_names, target_names and notes (what was done to the data). Raises DataError,
    OSError."""

def moment_matched_shadow(x: np.ndarray) -> str:
    """The matched shadow of float32 x (samples, width) as JSON text."""

class NodeClient:
    """The node's REST calls through the library's REST client; use more_client.Node."""
    def __init__(self, url: str, token: Optional[str] = None) -> None: ...
    @property
    def url(self) -> str: ...
    def health(self) -> str: ...
    def record(self, kind: str, id: str) -> str:
        """GET /v1/{kind}/{id}, kind "datasets" | "models" | "jobs" (JSON text)."""
    def upload(self, key: SecretKey, x: np.ndarray, y: np.ndarray, task: str, name: str,
               shadow: Union[None, str, Dict[str, Any]] = None,
               shard_bytes: Optional[int] = None, resume: Optional[str] = None,
               on_dataset: Optional[Callable[[str], None]] = None,
               progress: Optional[Callable[[int, int, bool, int], None]] = None) -> str: ...
    def create_model(self, dataset_id: Optional[str] = None, preset: Optional[str] = None,
                     input_shape: Optional[List[int]] = None, outputs: Optional[int] = None,
                     seed: int = 0, name: Optional[str] = None) -> str: ...
    def start_job(self, model_id: str, dataset_id: str, epochs: int, batch_size: int,
                  learning_rate: float, momentum: float, loss: Optional[str], seed: int,
                  ranks: int) -> str: ...
    def losses(self, job_id: str, key: SecretKey) -> np.ndarray: ...
    def predict(self, key: SecretKey, model_id: str, x: np.ndarray) -> np.ndarray: ...
    def weights(self, model_id: str, key: Optional[SecretKey] = None) -> bytes: ...
    def secure_models(self) -> str: ...
    def secure_model(self, model_id: str) -> str: ...
    def secure_publish(self, name: str, model: str, grants: List[str],
                       samples_per_day: Optional[int] = None) -> str: ...
    def secure_set_grants(self, model_id: str, grants: List[str],
                          samples_per_day: Optional[int] = None) -> str: ...
    def secure_delete(self, model_id: str) -> None: ...
    def upload_evaluation_key(self, key: bytes) -> str: ...
    def secure_predict_batch(self, model_id: str, evaluation_key: str,
                             batch: Union[Ciphertext, bytes]) -> bytes: ...
    def secure_predict(self, model_id: str, values: np.ndarray) -> SecureOutputs:
        """Fetch the secure model, a fresh BFV key, upload its evaluation key, encrypt (batches
        of up to 8192), predict, decrypt. Raises NodeError (404 without a grant), DataError."""

class JobWatch:
    """Follows a training job; use more_client.TrainingJob."""
    def __init__(self, job_id: str) -> None: ...
    def poll(self, node: NodeClient, key: Optional[SecretKey] = None) -> str:
        """JSON text: the job's record, fraction, finished, losses, and failure (JobFailed's
        message) for a job that ended failed, cancelled or interrupted."""

class SecureOutputs:
    """Decrypted outputs of a secure prediction."""
    @property
    def values(self) -> np.ndarray:
        """The model's output integers, int64 (samples, outputs)."""
    @property
    def logits(self) -> np.ndarray:
        """values times the model's output_scale, float64 (samples, outputs)."""
    @property
    def predictions(self) -> np.ndarray:
        """argmax per sample (the first on ties), int64 (samples,)."""
    @property
    def classes(self) -> List[str]:
        """The predicted class names (indices as text without class names)."""
    @property
    def noise_budget_bits(self) -> int:
        """Least noise budget left in any output ciphertext, bits."""
    @property
    def samples(self) -> int: ...
    @property
    def outputs(self) -> int: ...

class BfvSecretKey:
    """A BFV secret key of secure mode: made fresh, never saved, never sent."""
    @staticmethod
    def generate() -> BfvSecretKey: ...
    def evaluation_key(self) -> bytes:
        """The relinearization key bytes to upload (POST /v1/secure/evaluation-keys)."""
    def encrypt_batch(self, model: Union[str, Dict[str, Any]], values: np.ndarray) -> bytes:
        """One encrypted batch (<= 8192 samples): values float32 (samples, ...) quantized with the
        model's input quantizer, or int64 already quantized. Raises DataError."""
    def decrypt_outputs(self, model: Union[str, Dict[str, Any]], data: bytes) -> SecureOutputs:
        """Decrypts the node's encrypted outputs batch. Raises DecryptionError."""

# PACS in, FHIR out (python/src/pacs.rs; the Python API is more_client.dicomweb / more_client.fhir).
def dicomweb_studies(url: str, modality: Optional[str] = None, study_date: Optional[str] = None,
                     patient_id: Optional[str] = None, user: Optional[str] = None,
                     password: Optional[str] = None,
                     token: Optional[str] = None) -> List[tuple[str, List[str], str]]: ...
def dicomweb_load(url: str, labels: Union[str, PathLike[str]], studies: List[str] = [],
                  modality: Optional[str] = None, study_date: Optional[str] = None,
                  patient_id: Optional[str] = None, size: int = 28, user: Optional[str] = None,
                  password: Optional[str] = None, token: Optional[str] = None
                  ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray],
                             List[str], List[str], str]: ...
def fhir_bundle(outputs: np.ndarray, task: str, model: str, names: Optional[List[str]] = None,
                unit: Optional[str] = None, subject: Optional[str] = None) -> str: ...
