"""MORE homomorphic encryption from Python: keys, encryption and decryption of NumPy arrays, and
the compute node's REST API.

Interoperable with the web page and the ``more-client`` command line: the same key files
(``.morekey``, Argon2id + XChaCha20-Poly1305), the same compact-form ciphertexts and shadows, the
same REST calls. The key never leaves this process except wrapped under a passphrase.

Everything here is the data owner's library (``more-data-owner``, Rust) underneath: the data
rules (:func:`read_data`), encryption and decryption, and the one REST client the page and the
command line call too; this module adds Python types and iteration.

Security: MORE over the real numbers is not cryptographic encryption; anyone holding the
ciphertexts can recover the data (see SECURITY.md in the repository). Secure mode
(:class:`BfvSecretKey`, :meth:`Node.secure_predict`) is lattice encryption (BFV): the node
evaluates a published quantized model on ciphertexts it cannot read.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ._native import (  # noqa: F401  (re-exported)
    BfvSecretKey,
    Ciphertext,
    DataError,
    DecryptionError,
    JobFailed,
    JobWatch as _JobWatch,
    KeyFileError,
    MoreError,
    NodeClient as _NodeClient,
    NodeError,
    NodeUnreachable,
    SecretKey,
    SecureOutputs,
    classification_report_json as _classification_report_json,
    forward_plain,
    moment_matched_shadow as _moment_matched_shadow,
    read_data,
)

__all__ = [
    "SecretKey",
    "BfvSecretKey",
    "SecureOutputs",
    "Ciphertext",
    "Node",
    "TrainingJob",
    "classification_report",
    "forward_plain",
    "moment_matched_shadow",
    "read_data",
    "MoreError",
    "KeyFileError",
    "DataError",
    "NodeUnreachable",
    "NodeError",
    "JobFailed",
    "DecryptionError",
]

#: Rows per predict request (the node accepts at most 4096).
PREDICT_BATCH = 1024


def classification_report(
    outputs: np.ndarray,
    y_test: np.ndarray,
    class_names: Sequence[str],
    y_train: np.ndarray,
    positive: Optional[str] = None,
) -> Dict[str, Any]:
    """The clinical report of a classifier's decrypted ``outputs`` (``(samples, classes)``
    logits, e.g. :meth:`Node.predict`) against ``y_test``, as the page's results view and
    ``more-client evaluate`` compute it (``more_data_owner::evaluate``): ``accuracy`` and the
    majority class's (from ``y_train``), ``balancedAccuracy``, and for the ``positive`` class
    (a name; default the last class) ``binary`` (``sensitivity``, ``specificity``, ``ppv``,
    ``npv``: each ``value`` with its counts), ``roc`` (points and ``auc``), ``calibration``
    bins and the ``confusion`` matrix. ``y_test``/``y_train``: class indices or one-hot rows
    (as :func:`read_data` gives them). Raises :class:`DataError` when they do not fit."""
    def classes(y: np.ndarray) -> List[int]:
        y = np.asarray(y)
        return [int(c) for c in (y.argmax(1) if y.ndim == 2 else y)]

    names = [str(c) for c in class_names]
    if positive is None:
        index = len(names) - 1
    elif positive in names:
        index = names.index(positive)
    else:
        raise DataError(f"positive class {positive!r} is not one of {names}")
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    if outputs.ndim != 2:
        raise DataError(f"outputs of shape {outputs.shape}: (samples, classes) expected")
    return json.loads(_classification_report_json(outputs, classes(y_test), names, classes(y_train), index))


def moment_matched_shadow(x: np.ndarray) -> Dict[str, Any]:
    """The page's "matched" feature shadow for ``x`` of shape ``(samples, ...)``: per feature (all
    axes but the first, flattened) the mean and standard deviation (0 becomes 0.1)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return json.loads(_moment_matched_shadow(x.reshape(len(x), -1)))


class TrainingJob:
    """A training job started by :meth:`Node.train`. Iterating yields progress dicts until the job
    ends: ``state``, ``epoch`` (completed), ``epochs``, ``batches_done``, ``batches_total``,
    ``elapsed_seconds``, ``fraction`` (0..1) and ``losses`` (decrypted per-epoch mean losses, a
    list of floats, when a key was given). Raises :class:`JobFailed` when the job ends failed,
    cancelled or interrupted."""

    def __init__(self, node: "Node", model_id: str, job_id: str, key: Optional[SecretKey],
                 poll: float):
        self.node = node
        self.model_id = model_id
        self.job_id = job_id
        self.key = key
        self.poll = poll
        self.losses: List[float] = []
        self.state = "queued"
        self._watch = _JobWatch(job_id)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        while True:
            j = json.loads(self._watch.poll(self.node._c, self.key))
            failure = j.pop("failure", None)
            finished = j.pop("finished")
            self.losses = list(j["losses"])
            self.state = j["state"]
            yield j
            if finished:
                if failure is not None:
                    raise JobFailed(failure)
                return
            time.sleep(self.poll)

    def wait(self) -> Dict[str, Any]:
        """Follows the job to its end; returns the last progress dict."""
        last: Dict[str, Any] = {}
        for last in self:
            pass
        return last


