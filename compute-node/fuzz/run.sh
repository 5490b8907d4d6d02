#!/usr/bin/env bash
# Fuzzes a freshly started node (release build, throwaway data directory, free loopback port)
# with schemathesis against the OpenAPI document it serves; stops the node by PID. Extra
# arguments go to `schemathesis run` (default: 60 examples per operation, seed 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=target/fuzz-venv
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != "schemathesis, version 4.32.5" ]; then
  echo "== pip install schemathesis 4.32.5 into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis==4.32.5'
fi
NODE=${MORE_NODE_BIN:-target/release/more-node}
DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$NODE" serve --data-dir "$DATA" --bind "127.0.0.1:$PORT" --web-dir web >"$DATA/node.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null && break
  sleep 0.2
done
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--max-examples 60 --seed 1)
"$VENV/bin/schemathesis" --config-file compute-node/fuzz/schemathesis.toml \
  run "http://127.0.0.1:$PORT/v1/openapi.json" "${ARGS[@]}"
if grep -q " 500 " "$DATA/node.log"; then
  echo "the node answered 500:"; grep " 500 " "$DATA/node.log"; exit 1
fi
