"""MORE homomorphic encryption from Python: keys, encryption and decryption of NumPy arrays, and
the compute node's REST API.

Interoperable with the web page and the ``more-client`` command line: the same key files
(``.morekey``, Argon2id + XChaCha20-Poly1305), the same compact-form ciphertexts and shadows, the
same REST calls. The key never leaves this process except wrapped under a passphrase.

Security: MORE over the real numbers is not cryptographic encryption; anyone holding the
ciphertexts can recover the data (see SECURITY.md in the repository). Secure mode
(:class:`BfvSecretKey`, :meth:`Node.secure_predict`) is lattice encryption (BFV): the node
evaluates a published quantized model on ciphertexts it cannot read.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ._native import (  # noqa: F401  (re-exported)
    BfvSecretKey,
    Ciphertext,
    DataError,
    DecryptionError,
    JobFailed,
    Key,
    KeyFileError,
    MoreError,
    NodeClient as _NodeClient,
    NodeError,
    NodeUnreachable,
    SecureOutputs,
    forward_plain,
)

__all__ = [
    "Key",
    "BfvSecretKey",
    "SecureOutputs",
    "Ciphertext",
    "Node",
    "TrainingJob",
    "forward_plain",
    "moment_matched_shadow",
    "table_mlp_spec",
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

_FINISHED = ("completed", "failed", "cancelled", "interrupted")


def moment_matched_shadow(x: np.ndarray) -> Dict[str, Any]:
    """The page's "matched" feature shadow for ``x`` of shape ``(samples, ...)``: per feature (all
    axes but the first, flattened) the mean and standard deviation (0 becomes 0.1)."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = flat.mean(axis=0)
    std = np.sqrt(np.maximum((flat * flat).mean(axis=0) - mean * mean, 0.0))
    std[std == 0] = 0.1
    return {"kind": "moment_matched", "mean": mean.tolist(), "std": std.tolist()}


