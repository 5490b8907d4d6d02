// DICOM in the page: files decoded in the worker (dicom-rs in wasm), never their patient details.
// Real files from pydicom's wheel (.ci/fetch-dicom-test-files.sh) and XA cine runs written here
// (explicit VR little endian: multi-frame, MONOCHROME1 and 2, 8 and 16 bits, rescale and window,
// positioner angles, a made-up patient name and ID). Checks: pixel values and scaling as DICOM
// says, every frame a sample, the view named from the angles, an unsupported transfer syntax
// reported by file and syntax while the other files go on, the preview grid; then the folder is
// encrypted, uploaded, trained on (image_cnn) and predicted, in the page and on the node; no
// request carries a PatientName or PatientID of any file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pageFixture, pageState, repoRoot, screenshot, snapshotRequests, uploadData } from './helpers.mjs';

const realDir = path.join(repoRoot, 'target/dicom-test-files');
// PatientName / PatientID of the pydicom files, as pydicom 3.0.2 reads them (ds.PatientName, ds.PatientID).
const REAL = {
  'CT_small.dcm': ['CompressedSamples^CT1', '1CT1'],
  'MR_small.dcm': ['CompressedSamples^MR1', '4MR1'],
  'MR_small_RLE.dcm': ['CompressedSamples^MR1', '4MR1'],
  'MR_small_jp2klossless.dcm': ['CompressedSamples^MR1', '4MR1'],
  'SC_rgb_rle_2frame.dcm': ['Lestrade^G', 'ID1'],
};

// ---------------------------------------------------------------- a minimal DICOM writer

function element(group, elem, vr, value) {
  let bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
  if (bytes.length % 2) bytes = Buffer.concat([bytes, Buffer.from(vr === 'UI' ? [0] : vr === 'OB' ? [0] : [0x20])]);
  const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(bytes.length, 8); else head.writeUInt16LE(bytes.length, 6);
  return Buffer.concat([head, bytes]);
}
const us = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };

/** An XA file, explicit VR little endian. `frames`: arrays of stored values. */
function xaFile({ frames, rows, cols, bits = 8, photometric = 'MONOCHROME2', angles = null, window = null, rescale = null, patient }) {
  const uid = `1.2.826.0.1.3680043.9.7777.${Math.floor(Math.random() * 1e9)}`;
  const meta = Buffer.concat([
    element(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 0x0002, 'UI', '1.2.840.10008.5.1.4.1.1.12.1'),
    element(0x0002, 0x0003, 'UI', uid),
    element(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(meta.length);
  const pixels = bits === 8 ? Buffer.from(frames.flat()) : Buffer.from(Uint16Array.from(frames.flat()).buffer);
  const ds = [
    element(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.12.1'),
    element(0x0008, 0x0018, 'UI', uid),
    element(0x0008, 0x0060, 'CS', 'XA'),
    element(0x0010, 0x0010, 'PN', patient[0]),
    element(0x0010, 0x0020, 'LO', patient[1]),
    ...(angles ? [element(0x0018, 0x1510, 'DS', String(angles[0])), element(0x0018, 0x1511, 'DS', String(angles[1]))] : []),
    element(0x0028, 0x0002, 'US', us(1)),
    element(0x0028, 0x0004, 'CS', photometric),
    element(0x0028, 0x0008, 'IS', String(frames.length)),
    element(0x0028, 0x0010, 'US', us(rows)),
    element(0x0028, 0x0011, 'US', us(cols)),
    element(0x0028, 0x0100, 'US', us(bits)),
    element(0x0028, 0x0101, 'US', us(bits)),
    element(0x0028, 0x0102, 'US', us(bits - 1)),
    element(0x0028, 0x0103, 'US', us(0)),
    ...(window ? [element(0x0028, 0x1050, 'DS', String(window[0])), element(0x0028, 0x1051, 'DS', String(window[1]))] : []),
    ...(rescale ? [element(0x0028, 0x1052, 'DS', String(rescale[1])), element(0x0028, 0x1053, 'DS', String(rescale[0]))] : []),
    element(0x7fe0, 0x0010, bits === 8 ? 'OB' : 'OW', pixels),
  ];
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), element(0x0002, 0x0000, 'UL', groupLength), meta, ...ds]);
}

/** A frame in [0, 1]: noise around 0.7 with a dark (contrast-filled) vessel running from the top
 * left (class "left") or the top right ("right"), shifted per frame; corners 0 and 1 so that
 * min-max scaling is the identity. */
function vesselFrame(cls, size, seed) {
  let s = seed >>> 0;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  const v = new Float64Array(size * size);
  const shift = (rand() - 0.5) * size * 0.3;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const cx = cls === 'left' ? x : size - 1 - x;
    const d = Math.abs(cx - y - shift) / Math.SQRT2;
    v[y * size + x] = Math.min(1, Math.max(0, 0.7 + 0.08 * (rand() - 0.5) - (d < size / 10 ? 0.45 : 0)));
  }
  v[0] = 0; v[v.length - 1] = 1;
  return v;
}

