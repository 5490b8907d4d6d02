#!/usr/bin/env bash
# Fuzzes a freshly started node (release build, throwaway data directory, free loopback port)
# with schemathesis against the OpenAPI document it serves, twice: with a valid API key (every
# check; `ignored_auth` also repeats requests without it and expects 401), and with that key on
# another tenant's objects (only 404 or request-validation refusals allowed); stops the node by
# PID. Extra
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
key() { # tenant role: makes the tenant (once) and a key; prints the key
  "$NODE" tenant create "$1" --data-dir "$DATA" >/dev/null 2>&1 || true
  "$NODE" apikey create --tenant "$1" --role "$2" --data-dir "$DATA" | tail -n 1
}
FUZZ_KEY=$(key fuzz admin)
OTHER_KEY=$(key other admin)
"$NODE" serve --data-dir "$DATA" --bind "127.0.0.1:$PORT" --web-dir web >"$DATA/node.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  curl -sf "$URL/v1/health" >/dev/null && break
  sleep 0.2
done
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--max-examples 60 --seed 1)
echo "== schemathesis with a valid token (tenant fuzz; its ignored_auth check also sends each request without it)"
"$VENV/bin/schemathesis" --config-file compute-node/fuzz/schemathesis.toml \
  run "$URL/v1/openapi.json" -H "Authorization: Bearer $FUZZ_KEY" "${ARGS[@]}"

echo "== schemathesis with another tenant's token on tenant other's objects"
made() { # path json: creates an object as tenant other; prints its id
  curl -sf -X POST "$URL$1" -H "Authorization: Bearer $OTHER_KEY" \
    -H 'Content-Type: application/json' -d "$2" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
export OTHER_DATASET OTHER_MODEL OTHER_APIKEY OTHER_SECURE_MODEL
OTHER_DATASET=$(made /v1/datasets '{"name": "a", "task": "regression"}')
OTHER_MODEL=$(made /v1/models '{"name": "m", "preset": "regression_mlp", "input_shape": [3], "outputs": 1}')
OTHER_APIKEY=$(made /v1/apikeys '{"role": "viewer"}')
# A secure model of tenant other, granted to nobody (tenant fuzz must see a 404 on every route).
OTHER_SECURE_MODEL=$(made /v1/secure/models '{"name": "s", "grants": [], "model": {"input_shape": [2],
  "input": {"offset": [0.0], "scale": [1.0], "min": -4, "max": 4}, "output_scale": 1.0,
  "layers": [{"dense": {"inputs": 2, "outputs": 1, "weights": [1, 2], "bias": [0]}}, "square"]}}')
PYTHONPATH=compute-node/fuzz SCHEMATHESIS_HOOKS=other_tenant "$VENV/bin/schemathesis" \
  --config-file compute-node/fuzz/schemathesis.toml run "$URL/v1/openapi.json" \
  -H "Authorization: Bearer $FUZZ_KEY" --include-path-regex '^/v1/(datasets|models|apikeys|secure/models)/\{id\}' \
  --mode positive --checks other_tenant_sees_nothing,not_a_server_error "${ARGS[@]}"
for object in "datasets/$OTHER_DATASET" "models/$OTHER_MODEL" "secure/models/$OTHER_SECURE_MODEL"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/$object" -H "Authorization: Bearer $OTHER_KEY")
  [ "$status" = 200 ] || { echo "tenant other's $object is gone after the run ($status)"; exit 1; }
done

if grep -q " 500 " "$DATA/node.log"; then
  echo "the node answered 500:"; grep " 500 " "$DATA/node.log"; exit 1
fi
echo "== audit log: $("$NODE" audit export --data-dir "$DATA" | wc -l) entries"
