#!/usr/bin/env bash
# Builds what the page loads: the wasm client into web/pkg (release). The SECURITY.md the page
# links is rendered by the node itself at /security (more-server routes/security.rs). The browser
# tests' extras (the test build of the client, native examples, DICOM test files) are built by
# .ci/build-web-tests.sh. The page's npm dependency comes from .ci/setup.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "0.2.130" ]; then
    # A debug build (--debug): it writes the same bytes as a release build (compared on the page's
    # wasm), takes 2.2 s there instead of 0.6, and installs in 67 s instead of 163 s (2 cores, quiet).
    cargo install wasm-bindgen-cli --version 0.2.130 --debug
fi
wasm=target/wasm32-unknown-unknown/release/more_wasm.wasm
cargo build -p more-wasm --target wasm32-unknown-unknown --release
wasm-bindgen --target web --out-dir web/pkg "$wasm"
if grep -q export_raw_for_tests web/pkg/more_wasm.js web/pkg/more_wasm_bg.wasm; then
    echo "web/pkg (release) contains export_raw_for_tests" >&2
    exit 1
fi
ls -l web/pkg/more_wasm_bg.wasm
