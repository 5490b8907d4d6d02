#!/usr/bin/env bash
# Upload throughput and the node's peak memory for one large ciphertext, to a local directory and
# to S3 (SeaweedFS `weed mini` on loopback, from .ci/services-setup). Release build; every server it
# starts is stopped by PID at the end.
#   bash compute-node/examples/upload_check.sh [MB] [RUNS]      (defaults 500, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
MB=${1:-500}
RUNS=${2:-3}
cargo build --release -q -p more-node --bin more-node --example upload_check
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

run_node() { # $1: label, rest: extra serve arguments
  local label=$1; shift
  local port; port=$(free_port)
  target/release/more-node serve --data-dir "$WORK/$label" --bind "127.0.0.1:$port" \
    --web-dir "$WORK/no-web" --insecure-no-auth --max-upload-mb $((MB * 2)) "$@" >"$WORK/$label.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/v1/health"
  echo "== $label"
  target/release/examples/upload_check "http://127.0.0.1:$port" "$pid" "$MB" "$RUNS"
  kill "$pid"
}

run_node file

WEED=${MORE_WEED_BIN:-target/services-venv/bin/weed}
if [ -x "$WEED" ]; then
  S3_PORT=$(free_port)
  mkdir -p "$WORK/weed"
  echo '{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"bench-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}' >"$WORK/weed/s3.json"
  ports=()
  for _ in $(seq 9); do ports+=("$(free_port)"); done
  (cd "$WORK/weed" && exec "$OLDPWD/$WEED" mini -dir="$WORK/weed/data" -s3.config="$WORK/weed/s3.json" -bucket=ciphertexts \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.port="$S3_PORT" -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -volume.port="${ports[2]}" \
    -volume.port.grpc="${ports[3]}" -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
    -s3.port.grpc="${ports[6]}" -admin.port="${ports[7]}" -admin.port.grpc="${ports[8]}" >"$WORK/weed.log" 2>&1) &
  PIDS+=("$!")
  for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:${ports[4]}/buckets/ciphertexts/" && break; sleep 0.2; done
  AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1 \
    AWS_ENDPOINT="http://127.0.0.1:$S3_PORT" AWS_ALLOW_HTTP=true run_node s3 --store s3://ciphertexts
else
  echo "== s3 skipped: no weed binary (bash .ci/services-setup)"
fi
