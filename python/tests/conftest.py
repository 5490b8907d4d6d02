"""Fixtures: a real compute node (the `more-node` binary on a free loopback port, stopped by its
PID) and the `more-client` command line, both from the workspace's target directory (override
with MORE_NODE_BIN / MORE_CLIENT_BIN)."""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def wait_until_answers(proc, url, log_path, what, timeout=30):
    """Polls `url` until it answers 200 (a server started as `proc` is up); raises with the
    server's log (`log_path`) if `proc` exits first or `timeout` seconds pass."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{what} did not start: {Path(log_path).read_text()}")
        time.sleep(0.1)

ROOT = Path(__file__).resolve().parents[2]


def _binary(env: str, name: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / name
        if p.exists():
            return p
    pytest.fail(f"{name} is not built: run `cargo build --release -p more-node -p more-cli` "
                f"or set {env}")


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    return _binary("MORE_CLIENT_BIN", "more-client")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_TOKENS = {}


@pytest.fixture(scope="session")
def node_token(node_url) -> str:
    """The API key (tenant `pytest`, role trainer) of the `node_url` node, also in MORE_TOKEN."""
    return _TOKENS["node"]


@pytest.fixture(scope="session")
def other_tokens(node_url) -> dict:
    """Trainer API keys of two more tenants of the `node_url` node, `pytest-b` and `pytest-c`
    (secure mode: a model published by `pytest` is granted to one, not the other)."""
    return {t: _TOKENS[t] for t in OTHER_TENANTS}


OTHER_TENANTS = ("pytest-b", "pytest-c")


@pytest.fixture(scope="session")
def node_url(tmp_path_factory):
    binary = _binary("MORE_NODE_BIN", "more-node")
    data = tmp_path_factory.mktemp("node-data")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # Requests need a token: the client and the `more` CLI read MORE_TOKEN.
    subprocess.run([str(binary), "tenant", "create", "pytest", "--data-dir", str(data)],
                   check=True, capture_output=True)
    made = subprocess.run([str(binary), "apikey", "create", "--tenant", "pytest", "--role",
                           "trainer", "--data-dir", str(data)],
                          check=True, capture_output=True, text=True)
    _TOKENS["node"] = made.stdout.splitlines()[-1]
    for tenant in OTHER_TENANTS:
        subprocess.run([str(binary), "tenant", "create", tenant, "--data-dir", str(data)],
                       check=True, capture_output=True)
        made = subprocess.run([str(binary), "apikey", "create", "--tenant", tenant, "--role",
                               "trainer", "--data-dir", str(data)],
                              check=True, capture_output=True, text=True)
        _TOKENS[tenant] = made.stdout.splitlines()[-1]
    os.environ["MORE_TOKEN"] = _TOKENS["node"]
    log = open(data / "node.log", "wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--data-dir", str(data), "--bind", f"127.0.0.1:{port}",
         "--web-dir", str(data / "no-web")],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_answers(proc, f"{url}/v1/health", data / "node.log", "the node")
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
