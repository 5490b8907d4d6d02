"""Secure mode (BFV) from Python against a real node with three tenants: `pytest` publishes a
quantized model granted to `pytest-b`; `pytest-b` predicts on encrypted samples and gets exactly
the model's plaintext integer forward, computed here in NumPy from the model JSON; `pytest-c`
(no grant) gets 404; a model that could overflow is refused; another key decrypts noise."""

import json

import numpy as np
import pytest

import more_client as m

CLASSES = ["low", "medium", "high"]


def make_model(seed=30, inputs=12, hidden=8, outputs=3):
    """A random quantized table model: per-input offset and scale into [-8, 8], dense, x², dense."""
    rng = np.random.default_rng(seed)
    return {
        "input_shape": [inputs],
        "input": {"offset": rng.normal(0.0, 1.0, inputs).round(3).tolist(),
                  "scale": rng.uniform(0.2, 0.5, inputs).round(3).tolist(),
                  "min": -8, "max": 8},
        "layers": [
            {"dense": {"inputs": inputs, "outputs": hidden,
                       "weights": rng.integers(-7, 8, inputs * hidden).tolist(),
                       "bias": rng.integers(-50, 51, hidden).tolist()}},
            "square",
            {"dense": {"inputs": hidden, "outputs": outputs,
                       "weights": rng.integers(-7, 8, hidden * outputs).tolist(),
                       "bias": rng.integers(-50, 51, outputs).tolist()}},
        ],
        "output_scale": 0.0005,
        "class_names": CLASSES,
    }


def layers_of(model):
    """(kind, fields) per layer of the serde JSON ({"dense": {...}} or "square")."""
    for layer in model["layers"]:
        if isinstance(layer, str):
            yield layer, {}
        else:
            ((kind, fields),) = layer.items()
            yield kind, fields


def quantize(model, x):
    """q = clamp(round((x - offset) / scale), min, max) in float32, round half away from zero."""
    q = model["input"]
    v = ((x.astype(np.float32) - np.float32(q["offset"])) / np.float32(q["scale"])).astype(np.float64)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(r, q["min"], q["max"]).astype(np.int64)


def forward(model, q):
    """The exact integer forward of the model (int64; the worst case is far below 2^62)."""
    h = q
    for kind, f in layers_of(model):
        if kind == "dense":
            w = np.asarray(f["weights"], dtype=np.int64).reshape(f["outputs"], f["inputs"])
            h = h @ w.T + np.asarray(f["bias"], dtype=np.int64)
        elif kind == "square":
            h = h * h
        else:
            raise AssertionError(f"layer {kind} is not used here")
    return h


def worst_case_bits(model):
    """Interval arithmetic over the input range, in Python integers: bits of the largest |value|."""
    lo_hi = [(model["input"]["min"], model["input"]["max"])] * model["input_shape"][0]
    top = 0
    for kind, f in layers_of(model):
        if kind == "dense":
            w = np.asarray(f["weights"]).reshape(f["outputs"], f["inputs"])
            nxt = []
            for row, b in zip(w.tolist(), f["bias"]):
                lo = hi = b
                for wi, (a, c) in zip(row, lo_hi):
                    lo += min(wi * a, wi * c)
                    hi += max(wi * a, wi * c)
                nxt.append((lo, hi))
            lo_hi = nxt
        else:
            lo_hi = [(0 if a <= 0 <= c else min(a * a, c * c), max(a * a, c * c)) for a, c in lo_hi]
        top = max(top, max(max(abs(a), abs(c)) for a, c in lo_hi))
    return top.bit_length()


@pytest.fixture(scope="module")
def published(node_url, node_token, other_tokens):
    owner = m.Node(node_url, token=node_token)
    model = make_model()
    summary = owner.secure_publish("risk (python)", model, grants=["pytest-b"])
    yield model, summary
    owner.secure_delete(summary["id"])


