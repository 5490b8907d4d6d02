#!/usr/bin/env bash
# The Python package (python/, PyO3 + maturin, abi3 wheel): a venv under target/pyenv, the wheel
# built with the workspace's target directory (crates shared with the Rust builds), and pytest
# against a real node (target/release/more-node), the command line (more-client) and the page's
# wasm client (web/pkg under Node: run after .ci/build-web.sh, as .ci/test does).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/target/pyenv"

if [ ! -x "$VENV/bin/python" ]; then
  echo "== python venv ($VENV)"
  python3 -m venv "$VENV"
fi
# The venv's bin first: pip's in-tree build (no isolation) calls `maturin` from PATH.
export PATH="$VENV/bin:$PATH"
# pydicom writes the PACS test's DICOM files, fhir.resources validates its FHIR output
# (python/tests/test_pacs.py).
"$VENV/bin/pip" install -q --disable-pip-version-check maturin pytest numpy safetensors \
  pydicom==3.0.2 fhir.resources==8.3.0

echo "== binaries for the tests (more-node, more-client; release)"
cargo build --release -p more-node -p more-cli

echo "== pip install ./python (release build of the extension, shared target dir)"
CARGO_TARGET_DIR="$ROOT/target" "$VENV/bin/pip" install -q --disable-pip-version-check \
  --no-build-isolation --force-reinstall --no-deps ./python

echo "== pytest python/tests"
status=0
(cd "$ROOT/target" && MORE_REQUIRE_PAGE_INTEROP=1 MORE_REQUIRE_PACS=1 MORE_NODE_BIN="$ROOT/target/release/more-node" \
  MORE_CLIENT_BIN="$ROOT/target/release/more-client" \
  "$VENV/bin/python" -m pytest -q "$ROOT/python/tests") || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
