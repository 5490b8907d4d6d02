#!/usr/bin/env bash
# Real DICOM test files for web/tests/dicom.test.mjs, from PyPI's pydicom wheel (MIT licence; the
# files' README in the wheel says there is no restriction on using them this way). The wheel is
# fetched with pip (a package registry, once; kept in target/) and only its data folder is used:
# pydicom itself is never installed or run. Files land in target/dicom-test-files/.
set -euo pipefail
cd "$(dirname "$0")/.."

version=3.0.2
out=target/dicom-test-files
files=(CT_small.dcm MR_small.dcm MR_small_RLE.dcm MR_small_jp2klossless.dcm SC_rgb_rle_2frame.dcm)
if [ -f "$out/.pydicom-$version" ]; then exit 0; fi
mkdir -p target/pydicom-wheel "$out"
wheel=target/pydicom-wheel/pydicom-$version-py3-none-any.whl
if [ ! -f "$wheel" ]; then
    python3 -m pip download "pydicom==$version" --no-deps --only-binary=:all: -d target/pydicom-wheel -q
fi
python3 - "$wheel" "$out" "${files[@]}" <<'PY'
import sys, zipfile, pathlib
wheel, out, names = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        (out / n).write_bytes(z.read(f"pydicom/data/test_files/{n}"))
PY
touch "$out/.pydicom-$version"
ls -l "$out"