const PATIENT = ['Testpatient^Angela^Secret', 'PID-88412-XA'];

/** 24 XA runs of 3 frames (labels alternate), half 8-bit MONOCHROME2 with min-max scaling, half
 * 16-bit MONOCHROME1 with rescale and a window that maps back to the same values. */
function xaRuns(size = 48) {
  const out = [];
  for (let i = 0; i < 24; i++) {
    const cls = i % 2 ? 'right' : 'left';
    const values = [0, 1, 2].map((k) => vesselFrame(cls, size, 1000 * i + k));
    const patient = [`${PATIENT[0]}${i}`, `${PATIENT[1]}-${i}`];
    const angles = [[30, 20], [-30, -25], [0, 40], [45, -20]][i % 4];
    const file = i % 4 < 2
      ? xaFile({ frames: values.map((f) => Array.from(f, (v) => Math.round(v * 255))), rows: size, cols: size, angles, patient })
      // MONOCHROME1, 16 bits, rescale 2·x − 100, window centre 500 width 1000: decoded = 1 − (2s − 100)/1000 = v.
      : xaFile({ frames: values.map((f) => Array.from(f, (v) => Math.round((1000 * (1 - v) + 100) / 2))), rows: size, cols: size, bits: 16,
        photometric: 'MONOCHROME1', angles, window: [500, 1000], rescale: [2, -100], patient });
    out.push({ name: `run${String(i).padStart(2, '0')}.dcm`, cls, values, patient, buffer: file });
  }
  return out;
}

let runs;
const fx = pageFixture({
  prepare: () => assert.ok(existsSync(path.join(realDir, 'CT_small.dcm')), `${realDir} is missing: run .ci/fetch-dicom-test-files.sh (called by .ci/build-web-tests.sh)`),
  testPackage: false,
  key: true,
  setUp: () => { runs = xaRuns(); },
});

const decodeInPage = (buffer) => fx.page.evaluate(async (hex) => {
  const { call } = await import('/client.js');
  const d = await call('decodeDicom', { bytes: new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16))) });
  return { ...d, data: Array.from(d.data) };
}, buffer.toString('hex'));

