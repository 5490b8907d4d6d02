#!/usr/bin/env bash
# Builds the browser side: the wasm client into web/pkg and the page's npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "0.2.130" ]; then
    cargo install wasm-bindgen-cli --version 0.2.130
fi
npm ci --prefix web
cargo build -p more-wasm --target wasm32-unknown-unknown --release
wasm-bindgen --target web --out-dir web/pkg \
    target/wasm32-unknown-unknown/release/more_wasm.wasm
# Native plaintext reference and encryption timing used by web/tests/e2e.test.mjs.
cargo build -p more-wasm --release --example native_reference
# The page links SECURITY.md; the node serves web/ only.
cp SECURITY.md web/SECURITY.md
ls -l web/pkg/more_wasm_bg.wasm
