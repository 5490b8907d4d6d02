"""PACS in: studies from a DICOMweb service (QIDO-RS search, WADO-RS retrieve), decoded with the
rules of a DICOM folder (``more-dicom``: window, centre crop, area resize), encrypted here and
uploaded as a folder's data set is.

Only this process talks to the PACS; the compute node never does (it would see plaintext), and no
patient attribute is sent to it: the node gets the encrypted pixels, the encrypted one-hot labels
and the data set's name (the labels file's name unless ``name`` is given).

Labels: a CSV mapping Study Instance UIDs (``study,label``) or SOP Instance UIDs
(``instance,label``) to class labels. Errors: :class:`PacsError` (the PACS is unreachable or
refuses), :class:`~more_client.DataError` (labels, fewer than two instances or classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import numpy as np

from ._native import PacsError, dicomweb_load, dicomweb_studies  # noqa: F401

__all__ = ["Study", "PacsData", "PacsError", "studies", "load", "upload"]


@dataclass(frozen=True)
class Study:
    """A study a search found: its UID and image facts (no patient attribute)."""

    study_instance_uid: str
    modalities: List[str]
    study_date: str


@dataclass
class PacsData:
    """Retrieved studies as a folder's data set: ``x_*`` ``(samples, 1, size, size)`` float32 in
    [0, 1], ``y_*`` one-hot ``(samples, classes)``; train/test split by instance."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: List[str]
    notes: List[str]
    name: str


def studies(url: str, modality: Optional[str] = None, study_date: Optional[str] = None,
            patient_id: Optional[str] = None, user: Optional[str] = None,
            password: Optional[str] = None, token: Optional[str] = None) -> List[Study]:
    """QIDO-RS study search (``study_date``: ``YYYYMMDD`` or ``YYYYMMDD-YYYYMMDD``), in UID
    order."""
    found = dicomweb_studies(url, modality, study_date, patient_id, user, password, token)
    return [Study(uid, list(mods), date) for uid, mods, date in found]


def load(url: str, labels: Any, studies: Sequence[str] = (), modality: Optional[str] = None,
         study_date: Optional[str] = None, patient_id: Optional[str] = None, size: int = 28,
         user: Optional[str] = None, password: Optional[str] = None,
         token: Optional[str] = None) -> PacsData:
    """Retrieves ``studies`` and those the filters find, keeps the labelled instances and decodes
    them (``size`` × ``size``) exactly as ``more-client upload --images`` decodes a folder."""
    (xtr, ytr), (xte, yte), classes, notes, name = dicomweb_load(
        url, str(labels), list(studies), modality, study_date, patient_id, size, user, password,
        token)
    return PacsData(xtr, ytr, xte, yte, list(classes), list(notes), name)


def upload(node: Any, key: Any, url: str, labels: Any, studies: Sequence[str] = (),
           modality: Optional[str] = None, study_date: Optional[str] = None,
           patient_id: Optional[str] = None, size: int = 28, name: Optional[str] = None,
           shadow: Any = "gaussian", user: Optional[str] = None, password: Optional[str] = None,
           token: Optional[str] = None) -> str:
    """:func:`load`, then :meth:`~more_client.Node.upload` of the training part (encrypted under
    ``key``); returns the dataset id."""
    d = load(url, labels, studies, modality, study_date, patient_id, size, user, password, token)
    return node.upload(key, d.x_train, d.y_train, task="classification", name=name or d.name,
                       shadow=shadow)