def test_granted_tenant_predicts_exactly(node_url, node_token, other_tokens, published):
    model, summary = published
    assert summary["grants"] == ["pytest-b"]
    assert summary["bound_bits"] == worst_case_bits(model)
    granted = m.Node(node_url, token=other_tokens["pytest-b"])
    assert summary["id"] in [s["id"] for s in granted.secure_models()]

    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 2.0, (300, 12)).astype(np.float32)
    out = granted.secure_predict(summary["id"], x)
    expected = forward(model, quantize(model, x))
    assert out.values.dtype == np.int64 and out.values.shape == (300, 3)
    np.testing.assert_array_equal(out.values, expected)
    np.testing.assert_array_equal(out.predictions, expected.argmax(axis=1))
    assert out.classes == [CLASSES[i] for i in expected.argmax(axis=1)]
    np.testing.assert_array_equal(out.logits, expected * 0.0005)
    assert out.noise_budget_bits > 0

    # Quantized int64 samples are taken as they are.
    q = rng.integers(-8, 9, (5, 12)).astype(np.int64)
    np.testing.assert_array_equal(granted.secure_predict(summary["id"], q).values, forward(model, q))


def test_tenant_without_grant_gets_404(node_url, other_tokens, published):
    _, summary = published
    other = m.Node(node_url, token=other_tokens["pytest-c"])
    assert summary["id"] not in [s["id"] for s in other.secure_models()]
    for call in (lambda: other.secure_model(summary["id"]),
                 lambda: other.secure_predict(summary["id"], np.zeros((2, 12), np.float32))):
        with pytest.raises(m.NodeError) as e:
            call()
        assert e.value.status == 404, e.value


def test_key_level_api_and_another_key_decrypts_noise(node_url, other_tokens, published):
    model, summary = published
    granted = m.Node(node_url, token=other_tokens["pytest-b"])
    key = m.BfvSecretKey.generate()
    assert repr(key) == "BfvSecretKey(..)"
    eval_key = key.evaluation_key()
    assert 0 < len(eval_key) <= 1 << 20
    key_id = json.loads(granted._c.upload_evaluation_key(eval_key))["id"]
    q = np.random.default_rng(8).integers(-8, 9, (40, 12)).astype(np.int64)
    batch = key.encrypt_batch(json.dumps(model), q)
    assert batch[:4] == b"MSB1"
    answer = granted._c.secure_predict_batch(summary["id"], key_id, batch)
    expected = forward(model, q)
    np.testing.assert_array_equal(key.decrypt_outputs(model, answer).values, expected)
    # Another key: the same answer decrypts to unrelated values.
    wrong = m.BfvSecretKey.generate().decrypt_outputs(model, answer).values
    assert (wrong != expected).mean() > 0.95


def test_overflowing_model_is_refused(node_url, node_token):
    owner = m.Node(node_url, token=node_token)
    big = 1 << 20
    model = {
        "input_shape": [4],
        "input": {"offset": [0.0], "scale": [1.0], "min": 0, "max": big},
        "layers": [{"dense": {"inputs": 4, "outputs": 2, "weights": [big] * 8, "bias": [0, 0]}},
                   "square",
                   {"dense": {"inputs": 2, "outputs": 2, "weights": [1, -1, -1, 1], "bias": [0, 0]}}],
        "output_scale": 1.0,
    }
    with pytest.raises(m.NodeError) as e:
        owner.secure_publish("too big", model)
    assert e.value.status == 422 and e.value.code == "may_overflow", e.value
    assert "layer" in str(e.value)


def test_owner_quota_limits_a_granted_tenant(node_url, node_token, other_tokens):
    owner = m.Node(node_url, token=node_token)
    summary = owner.secure_publish("quota (python)", make_model(seed=31), grants=["pytest-b"],
                                   samples_per_day=20)
    try:
        assert summary["samples_per_day"] == 20
        granted = m.Node(node_url, token=other_tokens["pytest-b"])
        x = np.zeros((12, 12), dtype=np.float32)
        granted.secure_predict(summary["id"], x)
        with pytest.raises(m.NodeError) as e:
            granted.secure_predict(summary["id"], x)
        assert e.value.status == 429 and e.value.code == "quota_exceeded", e.value
        # A grant change that raises the quota lets the same batch through.
        assert owner.secure_set_grants(summary["id"], ["pytest-b"],
                                       samples_per_day=40)["samples_per_day"] == 40
        granted.secure_predict(summary["id"], x)
    finally:
        owner.secure_delete(summary["id"])
