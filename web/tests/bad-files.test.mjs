// Bad input files: the page shows a clear message (role=alert), and clicking Upload afterwards
// sends nothing (no request to /v1/datasets from the page or its worker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageFixture, uploadData } from './helpers.mjs';

const fx = pageFixture({ testPackage: false, key: true });

function idxImages(n, truncateBy = 0) {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x00000803, 0);
  head.writeUInt32BE(n, 4);
  head.writeUInt32BE(28, 8);
  head.writeUInt32BE(28, 12);
  return Buffer.concat([head, Buffer.alloc(n * 784 - truncateBy, 7)]);
}
function idxLabels(n) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0x00000801, 0);
  head.writeUInt32BE(n, 4);
  return Buffer.concat([head, Buffer.from(Array.from({ length: n }, (_, i) => i % 10))]);
}

// Requests that would create a dataset or send data (the work card's list refresh is a GET).
const datasetRequests = () => fx.page.requests.filter((r) => new URL(r.url()).pathname.startsWith('/v1/datasets') && r.method() !== 'GET');

/** Waits for the data alert, then clicks Upload (the button, and its handler directly, as a
 * script that ignores `disabled` would) and checks that no dataset request was sent. */
async function expectAlert(pattern) {
  await fx.page.waitForFunction(() => document.querySelector('#data-error').textContent.length > 0);
  const text = await fx.page.textContent('[role=alert]#data-error');
  assert.match(text, pattern);
  assert.ok(await fx.page.isDisabled('#data-upload'), 'upload stays disabled');
  await fx.page.click('#data-upload', { force: true });
  await fx.page.evaluate(() => document.getElementById('data-upload').onclick());
  await fx.page.waitForFunction(() => /Nothing to upload/.test(document.querySelector('#upload-status').textContent));
  // A request would start synchronously in the handler; give the network a moment anyway.
  await fx.page.waitForTimeout(300);
  assert.deepEqual(datasetRequests().map((r) => `${r.method()} ${r.url()}`), []);
  await fx.page.evaluate(() => { document.querySelector('#upload-status').textContent = ''; });
  return text;
}

async function clearAlert() {
  await fx.page.evaluate(() => { document.querySelector('#data-error').textContent = ''; });
}

test('truncated IDX file', async (t) => {
  await clearAlert();
  await fx.page.setInputFiles('#data-idx', [
    { name: 'train-images-idx3-ubyte', mimeType: 'application/octet-stream', buffer: idxImages(50, 300) },
    { name: 'train-labels-idx1-ubyte', mimeType: 'application/octet-stream', buffer: idxLabels(50) },
  ]);
  t.diagnostic(await expectAlert(/truncated or damaged/));
});

test('CSV with a missing target column, and with a non-numeric target', async (t) => {
  const csv = 'heart_rate,pressure,patient\n72,93.1,a\n80,97.4,b\n65,88.0,c\n90,101.2,d\n';
  await clearAlert();
  await fx.page.setInputFiles('#data-csv', { name: 'wbc.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await fx.page.fill('#csv-targets', 'cardiac_output');
  await fx.page.selectOption('#csv-task', 'regression');
  await fx.page.click('#csv-load');
  t.diagnostic(await expectAlert(/"cardiac_output" not found/));
  await clearAlert();
  await fx.page.fill('#csv-targets', 'patient');
  await fx.page.click('#csv-load');
  t.diagnostic(await expectAlert(/not numeric/));
});

test('a non-image file among the images', async (t) => {
  await clearAlert();
  await fx.page.setInputFiles('#data-images', [
    { name: 'labels.csv', mimeType: 'text/csv', buffer: Buffer.from('filename,label\nnotes.png,1\n') },
    { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture') },
  ]);
  t.diagnostic(await expectAlert(/not a PNG or JPEG image/));
});

test("no dataset request was made; the capture sees the page's requests", () => {
  assert.deepEqual(datasetRequests().map((r) => r.url()), []);
  // The capture works: the page's own health request and the worker's wasm fetch are in it.
  const paths = fx.page.requests.map((r) => new URL(r.url()).pathname);
  assert.ok(paths.includes('/v1/health') && paths.includes('/pkg/more_wasm_bg.wasm'), paths.join(' '));
  assert.deepEqual(fx.page.errors, []);
});

test('control: a good table is uploaded, and the same check sees its dataset requests', async () => {
  const rows = Array.from({ length: 40 }, (_, i) => `${60 + i},${90 + (i % 7)},${4 + i / 10}`);
  await fx.page.setInputFiles('#data-csv', { name: 'good.csv', mimeType: 'text/csv', buffer: Buffer.from(`heart_rate,pressure,cardiac_output\n${rows.join('\n')}\n`) });
  await fx.page.fill('#csv-targets', 'cardiac_output');
  await fx.page.selectOption('#csv-task', 'regression');
  await fx.page.click('#csv-load');
  await fx.page.waitForFunction(() => /Not uploaded yet/.test(document.querySelector('#data-summary').textContent));
  await uploadData(fx.page);
  const methods = datasetRequests().map((r) => `${r.method()} ${new URL(r.url()).pathname.replace(/[^/]+\/(shards)$/, 'ID/$1')}`);
  assert.deepEqual(methods, ['POST /v1/datasets', 'POST /v1/datasets/ID/shards']);
  assert.deepEqual(fx.page.errors, []);
});
