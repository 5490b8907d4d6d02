"""Interoperability with the page's own wasm client (web/pkg under Node) and with the command
line (which calls the same `more_client::wrap` for key files and `SecretKey::encrypt_compact` for
data). A key file made by the CLI is read by Python and the other way round; data Python
encrypted is decrypted by the CLI (losses, predictions) and data the CLI encrypted is decrypted by
Python."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import more_client as m

PASS = "interop passphrase"


def cli(cli_bin, *args):
    env = {**os.environ, "MORE_PASSPHRASE": PASS}  # MORE_TOKEN: the node's key (conftest)
    r = subprocess.run([str(cli_bin), *args], env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"more-client {args}: {r.returncode} {r.stderr}"
    return r.stdout


def field(out, name):
    return next(l.split(" ", 1)[1] for l in out.splitlines() if l.startswith(name + " "))


def test_key_files_both_ways(cli_bin, tmp_path):
    path = tmp_path / "cli.morekey"
    fp = cli(cli_bin, "key", "new", "--out", str(path)).strip()
    assert m.SecretKey.load(path, PASS).fingerprint == fp
    key = m.SecretKey.generate()
    key.save(tmp_path / "py.morekey", PASS)
    assert cli(cli_bin, "key", "fingerprint", "--key", str(tmp_path / "py.morekey")).strip() == key.fingerprint


def test_python_encrypts_cli_decrypts(cli_bin, node_url, tmp_path):
    path = tmp_path / "k.morekey"
    cli(cli_bin, "key", "new", "--out", str(path))
    key = m.SecretKey.load(path, PASS)
    node = m.Node(node_url)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((100, 4)).astype(np.float32)
    labels = (x[:, 0] - x[:, 3] > 0).astype(int)
    ds = node.upload(key, x[:80], np.eye(2, dtype=np.float32)[labels[:80]])
    out = cli(cli_bin, "train", "--node", node_url, "--dataset", ds, "--epochs", "2",
              "--batch", "8", "--key", str(path))
    assert field(out, "state") == "completed"
    cli_losses = [float(v) for v in field(out, "losses").split()]
    assert np.allclose(node.losses(field(out, "job"), key), cli_losses, rtol=1e-6)
    test_csv = tmp_path / "x.csv"
    np.savetxt(test_csv, x[80:], delimiter=",", header="a,b,c,d", comments="")
    preds = tmp_path / "p.csv"
    model = field(out, "model")
    cli(cli_bin, "predict", "--key", str(path), "--node", node_url, "--model", model,
        "--input", str(test_csv), "--out", str(preds))
    with open(preds) as f:
        rows = list(csv.DictReader(f))
    cli_out = np.array([[float(r["output_0"]), float(r["output_1"])] for r in rows], np.float32)
    py_out = node.predict(key, model, x[80:])
    assert np.allclose(cli_out, py_out, rtol=1e-3, atol=1e-3)


def test_cli_encrypts_python_decrypts(cli_bin, node_url, tmp_path):
    path = tmp_path / "k.morekey"
    cli(cli_bin, "key", "new", "--out", str(path))
    table = tmp_path / "patients.csv"
    rng = np.random.default_rng(9)
    with open(table, "w") as f:
        f.write("age,bp,bmi,outcome\n")
        for _ in range(90):
            age, bp, bmi = rng.integers(30, 80), rng.integers(100, 170), rng.uniform(18, 35)
            f.write(f"{age},{bp},{bmi:.1f},{'sick' if age / 80 + bp / 170 > 1.6 else 'well'}\n")
    test_csv = tmp_path / "test.csv"
    ds = cli(cli_bin, "upload", "--key", str(path), "--node", node_url, "--csv", str(table),
             "--target", "outcome", "--test-out", str(test_csv)).strip()
    key = m.SecretKey.load(path, PASS)
    node = m.Node(node_url)
    model = node.create_model(ds)
    last = node.train(model, ds, epochs=2, batch_size=8, key=key, poll=0.1).wait()
    assert last["state"] == "completed" and len(last["losses"]) == 2
    with open(test_csv) as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = [i for i, h in enumerate(header) if not h.startswith("target:")]
        x = np.array([[float(r[i]) for i in cols] for r in reader], np.float32)
    logits = node.predict(key, model, x)
    plain = m.forward_plain(node.weights(model, key), x)
    assert np.allclose(logits, plain, rtol=1e-3, atol=1e-3)


def _page_wasm(*args):
    """Runs python/tests/page_wasm.mjs: the page's own wasm client (web/pkg) under Node."""
    root = Path(__file__).resolve().parents[2]
    pkg = Path(os.environ.get("MORE_WEB_PKG", root / "web" / "pkg"))
    if shutil.which("node") is None or not (pkg / "more_wasm.js").exists():
        msg = "the page's wasm package (web/pkg, bash .ci/build-web.sh) or node is missing"
        if os.environ.get("MORE_REQUIRE_PAGE_INTEROP"):
            pytest.fail(msg)
        pytest.skip(msg)
    r = subprocess.run(["node", str(Path(__file__).with_name("page_wasm.mjs")), *map(str, args)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_page_key_file_and_ciphertexts_both_ways(tmp_path):
    """A key file and a ciphertext made by the page's wasm client (the calls the page's Worker
    makes: SecretKey.generate, export_wrapped, encrypt) are read and decrypted by Python; what
    Python encrypts, and a key file Python saves, are read by the page's client."""
    _page_wasm("make", tmp_path, PASS)
    made = json.loads((tmp_path / "page.json").read_text())
    key = m.SecretKey.load(tmp_path / "page.morekey", PASS)
    assert key.fingerprint == made["fingerprint"]
    page_ct = m.Ciphertext.from_bytes((tmp_path / "page.ct").read_bytes())
    assert page_ct.representation == "compact" and page_ct.shape == made["shape"]
    x = np.asarray(made["data"], np.float32).reshape(made["shape"])
    assert np.allclose(key.decrypt(page_ct), x, atol=1e-5)

    y = np.linspace(-3, 3, 10, dtype=np.float32).reshape(2, 5)
    (tmp_path / "py.ct").write_bytes(bytes(key.encrypt(y)))
    back = json.loads(_page_wasm("decrypt", tmp_path, PASS))
    assert back["shape"] == [2, 5]
    assert np.allclose(np.asarray(back["data"], np.float32).reshape(2, 5), y, atol=1e-5)

    other = m.SecretKey.generate()
    other.save(tmp_path / "py.morekey", PASS)
    assert _page_wasm("fingerprint", tmp_path / "py.morekey", PASS).strip() == other.fingerprint
