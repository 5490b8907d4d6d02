"""FHIR out: decrypted predictions as a FHIR R4 ``Bundle`` (``collection``) for the hospital's
systems, the same resources as ``more-client predict --fhir``: a ``RiskAssessment`` per sample
for classification (each class's probability, the softmax of the decrypted logits), an
``Observation`` per sample and output for regression (``valueQuantity`` with a UCUM unit).
Built on this side after decryption; the node never sees them.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ._native import fhir_bundle

__all__ = ["bundle"]


def bundle(outputs: np.ndarray, task: str, model: str, names: Optional[Sequence[str]] = None,
           unit: Optional[str] = None, subject: Optional[str] = None) -> Dict[str, Any]:
    """The Bundle (a dict) of ``outputs`` ``(samples, outputs)``; ``task``: ``"classification"``
    or ``"regression"``; ``names``: class or target names; ``subject``: a reference template
    such as ``"Patient/{row}"`` (default: the input row as an identifier)."""
    x = np.ascontiguousarray(np.atleast_2d(outputs), dtype=np.float32)
    text = fhir_bundle(x, task, model, list(names) if names is not None else None, unit, subject)
    return json.loads(text)
