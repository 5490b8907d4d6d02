#!/usr/bin/env python3
"""JAX half of the side-by-side comparison (see shared/benchmarks/side_by_side.sh).

The same work as shared/secret-key/benches/side_by_side.rs, in plain JAX (jax.numpy, jax.lax; no
flax/optax), jit-compiled on CPU:

- mnist_mlp_train: one training epoch of mnist_mlp (784-128-64-10, ReLU) over SAMPLES samples;
- mnist_cnn_train: one training epoch of mnist_cnn (conv 8@5x5/2 pad 2 -> ReLU -> conv 16@3x3
  pad 1 -> ReLU -> max-pool 2 -> dense 64 -> ReLU -> dense 10) over SAMPLES 28x28 images;
- mnist_cnn_infer: mnist_cnn inference over SAMPLES images in batches of 64;
- image_cnn_train: one training epoch of image_cnn (conv 8@3x3 pad 1 -> ReLU -> avg-pool 2 ->
  conv 16@3x3 pad 1 -> ReLU -> max-pool 2 -> dense 32 -> ReLU -> dense 2) over SAMPLES/4 images
  of 64x64, 2 classes.

Batch 64, f32, softmax cross-entropy (mean over the batch), SGD learning rate 0.01 without
momentum, one jit-compiled step per batch (forward, loss, grad, update), batches in order (no
shuffle). Images are NHWC with HWIO kernels (XLA's native CPU layout; our engine is NCHW), the
same shapes otherwise. Inputs are random values in [0, 1) with random one-hot labels.

Each step or forward function is compiled ahead of time (jit(...).lower(...).compile()); the
compile time is reported separately and excluded. Then one untimed warm-up run and ROUNDS timed
runs, each from fresh parameters; the median is reported with the minimum and maximum.

Usage: python shared/benchmarks/jax_side_by_side.py [SAMPLES [ROUNDS]] (defaults 8192 and 3). Prints
human-readable lines and one line "RESULT {json}" in the schema of the Rust bench.
"""

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

BATCH = 64
LR = 0.01


def dense(key, fan_in, units):
    w = jax.random.normal(key, (fan_in, units), jnp.float32) * np.sqrt(2.0 / fan_in)
    return {"w": w, "b": jnp.zeros((units,), jnp.float32)}


def conv(key, kernel, cin, filters):
    fan_in = kernel * kernel * cin
    w = jax.random.normal(key, (kernel, kernel, cin, filters), jnp.float32) * np.sqrt(2.0 / fan_in)
    return {"w": w, "b": jnp.zeros((filters,), jnp.float32)}


def conv2d(p, x, stride, padding):
    y = jax.lax.conv_general_dilated(
        x,
        p["w"],
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return y + p["b"]


def max_pool(x, size):
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, size, size, 1), (1, size, size, 1), "VALID"
    )


def avg_pool(x, size):
    s = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, size, size, 1), (1, size, size, 1), "VALID")
    return s / (size * size)


def linear(p, x):
    return x @ p["w"] + p["b"]


# Each model: (init(key) -> params, apply(params, x) -> logits, input shape per sample, classes).
def mnist_mlp():
    def init(key):
        k = jax.random.split(key, 3)
        return [dense(k[0], 784, 128), dense(k[1], 128, 64), dense(k[2], 64, 10)]

    def apply(p, x):
        x = jax.nn.relu(linear(p[0], x))
        x = jax.nn.relu(linear(p[1], x))
        return linear(p[2], x)

    return init, apply, (784,), 10


def mnist_cnn():
    def init(key):
        k = jax.random.split(key, 4)
        return [conv(k[0], 5, 1, 8), conv(k[1], 3, 8, 16), dense(k[2], 16 * 7 * 7, 64), dense(k[3], 64, 10)]

    def apply(p, x):
        x = jax.nn.relu(conv2d(p[0], x, 2, 2))  # 14x14x8
        x = jax.nn.relu(conv2d(p[1], x, 1, 1))  # 14x14x16
        x = max_pool(x, 2).reshape(x.shape[0], -1)  # 7x7x16
        x = jax.nn.relu(linear(p[2], x))
        return linear(p[3], x)

    return init, apply, (28, 28, 1), 10


