// End to end on real MNIST digits: key generation, encryption in the Worker, upload, encrypted
// training on the real compute node, prediction, decryption; the key never leaves the page; the
// accuracy equals the native plaintext reference run with the same seeds; encryption speed in the
// browser vs native.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { launchBrowser, openPage, repoRoot, startNode } from './helpers.mjs';

const run = promisify(execFile);
const EPOCHS = 3, BATCH = 32, LR = 0.1, SEED = 7;

let node, browser;
before(async () => {
  node = await startNode();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await node?.stop();
});

/** Every request the page makes: URL, headers and body bytes. */
function captureRequests(page) {
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), headers: r.headers(), body: r.postDataBuffer() }));
  return requests;
}

function containsSecret(requests, hex) {
  const raw = Buffer.from(hex, 'hex');
  const needles = [raw, Buffer.from(hex), Buffer.from(hex.toUpperCase()), Buffer.from(raw.toString('base64'))];
  return requests.filter((r) => {
    const hay = [Buffer.from(r.url), Buffer.from(JSON.stringify(r.headers)), r.body ?? Buffer.alloc(0)];
    return hay.some((h) => needles.some((n) => h.includes(n)))
      // the 48 bytes after the magic are the key matrix and basis; look for them alone too
      || (r.body && r.body.includes(raw.subarray(8)));
  });
}

test('MNIST: keygen, encrypt in worker, upload, train, predict, decrypt; key never sent; matches native', { timeout: 900_000 }, async (t) => {
  const page = await openPage(browser, node.url);
  const requests = captureRequests(page);

  await page.click('#key-generate');
  await page.waitForFunction(() => /^[0-9a-f]{16}$/.test(document.querySelector('#fingerprint').textContent));

  await page.fill('#sample-train', '60');
  await page.fill('#sample-test', '20');
  await page.click('#data-sample');
  await page.waitForFunction(() => /600 training and 200 test/.test(document.querySelector('#data-summary').textContent));

  const t0 = Date.now();
  await page.click('#data-upload');
  await page.waitForFunction(() => /Uploaded|failed/.test(document.querySelector('#upload-status').textContent), null, { timeout: 120_000 });
  const upload = await page.textContent('#upload-status');
  assert.match(upload, /Uploaded encrypted dataset/, upload);
  t.diagnostic(`${upload} (${Date.now() - t0} ms)`);

  await page.selectOption('#preset', 'mnist_mlp');
  await page.fill('#epochs', String(EPOCHS));
  await page.fill('#batch', String(BATCH));
  await page.fill('#lr', String(LR));
  await page.selectOption('#loss', 'cross_entropy');
  const t1 = Date.now();
  await page.click('#train-start');
  await page.waitForSelector('#train-status[data-state]', { timeout: 800_000 });
  const trainStatus = await page.textContent('#train-status');
  assert.equal(await page.getAttribute('#train-status', 'data-state'), 'completed', `${trainStatus}\n${node.log().slice(-2000)}`);
  const losses = await page.evaluate(() => window.__moreTest.state.losses);
  t.diagnostic(`encrypted training ${EPOCHS} epochs: ${Date.now() - t1} ms; decrypted losses ${losses.map((l) => l.toFixed(4)).join(', ')}`);
  assert.equal(losses.length, EPOCHS);
  assert.ok(losses.every(Number.isFinite) && losses.at(-1) < losses[0], `losses should fall: ${losses}`);

  await page.click('#predict-test');
  await page.waitForFunction(() => /Accuracy|failed/.test(document.querySelector('#accuracy').textContent), null, { timeout: 120_000 });
  const accText = await page.textContent('#accuracy');
  const accuracy = await page.evaluate(() => window.__moreTest.state.accuracy);
  t.diagnostic(`browser (encrypted) ${accText}`);
  assert.ok(accuracy >= 0.75, accText);

  // The model can be downloaded and decrypted into safetensors in the page.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#model-download')]);
  const st = await readFile(await download.path());
  const headerLen = Number(st.readBigUInt64LE(0));
  const header = JSON.parse(st.subarray(8, 8 + headerLen).toString());
  assert.deepEqual(header['layers.1.weight'].shape, [784, 128], 'decrypted safetensors model');

  // The secret never leaves the page: neither raw nor wrapped key bytes in any request.
  const rawHex = await page.evaluate(() => window.__moreTest.exportRawKeyHex());
  const wrappedHex = await page.evaluate(() => window.__moreTest.exportWrappedHex('test passphrase'));
  assert.equal(rawHex.length, 112);
  assert.ok(requests.some((r) => /\/v1\/datasets\/.+\/features/.test(r.url) && r.body?.length > 600 * 784 * 8), 'features were uploaded');
  assert.deepEqual(containsSecret(requests, rawHex).map((r) => r.url), []);
  assert.deepEqual(containsSecret(requests, wrappedHex).map((r) => r.url), []);
  t.diagnostic(`${requests.length} requests checked, ${requests.reduce((s, r) => s + (r.body?.length ?? 0), 0)} body bytes`);

  // Native plaintext reference with the same data, seeds and hyper-parameters.
  const job = await page.evaluate(({ EPOCHS, BATCH, LR, SEED }) => {
    const { train, test } = window.__moreTest.state.data;
    return { train_x: Array.from(train.x), train_y: Array.from(train.y), test_x: Array.from(test.x), test_labels: test.labels,
      feature_shape: train.featureShape, outputs: train.targetDim, preset: 'mnist_mlp', model_seed: 0,
      epochs: EPOCHS, batch_size: BATCH, optimizer: { type: 'sgd', learning_rate: LR, momentum: 0 },
      loss: 'cross_entropy', seed: SEED };
  }, { EPOCHS, BATCH, LR, SEED });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'more-ref-'));
  await writeFile(path.join(dir, 'job.json'), JSON.stringify(job));
  const exe = path.join(repoRoot, 'target/release/examples/native_reference');
  const { stdout } = await run(exe, [path.join(dir, 'job.json')], { maxBuffer: 1 << 20 });
  const native = JSON.parse(stdout);
  t.diagnostic(`native plaintext reference: accuracy ${(100 * native.accuracy).toFixed(1)} %, losses ${native.plain_losses.map((l) => l.toFixed(4)).join(', ')}`);
  assert.ok(Math.abs(native.accuracy - accuracy) <= 0.01, `browser ${accuracy} vs native ${native.accuracy}`);

  // Encryption speed: the same call (SecretKey::encrypt_compact) in wasm in the Worker vs native.
  const wasm = await page.evaluate((n) => window.__moreTest.benchEncrypt(n), job.train_x.length);
  const line = `encryption speed: browser wasm ${(wasm.valuesPerSecond / 1e6).toFixed(2)} M values/s `
    + `(${wasm.values} values in ${(wasm.seconds * 1000).toFixed(0)} ms), native ${(native.encrypt_values_per_second / 1e6).toFixed(2)} M values/s `
    + `(${(native.encrypt_seconds * 1000).toFixed(0)} ms), ratio ${(native.encrypt_values_per_second / wasm.valuesPerSecond).toFixed(2)}x`;
  console.log(line);
  t.diagnostic(line);
  assert.deepEqual(page.errors, []);
});