def table_mlp_spec(input_shape: Sequence[int], outputs: int) -> Dict[str, Any]:
    """The page's model for tables (``tableMlp`` in web/app.js) as a node ModelSpec: flatten,
    dense 32, tanh, dense ``outputs``."""
    return {"input_shape": list(input_shape), "layers": [
        {"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "tanh"},
        {"type": "dense", "units": int(outputs)}]}


class TrainingJob:
    """A training job started by :meth:`Node.train`. Iterating yields progress dicts until the job
    ends: ``state``, ``epoch`` (completed), ``epochs``, ``batches_done``, ``batches_total``,
    ``elapsed_seconds``, ``fraction`` (0..1) and ``losses`` (decrypted per-epoch mean losses, a
    list of floats, when a key was given). Raises :class:`JobFailed` when the job ends failed,
    cancelled or interrupted."""

    def __init__(self, node: "Node", model_id: str, job_id: str, key: Optional[Key], poll: float):
        self.node = node
        self.model_id = model_id
        self.job_id = job_id
        self.key = key
        self.poll = poll
        self.losses: List[float] = []
        self.state = "queued"

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        seen = 0
        while True:
            j = self.node.job(self.job_id)
            epoch = int(j.get("epoch") or 0)
            finished = j["state"] in _FINISHED
            if self.key is not None and epoch > 0 and (epoch > seen or (finished and len(self.losses) < epoch)):
                for attempt in range(5):
                    try:
                        self.losses = [float(v) for v in self.node.losses(self.job_id, self.key)]
                        seen = epoch
                        break
                    except NodeError:
                        # The losses file may be rewritten while an epoch ends.
                        if attempt == 4:
                            raise
                        time.sleep(0.3)
            total = max(1, int(j.get("batches_total") or 0))
            epochs = int(j.get("epochs") or 0)
            fraction = 1.0 if j["state"] == "completed" else (
                (epoch + int(j.get("batches_done") or 0) / total) / epochs if epochs else 0.0)
            self.state = j["state"]
            yield {**j, "fraction": fraction, "losses": list(self.losses)}
            if finished:
                if j["state"] != "completed":
                    raise JobFailed(f"training job {self.job_id} {j['state']}"
                                    + (f": {j['error']}" if j.get("error") else ""))
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
        return json.loads(self._c.get_json("/health"))

    def dataset(self, dataset_id: str) -> Dict[str, Any]:
        """The dataset's metadata."""
        return json.loads(self._c.get_json(f"/datasets/{dataset_id}"))

    def model(self, model_id: str) -> Dict[str, Any]:
        """The model's metadata."""
        return json.loads(self._c.get_json(f"/models/{model_id}"))

    def job(self, job_id: str) -> Dict[str, Any]:
        """The job's metadata (state, epoch, epochs, batches_done, batches_total, ...)."""
        return json.loads(self._c.get_json(f"/jobs/{job_id}"))

    def upload(self, key: Key, x: np.ndarray, y: np.ndarray, task: str = "classification",
               name: str = "dataset", shadow: Any = "gaussian") -> str:
        """Encrypts and uploads a training set as the page does; returns the dataset id.

        ``x``: features, shape ``(samples, *feature_shape)`` (converted to float32).
        ``y``: targets, shape ``(samples, outputs)``; one-hot for ``task="classification"``
        (encrypted with probability-vector shadows), anything for ``"regression"``.
        ``shadow``: ``"gaussian"`` (N(0, 0.1²)), ``"matched"`` (:func:`moment_matched_shadow`) or
        a shadow dict. Raises :class:`DataError` for mismatched shapes."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32)
        if task not in ("classification", "regression"):
            raise DataError(f'task must be "classification" or "regression", not {task!r}')
        if x.ndim < 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise DataError(f"x must be (samples, ...) and y (samples, outputs) with the same "
                            f"samples; got {x.shape} and {y.shape}")
        if shadow == "matched":
            shadow = moment_matched_shadow(x)
        features = key.encrypt(x, shadow=shadow)
        targets = key.encrypt(y, shadow="simplex" if task == "classification" else "gaussian")
        meta: Dict[str, Any] = {"name": name, "task": task}
        if task == "classification":
            meta["num_classes"] = int(y.shape[1])
        ds = json.loads(self._c.post_json("/datasets", json.dumps(meta)))
        self._c.put_bytes(f"/datasets/{ds['id']}/features", features)
        self._c.put_bytes(f"/datasets/{ds['id']}/targets", targets)
        return ds["id"]

    def create_model(self, dataset_id: Optional[str] = None, preset: Optional[str] = None,
                     input_shape: Optional[Sequence[int]] = None, outputs: Optional[int] = None,
                     seed: int = 0, name: Optional[str] = None) -> str:
        """Creates a model from a preset (``table_mlp``, ``mnist_mlp``, ``mnist_cnn``,
        ``regression_mlp``, ``image_cnn``); shapes default to the dataset's, the preset to the
        page's choice: ``regression_mlp`` for regression, ``table_mlp`` (the page's table model:
        dense 32, tanh, dense; sent as a spec) for tables (one feature axis), ``mnist_mlp``
        otherwise. ``seed``: initial weights. Returns the model id."""
        ds = self.dataset(dataset_id) if dataset_id is not None else {}
        if input_shape is None:
            input_shape = ds.get("feature_shape")
        if outputs is None and ds.get("target_shape"):
            outputs = ds["target_shape"][-1]
        if input_shape is None or outputs is None:
            raise DataError("create_model needs a ready dataset_id, or input_shape and outputs")
        if preset is None:
            preset = ("regression_mlp" if ds.get("task") == "regression"
                      else "table_mlp" if len(input_shape) == 1 else "mnist_mlp")
        body: Dict[str, Any] = {"name": name or f"{ds.get('name', 'model')} {preset}", "seed": seed}
        if preset == "table_mlp":
            body["spec"] = table_mlp_spec(input_shape, int(outputs))
        else:
            body.update(preset=preset, input_shape=list(input_shape), outputs=int(outputs))
        return json.loads(self._c.post_json("/models", json.dumps(body)))["id"]

    def train(self, model_id: str, dataset_id: str, epochs: int = 3, batch_size: int = 32,
              learning_rate: float = 0.1, momentum: float = 0.0, loss: Optional[str] = None,
              seed: int = 7, key: Optional[Key] = None, poll: float = 0.4,
              ranks: int = 1) -> TrainingJob:
        """Starts training (SGD, the page's defaults) and returns the :class:`TrainingJob`;
        iterate it for progress (with decrypted losses when ``key`` is given). ``ranks`` above 1
        trains the job data-parallel as an MPI job (the node needs ``--mpi-max-ranks``)."""
        body: Dict[str, Any] = {
            "model_id": model_id, "dataset_id": dataset_id, "epochs": epochs,
            "batch_size": batch_size, "seed": seed, "ranks": ranks,
            "optimizer": {"type": "sgd", "learning_rate": learning_rate, "momentum": momentum},
        }
        if loss is not None:
            body["loss"] = loss
        job = json.loads(self._c.post_json("/jobs", json.dumps(body)))
        return TrainingJob(self, model_id, job["id"], key, poll)

    def losses(self, job_id: str, key: Key) -> np.ndarray:
        """The decrypted per-epoch mean losses, shape ``(epochs_done,)``."""
        return key.decrypt(Ciphertext.from_bytes(self._c.get_bytes(f"/jobs/{job_id}/losses")))

    def predict(self, key: Key, model_id: str, x: np.ndarray) -> np.ndarray:
        """Encrypts ``x`` (``(samples, *input_shape)``, float32) under ``key``, predicts on the node
        in batches of :data:`PREDICT_BATCH` and returns the decrypted outputs
        ``(samples, outputs)`` (logits for classification)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim < 2:
            raise DataError(f"x must be (samples, ...), got shape {x.shape}")
        out = []
        for start in range(0, len(x), PREDICT_BATCH):
            enc = key.encrypt(x[start:start + PREDICT_BATCH])
            out.append(key.decrypt(self._c.post_bytes(f"/models/{model_id}/predict", enc)))
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    # -------------------------------------------------------------- secure mode (BFV)

    def secure_models(self) -> List[Dict[str, Any]]:
        """The secure models this tenant owns, then those granted to it (summaries: ``id``,
        ``name``, ``owner_tenant``, ``grants``, ``input_shape``, ``outputs``, ``class_names``,
        ``parameter_set``, ``bound_bits``, ``created_at``)."""
        return json.loads(self._c.get_json("/secure/models"))

    def secure_model(self, model_id: str) -> Dict[str, Any]:
        """A secure model's summary and its quantized ``model``. Raises :class:`NodeError` (404)
        unless this tenant owns it or holds a grant."""
        return json.loads(self._c.get_json(f"/secure/models/{model_id}"))

    def secure_publish(self, name: str, model: Any, grants: Sequence[str] = (),
                       samples_per_day: Optional[int] = None) -> Dict[str, Any]:
        """Publishes a quantized model (a dict, or JSON text) granted to the tenants ``grants``,
        each limited to ``samples_per_day`` samples per rolling 24 hours when given (else the
        node's default); returns its summary (``id``, ``bound_bits``, ``samples_per_day``, ...).
        Raises :class:`NodeError` with ``code == "may_overflow"`` (HTTP 422) when a layer's worst
        case could overflow."""
        if isinstance(model, str):
            model = json.loads(model)
        body = {"name": name, "model": model, "grants": list(grants)}
        if samples_per_day is not None:
            body["samples_per_day"] = samples_per_day
        return json.loads(self._c.post_json("/secure/models", json.dumps(body)))

    def secure_set_grants(self, model_id: str, grants: Sequence[str],
                          samples_per_day: Optional[int] = None) -> Dict[str, Any]:
        """Replaces the model's grants (owner only), and its per-tenant quota when
        ``samples_per_day`` is given (else the quota stays as it is); returns its summary."""
        body: Dict[str, Any] = {"grants": list(grants)}
        if samples_per_day is not None:
            body["samples_per_day"] = samples_per_day
        return json.loads(self._c.put_json(f"/secure/models/{model_id}/grants",
                                           json.dumps(body)))

    def secure_delete(self, model_id: str) -> None:
        """Deletes a secure model (owner only)."""
        self._c.delete(f"/secure/models/{model_id}")

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

    def weights(self, model_id: str, key: Optional[Key] = None) -> bytes:
        """The model's weights: decrypted safetensors bytes (loadable with
        ``safetensors.numpy.load``) when ``key`` is given, else the encrypted bundle."""
        bundle = self._c.get_bytes(f"/models/{model_id}/weights")
        return key.decrypt_model(bundle) if key is not None else bundle