class Node:
    """A MORE compute node at ``url`` (``http://host:port``). ``token`` (default: the
    ``MORE_TOKEN`` environment variable) is sent as ``Authorization: Bearer``.

    Errors: :class:`NodeUnreachable` (no connection), :class:`NodeError` (the node refused; its
    ``status`` and ``code`` are attributes), :class:`DecryptionError`, :class:`DataError`."""

    def __init__(self, url: str = "http://127.0.0.1:8080", token: Optional[str] = None):
        if token is None:
            token = os.environ.get("MORE_TOKEN") or None
        self._c = _NodeClient(url, token)

    @property
    def url(self) -> str:
        return self._c.url

    def health(self) -> Dict[str, Any]:
        """``GET /v1/health``."""
        return json.loads(self._c.health())

    def dataset(self, dataset_id: str) -> Dict[str, Any]:
        """The dataset's metadata."""
        return json.loads(self._c.record("datasets", dataset_id))

    def model(self, model_id: str) -> Dict[str, Any]:
        """The model's metadata."""
        return json.loads(self._c.record("models", model_id))

    def job(self, job_id: str) -> Dict[str, Any]:
        """The job's metadata (state, epoch, epochs, batches_done, batches_total, ...)."""
        return json.loads(self._c.record("jobs", job_id))

    def upload(self, key: SecretKey, x: np.ndarray, y: np.ndarray, task: str = "classification",
               name: str = "dataset", shadow: Any = "gaussian", shard_bytes: Optional[int] = None,
               resume: Optional[str] = None,
               on_dataset: Optional[Callable[[str], None]] = None,
               progress: Optional[Callable[[int, int, bool, int], None]] = None) -> str:
        """Encrypts and uploads a training set as the page does, in shards; returns the dataset
        id.

        ``x``: features, shape ``(samples, *feature_shape)`` (converted to float32).
        ``y``: targets, shape ``(samples, outputs)``; one-hot for ``task="classification"``
        (encrypted with probability-vector shadows), anything for ``"regression"``.
        ``shadow``: ``"gaussian"`` (N(0, 0.1²)), ``"matched"`` (:func:`moment_matched_shadow`) or
        a shadow dict. ``shard_bytes``: bytes of ciphertext per shard (default 64 MiB; one
        shard is encrypted at a time). ``resume``: the id of a dataset whose upload was
        interrupted: the shards the node confirmed are skipped, never sent again (same ``x``,
        ``y`` and ``shard_bytes``). ``on_dataset(id)``: called once the id is known (keep it
        to resume). ``progress(index, shards, skipped, sent_bytes)``: after each shard.
        Raises :class:`DataError` for mismatched shapes, :class:`NodeError` when the node
        refuses."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32)
        if shadow == "matched" and x.ndim >= 2 and len(x):
            shadow = moment_matched_shadow(x)
        return self._c.upload(key, x, y, task, name, shadow, shard_bytes, resume, on_dataset,
                              progress)

    def create_model(self, dataset_id: Optional[str] = None, preset: Optional[str] = None,
                     input_shape: Optional[Sequence[int]] = None, outputs: Optional[int] = None,
                     seed: int = 0, name: Optional[str] = None) -> str:
        """Creates a model from a preset (``table_mlp``, ``mnist_mlp``, ``mnist_cnn``,
        ``regression_mlp``, ``image_cnn``); shapes default to the (ready) dataset's, the preset
        to the page's choice: ``regression_mlp`` for regression, ``table_mlp`` (dense 32, tanh,
        dense) for tables (one feature axis), ``mnist_mlp`` otherwise. ``seed``: initial
        weights. Returns the model id. Raises :class:`NodeError` (409) for a dataset that is not
        ready, :class:`DataError` without shapes."""
        return self._c.create_model(dataset_id, preset,
                                    None if input_shape is None else list(input_shape),
                                    None if outputs is None else int(outputs), seed, name)

    def train(self, model_id: str, dataset_id: str, epochs: int = 3, batch_size: int = 32,
              learning_rate: float = 0.1, momentum: float = 0.0, loss: Optional[str] = None,
              seed: int = 7, key: Optional[SecretKey] = None, poll: float = 0.4,
              ranks: int = 1) -> TrainingJob:
        """Starts training (SGD, the page's defaults) and returns the :class:`TrainingJob`;
        iterate it for progress (with decrypted losses when ``key`` is given). ``ranks`` above 1
        trains the job data-parallel as an MPI job (the node needs ``--mpi-max-ranks``)."""
        job_id = self._c.start_job(model_id, dataset_id, epochs, batch_size, learning_rate,
                                   momentum, loss, seed, ranks)
        return TrainingJob(self, model_id, job_id, key, poll)

    def losses(self, job_id: str, key: SecretKey) -> np.ndarray:
        """The decrypted per-epoch mean losses, shape ``(epochs_done,)``."""
        return self._c.losses(job_id, key)

    def predict(self, key: SecretKey, model_id: str, x: np.ndarray) -> np.ndarray:
        """Encrypts ``x`` (``(samples, *input_shape)``, float32) under ``key``, predicts on the node
        in batches of :data:`PREDICT_BATCH` and returns the decrypted outputs
        ``(samples, outputs)`` (logits for classification)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim < 2:
            raise DataError(f"x must be (samples, ...), got shape {x.shape}")
        if len(x) == 0:
            return np.zeros((0,), np.float32)
        return self._c.predict(key, model_id, x)

    # -------------------------------------------------------------- secure mode (BFV)

    def secure_models(self) -> List[Dict[str, Any]]:
        """The secure models this tenant owns, then those granted to it (summaries: ``id``,
        ``name``, ``owner_tenant``, ``grants``, ``input_shape``, ``outputs``, ``class_names``,
        ``parameter_set``, ``bound_bits``, ``created_at``)."""
        return json.loads(self._c.secure_models())

    def secure_model(self, model_id: str) -> Dict[str, Any]:
        """A secure model's summary and its quantized ``model``. Raises :class:`NodeError` (404)
        unless this tenant owns it or holds a grant."""
        return json.loads(self._c.secure_model(model_id))

    def secure_publish(self, name: str, model: Any, grants: Sequence[str] = (),
                       samples_per_day: Optional[int] = None) -> Dict[str, Any]:
        """Publishes a quantized model (a dict, or JSON text) granted to the tenants ``grants``,
        each limited to ``samples_per_day`` samples per rolling 24 hours when given (else the
        node's default); returns its summary (``id``, ``bound_bits``, ``samples_per_day``, ...).
        Raises :class:`NodeError` with ``code == "may_overflow"`` (HTTP 422) when a layer's worst
        case could overflow."""
        if not isinstance(model, str):
            model = json.dumps(model)
        return json.loads(self._c.secure_publish(name, model, list(grants), samples_per_day))

    def secure_set_grants(self, model_id: str, grants: Sequence[str],
                          samples_per_day: Optional[int] = None) -> Dict[str, Any]:
        """Replaces the model's grants (owner only), and its per-tenant quota when
        ``samples_per_day`` is given (else the quota stays as it is); returns its summary."""
        return json.loads(self._c.secure_set_grants(model_id, list(grants), samples_per_day))

    def secure_delete(self, model_id: str) -> None:
        """Deletes a secure model (owner only)."""
        self._c.secure_delete(model_id)

    def secure_predict(self, model_id: str, values: np.ndarray) -> SecureOutputs:
        """Predicts with a secure model on ``values`` (float32 ``(samples, *input_shape)``,
        quantized with the model's input quantizer; or int64 already quantized): a fresh
        :class:`BfvSecretKey` that never leaves this process, its evaluation key uploaded, the
        samples encrypted in batches of up to 8192, the outputs decrypted here. Returns
        :class:`SecureOutputs` (``values``, ``logits``, ``predictions``, ``classes``,
        ``noise_budget_bits``). Raises :class:`NodeError` (404 without a grant)."""
        values = np.asarray(values)
        if values.dtype != np.int64:
            values = values.astype(np.float32)
        return self._c.secure_predict(model_id, np.ascontiguousarray(values))

    def weights(self, model_id: str, key: Optional[SecretKey] = None) -> bytes:
        """The model's weights: decrypted safetensors bytes (loadable with
        ``safetensors.numpy.load``) when ``key`` is given, else the encrypted bundle."""
        return self._c.weights(model_id, key)
