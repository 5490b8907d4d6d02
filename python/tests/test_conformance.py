"""The conformance fixtures through Python (issue #28): `more_client.read_data` on each file of
shared/data-owner/tests/conformance/fixtures.json gives the library's description in
expected/NAME.json: the same task, shapes, class names and notes, and bit-identical arrays
(SHA-256 of the float32 little-endian bytes). web/tests/conformance.test.mjs holds the page, the
CLI and the lab to the same files."""

import hashlib
import json
import pathlib

import numpy as np
import pytest

import more_client as m

DIR = pathlib.Path(__file__).resolve().parents[2] / "shared/data-owner/tests/conformance"
FIXTURES = json.loads((DIR / "fixtures.json").read_text())


def _sha(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<f4").tobytes()).hexdigest()


def _kwargs(f):
    if "csv" in f:
        return {"csv": str(DIR / f["csv"]), "target": f["target"], "task": f.get("task", "auto")}
    if "idx" in f:
        return {"idx": [str(DIR / p) for p in f["idx"]], "max_samples": f.get("max_samples", 2000)}
    return {"images": str(DIR / f["images"]), "labels": str(DIR / f["labels"]), "size": f.get("size", 28)}


def describe(d):
    """The library's description (more_data_owner::describe) of what read_data returned."""
    return {
        "task": d["task"],
        "feature_shape": list(d["x_train"].shape[1:]),
        "target_dim": d["y_train"].shape[1],
        "train_rows": d["x_train"].shape[0],
        "test_rows": d["x_test"].shape[0],
        "class_names": d["class_names"],
        "notes": d["notes"],
        "train_x_sha256": _sha(d["x_train"]),
        "train_y_sha256": _sha(d["y_train"]),
        "test_x_sha256": _sha(d["x_test"]),
        "test_y_sha256": _sha(d["y_test"]),
    }


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_read_data_gives_the_library_description(fixture):
    want = json.loads((DIR / "expected" / f"{fixture['name']}.json").read_text())
    d = m.read_data(**_kwargs(fixture))
    assert d["x_train"].dtype == np.float32 and d["y_train"].dtype == np.float32
    assert describe(d) == want


def test_one_ulp_changes_the_description():
    """The comparison sees a single value one unit in the last place away."""
    f = FIXTURES[0]
    d = m.read_data(**_kwargs(f))
    before = describe(d)
    d["x_test"].flat[0] = np.nextafter(d["x_test"].flat[0], np.float32(np.inf))
    assert describe(d)["test_x_sha256"] != before["test_x_sha256"]
