#!/usr/bin/env bash
# Builds the browser side: the wasm client into web/pkg (release, what the page loads), the test
# build of the same client into target/web-pkg-test, and the page's npm dependencies.
#
# target/web-pkg-test is built with the `test-export` feature (ClientKey.export_raw_for_tests, the
# raw key for the leak search in web/tests). It lies outside web/, so the node never serves it:
# the browser tests answer the page's requests for /pkg/* from those files with Playwright
# (web/tests/helpers.mjs), so the page code they run is the production page, byte for byte. web/tests/release-package.test.mjs checks that web/pkg has no
# raw export.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "0.2.130" ]; then
    cargo install wasm-bindgen-cli --version 0.2.130
fi
npm ci --prefix web
wasm=target/wasm32-unknown-unknown/release/more_wasm.wasm
# Test build first, release build last, so the wasm left in target/ is the release one.
cargo build -p more-wasm --target wasm32-unknown-unknown --release --features test-export
wasm-bindgen --target web --out-dir target/web-pkg-test "$wasm"
cargo build -p more-wasm --target wasm32-unknown-unknown --release
wasm-bindgen --target web --out-dir web/pkg "$wasm"
if grep -q export_raw_for_tests web/pkg/more_wasm.js web/pkg/more_wasm_bg.wasm; then
    echo "web/pkg (release) contains export_raw_for_tests" >&2
    exit 1
fi
# Native plaintext reference and encryption timing used by web/tests/e2e.test.mjs; a key file
# of the old key generation 1 for web/tests/keys.test.mjs.
cargo build -p more-wasm --release --example native_reference --example legacy_key_file
# Real DICOM files (pydicom's wheel, from PyPI) for web/tests/dicom.test.mjs.
bash .ci/fetch-dicom-test-files.sh
# The page links SECURITY.md; the node serves web/ only.
cp SECURITY.md web/SECURITY.md
ls -l web/pkg/more_wasm_bg.wasm target/web-pkg-test/more_wasm_bg.wasm