test('decoding: XA multi-frame, MONOCHROME1/2, 8/16 bits, rescale and window; real CT and MR; RLE; angles', async (t) => {
  // 8-bit MONOCHROME2 min-max and 16-bit MONOCHROME1 rescale + window both give back the values.
  for (const run of [runs[0], runs[2]]) {
    const d = await decodeInPage(run.buffer);
    assert.equal(d.frames, 3, 'every frame');
    assert.equal(d.modality, 'XA');
    let maxErr = 0;
    run.values.flatMap((f) => Array.from(f)).forEach((v, i) => { maxErr = Math.max(maxErr, Math.abs(v - d.data[i])); });
    t.diagnostic(`${run.name}: ${d.photometric}, ${d.bitsAllocated} bits, window ${d.window}, rescale ${d.rescale}: max |decoded − original| ${maxErr.toExponential(2)}`);
    assert.ok(maxErr <= 0.5 / 255 + 1e-5, `${run.name}: ${maxErr}`); // 8-bit rounding of the stored values
  }
  // Real files: CT_small (rescale intercept −1024, no window: min-max), MR_small (window 600/1600),
  // its RLE twin decodes to the same pixels.
  const ct = await decodeInPage(await readFile(path.join(realDir, 'CT_small.dcm')));
  assert.deepEqual([ct.modality, ct.rows, ct.columns, ct.frames, ct.bitsAllocated, ct.window, ct.rescale], ['CT', 128, 128, 1, 16, null, [1, -1024]]);
  // Raw min 128, max 2191, [0,0] = 175 (pydicom, see compute-node/crates/angiography/tests/data/README.md).
  assert.ok(Math.abs(ct.data[0] - (175 - 128) / (2191 - 128)) < 1e-6, `CT [0,0] ${ct.data[0]}`);
  const mr = await decodeInPage(await readFile(path.join(realDir, 'MR_small.dcm')));
  const mrRle = await decodeInPage(await readFile(path.join(realDir, 'MR_small_RLE.dcm')));
  assert.deepEqual(mr.window, [600, 1600]);
  // [0,0] = 905: (905 − (600 − 800)) / 1600.
  assert.ok(Math.abs(mr.data[0] - (905 + 200) / 1600) < 1e-6, `MR [0,0] ${mr.data[0]}`);
  assert.deepEqual(mrRle.data, mr.data, 'RLE and uncompressed decode alike');
  const rgb = await decodeInPage(await readFile(path.join(realDir, 'SC_rgb_rle_2frame.dcm')));
  assert.equal(rgb.frames, 2);
  assert.match(rgb.transferSyntax, /^1\.2\.840\.10008\.1\.2\.5 \(RLE Lossless\)/);
  await assert.rejects(decodeInPage(await readFile(path.join(realDir, 'MR_small_jp2klossless.dcm'))),
    /transfer syntax 1\.2\.840\.10008\.1\.2\.4\.90 \(JPEG 2000 Image Compression \(Lossless Only\)\) is not supported/);
  assert.deepEqual(fx.page.errors, []);
});

