"""Encryption round trips: dtypes, shapes (0-d, 1-d, n-d, empty), edge values, representations,
key files, and the errors."""

import numpy as np
import pytest

import more_client as m

# Tolerances as shared/secret-key/tests/homomorphic_ops.rs: |dec - x| <= rtol * (1 + |x|).
RTOL = {np.float32: 5e-5, np.float64: 1e-9}
SHAPES = [(), (1,), (7,), (3, 4), (2, 3, 4), (2, 1, 5, 3), (0, 3)]


@pytest.fixture(scope="module")
def key():
    return m.SecretKey.generate()


def edge_values(dtype, shape, rng):
    x = np.asarray(rng.standard_normal(shape) * 10)
    flat = x.reshape(-1)
    edges = [0.0, -0.0, 1.0, -1.0, 1e-6, -1e-6, 1e3, -1e3, 1e6, 1e-30]
    flat[: min(len(flat), len(edges))] = edges[: len(flat)]
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("representation", ["compact", "matrix"])
def test_round_trip_keeps_shape_dtype_and_values(key, dtype, shape, representation):
    rng = np.random.default_rng(abs(hash((shape, representation))) % 2**32)
    x = edge_values(dtype, shape, rng)
    c = key.encrypt(x, representation=representation)
    assert c.shape == list(shape)
    assert c.dtype == np.dtype(dtype).name
    assert c.representation == representation
    y = key.decrypt(c)
    assert y.dtype == dtype and y.shape == x.shape
    assert np.all(np.abs(y - x) <= RTOL[dtype] * (1 + np.abs(x)))
    # The same through raw bytes.
    y2 = key.decrypt(m.Ciphertext.from_bytes(bytes(c)))
    assert np.array_equal(y, y2)
    assert np.array_equal(key.decrypt(c.to_bytes()), y)


def test_random_arrays_many_seeds(key):
    rng = np.random.default_rng(7)
    for _ in range(20):
        shape = tuple(rng.integers(1, 6, size=rng.integers(1, 4)))
        dtype = [np.float32, np.float64][rng.integers(0, 2)]
        x = (rng.standard_normal(shape) * 10 ** rng.uniform(-3, 3)).astype(dtype)
        y = key.decrypt(key.encrypt(x))
        assert np.all(np.abs(y - x) <= RTOL[dtype] * (1 + np.abs(x)))


def test_non_contiguous_and_shadows(key):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    assert np.allclose(key.decrypt(key.encrypt(x)), x, atol=1e-3)
    y = np.eye(3, dtype=np.float32)
    assert np.allclose(key.decrypt(key.encrypt(y, shadow="simplex")), y, atol=1e-5)
    matched = m.moment_matched_shadow(x)
    assert np.allclose(key.decrypt(key.encrypt(x, shadow=matched)), x, atol=1e-3)
    with pytest.raises(m.DataError):
        key.encrypt(x, shadow="uniform")
    with pytest.raises(m.DataError):
        key.encrypt(x, shadow={"kind": "moment_matched", "mean": [0.0] * 5, "std": [1.0] * 5})


def test_ciphertexts_differ_and_hide_the_values(key):
    x = np.full((4,), 3.0, np.float32)
    a, b = bytes(key.encrypt(x)), bytes(key.encrypt(x))
    assert a != b  # fresh shadows every time


def test_errors(key, tmp_path):
    with pytest.raises(m.DataError, match="float32 or float64"):
        key.encrypt(np.arange(3))
    with pytest.raises(m.DataError):
        key.encrypt([1.0, 2.0])
    scalar = key.decrypt(key.encrypt(np.float32(1.5)))
    assert scalar.shape == () and scalar.dtype == np.float32 and abs(scalar - 1.5) < 1e-4
    with pytest.raises(ValueError, match="compact"):
        key.encrypt(np.zeros(2, np.float32), representation="planar")
    other = m.SecretKey.generate()
    with pytest.raises(m.DecryptionError, match="different compact bases"):
        other.decrypt(key.encrypt(np.ones(3, np.float32)))
    with pytest.raises(m.DecryptionError):
        key.decrypt(b"not a tensor")
    with pytest.raises(TypeError):
        key.decrypt(42)
    assert issubclass(m.DecryptionError, m.MoreError)


def test_key_files(key, tmp_path):
    path = tmp_path / "k.morekey"
    key.save(path, "pass phrase")
    assert (path.stat().st_mode & 0o777) == 0o600
    loaded = m.SecretKey.load(path, "pass phrase")
    assert loaded.fingerprint == key.fingerprint and len(key.fingerprint) == 16
    x = np.linspace(-1, 1, 10, dtype=np.float32)
    assert np.allclose(loaded.decrypt(key.encrypt(x)), x, atol=1e-4)
    with pytest.raises(m.KeyFileError):
        m.SecretKey.load(path, "wrong")
    with pytest.raises(m.KeyFileError, match="exists"):
        key.save(path, "pass phrase")
    key.save(path, "new", overwrite=True)
    assert m.SecretKey.load(str(path), "new").fingerprint == key.fingerprint
    with pytest.raises(OSError):
        m.SecretKey.load(tmp_path / "missing.morekey", "x")
    (tmp_path / "junk").write_bytes(b"junk")
    with pytest.raises(m.KeyFileError):
        m.SecretKey.load(tmp_path / "junk", "x")
    with pytest.raises(m.KeyFileError):
        key.save(tmp_path / "empty.morekey", "")
    assert m.SecretKey.from_wrapped(key.wrap("p"), "p").fingerprint == key.fingerprint
    assert "fingerprint" in repr(key)
