// Bad input files: the page shows a clear message (role=alert) and uploads nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, startNode } from './helpers.mjs';

let node, browser, page, requests;
before(async () => {
  node = await startNode();
  browser = await launchBrowser();
  page = await openPage(browser, node.url);
  requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.click('#key-generate');
  await page.waitForFunction(() => /^[0-9a-f]{16}$/.test(document.querySelector('#fingerprint').textContent));
});
after(async () => {
  await browser?.close();
  await node?.stop();
});

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

async function expectAlert(pattern) {
  await page.waitForFunction(() => document.querySelector('#data-error').textContent.length > 0);
  const text = await page.textContent('[role=alert]#data-error');
  assert.match(text, pattern);
  assert.ok(await page.isDisabled('#data-upload'), 'upload stays disabled');
  return text;
}

async function clearAlert() {
  await page.evaluate(() => { document.querySelector('#data-error').textContent = ''; });
}

test('truncated IDX file', async (t) => {
  await clearAlert();
  await page.setInputFiles('#data-idx', [
    { name: 'train-images-idx3-ubyte', mimeType: 'application/octet-stream', buffer: idxImages(50, 300) },
    { name: 'train-labels-idx1-ubyte', mimeType: 'application/octet-stream', buffer: idxLabels(50) },
  ]);
  t.diagnostic(await expectAlert(/truncated or damaged/));
});

test('CSV with a missing target column, and with a non-numeric target', async (t) => {
  const csv = 'heart_rate,pressure,patient\n72,93.1,a\n80,97.4,b\n65,88.0,c\n90,101.2,d\n';
  await clearAlert();
  await page.setInputFiles('#data-csv', { name: 'wbc.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.fill('#csv-targets', 'cardiac_output');
  await page.selectOption('#csv-task', 'regression');
  await page.click('#csv-load');
  t.diagnostic(await expectAlert(/"cardiac_output" not found/));
  await clearAlert();
  await page.fill('#csv-targets', 'patient');
  await page.click('#csv-load');
  t.diagnostic(await expectAlert(/not numeric/));
});

test('a non-image file among the images', async (t) => {
  await clearAlert();
  await page.setInputFiles('#data-images', [
    { name: 'labels.csv', mimeType: 'text/csv', buffer: Buffer.from('filename,label\nnotes.png,1\n') },
    { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture') },
  ]);
  t.diagnostic(await expectAlert(/not a PNG or JPEG image/));
});

test('no dataset request was made', () => {
  assert.deepEqual(requests.filter((u) => u.includes('/v1/datasets')), []);
  assert.deepEqual(page.errors, []);
});