def image_cnn(size=64, classes=2):
    flat = 16 * (size // 4) * (size // 4)

    def init(key):
        k = jax.random.split(key, 4)
        return [conv(k[0], 3, 1, 8), conv(k[1], 3, 8, 16), dense(k[2], flat, 32), dense(k[3], 32, classes)]

    def apply(p, x):
        x = avg_pool(jax.nn.relu(conv2d(p[0], x, 1, 1)), 2)  # 32x32x8
        x = jax.nn.relu(conv2d(p[1], x, 1, 1))  # 32x32x16
        x = max_pool(x, 2).reshape(x.shape[0], -1)  # 16x16x16
        x = jax.nn.relu(linear(p[2], x))
        return linear(p[3], x)

    return init, apply, (size, size, 1), classes


def make_step(apply):
    def loss(params, x, y):
        logp = jax.nn.log_softmax(apply(params, x), axis=-1)
        return -jnp.mean(jnp.sum(y * logp, axis=-1))

    def step(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        return jax.tree_util.tree_map(lambda p, g: p - LR * g, params, grads), value

    return step


def data(rng, n, shape, classes):
    x = rng.random((n, *shape), dtype=np.float32)
    y = np.zeros((n, classes), np.float32)
    y[np.arange(n), rng.integers(0, classes, n)] = 1.0
    nb = n // BATCH
    xs = [jnp.asarray(x[i * BATCH : (i + 1) * BATCH]) for i in range(nb)]
    ys = [jnp.asarray(y[i * BATCH : (i + 1) * BATCH]) for i in range(nb)]
    return xs, ys


def median_of(rounds, f):
    f()
    runs = sorted(f() for _ in range(max(rounds, 1)))
    return runs[len(runs) // 2], runs[0], runs[-1]


def fresh(params):
    return jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), params)


class Report:
    def __init__(self, rounds):
        self.rounds = rounds
        self.results = []

    def record(self, work, samples, timing, compile_s):
        median, lo, hi = timing
        ips = samples / median
        print(
            f"  {work:<16} {'jax':<10} {median:9.3f} s (min {lo:.3f}, max {hi:.3f})  "
            f"{ips:10.1f} images/s   compile {compile_s:.3f} s",
            flush=True,
        )
        self.results.append(
            {
                "work": work,
                "form": "jax",
                "samples": samples,
                "median_s": median,
                "min_s": lo,
                "max_s": hi,
                "images_per_s": ips,
                "images_per_s_min": samples / hi,
                "images_per_s_max": samples / lo,
                "compile_s": compile_s,
            }
        )

    def train(self, rng, work, model, n):
        init, apply, shape, classes = model
        xs, ys = data(rng, n, shape, classes)
        params0 = init(jax.random.PRNGKey(1))
        start = time.perf_counter()
        step = jax.jit(make_step(apply), donate_argnums=0).lower(params0, xs[0], ys[0]).compile()
        compile_s = time.perf_counter() - start

        def epoch():
            params = fresh(params0)
            jax.block_until_ready(params)
            start = time.perf_counter()
            losses = []
            for xb, yb in zip(xs, ys):
                params, value = step(params, xb, yb)
                losses.append(value)
            jax.block_until_ready((params, losses))
            return time.perf_counter() - start

        self.record(work, len(xs) * BATCH, median_of(self.rounds, epoch), compile_s)

    def infer(self, rng, work, model, n):
        init, apply, shape, classes = model
        xs, _ = data(rng, n, shape, classes)
        params = init(jax.random.PRNGKey(1))
        start = time.perf_counter()
        forward = jax.jit(apply).lower(params, xs[0]).compile()
        compile_s = time.perf_counter() - start

        def run():
            start = time.perf_counter()
            outs = [forward(params, xb) for xb in xs]
            jax.block_until_ready(outs)
            return time.perf_counter() - start

        self.record(work, len(xs) * BATCH, median_of(self.rounds, run), compile_s)


def main():
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    samples = max(numbers[0] if numbers else 8192, 4 * BATCH)
    rounds = max(numbers[1] if len(numbers) > 1 else 3, 1)
    image_samples = samples // 4
    rng = np.random.default_rng(7)
    report = Report(rounds)
    print(
        f"jax_side_by_side: jax {jax.__version__}, backend {jax.default_backend()}, "
        f"batch {BATCH}, f32, cpus {os.cpu_count()}, median of {rounds} warm runs "
        "(one untimed warm-up each)",
        flush=True,
    )
    report.train(rng, "mnist_mlp_train", mnist_mlp(), samples)
    report.train(rng, "mnist_cnn_train", mnist_cnn(), samples)
    report.infer(rng, "mnist_cnn_infer", mnist_cnn(), samples)
    report.train(rng, "image_cnn_train", image_cnn(), image_samples)
    out = {
        "engine": "jax",
        "jax_version": jax.__version__,
        "jaxlib_version": jax.lib.__version__ if hasattr(jax.lib, "__version__") else None,
        "backend": jax.default_backend(),
        "batch": BATCH,
        "dtype": "f32",
        "layout": "NHWC",
        "threads": os.cpu_count(),
        "samples": samples,
        "image_samples": image_samples,
        "rounds": rounds,
        "results": report.results,
    }
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
