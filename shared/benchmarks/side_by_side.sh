#!/usr/bin/env bash
# Our engine and JAX side by side, same machine, same shapes (batch 64, f32, CPU).
#
# Usage: shared/benchmarks/side_by_side.sh [SAMPLES [ROUNDS]]   (defaults 8192 and 3)
#
# 1. Creates target/bench-venv (python3 -m venv) and installs the pinned jax[cpu] and matplotlib
#    from PyPI; when that fails (PyPI unreachable), says so and measures our engine only.
# 2. Runs `cargo bench -p more-secret-key --bench side_by_side -- SAMPLES ROUNDS`, then
#    shared/benchmarks/jax_side_by_side.py SAMPLES ROUNDS, one after the other (never at the same time).
# 3. shared/benchmarks/side_by_side_report.py writes target/side-by-side/table.md and
#    target/side-by-side/images_per_second.png.
#
# Honours CARGO_TARGET_DIR for the Rust build; the venv and outputs go to ./target of the repo.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SAMPLES="${1:-8192}"
ROUNDS="${2:-3}"
VENV="$ROOT/target/bench-venv"
OUT="$ROOT/target/side-by-side"
JAX_PINS=("jax[cpu]==0.10.2" "jaxlib==0.10.2" "matplotlib==3.11.2")
mkdir -p "$OUT"
rm -f "$OUT/ours.json" "$OUT/jax.json" "$OUT/table.md" "$OUT/images_per_second.png"

echo "== machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

HAVE_JAX=0
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || echo "!! could not create $VENV (python3 -m venv failed)"
fi
if [ -x "$VENV/bin/python" ]; then
  if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --retries 1 --timeout 30 "${JAX_PINS[@]}"; then
    HAVE_JAX=1
  else
    echo "!! pip could not install ${JAX_PINS[*]} (PyPI unreachable?): skipping the JAX side," \
      "measuring and reporting our engine only"
  fi
fi

echo "== our engine: cargo bench -p more-secret-key --bench side_by_side -- $SAMPLES $ROUNDS"
cargo bench -p more-secret-key --bench side_by_side -- "$SAMPLES" "$ROUNDS" | tee "$OUT/ours.log"
sed -n 's/^RESULT //p' "$OUT/ours.log" | tail -1 >"$OUT/ours.json"

if [ "$HAVE_JAX" = 1 ]; then
  echo "== JAX: shared/benchmarks/jax_side_by_side.py $SAMPLES $ROUNDS"
  "$VENV/bin/python" shared/benchmarks/jax_side_by_side.py "$SAMPLES" "$ROUNDS" | tee "$OUT/jax.log"
  sed -n 's/^RESULT //p' "$OUT/jax.log" | tail -1 >"$OUT/jax.json"
fi

echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
PY=python3
[ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"
"$PY" shared/benchmarks/side_by_side_report.py "$OUT/ours.json" "$OUT/jax.json" "$OUT"
