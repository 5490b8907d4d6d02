#!/usr/bin/env bash
# Builds what the browser tests need beyond the page (.ci/build-web.sh): the test build of the wasm
# client into target/web-pkg-test, native examples, and real DICOM files.
#
# target/web-pkg-test is built with the `test-export` feature (SecretKey.export_raw_for_tests and
# BfvSecretKey's raw export, for the leak searches in web/tests). It lies outside web/, so the node
# never serves it: the browser tests answer the page's requests for /pkg/* from those files with
# Playwright (web/tests/helpers.mjs), so the page code they run is the production page, byte for
# byte. .ci/build-web.sh checks that web/pkg has no raw export.
set -euo pipefail
cd "$(dirname "$0")/.."

wasm=target/wasm32-unknown-unknown/release/more_wasm.wasm
cargo build -p more-wasm --target wasm32-unknown-unknown --release --features test-export
wasm-bindgen --target web --out-dir target/web-pkg-test "$wasm"
# Native plaintext reference and encryption timing used by web/tests/e2e.test.mjs; a key file
# of the old key generation 1 for web/tests/keys.test.mjs.
cargo build -p more-wasm --release --example native_reference --example legacy_key_file
# Real DICOM files (pydicom's wheel, from PyPI) for web/tests/dicom.test.mjs.
bash .ci/fetch-dicom-test-files.sh
ls -l target/web-pkg-test/more_wasm_bg.wasm
