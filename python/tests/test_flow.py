"""A full flow against a real node: upload encrypted data, train (progress with decrypted
losses), predict encrypted, download the decrypted model; the node's decrypted predictions equal
the decrypted model's plaintext forward pass. And the node's errors as exceptions."""

import numpy as np
import pytest
import safetensors.numpy

import more_client as m


def clinical(n=150, seed=3):
    """Six standardised clinical-like features and three classes that depend on them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    score = x[:, 0] + 0.8 * x[:, 1] - 0.5 * x[:, 2]
    labels = np.digitize(score, [-0.6, 0.6])
    return x, np.eye(3, dtype=np.float32)[labels], labels


def test_full_flow(node_url, node_token):
    node = m.Node(node_url, token=node_token)
    assert node.health()["status"] == "ok"
    key = m.SecretKey.generate()
    x, y, labels = clinical()
    train_x, train_y, test_x, test_labels = x[:120], y[:120], x[120:], labels[120:]
    ds = node.upload(key, train_x, train_y, task="classification", name="clinical", shadow="matched")
    info = node.dataset(ds)
    assert info["state"] == "ready" and info["samples"] == 120 and info["feature_shape"] == [6]
    model = node.create_model(ds)
    job = node.train(model, ds, epochs=4, batch_size=16, learning_rate=0.1, key=key, poll=0.1)
    progress = list(job)
    assert progress[-1]["state"] == "completed" and progress[-1]["fraction"] == 1.0
    fractions = [p["fraction"] for p in progress]
    assert fractions == sorted(fractions)
    losses = progress[-1]["losses"]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert np.allclose(node.losses(job.job_id, key), losses)

    logits = node.predict(key, model, test_x)
    assert logits.shape == (30, 3) and logits.dtype == np.float32
    st = node.weights(model, key)
    tensors = safetensors.numpy.load(st)
    assert tensors and all(k.startswith("layers.") for k in tensors)
    assert all(t.dtype == np.float32 for t in tensors.values())
    plain = m.forward_plain(st, test_x)
    assert np.allclose(logits, plain, rtol=1e-3, atol=1e-3)
    assert (logits.argmax(1) == plain.argmax(1)).mean() == 1.0
    assert (logits.argmax(1) == test_labels).mean() > 0.5
    # The clinical report, counted here with NumPy from the same predictions.
    names = ["low", "middle", "high"]
    report = m.classification_report(logits, test_labels, names, y[:120], positive="high")
    predicted = logits.argmax(1)
    assert report["accuracy"]["numerator"] == int((predicted == test_labels).sum())
    assert report["accuracy"]["denominator"] == 30
    majority = int(y[:120].sum(0).argmax())
    assert report["majorityClass"] == names[majority]
    assert report["majorityAccuracy"]["numerator"] == int((test_labels == majority).sum())
    tp = int(((predicted == 2) & (test_labels == 2)).sum())
    assert report["binary"]["sensitivity"]["numerator"] == tp
    assert report["binary"]["sensitivity"]["denominator"] == int((test_labels == 2).sum())
    assert 0.0 <= report["roc"]["auc"] <= 1.0
    with pytest.raises(m.DataError):
        m.classification_report(logits, test_labels, names, y[:120], positive="none")
    with pytest.raises(m.DataError):
        m.classification_report(logits[:10], test_labels, names, y[:120])
    # The encrypted bundle is not safetensors and does not decrypt under another key.
    bundle = node.weights(model)
    with pytest.raises(m.DecryptionError):
        m.SecretKey.generate().decrypt_model(bundle)


def test_node_errors(node_url):
    node = m.Node(node_url)
    with pytest.raises(m.NodeError) as e:
        node.dataset("nope")
    assert e.value.status == 404 and e.value.code == "not_found"
    with pytest.raises(m.NodeUnreachable):
        m.Node("http://127.0.0.1:9").health()
    with pytest.raises(m.NodeUnreachable, match="http://"):
        m.Node("https://example.org")
    key = m.SecretKey.generate()
    with pytest.raises(m.DataError):
        node.upload(key, np.zeros((3, 2), np.float32), np.zeros((4, 2), np.float32))
    # An untrained model's weights are public plaintext: never "decrypted".
    model = node.create_model(input_shape=[4], outputs=1, preset="regression_mlp")
    with pytest.raises(m.DecryptionError, match="plaintext"):
        node.weights(model, key)
    # Training on an unknown dataset.
    with pytest.raises(m.NodeError):
        node.train(model, "nope")
    # A diverging run ends failed: JobFailed with the node's reason.
    x, y, _ = clinical(40)
    ds = node.upload(key, x, y)
    with pytest.raises(m.JobFailed, match="diverging"):
        node.train(node.create_model(ds), ds, epochs=3, batch_size=8, learning_rate=1e9,
                   key=key, poll=0.1).wait()


def test_token_is_sent_as_bearer(monkeypatch):
    """`Node(url, token=...)`, else MORE_TOKEN, goes out as `Authorization: Bearer`."""
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            body = b'{"status":"ok","version":"test"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.delenv("MORE_TOKEN", raising=False)
        m.Node(url, token="t1").health()
        m.Node(url).health()
        monkeypatch.setenv("MORE_TOKEN", "t2")
        m.Node(url).health()
    finally:
        server.shutdown()
    assert seen == ["Bearer t1", None, "Bearer t2"]