test('a DICOM folder with a labels CSV: frames as samples, views, a skipped file named, preview; train image_cnn, predict here and on the node; no patient detail in any request', { timeout: 600_000 }, async (t) => {
  const real = ['CT_small.dcm', 'MR_small.dcm', 'MR_small_jp2klossless.dcm'];
  const labels = ['filename,label', ...runs.map((r) => `${r.name},${r.cls}`), 'CT_small.dcm,left', 'MR_small.dcm,right', 'MR_small_jp2klossless.dcm,left'].join('\n');
  const files = [
    ...runs.map((r) => ({ name: r.name, mimeType: 'application/dicom', buffer: r.buffer })),
    ...await Promise.all(real.map(async (n) => ({ name: n, mimeType: 'application/dicom', buffer: await readFile(path.join(realDir, n)) }))),
    { name: 'labels.csv', mimeType: 'text/csv', buffer: Buffer.from(labels) },
  ];
  await fx.page.selectOption('#dicom-size', '28');
  const t0 = Date.now();
  await fx.page.setInputFiles('#data-dicom', files);
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent)
    || document.querySelector('#data-error').textContent, null, { timeout: 60_000 });
  assert.equal(await fx.page.textContent('#data-error'), '');
  const summary = await fx.page.textContent('#data-summary');
  t.diagnostic(`${summary} (decoded in ${Date.now() - t0} ms)`);
  // 24 runs × 3 frames + CT + MR = 74 samples, split by file.
  const counts = await pageState(fx.page, (s) => [s.data.train.rows, s.data.test.rows, s.data.train.featureShape]);
  assert.equal(counts[0] + counts[1], 74);
  assert.deepEqual(counts[2], [1, 28, 28]);
  const notes = await fx.page.$$eval('#data-notes li', (lis) => lis.map((li) => li.textContent));
  t.diagnostic(notes.join(' | '));
  assert.deepEqual(notes.filter((n) => /^Skipped/.test(n)).length, 1);
  assert.match(notes.find((n) => /^Skipped/.test(n)), /^Skipped MR_small_jp2klossless\.dcm: transfer syntax 1\.2\.840\.10008\.1\.2\.4\.90 \(JPEG 2000/);
  const rows = await fx.page.$$eval('#dicom-preview table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, 26);
  assert.deepEqual(rows.find((r) => r[0] === 'run00.dcm').slice(0, 8), ['run00.dcm', 'left', 'XA', '3', '48×48', '8', 'MONOCHROME2', 'LAO 30 CRA 20']);
  assert.deepEqual(rows.find((r) => r[0] === 'run02.dcm').slice(5, 9), ['16', 'MONOCHROME1', 'LAO 0 CRA 40', 'rescale 2·x − 100, window 500/1000']);
  assert.equal(rows.find((r) => r[0] === 'run01.dcm')[7], 'RAO 30 CAU 25');
  assert.equal(await fx.page.locator('#dicom-preview .grid figure canvas').count(), 24);
  assert.equal(await fx.page.inputValue('#preset'), 'image_cnn');
  await screenshot(fx.page, 'dicom-folder', '#dicom-preview');

  await uploadData(fx.page, { timeout: 60_000 });
  await fx.page.fill('#epochs', '4');
  await fx.page.fill('#batch', '8');
  await fx.page.fill('#lr', '0.05');
  await fx.page.fill('#momentum', '0'); // plain SGD, as this run was sized (the page's default momentum is tuned for MNIST)
  await fx.page.click('#train-start');
  await fx.page.waitForSelector('#train-status[data-state]', { timeout: 400_000 });
  t.diagnostic(await fx.page.textContent('#train-status'));
  assert.equal(await fx.page.getAttribute('#train-status', 'data-state'), 'completed');
  const predict = async (where) => {
    await fx.page.selectOption('#predict-where', where);
    await fx.page.click('#predict-test');
    await fx.page.waitForFunction((w) => document.querySelector('#accuracy').dataset.where === w
      || /failed/.test(document.querySelector('#accuracy').textContent), where, { timeout: 60_000 });
    t.diagnostic(`${where}: ${await fx.page.textContent('#accuracy')}`);
    return pageState(fx.page, (s) => ({ pred: s.lastPrediction, report: s.report }));
  };
  const onNode = await predict('node');
  const here = await predict('local');
  let maxDiff = 0;
  here.pred.outputs.forEach((row, i) => row.forEach((v, k) => { maxDiff = Math.max(maxDiff, Math.abs(v - onNode.pred.outputs[i][k])); }));
  t.diagnostic(`in-page vs node logits: max |diff| ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff <= 1e-3);
  assert.equal(here.report.accuracy, onNode.report.accuracy);
  assert.ok(here.report.accuracy > here.report.baseline, `accuracy ${here.report.accuracy} vs baseline ${here.report.baseline}`);
  await screenshot(fx.page, 'dicom-results', 'section[aria-labelledby=predict-title]');

  // No request carries any patient name or ID (as text, in either byte order of UTF-16, or URL-encoded).
  const needles = [...runs.flatMap((r) => r.patient), ...Object.values(REAL).flat()];
  const search = (flow) => {
    const hits = [];
    for (const r of flow) {
      const hay = [Buffer.from(r.url), Buffer.from(JSON.stringify(r.headers)), r.body ?? Buffer.alloc(0)];
      for (const n of needles) {
        const forms = [Buffer.from(n), Buffer.from(encodeURIComponent(n)), Buffer.from(n, 'utf16le')];
        if (hay.some((h) => forms.some((f) => h.includes(f)))) hits.push(`${n} in ${r.method} ${r.url}`);
      }
    }
    return hits;
  };
  const flow = await snapshotRequests(fx.page.requests);
  const hits = search(flow);
  const bodyBytes = flow.reduce((s, r) => s + (r.body?.length ?? 0), 0);
  t.diagnostic(`${flow.length} requests (${bodyBytes} body bytes) searched for ${needles.length} patient names and IDs: ${hits.length} hits`);
  assert.deepEqual(hits, []);
  // The search can fail: it flags planted requests carrying a name in the URL and an ID in a body.
  const before = fx.page.requests.length;
  await fx.page.evaluate(([name, id]) => Promise.all([fetch(`/v1/health?who=${encodeURIComponent(name)}`),
    fetch('/v1/health', { method: 'POST', body: new TextEncoder().encode(`x${id}y`) })]), [runs[5].patient[0], REAL['CT_small.dcm'][1]]);
  const planted = search(await snapshotRequests(fx.page.requests.slice(before)));
  assert.equal(planted.length, 2, planted.join('; '));
  assert.deepEqual(fx.page.errors, []);
});
